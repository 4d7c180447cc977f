package helper

import (
	"fmt"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"

	"github.com/landlock-lsm/go-landlock/landlock"
	llsys "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/sys/unix"
)

// deviceFiles are the device nodes commands may open read-write.
var deviceFiles = []string{"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"}

// secretFiles and secretDirs under the readable system dirs are masked
// (an empty file or directory is mounted over them): the command runs as
// the namespace's root, which owns them.
var (
	secretFiles = []string{"/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/etc/sudoers", "/etc/security/opasswd"}
	secretDirs  = []string{"/etc/ssh", "/etc/sudoers.d", "/etc/ssl/private"}
)

// MinLandlockABI is the oldest Landlock the sandbox accepts: ABI 3 handles
// renames across directories (2) and truncation (3).
const MinLandlockABI = 3

// MinLandlockNetABI is the first Landlock that restricts TCP bind and
// connect, which a TCP allowlist needs.
const MinLandlockNetABI = 4

// setupMounts runs in the new mount namespace, while the helper still has
// its namespace capabilities. It builds a new root holding only what the
// command may see (system dirs and read_only entries read-only, the
// worktree and read_write entries writable, a few device nodes, a private
// /proc) and pivots into it. The rest of the host is not merely unreadable
// but absent: Landlock (below ABI 9) does not govern connecting to unix
// sockets, chmod, chown, utimes or xattrs, and a host service's socket
// reached as root would be an escape.
func setupMounts(hs Spec) error {
	if hs.Probe && hs.ProbeFlags&unix.CLONE_NEWNS == 0 {
		// Probing the user namespace alone: no mount namespace to change.
		return nil
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("mount namespace: making mounts private: %v", err)
	}
	if hs.Probe {
		// A /proc of the new pid namespace is the one mount a probe needs.
		if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			return fmt.Errorf("mounting a private /proc: %v", err)
		}
		return nil
	}
	if err := unix.Sethostname([]byte("agentos-sandbox")); err != nil {
		return fmt.Errorf("uts namespace: %v", err)
	}
	return newRoot(hs)
}

// bind is one host path made visible at the same path in the new root.
type bind struct {
	path  string
	write bool
	fd    int // O_PATH, opened before the staging tmpfs can hide it
	link  string
	isDir bool
	// pre is the mount agentos made for this path (Spec.Identity): it is
	// attached rather than bound, and fd is its descriptor.
	pre *Mount
	// overlay: the worktree is the task's copy-on-write view, mounted
	// from its idmapped layers.
	overlay bool
}

var stagingDirs = []string{"/tmp", "/mnt", "/run", "/var/tmp", "/opt", "/srv", "/home", "/root"}

