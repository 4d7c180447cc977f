package sandbox

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/sandbox/internal/helper"
	"golang.org/x/sys/unix"
)

// identityStatic says why commands cannot run as the dedicated identity
// on this machine at all ("" when they can, file systems permitting):
// mapping another uid into the sandbox's user namespace and making
// idmapped mounts both take root of the host. Once per process.
var identityStatic = sync.OnceValue(func() string {
	if uid := os.Geteuid(); uid != 0 {
		if caps := mappingCaps(); caps != "" {
			// Such a caller could map another uid, but the identity's
			// idmapped mounts turn the files of uid 0 (agentos's, as
			// root) into the command's; this caller's files are its own
			// uid's, which that mapping leaves to nobody. Its commands
			// already run as a uid other than root's.
			return fmt.Sprintf("agentos runs as uid %d, not root: it holds %s, but the dedicated identity is made only for root, "+
				"whose files (uid 0) its idmapped mounts give to the command; commands run as uid %d, without capabilities, so not with root's identity either", uid, caps, uid)
		}
		return fmt.Sprintf("agentos runs as uid %d, not root, and cannot map another uid", uid)
	}
	if gid := os.Getegid(); gid != 0 {
		return fmt.Sprintf("agentos runs as root with gid %d: the dedicated identity maps gid 0's files only", gid)
	}
	if b, err := os.ReadFile("/proc/self/uid_map"); err != nil || strings.Join(strings.Fields(string(b)), " ") != "0 0 4294967295" {
		return "agentos runs in a user namespace of its own (a container), where idmapped mounts of the host's file systems are refused"
	}
	if err := unix.MountSetattr(-1, "", unix.AT_EMPTY_PATH, &unix.MountAttr{}); errors.Is(err, unix.ENOSYS) {
		return "the kernel has no idmapped mounts (mount_setattr, Linux 5.12)"
	}
	return ""
})

// mappingCaps names the capabilities to map uids and make idmapped mounts
// (CAP_SETUID, CAP_SETGID, CAP_SYS_ADMIN) when this process holds all
// three, effective, in the host's user namespace: a service started with
// AmbientCapabilities, say. "" otherwise.
func mappingCaps() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return ""
	}
	for line := range strings.Lines(string(b)) {
		hex, ok := strings.CutPrefix(line, "CapEff:")
		if !ok {
			continue
		}
		eff, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
		const want = 1<<unix.CAP_SETUID | 1<<unix.CAP_SETGID | 1<<unix.CAP_SYS_ADMIN
		if err != nil || eff&want != want {
			return ""
		}
		return "CAP_SETUID, CAP_SETGID and CAP_SYS_ADMIN"
	}
	return ""
}

// IdentityUnavailable says why this machine cannot give commands the
// dedicated identity at all ("" when it can, file systems permitting):
// agentos not root, a container's user namespace, a kernel without
// idmapped mounts.
func IdentityUnavailable() string { return identityStatic() }

// idmapRefused holds, per file system (fsKey), why it refused an
// idmapped mount: learnt by the first run that tried, so later runs on
// it start as the caller straight away.
var idmapRefused sync.Map

// idmapRefusedBelow holds, per path, why a writable path whose own file
// system takes idmapped mounts was refused: a file system mounted below
// it refuses them (the mount is recursive). Runs writing through that
// path start as the caller; other paths on its file system keep the
// identity.
var idmapRefusedBelow sync.Map

// fsKey names a mounted file system: its device and type (an anonymous
// device number, as tmpfs and ramfs have, is reused after an unmount).
type fsKey struct {
	dev uint64
	typ int64
}

// fsTypeName names a file system type (statfs's magic number).
func fsTypeName(typ int64) string {
	switch uint32(typ) {
	case unix.EXT4_SUPER_MAGIC:
		return "ext4"
	case unix.XFS_SUPER_MAGIC:
		return "xfs"
	case unix.BTRFS_SUPER_MAGIC:
		return "btrfs"
	case unix.TMPFS_MAGIC:
		return "tmpfs"
	case unix.RAMFS_MAGIC:
		return "ramfs"
	case unix.NFS_SUPER_MAGIC:
		return "nfs"
	case unix.FUSE_SUPER_MAGIC:
		return "fuse"
	case unix.OVERLAYFS_SUPER_MAGIC:
		return "overlay"
	case unix.V9FS_MAGIC:
		return "9p"
	case unix.F2FS_SUPER_MAGIC:
		return "f2fs"
	case 0x2fc12fc1:
		return "zfs"
	case 0xff534d42, 0xfe534d42:
		return "cifs"
	}
	return fmt.Sprintf("0x%x", uint32(typ))
}

func fsKeyOf(p string) (fsKey, bool) {
	var st unix.Stat_t
	var sf unix.Statfs_t
	if unix.Stat(p, &st) != nil || unix.Statfs(p, &sf) != nil {
		return fsKey{}, false
	}
	return fsKey{st.Dev, int64(sf.Type)}, true
}

