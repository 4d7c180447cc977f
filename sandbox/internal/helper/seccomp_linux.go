package helper

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// deniedSyscalls fail with EPERM inside the sandbox: debugging other
// processes, changing mounts or namespaces, kernel modules and kexec, the
// kernel keyring, eBPF, io_uring (which bypasses seccomp for the I/O it
// queues), perf and userfaultfd (exploit primitives), handle-based opens.
var deniedSyscalls = []uintptr{
	unix.SYS_PTRACE, unix.SYS_PROCESS_VM_READV, unix.SYS_PROCESS_VM_WRITEV,
	unix.SYS_MOUNT, unix.SYS_UMOUNT2, unix.SYS_PIVOT_ROOT, unix.SYS_MOVE_MOUNT,
	unix.SYS_OPEN_TREE, unix.SYS_FSOPEN, unix.SYS_FSCONFIG, unix.SYS_FSMOUNT,
	unix.SYS_FSPICK, unix.SYS_MOUNT_SETATTR, unix.SYS_CHROOT,
	unix.SYS_UNSHARE, unix.SYS_SETNS,
	unix.SYS_INIT_MODULE, unix.SYS_FINIT_MODULE, unix.SYS_DELETE_MODULE,
	unix.SYS_KEXEC_LOAD, unix.SYS_KEXEC_FILE_LOAD, unix.SYS_REBOOT,
	unix.SYS_KEYCTL, unix.SYS_ADD_KEY, unix.SYS_REQUEST_KEY,
	unix.SYS_BPF, unix.SYS_PERF_EVENT_OPEN, unix.SYS_USERFAULTFD,
	unix.SYS_IO_URING_SETUP, unix.SYS_IO_URING_ENTER, unix.SYS_IO_URING_REGISTER,
	unix.SYS_OPEN_BY_HANDLE_AT, unix.SYS_NAME_TO_HANDLE_AT,
	unix.SYS_SWAPON, unix.SYS_SWAPOFF, unix.SYS_ACCT, unix.SYS_SYSLOG,
}

// nsCloneFlags are the clone(2) flags that create namespaces; a nested user
// namespace would hand the command a fresh set of capabilities.
const nsCloneFlags = unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWPID |
	unix.CLONE_NEWNET | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS | unix.CLONE_NEWCGROUP |
	unix.CLONE_NEWTIME

// Offsets into struct seccomp_data (little endian: low word of each arg first).
const (
	offNr   = 0
	offArch = 4
	offArg0 = 16
	offArg1 = 24
	offArg2 = 32
)

func offArg(i int) uint32 { return offArg0 + 8*uint32(i) }

// setIDBits are S_ISUID|S_ISGID. The command runs as the namespace's root,
// which is the caller's uid on the host: as root, every file it creates is
// host root's, and a set-id bit on one would outlive the sandbox as a
// setuid-root program (nosuid inside binds nothing on the host).
const setIDBits = unix.S_ISUID | unix.S_ISGID

// modeCall is a syscall that can give a file a mode: its mode argument,
// and for open(2)-like calls the flags argument that says whether it
// creates (-1: always applies the mode).
type modeCall struct {
	nr          uintptr
	mode, flags int
	// mknod also creates device nodes, refused whatever the mode.
	mknod bool
}

// modeCalls are the mode-setting syscalls of every architecture; the
// architecture files add the legacy ones (chmod, open, creat, mknod).
var modeCalls = append([]modeCall{
	{nr: unix.SYS_FCHMOD, mode: 1, flags: -1},
	{nr: unix.SYS_FCHMODAT, mode: 2, flags: -1},
	{nr: unix.SYS_FCHMODAT2, mode: 2, flags: -1},
	{nr: unix.SYS_OPENAT, mode: 3, flags: 2},
	{nr: unix.SYS_MKNODAT, mode: 2, flags: -1, mknod: true},
}, archModeCalls()...)

// createFlags are the open(2) flags under which the mode argument is used.
const createFlags = unix.O_CREAT | (unix.O_TMPFILE &^ unix.O_DIRECTORY)

// modeFilter refuses (EPERM) every mode-setting call that asks for a set-id
// bit, and mknod of a block or character device.
func modeFilter() []unix.SockFilter {
	var p []unix.SockFilter
	allow := bpfRet(unix.SECCOMP_RET_ALLOW)
	deny := retErrno(unix.EPERM)
	for _, c := range modeCalls {
		switch {
		case c.mknod:
			p = append(p,
				bpfJump(unix.BPF_JEQ, uint32(c.nr), 0, 7),
				bpfLoad(offArg(c.mode)),
				bpfJump(unix.BPF_JSET, setIDBits, 4, 0),
				unix.SockFilter{Code: unix.BPF_ALU | unix.BPF_AND | unix.BPF_K, K: unix.S_IFMT},
				bpfJump(unix.BPF_JEQ, unix.S_IFCHR, 2, 0),
				bpfJump(unix.BPF_JEQ, unix.S_IFBLK, 1, 0),
				allow,
				deny,
			)
		case c.flags >= 0:
			p = append(p,
				bpfJump(unix.BPF_JEQ, uint32(c.nr), 0, 6),
				bpfLoad(offArg(c.flags)),
				bpfJump(unix.BPF_JSET, createFlags, 0, 2),
				bpfLoad(offArg(c.mode)),
				bpfJump(unix.BPF_JSET, setIDBits, 1, 0),
				allow,
				deny,
			)
		default:
			p = append(p,
				bpfJump(unix.BPF_JEQ, uint32(c.nr), 0, 4),
				bpfLoad(offArg(c.mode)),
				bpfJump(unix.BPF_JSET, setIDBits, 1, 0),
				allow,
				deny,
			)
		}
	}
	// openat2 passes its mode in a struct BPF cannot read; ENOSYS makes
	// glibc, Go and systemd fall back to openat(2), which is checked above.
	p = append(p, bpfJump(unix.BPF_JEQ, unix.SYS_OPENAT2, 0, 1), retErrno(unix.ENOSYS))
	return p
}

