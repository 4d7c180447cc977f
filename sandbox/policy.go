package sandbox

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/agentos/agentos/sandbox/internal/helper"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/cmdrule"
	"github.com/agentos/agentos/config"
)

// Policy is the repository's policy turned into confinement: what every
// command AgentOS starts (exec steps, verify checks, contractors, `sandbox
// run`) may see, which variables it gets, which caches it may write and
// which limits bind it. Every caller builds its Spec through Apply and its
// environment through Env, so a setting cannot reach one kind of command
// and miss another.
type Policy struct {
	// ReadOnly are the absolute paths of sandbox.read_only and of every
	// profile's read_only, each once.
	ReadOnly []string
	// Path are the absolute directories put first on PATH.
	Path []string
	// Env are the profiles' variables, placeholders expanded, sorted.
	Env []string
	// Hidden are the absolute paths masked inside the sandbox: the
	// credential list under Home and sandbox.hide.
	Hidden []string
	// CacheDir is the writable directory kept for this repository and
	// policy ({cache}); created on first use, mode 0700.
	CacheDir string
	// Home is the invoking user's home ({home}, ~/).
	Home string
	// Repo is the repository root ({repo}, relative paths).
	Repo     string
	Network  bool
	AllowTCP []string
	Require  bool
	Limits   Limits
	// Identity is sandbox.identity (defaults filled in).
	Identity Identity
}

// CacheRoot is where the per-policy caches of a repository live, under its
// state directory (never part of a commit: .agentos is ignored and
// protected).
func CacheRoot(repo string) string { return filepath.Join(repo, agentos.StateDir, "cache") }

// NewPolicy resolves cfg's sandbox settings for the repository at repo.
// env is the caller's environment (KEY=VALUE), which supplies HOME and the
// PATH the profiles' directories are put in front of.
func NewPolicy(cfg *config.Config, repo string, env []string) *Policy {
	home := EnvValue(env, "HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	p := &Policy{
		Home: home, Repo: repo,
		Network:  cfg.Sandbox.Network,
		AllowTCP: slices.Clone(cfg.Sandbox.AllowTCP),
		Require:  cfg.Sandbox.Required(),
		Limits:   LimitsFromConfig(cfg.Sandbox.Limits),
		Identity: IdentityFromConfig(cfg.Sandbox.Identity),
	}
	// Keyed by the policy's hash: a cache written under one policy (its
	// commands, network, profiles) is never read under another.
	key := strings.TrimPrefix(cfg.Hash, "sha256:")
	if len(key) > 16 {
		key = key[:16]
	}
	if key == "" {
		key = "default"
	}
	p.CacheDir = filepath.Join(CacheRoot(repo), key)
	addPath := func(list *[]string, raw string) {
		if a := p.Expand(raw); a != "" && !slices.Contains(*list, a) {
			*list = append(*list, a)
		}
	}
	for _, e := range cfg.Sandbox.ReadOnly {
		addPath(&p.ReadOnly, e)
	}
	vars := map[string]string{}
	for _, name := range cfg.Sandbox.ProfileNames() {
		prof := cfg.Sandbox.Profiles[name]
		for _, e := range prof.ReadOnly {
			addPath(&p.ReadOnly, e)
		}
		for _, e := range prof.Path {
			addPath(&p.Path, e)
		}
		for k, v := range prof.Env {
			vars[k] = p.expandValue(v)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		p.Env = append(p.Env, k+"="+vars[k])
	}
	// Credentials are hidden under the invoking user's home and under every
	// other home a read-only entry reaches into (/root/.cargo exposed while
	// HOME is elsewhere: /root/.cargo/credentials.toml stays hidden).
	homes := []string{}
	if home != "" {
		homes = append(homes, home)
	}
	for _, ro := range p.ReadOnly {
		if h := dotParent(ro); h != "" && h != "/" && h != filepath.Clean(repo) && !slices.Contains(homes, h) {
			homes = append(homes, h)
		}
	}
	for _, h := range homes {
		for _, c := range agentos.CredentialPaths() {
			p.Hidden = append(p.Hidden, filepath.Join(h, c))
		}
	}
	for _, h := range cfg.Sandbox.Hide {
		addPath(&p.Hidden, h)
	}
	// The key that signs AgentOS's commits is a credential wherever it is
	// kept (a key::… literal names a key ssh-agent holds: nothing to hide).
	if k := cfg.Commit.SigningKey; k != "" && !strings.HasPrefix(k, "key::") {
		addPath(&p.Hidden, k)
	}
	return p
}

// Expand turns a policy path into an absolute one: ~/ and {home} are the
// invoking user's home, {repo} the repository root, a relative path is
// relative to the repository root. "" when it needs a home there is none of.
func (p *Policy) Expand(raw string) string {
	s := raw
	if s == "~" || strings.HasPrefix(s, "~/") {
		if p.Home == "" {
			return ""
		}
		s = p.Home + s[1:]
	}
	s = p.expandValue(s)
	if !filepath.IsAbs(s) {
		s = filepath.Join(p.Repo, s)
	}
	return filepath.Clean(s)
}

func (p *Policy) expandValue(v string) string {
	return strings.NewReplacer("{home}", p.Home, "{repo}", p.Repo, "{cache}", p.CacheDir).Replace(v)
}

// UsesCache reports whether any profile variable points into {cache}.
func (p *Policy) UsesCache() bool {
	for _, kv := range p.Env {
		if strings.Contains(kv, p.CacheDir) {
			return true
		}
	}
	return false
}

// SearchPath is the PATH commands get and plan-time lookups use: the
// profiles' directories, then the caller's absolute entries.
func (p *Policy) SearchPath(parent []string) string {
	return strings.Join(append(slices.Clone(p.Path), SearchPath(parent)), string(filepath.ListSeparator))
}

// CommandEnv is Env (the scrubbed environment) with the profiles' PATH and
// variables. A variable named by both the caller's allowlist and a profile
// takes the profile's value: the policy file decides, not the caller.
func (p *Policy) CommandEnv(parent, allow []string, tmp string) []string {
	base := Env(parent, allow, tmp)
	out := make([]string, 0, len(base)+len(p.Env))
	set := map[string]bool{}
	for _, kv := range p.Env {
		k, _, _ := strings.Cut(kv, "=")
		set[k] = true
	}
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "PATH":
			out = append(out, "PATH="+p.SearchPath(parent))
		case !set[k]:
			out = append(out, kv)
		}
	}
	return append(out, p.Env...)
}