// identityBroken holds why the dedicated identity's own setup failed in
// this process, per kind of run ("overlay": a task's copy-on-write
// worktree from idmapped layers, which needs Linux 5.19; "plain": the
// others), learnt from a helper's report (Report.Identity): runs of that
// kind start as the caller from then on, as before the identity.
var identityBroken sync.Map

func identityKind(hs helperSpec) string {
	if hs.Overlay != nil {
		return "overlay"
	}
	return "plain"
}

// identityBrokenBy records the failure and asks Run to start the run
// again, as the caller.
func identityBrokenBy(hs helperSpec, msg string) error {
	identityBroken.Store(identityKind(hs), msg+"; commands run as the caller instead")
	return &identitySetupError{agentos.Errorf(agentos.EDENIED, "sandbox: %s; the command was not run", msg)}
}

// identityOffForTest and failIdentityForTest: see export_linux_test.go.
var identityOffForTest, failIdentityForTest bool

// errIdmapRefused: a writable path's file system refused the idmapped
// mount; the run starts again as the caller.
var errIdmapRefused = errors.New("idmapped mount refused")

// identityFor sets hs.Identity when the command can run as the dedicated
// identity, or returns why not.
func identityFor(hs *helperSpec, id Identity) string {
	if r := identityStatic(); r != "" {
		return r
	}
	if identityOffForTest {
		return "turned off by a test"
	}
	if r, ok := identityBroken.Load(identityKind(*hs)); ok {
		return r.(string)
	}
	for _, p := range writableSources(*hs) {
		k, ok := fsKeyOf(p)
		if !ok {
			continue // the run says what is missing
		}
		if r, ok := idmapRefused.Load(k); ok {
			return r.(string)
		}
		if r, ok := idmapRefusedBelow.Load(filepath.Clean(p)); ok {
			return r.(string)
		}
	}
	id = id.orDefault()
	hs.Identity = &helper.Identity{UID: id.UID, GID: id.GID}
	hs.FailIdentityForTest = failIdentityForTest
	return ""
}

// writableSources are the host paths the command writes through (and
// those idmapped for it to read).
func writableSources(hs helperSpec) []string {
	var out []string
	if hs.Overlay != nil {
		out = append(out, hs.Overlay.Lower, helper.LayerDir(hs.Overlay.Lower, hs.Overlay.Upper, hs.Overlay.Work))
	} else {
		out = append(out, hs.Worktree)
	}
	return append(append(out, hs.ReadWrite...), hs.Owned...)
}

// userMaps are the helper's user namespace mappings: its root is the
// dedicated identity (with its supplementary groups cleared: root's
// would follow it) or, without one, the caller.
func userMaps(attr *syscall.SysProcAttr, id *helper.Identity) {
	if id == nil {
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}}
		return
	}
	attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: int(id.UID), Size: 1}}
	attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: int(id.GID), Size: 1}}
	// Written by agentos (root): setgroups stays allowed so the child can
	// drop root's groups before the exec; the command, without
	// capabilities, cannot call it.
	attr.GidMappingsEnableSetgroups = true
	attr.Credential = &syscall.Credential{Uid: 0, Gid: 0}
}

// identityMounts makes the helper's bind sources (Spec.Identity): every
// writable one idmapped through the helper's own user namespace, whose
// root (0 inside) is the dedicated uid outside, so the caller's (root's)
// files are the command's and what the command creates is root's on
// disk; each read-only one a plain clone, where root's files stay root's
// (the command reads them as others do). The helper cannot open them
// itself: as the dedicated uid, it has no way into root's directories.
// It returns errIdmapRefused, after noting the device, when a file system
// refuses the idmapping.
func identityMounts(pid int, hs *helperSpec) (fds []int, err error) {
	ns, err := unix.Open(fmt.Sprintf("/proc/%d/ns/user", pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening the sandbox's user namespace: %v", err)
	}
	defer unix.Close(ns)
	defer func() {
		if err != nil {
			for _, fd := range fds {
				unix.Close(fd)
			}
			fds = nil
		}
	}()
	hs.Mounts = hs.Mounts[:0]
	add := func(what, p string, write bool, layer string) error {
		fd, err := unix.OpenTree(unix.AT_FDCWD, p, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
		if err != nil {
			return fmt.Errorf("%s %s: %v", what, p, err)
		}
		if write || slices.ContainsFunc(hs.Owned, func(o string) bool { return filepath.Clean(o) == p }) {
			err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(ns)})
			if err != nil {
				unix.Close(fd)
				learnIdmapRefused(p, ns, err)
				return errIdmapRefused
			}
		}
		var st unix.Stat_t
		unix.Fstat(fd, &st)
		fds = append(fds, fd)
		hs.Mounts = append(hs.Mounts, helper.Mount{Path: filepath.Clean(p), Write: write, Dir: st.Mode&unix.S_IFMT == unix.S_IFDIR, Layer: layer})
		return nil
	}
	if ov := hs.Overlay; ov != nil {
		if err := add("lower layer", ov.Lower, true, "lower"); err != nil {
			return fds, err
		}
		if err := add("task layer", helper.LayerDir(ov.Lower, ov.Upper, ov.Work), true, "upper"); err != nil {
			return fds, err
		}
	} else if err := add("worktree", hs.Worktree, true, ""); err != nil {
		return fds, err
	}
	for _, p := range hs.ReadWrite {
		if err := add("writable path", p, true, ""); err != nil {
			return fds, err
		}
	}
	for _, p := range hs.ReadOnly {
		p = filepath.Clean(p)
		if slices.ContainsFunc(hs.Mounts, func(m helper.Mount) bool { return m.Path == p && m.Layer == "" }) {
			continue // named twice: the first (writable) one holds
		}
		// Missing entries are skipped, and a link is made again inside
		// (its target is visible if another entry shows it), as without
		// the identity.
		st, err := os.Lstat(p)
		if err != nil {
			continue
		}
		if st.Mode()&os.ModeSymlink != 0 {
			if target, err := os.Readlink(p); err == nil {
				hs.Mounts = append(hs.Mounts, helper.Mount{Path: p, Link: target})
			}
			continue
		}
		if err := add("read-only path", p, false, ""); err != nil {
			return fds, err
		}
	}
	return fds, nil
}

