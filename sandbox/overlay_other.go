//go:build !linux

package sandbox

import (
	"context"
	"fmt"
	"runtime"
)

// View is a copy-on-write worktree mounted for AgentOS's own writes.
type View struct{ Path string }

// OpenView is unavailable off Linux.
func OpenView(ctx context.Context, ov Overlay, at string) (*View, error) {
	return nil, fmt.Errorf("overlay worktrees need Linux (this is %s)", runtime.GOOS)
}

// Close does nothing.
func (v *View) Close() error { return nil }

// OverlayCheck reports that overlay worktrees need Linux.
func OverlayCheck(dir string) error {
	return fmt.Errorf("overlay worktrees need Linux (this is %s)", runtime.GOOS)
}

// IsWhiteout is false off Linux.
func IsWhiteout(p string) bool { return false }

// IsOpaque is false off Linux.
func IsOpaque(p string) bool { return false }

// Confinable is false off Linux.
func Confinable() bool { return false }

// KernelRelease is unknown off Linux.
func KernelRelease() string { return "" }

// Run is unavailable off Linux.
func (v *View) Run(ctx context.Context, dir string, env []string, stdin []byte, argv ...string) (string, error) {
	return "", fmt.Errorf("overlay worktrees need Linux")
}
