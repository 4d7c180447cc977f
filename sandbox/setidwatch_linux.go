package sandbox

import (
	"errors"
	"os"
	"path/filepath"
	"unsafe"

	"github.com/agentos/agentos"
	"golang.org/x/sys/unix"
)

// SetIDWatch is RefuseSetID for a run in place (`agentos sandbox run`,
// whose writable root is the repository itself): instead of reading the
// mode and capability of every file of the repository after the run — a
// cost that grows with the repository, about 27 ms for 10,000 files — it
// watches the writable directories with inotify during the run and, after
// it, checks what the kernel reports the command touched: every file whose
// attributes changed (chmod, setxattr: IN_ATTRIB) or that was created or
// moved in, and the whole of every directory created or moved in. The
// kernel reports a change through any path, a descriptor included
// (fchmod); a command cannot reach these files other than through the
// watched directories (everything else it sees is read-only). Where that
// cannot be relied on — no inotify, too many directories to watch, events
// lost (IN_Q_OVERFLOW) — it walks everything, as RefuseSetID.
type SetIDWatch struct {
	roots []string
	fd    int
	dirs  map[int32]string // watch descriptor -> directory
}

const setIDWatchMask = unix.IN_ATTRIB | unix.IN_CREATE | unix.IN_MOVED_TO | unix.IN_ONLYDIR | unix.IN_DONT_FOLLOW

// WatchSetID starts watching roots; call Refuse after the run.
func WatchSetID(roots ...string) *SetIDWatch {
	w := &SetIDWatch{roots: roots, fd: -1}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return w
	}
	w.fd, w.dirs = fd, map[int32]string{}
	for _, r := range roots {
		if err := w.add(r, r); err != nil {
			w.Close()
			return w
		}
	}
	return w
}

// add watches dir and every directory below it (.git excepted, as in
// SetIDFiles: read-only to every command).
func (w *SetIDWatch) add(root, dir string) error {
	wd, err := unix.InotifyAddWatch(w.fd, dir, setIDWatchMask)
	if err != nil {
		if dir != root && (errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR)) {
			return nil
		}
		return err
	}
	w.dirs[int32(wd)] = dir
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	ents, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.IsDir() && !(e.Name() == agentos.GitDir && dir == root) {
			if err := w.add(root, filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// Close stops watching (Refuse does too).
func (w *SetIDWatch) Close() {
	if w.fd >= 0 {
		unix.Close(w.fd)
	}
	w.fd, w.dirs = -1, nil
}

// Refuse is RefuseSetID over what the run touched under the roots.
func (w *SetIDWatch) Refuse() error {
	if w.fd < 0 {
		return RefuseSetID(w.roots...)
	}
	defer w.Close()
	files, trees, ok := w.touched()
	if !ok {
		return RefuseSetID(w.roots...)
	}
	var found []string
	for _, p := range files {
		st, err := os.Lstat(p)
		if err != nil {
			continue // gone, or moved: its new place has its own event
		}
		if setIDMode(p, st) {
			found = append(found, p)
		}
	}
	sub, err := setIDFiles(false, trees...)
	if err != nil {
		return agentos.WrapError(agentos.EINTERNAL, err, "cannot check for set-id files: %v", err)
	}
	return refuseFound(append(found, sub...))
}

// touched reads the events: the files to check, the trees to walk, and
// ok false when events were lost.
func (w *SetIDWatch) touched() (files, trees []string, ok bool) {
	seenF, seenT := map[string]bool{}, map[string]bool{}
	buf := make([]byte, 64<<10)
	for {
		n, err := unix.Read(w.fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN || n <= 0 {
			return files, trees, true
		}
		if err != nil {
			return nil, nil, false
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			nameB := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
			off += unix.SizeofInotifyEvent + int(ev.Len)
			if ev.Mask&unix.IN_Q_OVERFLOW != 0 {
				return nil, nil, false
			}
			dir, known := w.dirs[ev.Wd]
			if !known || ev.Mask&unix.IN_IGNORED != 0 {
				continue
			}
			name := string(nameB)
			for len(name) > 0 && name[len(name)-1] == 0 {
				name = name[:len(name)-1]
			}
			if name == "" {
				continue // the directory itself: a directory's set-id bits are not refused
			}
			p := filepath.Join(dir, name)
			switch {
			case ev.Mask&unix.IN_ISDIR != 0 && ev.Mask&(unix.IN_CREATE|unix.IN_MOVED_TO) != 0:
				// New here: nothing in it was watched.
				if !seenT[p] {
					seenT[p] = true
					trees = append(trees, p)
				}
			case ev.Mask&unix.IN_ISDIR == 0 && !seenF[p]:
				seenF[p] = true
				files = append(files, p)
			}
		}
	}
}
