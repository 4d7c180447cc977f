package gitrepo

import (
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/agentos/agentos"
)

// Every agentos command that reads the policy in force (policybase.go in
// cli) used to start git four times for it: HEAD, the branch checked out,
// the target branch's head and agentos.yaml at that commit, a few
// milliseconds each and about a third of `agentos sandbox run`'s start.
// Refs are read here from the files git keeps them in, and agentos.yaml
// at a commit from a cache of what git answered before, keyed by the
// object id (what a commit holds never changes). Anything this code does
// not fully understand (reftable, a symbolic ref, a name git would
// shorten differently, replace refs, an environment that redirects git)
// goes to git as before: these are fast paths, never second opinions.
//
// The cache lives in the git directory, written by agentos outside any
// sandbox (commands never see the main repository's .git writable), so
// whoever can change it can change the refs themselves.

// gitEnvRedirects are the variables that make git read other refs or
// objects than the repository's own files.
var gitEnvRedirects = []string{"GIT_DIR", "GIT_COMMON_DIR", "GIT_WORK_TREE", "GIT_NAMESPACE", "GIT_OBJECT_DIRECTORY",
	"GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_REPLACE_REF_BASE", "GIT_NO_REPLACE_OBJECTS", "GIT_REF_PARANOIA"}

// fastDir is the git directory whose files the fast paths read: the
// common directory when it is the main tree's own .git (a plain
// repository), else "" (no fast path).
func (r *Repo) fastDir() string {
	if r.common == "" || r.common != filepath.Join(r.Root, agentos.GitDir) {
		return ""
	}
	for _, v := range gitEnvRedirects {
		if _, ok := os.LookupEnv(v); ok {
			return ""
		}
	}
	// Refs in a reftable, or replaced objects: git's answer only.
	if _, err := os.Stat(filepath.Join(r.common, "reftable")); err == nil {
		return ""
	}
	if _, err := os.Stat(filepath.Join(r.common, "refs", "replace")); err == nil {
		return ""
	}
	return r.common
}

// isObjectID reports whether s is a full object id (SHA-1 or SHA-256).
func isObjectID(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// plainRefName accepts the ref names the fast paths read as files: what
// git itself would accept, made stricter (no component starting with a
// dot, no "..", no lock file, only common characters). Others go to git.
func plainRefName(name string) bool {
	if name == "" || strings.HasSuffix(name, "/") || strings.HasSuffix(name, ".lock") {
		return false
	}
	for _, part := range strings.Split(name, "/") {
		if part == "" || part[0] == '.' || strings.Contains(part, "..") {
			return false
		}
		for _, c := range []byte(part) {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '+') {
				return false
			}
		}
	}
	return true
}

// readHead reads HEAD: the branch it names (refs/heads/...), or the
// commit of a detached HEAD. ok is false when HEAD is anything else.
func readHead(dir string) (ref, id string, ok bool) {
	b, err := readNoFollow(filepath.Join(dir, "HEAD"))
	if err != nil {
		return "", "", false
	}
	s := strings.TrimSuffix(string(b), "\n")
	if target, sym := strings.CutPrefix(s, "ref: "); sym {
		name, heads := strings.CutPrefix(target, "refs/heads/")
		if !heads || !plainRefName(name) {
			return "", "", false
		}
		return target, "", true
	}
	if isObjectID(s) {
		return "", s, true
	}
	return "", "", false
}

// readNoFollow reads a file that is not a symbolic link: git reads a
// link in place of a ref as a symbolic ref, which only git resolves.
func readNoFollow(p string) ([]byte, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var b bytes.Buffer
	_, err = b.ReadFrom(f)
	return b.Bytes(), err
}

// readRef is what the files say of a ref: its object id, or that it
// does not exist (found false, ok true). ok is false when git must say.
func readRef(dir, ref string) (id string, found, ok bool) {
	b, err := readNoFollow(filepath.Join(dir, filepath.FromSlash(ref)))
	switch {
	case err == nil:
		s := strings.TrimSuffix(string(b), "\n")
		if !isObjectID(s) {
			return "", false, false // a symbolic or damaged ref
		}
		return s, true, true
	case errors.Is(err, fs.ErrNotExist):
	case errors.Is(err, syscall.EISDIR), errors.Is(err, syscall.ENOTDIR):
		// refs/heads/a is a directory (refs/heads/a/b exists), or a
		// prefix of the name is a file: no such loose ref.
	default:
		return "", false, false
	}
	return packedRef(dir, ref)
}