func newRoot(hs Spec) error {
	var binds []*bind
	add := func(p string, write, required bool) error {
		p = path.Clean(p)
		if hs.Identity != nil {
			// The helper, as the dedicated uid, may not reach p: agentos
			// opened it (or found nothing to open).
			if hs.Overlay != nil && write && p == path.Clean(hs.Worktree) {
				binds = append(binds, &bind{path: p, write: true, fd: -1, isDir: true, overlay: true})
				return nil
			}
			if m := premounted(hs, p, ""); m != nil {
				if i := slices.IndexFunc(binds, func(b *bind) bool { return b.pre == m }); i >= 0 {
					// Named twice (a read-only entry that is also
					// writable, say): one mount, writable if either asks.
					binds[i].write = binds[i].write || write
					return nil
				}
				if m.Link != "" {
					binds = append(binds, &bind{path: p, fd: -1, link: m.Link})
					return nil
				}
				binds = append(binds, &bind{path: p, write: write, fd: m.fd, isDir: m.Dir, pre: m})
				return nil
			}
			if write && required {
				return fmt.Errorf("%s: not passed to the sandbox", p)
			}
		}
		st, err := os.Lstat(p)
		if err != nil {
			if required {
				return fmt.Errorf("%s: %v", p, err)
			}
			return nil
		}
		b := &bind{path: p, write: write, fd: -1}
		if st.Mode()&os.ModeSymlink != 0 && !required {
			// /bin -> usr/bin: keep the link, bind what it points to if
			// that is visible anyway.
			if b.link, err = os.Readlink(p); err != nil {
				return nil
			}
		} else {
			fd, err := unix.Open(p, unix.O_PATH|unix.O_CLOEXEC, 0)
			if err != nil {
				if required {
					return fmt.Errorf("%s: %v", p, err)
				}
				return nil
			}
			var fst unix.Stat_t
			unix.Fstat(fd, &fst)
			b.fd, b.isDir = fd, fst.Mode&unix.S_IFMT == unix.S_IFDIR
		}
		binds = append(binds, b)
		return nil
	}
	for _, d := range SystemDirs {
		add(d, false, false)
	}
	for _, p := range hs.ReadOnly {
		add(p, false, false)
	}
	if hs.Overlay != nil && hs.Identity == nil {
		// The task's copy-on-write view goes onto the worktree's own path
		// in this namespace first; the bind below then carries it into
		// the new root like any worktree.
		if err := mountOverlay(*hs.Overlay, hs.Worktree); err != nil {
			return err
		}
	}
	if err := add(hs.Worktree, true, true); err != nil {
		return fmt.Errorf("worktree %v", err)
	}
	for _, p := range hs.ReadWrite {
		if err := add(p, true, true); err != nil {
			return fmt.Errorf("writable path %v", err)
		}
	}
	for _, d := range deviceFiles {
		add(d, true, false)
	}
	if hs.Network {
		// resolv.conf is often a link into /run (systemd-resolved).
		if real, err := realPath("/etc/resolv.conf"); err == nil && !strings.HasPrefix(real, "/etc/") {
			add(real, false, false)
		}
	}
	defer func() {
		for _, b := range binds {
			if b.fd >= 0 && b.pre == nil {
				unix.Close(b.fd)
			}
		}
		for _, m := range hs.Mounts {
			if m.fd >= 0 {
				unix.Close(m.fd)
			}
		}
	}()
	// Parents before children, so a nested entry lands on top.
	slices.SortStableFunc(binds, func(a, b *bind) int {
		return strings.Count(a.path, "/") - strings.Count(b.path, "/")
	})

	// Any existing directory can hold the new root: what it hides was
	// opened above.
	root := ""
	for _, d := range stagingDirs {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			root = d
			break
		}
	}
	if root == "" {
		return fmt.Errorf("no directory to build the sandbox root on (tried %s)", strings.Join(stagingDirs, ", "))
	}
	if err := unix.Mount("agentos-root", root, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755,size=1m"); err != nil {
		return fmt.Errorf("mounting the sandbox root: %v", err)
	}
	for _, b := range binds {
		dst := path.Join(root, b.path)
		if b.link != "" {
			if err := os.MkdirAll(path.Dir(dst), 0o755); err != nil {
				return err
			}
			if err := os.Symlink(b.link, dst); err != nil && !os.IsExist(err) {
				return fmt.Errorf("recreating link %s: %v", b.path, err)
			}
			continue
		}
		switch {
		case b.overlay:
			if err := mountOverlayIdmapped(hs, root, dst); err != nil {
				return &identityError{err}
			}
		case b.pre != nil:
			if err := attach(b.pre, dst); err != nil {
				return &identityError{fmt.Errorf("attaching %s: %v", b.path, err)}
			}
		default:
			if err := mkMountpoint(dst, b.isDir); err != nil {
				return fmt.Errorf("preparing %s: %v", b.path, err)
			}
			src := fmt.Sprintf("/proc/self/fd/%d", b.fd)
			if err := unix.Mount(src, dst, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
				return fmt.Errorf("binding %s: %v", b.path, err)
			}
		}
		if err := setReadOnly(dst, !b.write); err != nil {
			return fmt.Errorf("setting %s %s: %v", b.path, map[bool]string{true: "writable", false: "read-only"}[b.write], err)
		}
	}
	// Protected paths inside the writable roots stay read-only. A symlink
	// there could redirect the protection, so it is refused.
	for _, p := range hs.Protected {
		if !path.IsAbs(p) {
			p = path.Join(hs.Worktree, p)
		}
		dst := path.Join(root, p)
		st, err := os.Lstat(dst)
		if err != nil {
			continue
		}
		if st.Mode()&os.ModeSymlink != 0 {
			return fmt.Errorf("protected path %s is a symlink; remove it or make it a real file or directory", p)
		}
		if err := bindReadOnly(dst, dst); err != nil {
			return fmt.Errorf("making protected path %s read-only: %v", p, err)
		}
	}
	// A writable root the caller named inside a protected path (the build
	// cache under .agentos/ when the repository itself is the worktree, as
	// for `agentos sandbox run`) is bound writable again on top: it was
	// asked for explicitly, and the rest of the protected path stays
	// read-only.
	for _, b := range binds {
		if !b.write || b.path == path.Clean(hs.Worktree) || b.fd < 0 || !insideAny(b.path, hs.Protected, hs.Worktree) {
			continue
		}
		dst := path.Join(root, b.path)
		if err := unix.Mount(fmt.Sprintf("/proc/self/fd/%d", b.fd), dst, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("binding %s: %v", b.path, err)
		}
		if err := setReadOnly(dst, false); err != nil {
			return fmt.Errorf("setting %s writable: %v", b.path, err)
		}
	}
	// Secrets under the readable system dirs (the command runs as the
	// namespace's root, which owns them) are masked.
	for _, f := range secretFiles {
		dst := path.Join(root, f)
		if st, err := os.Lstat(dst); err == nil && st.Mode().IsRegular() {
			if err := bindReadOnly(path.Join(root, "/dev/null"), dst); err != nil {
				return fmt.Errorf("masking %s: %v", f, err)
			}
		}
	}
	for _, d := range secretDirs {
		dst := path.Join(root, d)
		if st, err := os.Lstat(dst); err == nil && st.IsDir() {
			if err := unix.Mount("tmpfs", dst, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=4k,mode=0755"); err != nil {
				return fmt.Errorf("masking %s: %v", d, err)
			}
		}
	}
	// Credentials inside a visible directory (and sandbox.hide) are masked
	// the same way. Each is looked up in the new root, without following
	// links: the caller passed link targets too.
	for _, h := range hs.Hidden {
		if err := maskPath(root, h); err != nil {
			return fmt.Errorf("hiding %s: %v", h, err)
		}
	}
	if len(hs.Hosts) > 0 {
		if err := mapHosts(root, hs.Hosts); err != nil {
			return err
		}
	}
	for name, target := range map[string]string{"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"} {
		os.MkdirAll(path.Join(root, "dev"), 0o755)
		os.Symlink(target, path.Join(root, "dev", name))
	}
	for _, d := range []string{"proc", "tmp"} {
		if err := os.MkdirAll(path.Join(root, d), 0o755); err != nil {
			return err
		}
	}
	// A /proc of the new pid namespace: the host's processes (and their
	// environments) are not visible.
	if err := unix.Mount("proc", path.Join(root, "proc"), "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mounting a private /proc: %v", err)
	}
	// The skeleton itself is read-only: nothing can be added next to the
	// visible paths.
	if err := unix.MountSetattr(-1, root, 0, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}); err != nil {
		return fmt.Errorf("making the sandbox root read-only: %v", err)
	}
	if err := unix.Chdir(root); err != nil {
		return err
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %v", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detaching the host root: %v", err)
	}
	return unix.Chdir("/")
}