// learnIdmapRefused records why p's recursive idmapped mount was
// refused (err): by p's own file system, for every path on it, or, when
// p's mount alone takes the idmapping, by a file system mounted below p,
// for p only (its own file system is not to blame).
func learnIdmapRefused(p string, ns int, err error) {
	k, ok := fsKeyOf(p)
	if !ok {
		return
	}
	if !idmappable(p, ns) {
		idmapRefused.Store(k, fmt.Sprintf("%s is on a file system (%s) that refuses idmapped mounts (%v)", p, fsTypeName(k.typ), err))
		return
	}
	// Name the mounts below that refuse, each tried alone, and learn
	// their file systems as a run writing there would.
	var refusing []string
	for _, m := range mountsBelow(p) {
		if idmappable(m.path, ns) {
			continue
		}
		refusing = append(refusing, fmt.Sprintf("%s (%s)", m.path, m.typ))
		if mk, ok := fsKeyOf(m.path); ok {
			idmapRefused.LoadOrStore(mk, fmt.Sprintf("%s is on a file system (%s) that refuses idmapped mounts (%v)", m.path, fsTypeName(mk.typ), err))
		}
	}
	below := "a mount below it"
	if len(refusing) > 0 {
		below = strings.Join(refusing, ", ")
	}
	idmapRefusedBelow.Store(filepath.Clean(p), fmt.Sprintf("%s has a file system mounted below it that refuses idmapped mounts (%s: %v)", p, below, err))
}

// idmappable reports whether the mount at p alone (not those below it)
// takes an idmapping through ns.
func idmappable(p string, ns int) bool {
	fd, err := unix.OpenTree(unix.AT_FDCWD, p, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	return unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(ns)}) == nil
}

type mountPoint struct{ path, typ string }

// mountsBelow lists the mounts strictly below p, from this process's
// mountinfo.
func mountsBelow(p string) []mountPoint {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	if real, err := filepath.EvalSymlinks(p); err == nil {
		p = real
	}
	var out []mountPoint
	for line := range strings.Lines(string(b)) {
		// id parent major:minor root mountpoint options... - type source ...
		f := strings.Fields(line)
		sep := slices.Index(f, "-")
		if len(f) < 5 || sep < 0 || sep+1 >= len(f) {
			continue
		}
		mp := unescapeMountinfo(f[4])
		if mp != p && within(mp, p) {
			out = append(out, mountPoint{mp, f[sep+1]})
		}
	}
	return out
}

// unescapeMountinfo undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// sendMounts passes fds to the helper over sock, in order.
func sendMounts(sock int, fds []int) error {
	for len(fds) > 0 {
		n := min(len(fds), helper.MaxFDsPerMessage)
		if err := unix.Sendmsg(sock, []byte{0}, unix.UnixRights(fds[:n]...), nil, 0); err != nil {
			return fmt.Errorf("passing the sandbox's mounts: %v", err)
		}
		fds = fds[n:]
	}
	return nil
}

// holdStdin: a run that may start over (errIdmapRefused) must not let
// the first helper's stdin copier consume the caller's input. A reader
// that is not a file gets a pipe, fed only once the run has started
// (start); abort closes it instead.
func holdStdin(stdin io.Reader) (in io.Reader, start, abort func(), err error) {
	nop := func() {}
	if _, ok := stdin.(*os.File); ok || stdin == nil {
		return stdin, nop, nop, nil
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, nil, err
	}
	start = func() {
		r.Close()
		go func() {
			io.Copy(w, stdin)
			w.Close()
		}()
	}
	abort = func() {
		r.Close()
		w.Close()
	}
	return r, start, abort, nil
}