// packedRef looks ref up in packed-refs.
func packedRef(dir, ref string) (id string, found, ok bool) {
	f, err := os.Open(filepath.Join(dir, "packed-refs"))
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, true
	}
	if err != nil {
		return "", false, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 || line[0] == '#' || line[0] == '^' {
			continue
		}
		oid, name, cut := bytes.Cut(line, []byte{' '})
		if !cut {
			return "", false, false
		}
		if string(name) == ref {
			if !isObjectID(string(oid)) {
				return "", false, false
			}
			return string(oid), true, true
		}
	}
	if sc.Err() != nil {
		return "", false, false
	}
	return "", false, true
}

// refExists: whether a ref exists, as far as the files say (ok false:
// unknown).
func refExists(dir, ref string) (exists, ok bool) {
	_, found, ok := readRef(dir, ref)
	return found, ok
}

// fastCurrentBranch is `git symbolic-ref --quiet --short HEAD` from the
// files; ok is false when git must answer (among others, when git would
// shorten the name differently because another ref of that short name
// exists).
func (r *Repo) fastCurrentBranch() (branch string, ok bool) {
	dir := r.fastDir()
	if dir == "" {
		return "", false
	}
	ref, _, ok := readHead(dir)
	if !ok {
		return "", false
	}
	if ref == "" {
		return "", true // detached
	}
	name := strings.TrimPrefix(ref, "refs/heads/")
	// git's unambiguous shortening: the short name must not also name a
	// file in the git directory or another ref.
	if _, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(name))); !errors.Is(err, fs.ErrNotExist) {
		return "", false
	}
	for _, other := range []string{"refs/" + name, "refs/tags/" + name, "refs/remotes/" + name, "refs/remotes/" + name + "/HEAD"} {
		if exists, ok := refExists(dir, other); !ok || exists {
			return "", false
		}
	}
	return name, true
}

// fastBranchHead is `git rev-parse --verify --quiet refs/heads/BRANCH`
// from the files (which does not check the object either). found false
// with ok true: no such branch.
func (r *Repo) fastBranchHead(branch string) (id string, found, ok bool) {
	dir := r.fastDir()
	if dir == "" || !plainRefName(branch) {
		return "", false, false
	}
	return readRef(dir, "refs/heads/"+branch)
}

// fastHead is the object id HEAD points to, from the files.
func (r *Repo) fastHead() (string, bool) {
	dir := r.fastDir()
	if dir == "" {
		return "", false
	}
	ref, id, ok := readHead(dir)
	if !ok {
		return "", false
	}
	if ref == "" {
		return id, true
	}
	id, found, ok := readRef(dir, ref)
	return id, found && ok
}

// The cache: <git dir>/agentos/committed/<id>.commit (id is a commit, as
// git said) and <id>.policy (agentos.yaml at id: "ok\n" and its bytes,
// or "none\n").
const cacheKeep = 256

func (r *Repo) cachePath(id, kind string) string {
	dir := r.fastDir()
	if dir == "" || !isObjectID(id) {
		return ""
	}
	return filepath.Join(dir, "agentos", "committed", id+"."+kind)
}

// knownCommit reports whether git said before that id is a commit.
func (r *Repo) knownCommit(id string) bool {
	p := r.cachePath(id, "commit")
	if p == "" {
		return false
	}
	_, err := os.Stat(p)
	return err == nil
}

// cachedPolicy returns agentos.yaml at id as git read it before.
func (r *Repo) cachedPolicy(id string) (b []byte, found, ok bool) {
	p := r.cachePath(id, "policy")
	if p == "" {
		return nil, false, false
	}
	raw, err := os.ReadFile(p)
	if err != nil {
		return nil, false, false
	}
	if rest, cut := bytes.CutPrefix(raw, []byte("ok\n")); cut {
		return rest, true, true
	}
	if string(raw) == "none\n" {
		return nil, false, true
	}
	return nil, false, false
}

