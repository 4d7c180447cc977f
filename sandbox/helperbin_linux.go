package sandbox

//go:generate go run ./internal/helper/gen -o helperbin

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// The helper every sandboxed command starts through is, where this build
// embeds one (embeddedHelper: linux/amd64 and linux/arm64), the small
// agentos-sandbox-helper binary (sandbox/internal/helper/cmd), not agentos
// itself: loading and initialising the whole agentos binary cost more than
// the rest of a command's start (issue 13). It runs from a sealed memfd —
// a file no one else can name, write or swap — through /proc/self/fd.
// Where that cannot work (no embedded helper for this architecture, a
// kernel refusing to execute memfds: vm.memfd_noexec), agentos re-executes
// itself (/proc/self/exe), whose sandbox/internal/helper init takes over.

// selfExe is the fallback helper: agentos itself.
const selfExe = "/proc/self/exe"

// memfdMinFD keeps the memfd's number clear of the descriptors the helper
// is given (0-5) and of those os/exec moves out of the way while arranging
// them (up to twice as many), which would close it in the child before
// its exec.
const memfdMinFD = 32

// embeddedOff, once set, is why the embedded helper is not used.
var embeddedOff atomic.Pointer[string]

// helperMemfd copies the embedded helper into a sealed memfd, once per
// process: its /proc/self/fd path, or why not.
var helperMemfd = sync.OnceValues(func() (string, error) {
	if len(embeddedHelper) == 0 {
		return "", errors.New("no embedded helper for this architecture")
	}
	const name = "agentos-sandbox-helper"
	flags := unix.MFD_CLOEXEC | unix.MFD_ALLOW_SEALING
	fd, err := unix.MemfdCreate(name, flags|unix.MFD_EXEC)
	if err == unix.EINVAL {
		// A kernel before 6.3 knows no MFD_EXEC; its memfds are executable.
		fd, err = unix.MemfdCreate(name, flags)
	}
	if err != nil {
		return "", fmt.Errorf("memfd_create: %w", err)
	}
	if fd < memfdMinFD {
		nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, memfdMinFD)
		unix.Close(fd)
		if err != nil {
			return "", fmt.Errorf("memfd: %w", err)
		}
		fd = nfd
	}
	fail := func(err error) (string, error) {
		unix.Close(fd)
		return "", err
	}
	for b := embeddedHelper; len(b) > 0; {
		n, err := unix.Write(fd, b)
		if err != nil {
			return fail(fmt.Errorf("memfd: %w", err))
		}
		b = b[n:]
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_WRITE|unix.F_SEAL_GROW|unix.F_SEAL_SHRINK|unix.F_SEAL_SEAL); err != nil {
		return fail(fmt.Errorf("memfd seals: %w", err))
	}
	return "/proc/self/fd/" + strconv.Itoa(fd), nil
})

// helperExe is the helper to start: the embedded one (embedded true) or
// agentos itself.
func helperExe() (path string, embedded bool) {
	if embeddedOff.Load() != nil {
		return selfExe, false
	}
	p, err := helperMemfd()
	if err != nil {
		why := err.Error()
		embeddedOff.CompareAndSwap(nil, &why)
		return selfExe, false
	}
	return p, true
}

// embeddedRefused records that the embedded helper could not be started
// where agentos itself could (a kernel that refuses to execute memfds):
// this process uses agentos itself from now on.
func embeddedRefused(err error) {
	why := "the kernel refused to execute it from a memfd (" + err.Error() + "; see vm.memfd_noexec)"
	embeddedOff.CompareAndSwap(nil, &why)
}

// HelperDescription names the helper commands start through, for
// `agentos sandbox check`; call it after a run or Check.
func HelperDescription() string {
	if why := embeddedOff.Load(); why != nil {
		return "agentos itself (/proc/self/exe): no embedded helper used: " + *why
	}
	if _, err := helperMemfd(); err != nil {
		return "agentos itself (/proc/self/exe): " + err.Error()
	}
	return fmt.Sprintf("embedded agentos-sandbox-helper (%d bytes, run from a sealed memfd)", len(embeddedHelper))
}

// forceSelfHelper makes this process start agentos itself as the helper
// (tests of the fallback).
func forceSelfHelper(why string) { embeddedOff.Store(&why) }

// Prepare does, in the background, what the first sandboxed command of
// this process would otherwise wait for: the embedded helper's memfd (a
// copy of 2.3 MB, about a millisecond) and Go's one-time check that
// pidfds work (a throwaway child process, which os/exec makes before its
// first start). A caller that knows it will run a command soon (`agentos
// sandbox run`) calls it first, so both overlap with its own work.
func Prepare() {
	go func() {
		helperExe()
		// os.FindProcess runs the pidfd check (os.checkPidfdOnce).
		if p, err := os.FindProcess(os.Getpid()); err == nil {
			p.Release()
		}
	}()
}
