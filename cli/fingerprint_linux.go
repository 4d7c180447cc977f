package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// fingerprint identifies the store files' current bytes without reading
// them: device, inode, size and modification time in nanoseconds, and for
// the database (the first file) its change time too, which a program cannot
// set back (only the clock can): a write, a copy put in place or a rename
// changes it. Not the WAL's change time: SQLite running as root chowns the
// WAL to the database's owner at every open, read-only ones included. A
// file that does not exist counts as such; "" when a file cannot be looked
// at, or there are none.
func fingerprint(files []string) string {
	fp := ""
	for i, p := range files {
		st, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			fp += "-;"
			continue
		}
		if err != nil {
			return ""
		}
		sys, ok := st.Sys().(*syscall.Stat_t)
		if !ok {
			return ""
		}
		fp += fmt.Sprintf("%x:%x:%d:%d", sys.Dev, sys.Ino, st.Size(), st.ModTime().UnixNano())
		if i == 0 {
			fp += fmt.Sprintf(":%d", sys.Ctim.Nano())
		}
		fp += ";"
	}
	return fp
}