func retErrno(errno unix.Errno) unix.SockFilter {
	return bpfRet(unix.SECCOMP_RET_ERRNO | uint32(errno)&unix.SECCOMP_RET_DATA)
}

func bpfRet(k uint32) unix.SockFilter {
	return unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: k}
}

func bpfLoad(off uint32) unix.SockFilter {
	return unix.SockFilter{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: off}
}

func bpfJump(op uint16, k uint32, jt, jf uint8) unix.SockFilter {
	return unix.SockFilter{Code: unix.BPF_JMP | op | unix.BPF_K, K: k, Jt: jt, Jf: jf}
}

// seccompFilter builds the BPF program. With network off, socket(2) is
// allowed for AF_UNIX only, plus AF_INET and AF_INET6 with a TCP allowlist
// (inet): loopback is then the namespace's only interface, and Landlock
// decides which ports TCP may connect to.
func seccompFilter(network, inet bool) ([]unix.SockFilter, error) {
	arch, ok := AuditArch()
	if !ok {
		return nil, fmt.Errorf("seccomp filter not available on %s", runtime.GOARCH)
	}
	allow := bpfRet(unix.SECCOMP_RET_ALLOW)
	p := []unix.SockFilter{
		bpfLoad(offArch),
		bpfJump(unix.BPF_JEQ, arch, 1, 0),
		bpfRet(unix.SECCOMP_RET_KILL_PROCESS),
		bpfLoad(offNr),
	}
	p = append(p, archPrologue()...)
	for _, nr := range deniedSyscalls {
		p = append(p, bpfJump(unix.BPF_JEQ, uint32(nr), 0, 1), retErrno(unix.EPERM))
	}
	// clone3 passes its flags in memory BPF cannot read; ENOSYS makes libc
	// and Go fall back to clone(2), whose flags we can check.
	p = append(p, bpfJump(unix.BPF_JEQ, unix.SYS_CLONE3, 0, 1), retErrno(unix.ENOSYS))
	p = append(p,
		bpfJump(unix.BPF_JEQ, unix.SYS_CLONE, 0, 4),
		bpfLoad(cloneFlagsOffset()),
		bpfJump(unix.BPF_JSET, nsCloneFlags, 0, 1),
		retErrno(unix.EPERM),
		allow,
	)
	p = append(p, modeFilter()...)
	// TIOCSTI and TIOCLINUX push input into a terminal the caller shares.
	p = append(p,
		bpfJump(unix.BPF_JEQ, unix.SYS_IOCTL, 0, 5),
		bpfLoad(offArg1),
		bpfJump(unix.BPF_JEQ, unix.TIOCSTI, 2, 0),
		bpfJump(unix.BPF_JEQ, unix.TIOCLINUX, 1, 0),
		allow,
		retErrno(unix.EPERM),
	)
	if !network && !inet {
		p = append(p,
			bpfJump(unix.BPF_JEQ, unix.SYS_SOCKET, 0, 4),
			bpfLoad(offArg0),
			bpfJump(unix.BPF_JEQ, unix.AF_UNIX, 1, 0),
			retErrno(unix.EAFNOSUPPORT),
			allow,
		)
	}
	if !network && inet {
		// IP sockets of TCP and UDP only: Landlock governs TCP, and
		// MPTCP or SCTP would slip past its port rules (loopback only,
		// still, but the allowlist should mean what it says).
		p = append(p,
			bpfJump(unix.BPF_JEQ, unix.SYS_SOCKET, 0, 16),
			bpfLoad(offArg0),
			bpfJump(unix.BPF_JEQ, unix.AF_UNIX, 13, 0),
			bpfJump(unix.BPF_JEQ, unix.AF_INET, 2, 0),
			bpfJump(unix.BPF_JEQ, unix.AF_INET6, 1, 0),
			retErrno(unix.EAFNOSUPPORT),
			bpfLoad(offArg2),
			bpfJump(unix.BPF_JEQ, 0, 3, 0),
			bpfJump(unix.BPF_JEQ, unix.IPPROTO_TCP, 2, 0),
			bpfJump(unix.BPF_JEQ, unix.IPPROTO_UDP, 1, 0),
			retErrno(unix.EPROTONOSUPPORT),
			bpfLoad(offArg1),
			unix.SockFilter{Code: unix.BPF_ALU | unix.BPF_AND | unix.BPF_K, K: 0xf},
			bpfJump(unix.BPF_JEQ, unix.SOCK_STREAM, 2, 0),
			bpfJump(unix.BPF_JEQ, unix.SOCK_DGRAM, 1, 0),
			retErrno(unix.EPROTONOSUPPORT),
			allow,
		)
	}
	p = append(p, allow)
	return p, nil
}

// installSeccomp loads the filter on the calling thread only: the helper
// runs on a locked OS thread and forks the command from it, and the child
// inherits exactly that thread's filter.
func installSeccomp(network, inet bool) error {
	filter, err := seccompFilter(network, inet)
	if err != nil {
		return err
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&prog))); e != 0 {
		return fmt.Errorf("seccomp: %w", e)
	}
	runtime.KeepAlive(filter)
	return nil
}
