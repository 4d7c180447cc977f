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
	if h.LookPath != nil {
		p, err := h.LookPath(name)
		if err != nil {
			return ""
		}
		return p
	}
	for _, d := range filepath.SplitList(h.getenv("PATH")) {
		if !filepath.IsAbs(d) {
			continue
		}
		f := filepath.Join(d, name)
		if st, err := os.Stat(f); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return f
		}
	}
	return ""
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

// installRoot returns the directory to make visible for the tool at path
// (its links followed): for one under home, the first directory below home
// (~/.pyenv, ~/.nvm, ~/.cargo); elsewhere the tool's prefix (/opt/go for
// /opt/go/bin/go). "" when the tool is visible anyway.
func installRoot(path, home string) string {
	if path == "" {
		return ""
	}
	paths := []string{path}
	if real, err := filepath.EvalSymlinks(path); err == nil && real != path {
		paths = append(paths, real)
	}
	for _, p := range paths {
		if slices.ContainsFunc(systemDirs, func(d string) bool { return strings.HasPrefix(p, d) }) {
			continue
		}
		if home != "" && strings.HasPrefix(p, home+"/") {
			first, _, _ := strings.Cut(strings.TrimPrefix(p, home+"/"), "/")
			return "~/" + first
		}
		dir := filepath.Dir(p)
		if filepath.Base(dir) == "bin" {
			dir = filepath.Dir(dir)
		}
		return dir
	}
	return ""
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
		if r := installRoot(h.look(t), h.home()); r != "" && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

func appendNew(list []string, add ...string) []string {
	for _, a := range add {
		if a != "" && !slices.Contains(list, a) {
			list = append(list, a)
		}
	}
	return list
}
