//go:build linux && !amd64 && !arm64

package sandbox

import "golang.org/x/sys/unix"

func auditArch() (uint32, bool) { return 0, false }

func archPrologue() []unix.SockFilter { return nil }

func cloneFlagsOffset() uint32 { return offArg0 }

func archModeCalls() []modeCall { return nil }
