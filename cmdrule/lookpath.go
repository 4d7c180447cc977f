package cmdrule

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
)

// PathLookup returns a lookPath for Decide that resolves names the way the
// command will run: bare names on searchPath (absolute entries only; a
// relative entry would resolve into the worktree), names with a slash
// relative to dir. It only finds executables; deciding is Decide's job.
func PathLookup(searchPath, dir string) func(string) (string, error) {
	return func(name string) (string, error) {
		if strings.Contains(name, "/") {
			if !filepath.IsAbs(name) {
				name = filepath.Join(dir, name)
			}
			if !isExecutable(name) {
				return "", errors.New(name + ": not an executable file")
			}
			return name, nil
		}
		for _, d := range filepath.SplitList(searchPath) {
			if !filepath.IsAbs(d) {
				continue
			}
			if p := filepath.Join(d, name); isExecutable(p) {
				return p, nil
			}
		}
		return "", errors.New(name + ": not found on PATH")
	}
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}