// realPath resolves every link in p, as the kernel does (path/filepath's
// EvalSymlinks is left out of the helper; see the package comment).
func realPath(p string) (string, error) {
	fd, err := unix.Open(p, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	return os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
}

// insideAny reports whether name lies strictly inside one of the protected
// paths (relative ones are taken relative to worktree).
func insideAny(name string, protected []string, worktree string) bool {
	for _, p := range protected {
		if !path.IsAbs(p) {
			p = path.Join(worktree, p)
		}
		if strings.HasPrefix(name, path.Clean(p)+"/") {
			return true
		}
	}
	return false
}

// maskPath mounts an empty read-only directory or /dev/null over name in
// the new root, if something visible is there.
func maskPath(root, name string) error {
	dst := path.Join(root, name)
	st, err := os.Lstat(dst)
	switch {
	case err != nil, st.Mode()&os.ModeSymlink != 0:
		return nil
	case st.IsDir():
		return unix.Mount("tmpfs", dst, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=4k,mode=0700")
	default:
		return bindReadOnly(path.Join(root, "/dev/null"), dst)
	}
}

// mapHosts puts a private /etc/hosts (localhost and the allowlisted
// names) over the host's. Its source, a file on the root's tmpfs, is
// removed once bound, so only /etc/hosts shows it.
func mapHosts(root string, hosts []byte) error {
	dst := path.Join(root, "etc", "hosts")
	if st, err := os.Lstat(dst); err != nil || !st.Mode().IsRegular() {
		// No file to bind onto: names stay unresolvable (the command can
		// still use the loopback addresses).
		return nil
	}
	src := path.Join(root, ".agentos-hosts")
	if err := os.WriteFile(src, hosts, 0o644); err != nil {
		return fmt.Errorf("writing the sandbox's /etc/hosts: %v", err)
	}
	defer os.Remove(src)
	if err := bindReadOnly(src, dst); err != nil {
		return fmt.Errorf("mapping allow_tcp names in /etc/hosts: %v", err)
	}
	return nil
}

// mkMountpoint creates an empty directory or file to bind onto.
func mkMountpoint(dst string, dir bool) error {
	if dir {
		return os.MkdirAll(dst, 0o755)
	}
	if err := os.MkdirAll(path.Dir(dst), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_RDONLY, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

func bindReadOnly(src, dst string) error {
	if err := unix.Mount(src, dst, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return err
	}
	return setReadOnly(dst, true)
}

// setReadOnly sets (recursively) or clears (on the top mount only) the
// read-only flag. mount_setattr changes only the attributes named, so the
// flags locked on the original mounts (nosuid, nodev...) need not be
// repeated.
func setReadOnly(path string, ro bool) error {
	if ro {
		// Not nodev: /dev/null and friends must stay usable.
		return unix.MountSetattr(-1, path, unix.AT_RECURSIVE, &unix.MountAttr{
			Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID,
		})
	}
	// Not nodev either: the writable device nodes are binds too, and no
	// one in the sandbox can create a device node (no CAP_MKNOD).
	return unix.MountSetattr(-1, path, 0, &unix.MountAttr{
		Attr_set: unix.MOUNT_ATTR_NOSUID,
		Attr_clr: unix.MOUNT_ATTR_RDONLY,
	})
}

// confine restricts the helper (and so the command it forks from this
// locked thread): rlimits, capabilities, Landlock, no_new_privs, seccomp.
func confine(hs Spec) error {
	if err := dropCapabilities(); err != nil {
		return err
	}
	if err := restrictLandlock(hs); err != nil {
		return err
	}
	if err := installSeccomp(hs.Network, len(hs.Forwards) > 0); err != nil {
		return err
	}
	// Once nothing else needs them: no capabilities at all on this thread.
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("clearing capabilities: %v", err)
	}
	return nil
}

// setLimits sets the command's rlimits. syscall.Setrlimit (not x/sys)
// also stops Go from restoring its startup RLIMIT_NOFILE at exec.
func setLimits(l Limits) error {
	for _, r := range []struct {
		res  int
		name string
		v    uint64
	}{
		{unix.RLIMIT_CPU, "cpu", uint64(l.CPU.Seconds())},
		{unix.RLIMIT_AS, "memory", l.Memory},
		{unix.RLIMIT_NPROC, "processes", l.Processes},
		{unix.RLIMIT_FSIZE, "file size", l.FileSize},
		{unix.RLIMIT_NOFILE, "open files", l.OpenFiles},
		{unix.RLIMIT_CORE, "core", 0},
	} {
		if err := syscall.Setrlimit(r.res, &syscall.Rlimit{Cur: r.v, Max: r.v}); err != nil {
			return fmt.Errorf("setting the %s limit to %d: %v", r.name, r.v, err)
		}
	}
	return nil
}

// MinPidMax is the smallest pid_max the kernel accepts.
const MinPidMax = 301

// limitPids bounds the number of tasks in the sandbox's pid namespace
// (pid_max is per pid namespace since Linux 6.14). RLIMIT_NPROC alone does
// not bind when agentos runs as root.
func limitPids(n uint64) error {
	v := max(n+1, MinPidMax)
	err := os.WriteFile("/proc/sys/kernel/pid_max", []byte(fmt.Sprint(v)), 0)
	if err != nil && os.Getuid() == 0 {
		return fmt.Errorf("bounding the number of processes (pid_max per pid namespace needs Linux 6.14): %v", err)
	}
	return nil
}

// dropCapabilities empties the bounding set and locks the securebits so
// that executing anything as the namespace's root (setuid or not) grants
// no capability.
func dropCapabilities() error {
	for c := 0; c <= unix.CAP_LAST_CAP; c++ {
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && err != unix.EINVAL {
			return fmt.Errorf("dropping capability %d: %v", c, err)
		}
	}
	const bits = 1<<0 | 1<<1 | 1<<2 | 1<<3 | 1<<6 | 1<<7 // NOROOT, NO_SETUID_FIXUP, NO_CAP_AMBIENT_RAISE, each locked
	if err := unix.Prctl(unix.PR_SET_SECUREBITS, bits, 0, 0, 0); err != nil {
		return fmt.Errorf("setting securebits: %v", err)
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil && err != unix.EINVAL {
		return fmt.Errorf("clearing ambient capabilities: %v", err)
	}
	return nil
}

// LandlockABI is the kernel's Landlock ABI version (0: none).
func LandlockABI() int {
	v, err := llsys.LandlockGetABIVersion()
	if err != nil {
		return 0
	}
	return v
}

func restrictLandlock(hs Spec) error {
	if abi := LandlockABI(); abi < MinLandlockABI {
		return fmt.Errorf("landlock ABI %d is older than the required %d", abi, MinLandlockABI)
	}
	cfg := landlock.V11.BestEffort()
	if hs.Network {
		cfg.HandledAccessNet = 0
	}
	rules := []landlock.Rule{
		landlock.RODirs(SystemDirs...).IgnoreIfMissing(),
		landlock.RODirs("/proc"),
		landlock.RWFiles(deviceFiles...).IgnoreIfMissing(),
	}
	if !hs.Network && len(hs.Forwards) > 0 {
		// Connect to the allowlist's listeners only (loopback is the only
		// interface); no TCP bind.
		if abi := LandlockABI(); abi < MinLandlockNetABI {
			return fmt.Errorf("landlock ABI %d cannot restrict TCP connect, which allow_tcp needs (ABI %d)", abi, MinLandlockNetABI)
		}
		for _, f := range hs.Forwards {
			rules = append(rules, landlock.ConnectTCP(f.Port))
		}
	}
	rw := append([]string{hs.Worktree}, hs.ReadWrite...)
	for _, p := range rw {
		rules = append(rules, pathRule(p, true))
	}
	for _, p := range hs.ReadOnly {
		rules = append(rules, pathRule(p, false))
	}
	// This thread only: the helper runs on it (locked in Main, never
	// unlocked) and execs the command from it, as it does for seccomp
	// and the capabilities. Config.Restrict would restrict every thread
	// of the helper, which below Landlock ABI 8 is a signal to each and a
	// wait for all (syscall.AllThreadsSyscall): about a millisecond of
	// every command's start, for threads that die at the exec.
	fd, flags, err := cfg.NewRulesetFD(rules...)
	if err != nil {
		return fmt.Errorf("landlock: %v", err)
	}
	if fd < 0 {
		return fmt.Errorf("landlock: no ruleset to enforce")
	}
	defer unix.Close(fd)
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %v", err)
	}
	if err := llsys.LandlockRestrictSelf(fd, flags); err != nil {
		return fmt.Errorf("landlock: enforcing the ruleset: %v", err)
	}
	return nil
}

// pathRule grants directory or file rights depending on what p is; policy
// read-only entries that do not exist are ignored, a missing writable root
// is an error.
func pathRule(p string, write bool) landlock.Rule {
	st, err := os.Stat(p)
	isFile := err == nil && !st.IsDir()
	switch {
	case write && isFile:
		return landlock.RWFiles(p)
	case write:
		return landlock.RWDirs(p).WithRefer().WithResolveUnix()
	case isFile:
		return landlock.ROFiles(p)
	default:
		return landlock.RODirs(p).IgnoreIfMissing()
	}
}