// remember stores an entry (best effort: the cache only saves time),
// atomically, pruning the oldest entries beyond cacheKeep.
func (r *Repo) remember(id, kind string, body []byte) {
	p := r.cachePath(id, kind)
	if p == "" {
		return
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return
	}
	_, werr := tmp.Write(body)
	if cerr := tmp.Close(); werr != nil || cerr != nil || os.Rename(tmp.Name(), p) != nil {
		os.Remove(tmp.Name())
		return
	}
	pruneCache(dir)
}

// pruneCache keeps the newest cacheKeep entries.
func pruneCache(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) <= cacheKeep {
		return
	}
	type ent struct {
		name string
		mod  time.Time
	}
	var es []ent
	for _, e := range ents {
		if info, err := e.Info(); err == nil {
			es = append(es, ent{e.Name(), info.ModTime()})
		}
	}
	slices.SortFunc(es, func(a, b ent) int { return b.mod.Compare(a.mod) })
	for _, e := range es[min(len(es), cacheKeep/2):] {
		os.Remove(filepath.Join(dir, e.name))
	}
}

func policyEntry(b []byte, found bool) []byte {
	if !found {
		return []byte("none\n")
	}
	return append([]byte("ok\n"), b...)
}

// fastOpen is Open's `git rev-parse --show-toplevel --git-common-dir` for
// the plain case, from the file system: the nearest directory (of the
// physical path, as git walks it) holding a .git directory that is a
// repository, owned like that directory by this user (git's own
// safe.directory condition then holds), on the same file system, with no
// configuration that moves the work tree. ok is false otherwise, and git
// answers: linked worktrees and submodules (.git files), bare
// repositories, GIT_DIR and friends, another owner, core.worktree,
// includes.
func fastOpen(abs string) (root, common string, ok bool) {
	for _, v := range append([]string{"GIT_CEILING_DIRECTORIES", "GIT_DISCOVERY_ACROSS_FILESYSTEM"}, gitEnvRedirects...) {
		if _, set := os.LookupEnv(v); set {
			return "", "", false
		}
	}
	dir, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", "", false
	}
	var st syscall.Stat_t
	if syscall.Stat(dir, &st) != nil {
		return "", "", false
	}
	dev, euid := st.Dev, uint32(os.Geteuid())
	for {
		gd := filepath.Join(dir, agentos.GitDir)
		var gst syscall.Stat_t
		err := syscall.Lstat(gd, &gst)
		switch {
		case err == nil:
			if gst.Mode&syscall.S_IFMT != syscall.S_IFDIR || !isGitDir(gd) || gst.Uid != euid || st.Uid != euid || !plainConfig(gd) {
				return "", "", false
			}
			return dir, gd, true
		case err != syscall.ENOENT:
			return "", "", false
		}
		if isGitDir(dir) {
			return "", "", false // inside a git directory, or a bare repository
		}
		parent := filepath.Dir(dir)
		if parent == dir || syscall.Stat(parent, &st) != nil || st.Dev != dev {
			return "", "", false // no repository, or git's answer at a mount point
		}
		dir = parent
	}
}

// isGitDir: what git checks before taking a directory for a repository.
func isGitDir(dir string) bool {
	for _, p := range []string{"HEAD", "objects", "refs"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			return false
		}
	}
	return true
}

// plainConfig reports whether the repository's config leaves discovery
// alone: no core.worktree (nor worktree config), no bare repository, no
// include that could set either.
func plainConfig(gd string) bool {
	b, err := os.ReadFile(filepath.Join(gd, "config"))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(strings.ToLower(string(b)), "\n") {
		line = strings.Join(strings.Fields(line), "")
		switch {
		case strings.Contains(line, "worktree"), strings.Contains(line, "include"):
			return false
		case strings.HasPrefix(line, "bare") && line != "bare=false":
			return false
		}
	}
	return true
}
