//go:build !linux

package sandbox

import (
	"context"
	"errors"
	"runtime"
	"syscall"
)

var errUnsupported = errors.New("sandbox: not supported on this OS")

func plainSysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// IsHelper is false: the helper exists on Linux only.
func IsHelper() bool { return false }

// HelperMain is never called off Linux.
func HelperMain() int { return 125 }

func staticFeatures() []Feature {
	return []Feature{{Name: "linux sandbox", Detail: "confinement is implemented for Linux only (" + runtime.GOOS + ")"}}
}

// IdentityUnavailable: the dedicated identity is Linux's.
func IdentityUnavailable() string { return "the sandbox is implemented for Linux only" }

// ForRepository is r: off Linux there is no dedicated identity.
func (r Report) ForRepository(RunPlaces) Report { return r }

// Check reports that this OS cannot confine commands.
func Check() Report {
	return Report{OS: runtime.GOOS, Arch: runtime.GOARCH, Features: staticFeatures()}
}

func runConfined(ctx context.Context, spec Spec, fwds []forward) (Result, error) {
	return Result{}, &notStarted{errUnsupported}
}

// Prepare does nothing here.
func Prepare() {}
