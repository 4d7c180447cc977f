package coordinator

import (
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// freeBytes is the space an unprivileged writer may still use on the
// filesystem of dir.
func freeBytes(dir string) (int64, bool) {
	var st unix.Statfs_t
	if unix.Statfs(dir, &st) != nil {
		return 0, false
	}
	return int64(st.Bavail) * int64(st.Bsize), true
}

// ensureReserve makes path hold size allocated bytes (fallocate: real
// blocks, not a sparse file), unless it already does.
func ensureReserve(path string, size int64) error {
	if st, err := os.Stat(path); err == nil && st.Size() >= size {
		if sys, ok := st.Sys().(*syscall.Stat_t); ok && sys.Blocks*512 >= size {
			return nil
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("reserve: %w", err)
	}
	defer f.Close()
	if err := unix.Fallocate(int(f.Fd()), 0, 0, size); err != nil {
		if err == unix.EOPNOTSUPP {
			// A filesystem without fallocate: write the bytes.
			buf := make([]byte, 64<<10)
			for off := int64(0); off < size; off += int64(len(buf)) {
				if _, err := f.WriteAt(buf, off); err != nil {
					os.Remove(path)
					return fmt.Errorf("reserve: %w", err)
				}
			}
			return nil
		}
		os.Remove(path)
		return fmt.Errorf("reserve: %w", err)
	}
	return nil
}
