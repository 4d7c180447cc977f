package sandbox

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// Overlay is a task's copy-on-write worktree: Lower is a checkout shared
// read-only by every task on the same base commit, Upper the task's own
// layer (the files it wrote, a 0:0 character device for each path it
// deleted, an opaque mark on a directory it replaced), Work overlayfs's
// scratch directory on Upper's filesystem. Upper alone is the change: its
// disk cost grows with what the task changed, not with the repository.
type Overlay struct {
	Lower string `json:"lower"`
	Upper string `json:"upper"`
	Work  string `json:"work"`
}

// RemoveLayer removes a layer or overlay work directory. overlayfs leaves
// its work/work directory mode 000, which os.RemoveAll cannot read as an
// ordinary user: such directories are opened up first.
func RemoveLayer(dir string) error {
	if err := os.RemoveAll(dir); err == nil {
		return nil
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if d != nil && d.IsDir() {
			os.Chmod(p, 0o700)
		}
		if errors.Is(err, fs.ErrPermission) {
			os.Chmod(p, 0o700)
		}
		return nil
	})
	return os.RemoveAll(dir)
}