// Prepare creates the cache directory (0700, and its parent 0700: only the
// invoking user may traverse it) when a profile uses it.
func (p *Policy) Prepare() error {
	if !p.UsesCache() {
		return nil
	}
	root := CacheRoot(p.Repo)
	if err := os.MkdirAll(filepath.Dir(root), 0o755); err != nil {
		return agentos.WrapError(agentos.EINTERNAL, err, "cannot create the state directory for the build cache: %v", err)
	}
	for _, d := range []string{root, p.CacheDir} {
		if err := os.Mkdir(d, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return agentos.WrapError(agentos.EINTERNAL, err, "cannot create the build cache %s: %v", d, err)
		}
		if err := os.Chmod(d, 0o700); err != nil {
			return agentos.WrapError(agentos.EINTERNAL, err, "cannot restrict the build cache %s: %v", d, err)
		}
	}
	// The cache's last use, for `agentos gc`: the directory's own mtime
	// moves only when its top level changes.
	now := time.Now()
	if err := os.Chtimes(p.CacheDir, now, now); err != nil {
		return agentos.WrapError(agentos.EINTERNAL, err, "cannot mark the build cache %s used: %v", p.CacheDir, err)
	}
	return nil
}

// StaleCaches lists the cache directories of repo that belong to another
// policy than current (a *Policy's CacheDir) and were last used before
// cutoff: a policy edit leaves the old one behind, and a run still under
// the old policy keeps touching it.
func StaleCaches(repo, current string, cutoff time.Time) []string {
	ents, err := os.ReadDir(CacheRoot(repo))
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		dir := filepath.Join(CacheRoot(repo), e.Name())
		if !e.IsDir() || dir == current {
			continue
		}
		if st, err := os.Stat(dir); err == nil && st.ModTime().Before(cutoff) {
			out = append(out, dir)
		}
	}
	return out
}

// Apply fills spec's confinement from the policy: ApplyFiles, then the
// network and allowlist (added to what the caller set: a --allow-tcp
// flag, a step that needs the network) and Require.
func (p *Policy) Apply(spec *Spec) error {
	if err := p.ApplyFiles(spec); err != nil {
		return err
	}
	spec.Network = spec.Network || p.Network
	spec.AllowTCP = appendNew(spec.AllowTCP, p.AllowTCP...)
	spec.Require = p.Require
	return nil
}

// ApplyFiles fills what a command may see and use: the read-only paths,
// the cache (writable), the masked credentials and the limits. Contractors
// take this part only; their network is their own setting.
func (p *Policy) ApplyFiles(spec *Spec) error {
	if err := p.Prepare(); err != nil {
		return err
	}
	spec.ReadOnly = appendNew(spec.ReadOnly, p.ReadOnly...)
	if p.UsesCache() {
		spec.ReadWrite = appendNew(spec.ReadWrite, p.CacheDir)
	}
	spec.Hidden = appendNew(spec.Hidden, p.Hidden...)
	spec.Limits = p.Limits
	spec.Identity = p.Identity
	return nil
}

