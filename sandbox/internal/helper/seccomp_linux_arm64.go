package helper

import "golang.org/x/sys/unix"

// AuditArch is the seccomp architecture of this build.
func AuditArch() (uint32, bool) { return unix.AUDIT_ARCH_AARCH64, true }

func archPrologue() []unix.SockFilter { return nil }

func cloneFlagsOffset() uint32 { return offArg0 }

// archModeCalls: arm64 has only the *at forms.
func archModeCalls() []modeCall { return nil }
