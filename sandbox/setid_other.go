//go:build !linux

package sandbox

import (
	"errors"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/agentos/agentos"
)

// setIDFiles walks roots for SetIDFiles (setid_linux.go has the faster
// walk and the file capabilities).
func setIDFiles(_ time.Time, roots ...string) ([]string, error) {
	var out []string
	for _, root := range roots {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			if d.IsDir() {
				if d.Name() == agentos.GitDir && filepath.Dir(p) == root {
					return filepath.SkipDir
				}
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return nil
			}
			if m := info.Mode(); m&(fs.ModeSetuid|fs.ModeSetgid) != 0 || m&fs.ModeDevice != 0 {
				out = append(out, p)
			}
			return nil
		})
		if err != nil {
			return out, err
		}
	}
	return out, nil
}