// Visible says whether exe (an absolute path resolved on the host) can be
// started inside the sandbox of a task whose worktree is wt: it, and what
// it links to, must lie under a system directory, a read-only entry or the
// worktree, and not under a hidden path. The error names the path and the
// setting that would expose it, so plan time refuses what run time could
// not start.
func (p *Policy) Visible(exe, wt string) error {
	check := func(path string) error {
		for _, h := range p.Hidden {
			if within(path, h) {
				return agentos.Errorf(agentos.EDENIED, "%s lies under %s, which the sandbox hides (credentials)", path, h)
			}
		}
		roots := append(append(slices.Clone(helper.SystemDirs), p.ReadOnly...), p.CacheDir)
		if wt != "" {
			roots = append(roots, wt)
		}
		for _, r := range roots {
			if within(path, r) {
				return nil
			}
		}
		return agentos.Errorf(agentos.EDENIED, "%s is not visible in the sandbox: add %s (or a directory above it) to sandbox.read_only or to a profile's read_only in agentos.yaml", path, suggestRoot(path, p.Home))
	}
	if err := check(exe); err != nil {
		return err
	}
	real, err := filepath.EvalSymlinks(exe)
	if err == nil && real != exe {
		if err := check(real); err != nil {
			return agentos.Errorf(agentos.EDENIED, "%s links to %s", exe, agentos.ErrorMessage(err))
		}
	}
	// A script's interpreter must be visible too (a pipx-installed tool
	// whose #! names a virtualenv elsewhere).
	if interp := shebang(real); interp != "" {
		if err := check(interp); err != nil {
			return agentos.Errorf(agentos.EDENIED, "%s is a script run by %s", exe, agentos.ErrorMessage(err))
		}
	}
	return nil
}

// shebang returns the absolute interpreter path of a #! script, or "".
func shebang(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	buf := make([]byte, 256)
	n, _ := f.Read(buf)
	line, ok := strings.CutPrefix(string(buf[:n]), "#!")
	if !ok {
		return ""
	}
	line, _, _ = strings.Cut(line, "\n")
	fields := strings.Fields(line)
	if len(fields) == 0 || !filepath.IsAbs(fields[0]) {
		return ""
	}
	return fields[0]
}

// suggestRoot proposes the directory to expose: for a path under home, its
// first component there (~/.pyenv for ~/.pyenv/shims/python3); elsewhere
// the first hidden directory on the way (/opt/u/.pyenv), else the
// executable's directory.
func suggestRoot(path, home string) string {
	if home != "" {
		if rel, err := filepath.Rel(home, path); err == nil && !strings.HasPrefix(rel, "..") {
			first, _, _ := strings.Cut(rel, string(filepath.Separator))
			return "~/" + first
		}
	}
	if h := dotParent(path); h != "" {
		rel, _ := filepath.Rel(h, path)
		first, _, _ := strings.Cut(rel, string(filepath.Separator))
		return filepath.Join(h, first)
	}
	return filepath.Dir(path)
}

// dotParent returns the directory holding the first hidden (dot)
// component of path — the home a tool's dot-directory lives in — or "".
func dotParent(path string) string {
	parts := strings.Split(filepath.Clean(path), string(filepath.Separator))
	for i, c := range parts {
		if i > 0 && strings.HasPrefix(c, ".") && c != "." && c != ".." {
			if i == 1 {
				return "/"
			}
			return strings.Join(parts[:i], string(filepath.Separator))
		}
	}
	return ""
}

func within(path, root string) bool {
	return path == root || strings.HasPrefix(path, strings.TrimSuffix(root, "/")+"/")
}

func appendNew(list []string, add ...string) []string {
	for _, a := range add {
		if !slices.Contains(list, a) {
			list = append(list, a)
		}
	}
	return list
}

// EnvValue is the value of key in a KEY=VALUE environment (the last
// entry wins, as for exec), or "".
func EnvValue(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], key+"="); ok {
			return v
		}
	}
	return ""
}

// ProfileTool is where one tool a profile names resolves.
type ProfileTool struct {
	Profile string `json:"profile"`
	Tool    string `json:"tool"`
	Path    string `json:"path,omitempty"`
	Problem string `json:"problem,omitempty"`
}

// CheckProfiles resolves every tool of cfg's profiles the way a command
// would (the sandbox's PATH) and checks each is visible inside, and that
// each read-only entry exists: `agentos sandbox check` prints one line per
// tool, so a missing toolchain is found before a run, not deep inside one.
func (p *Policy) CheckProfiles(cfg *config.Config, parent []string) []ProfileTool {
	var out []ProfileTool
	search := p.SearchPath(parent)
	for _, name := range cfg.Sandbox.ProfileNames() {
		prof := cfg.Sandbox.Profiles[name]
		for _, t := range prof.Tools {
			r := ProfileTool{Profile: name, Tool: t}
			path, err := cmdrule.PathLookup(search, "")(t)
			switch {
			case err != nil:
				r.Problem = fmt.Sprintf("%s is not installed on this machine (not found on PATH)", t)
			default:
				r.Path = path
				if err := p.Visible(path, ""); err != nil {
					r.Problem = agentos.ErrorMessage(err)
				}
			}
			out = append(out, r)
		}
		for _, e := range prof.ReadOnly {
			abs := p.Expand(e)
			if _, err := os.Stat(abs); err != nil {
				out = append(out, ProfileTool{Profile: name, Tool: e, Problem: fmt.Sprintf("%s does not exist on this machine (nothing cached or installed there yet)", abs)})
			}
		}
	}
	return out
}
