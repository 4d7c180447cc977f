//go:build linux && !amd64 && !arm64

package helper

import "golang.org/x/sys/unix"

// AuditArch is the seccomp architecture of this build.
func AuditArch() (uint32, bool) { return 0, false }

func archPrologue() []unix.SockFilter { return nil }

func cloneFlagsOffset() uint32 { return offArg0 }

func archModeCalls() []modeCall { return nil }
