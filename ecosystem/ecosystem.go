// Package ecosystem recognises the build systems of a repository (Go,
// Node, Python, Rust, Make) and proposes, for `agentos init`, what each
// needs to build offline in the sandbox: the commands to allow, a sandbox
// profile (its toolchain and dependency caches read-only, its build caches
// in the AgentOS cache) and the test command that becomes the default
// verify check.
//
// Detection reads marker files and looks up where the tools live on this
// machine; it never runs a tool, so init stays fast and has no effect.
package ecosystem

import (
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/agentos/agentos/cmdrule"
	"github.com/agentos/agentos/config"
)

// Ecosystem is one detected build system.
type Ecosystem struct {
	// Name is the profile's key in sandbox.profiles (go, node, python, rust, make).
	Name string
	// Title names it for people ("Go", "Node.js (pnpm)").
	Title string
	// Commands go to commands.allow.
	Commands []string
	// EnvAllow go to exec.env_allow (harmless variables of the caller).
	EnvAllow []string
	// Profile is its sandbox profile; Notes explain entries, one line each.
	Profile config.Profile
	Notes   []string
	// Verify are the default verify checks (argv each); empty: none known.
	Verify [][]string
}

// Host is what detection knows about the machine: the caller's
// environment (HOME, PATH and tool variables) and how to look a program up.
type Host struct {
	Env []string
	// LookPath finds a program on PATH (default: on Env's PATH).
	LookPath func(string) (string, error)
}

func (h Host) getenv(k string) string {
	for i := len(h.Env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(h.Env[i], k+"="); ok {
			return v
		}
	}
	return ""
}

func (h Host) home() string { return h.getenv("HOME") }

func (h Host) look(name string) string {
	look := h.LookPath
	if look == nil {
		look = cmdrule.PathLookup(h.getenv("PATH"), "")
	}
	p, err := look(name)
	if err != nil {
		return ""
	}
	return p
}

// Detect returns the ecosystems of the repository at root, in a stable order.
func Detect(root string, h Host) []Ecosystem {
	var out []Ecosystem
	for _, d := range detectors {
		if e, ok := d(root, h); ok {
			out = append(out, e)
		}
	}
	// make test only when no other ecosystem brought a test command.
	hasVerify := slices.ContainsFunc(out, func(e Ecosystem) bool { return e.Name != "make" && len(e.Verify) > 0 })
	for i := range out {
		if out[i].Name == "make" && hasVerify {
			out[i].Verify = nil
		}
	}
	return out
}

var detectors = []func(string, Host) (Ecosystem, bool){detectGo, detectNode, detectPython, detectRust, detectMake}

func exists(root, name string) bool {
	_, err := os.Stat(filepath.Join(root, name))
	return err == nil
}

func read(root, name string) string {
	b, err := os.ReadFile(filepath.Join(root, name))
	if err != nil {
		return ""
	}
	return string(b)
}

// systemDirs are visible in every sandbox; a tool there needs no profile entry.
var systemDirs = []string{"/usr/", "/bin/", "/sbin/", "/lib/", "/lib64/", "/etc/"}

// installRoots returns the directories to make visible for the tool at
// path: one for the path itself and, when it is a link, one for what it
// links to (a toolchain linked into ~/bin from /opt/go needs both). For a
// path under home, the first directory below home (~/.pyenv, ~/.nvm,
// ~/.cargo); for a path inside a hidden directory elsewhere (another
// user's /root/.pyenv/shims/python3), that directory: a version manager's
// shim runs the manager and a version from around it, not just the shims;
// otherwise the tool's prefix (/opt/go for /opt/go/bin/go). Nothing for a
// path under the system directories, which are visible anyway.
func installRoots(path, home string) []string {
	if path == "" {
		return nil
	}
	paths := []string{path}
	if real, err := filepath.EvalSymlinks(path); err == nil && real != path {
		paths = append(paths, real)
	}
	var out []string
	for _, p := range paths {
		if r := installRoot(p, home); r != "" && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// installRoot is installRoots for one path, links not followed.
func installRoot(p, home string) string {
	if slices.ContainsFunc(systemDirs, func(d string) bool { return strings.HasPrefix(p, d) }) {
		return ""
	}
	if home != "" && strings.HasPrefix(p, home+"/") {
		return "~/" + managerDir(strings.Split(strings.TrimPrefix(p, home+"/"), "/"))
	}
	parts := strings.Split(p, "/")
	for i := 1; i < len(parts)-1; i++ {
		if strings.HasPrefix(parts[i], ".") && parts[i] != "." && parts[i] != ".." {
			return strings.Join(parts[:i], "/") + "/" + managerDir(parts[i:])
		}
	}
	dir := filepath.Dir(p)
	if filepath.Base(dir) == "bin" {
		dir = filepath.Dir(dir)
	}
	return dir
}

// sharedDirs are home directories many programs keep things in, some of
// them credentials (~/.local/share/keyrings, ~/.config/gh): a tool there
// exposes its own subdirectory, not all of it.
var sharedDirs = []string{".local", ".local/share", ".local/lib", ".config", ".cache"}

// managerDir returns the leading components of rel (a path below a home
// directory, the tool last) that name the tool's install: the first one,
// or more while they are a sharedDir.
func managerDir(rel []string) string {
	n := 1
	for n < len(rel)-1 && slices.Contains(sharedDirs, strings.Join(rel[:n], "/")) {
		n++
	}
	return strings.Join(rel[:n], "/")
}

// tilde writes path with ~/ for the home directory, as a policy reads best.
func tilde(path, home string) string {
	if home != "" && strings.HasPrefix(path, home+"/") {
		return "~/" + strings.TrimPrefix(path, home+"/")
	}
	return path
}

// brace writes path with {home} for the home directory (for env values).
func brace(path, home string) string {
	if home != "" && strings.HasPrefix(path, home+"/") {
		return "{home}/" + strings.TrimPrefix(path, home+"/")
	}
	return path
}

// toolRoots returns the install roots of tools, each once.
func toolRoots(h Host, tools ...string) []string {
	var out []string
	for _, t := range tools {
		out = appendNew(out, installRoots(h.look(t), h.home())...)
	}
	return out
}

// appendNew appends the entries of add not yet in list. A path inside one
// listed is left out (~/.pyenv/versions/3.12 after ~/.pyenv), and one
// containing listed paths replaces them: those are visible anyway, and the
// policy reads shorter.
func appendNew(list []string, add ...string) []string {
	for _, a := range add {
		if a == "" || slices.ContainsFunc(list, func(l string) bool { return l == a || within(a, l) }) {
			continue
		}
		list = slices.DeleteFunc(list, func(l string) bool { return within(l, a) })
		list = append(list, a)
	}
	return list
}

// within reports whether path lies strictly inside dir.
func within(path, dir string) bool {
	return strings.HasPrefix(path, strings.TrimSuffix(dir, "/")+"/")
}
