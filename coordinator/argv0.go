package coordinator

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/agentos/agentos/sandbox"
)

// invocation returns the path to start a command by: the PATH entry name
// resolved from (searchPath, the commands' PATH) when it is a link to exe,
// the real executable pinned in the plan, and visible in the sandbox;
// otherwise exe. A program may depend on the name it is started by: a
// virtualenv's python finds its pyvenv.cfg (and so its packages) next to
// .venv/bin/python, not next to the interpreter it links to, and a rustup
// proxy (~/.cargo/bin/cargo -> rustup) is cargo only when started as
// cargo. The pin still holds: the link must resolve to exe now.
func invocation(name, exe, searchPath string, pol *sandbox.Policy, wt string) string {
	if strings.Contains(name, "/") {
		return exe
	}
	for _, dir := range filepath.SplitList(searchPath) {
		if dir == "" || !filepath.IsAbs(dir) {
			continue
		}
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
			continue
		}
		// The first hit is what LookPath pinned; anything else and the
		// pinned path runs.
		if real, err := filepath.EvalSymlinks(p); err != nil || real != exe || p == exe || pol.Visible(p, wt) != nil {
			return exe
		}
		return p
	}
	return exe
}
