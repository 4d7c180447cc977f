package helper

import "golang.org/x/sys/unix"

// AuditArch is the seccomp architecture of this build.
func AuditArch() (uint32, bool) { return unix.AUDIT_ARCH_X86_64, true }

// archPrologue denies the x32 ABI, whose syscall numbers alias the x86-64
// ones with a high bit set and would slip past the number checks.
func archPrologue() []unix.SockFilter {
	return []unix.SockFilter{
		bpfJump(unix.BPF_JGE, 0x40000000, 0, 1),
		retErrno(unix.ENOSYS),
	}
}

// cloneFlagsOffset: on x86-64 clone(flags, stack, ...) has flags first.
func cloneFlagsOffset() uint32 { return offArg0 }

// archModeCalls are x86-64's legacy mode-setting syscalls.
func archModeCalls() []modeCall {
	return []modeCall{
		{nr: unix.SYS_CHMOD, mode: 1, flags: -1},
		{nr: unix.SYS_CREAT, mode: 1, flags: -1},
		{nr: unix.SYS_OPEN, mode: 2, flags: 1},
		{nr: unix.SYS_MKNOD, mode: 1, flags: -1, mknod: true},
	}
}
