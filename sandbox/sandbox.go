// Package sandbox runs every command AgentOS executes (exec steps, verify
// checks, contractor processes) confined, through one function: Run.
package sandbox

import (
	"context"
	"errors"
	"io"
	"os/exec"
	"syscall"
	"time"
)

// Spec says what to run and under which confinement.
type Spec struct {
	// Argv[0] is the resolved absolute path of the executable.
	Argv []string
	// Dir is the working directory (inside Worktree).
	Dir string
	// Env is the complete environment of the child (already allow-listed).
	Env []string
	// Worktree is the read-write root of the task.
	Worktree string
	// ReadWrite lists extra writable paths (the private temp dir).
	ReadWrite []string
	// ReadOnly lists extra readable paths from the policy.
	ReadOnly []string
	// Protected lists paths inside Worktree that stay read-only (.git, .agentos, agentos.yaml).
	Protected []string
	// Network allows network access.
	Network bool
	// Require refuses to run when confinement is unavailable (policy sandbox.require).
	Require bool
	// Timeout kills the whole process tree when it expires (0: none).
	Timeout time.Duration
	Stdin   io.Reader
	Stdout  io.Writer
	Stderr  io.Writer
}

// Result is what happened.
type Result struct {
	ExitCode   int
	Duration   time.Duration
	TimedOut   bool
	Unconfined bool
}

// Run runs spec.Argv under the sandbox and waits for it. A non-zero exit is
// reported in Result, not as an error; errors mean the command could not run.
func Run(ctx context.Context, spec Spec) (Result, error) {
	if len(spec.Argv) == 0 {
		return Result{}, errors.New("sandbox: empty argv")
	}
	return runPlain(ctx, spec, true)
}

// runPlain runs without confinement: its own process group, killed as a
// whole on timeout or cancellation.
func runPlain(ctx context.Context, spec Spec, unconfined bool) (Result, error) {
	if spec.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, spec.Timeout)
		defer cancel()
	}
	cmd := exec.Command(spec.Argv[0], spec.Argv[1:]...)
	cmd.Dir = spec.Dir
	cmd.Env = spec.Env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.Stdin = spec.Stdin
	cmd.Stdout = spec.Stdout
	cmd.Stderr = spec.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Result{Unconfined: unconfined}, err
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		case <-done:
		}
	}()
	err := cmd.Wait()
	close(done)
	// Whatever the child left in its group dies with it.
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	res := Result{Duration: time.Since(start), Unconfined: unconfined, TimedOut: ctx.Err() != nil}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.ExitCode = ee.ExitCode()
		if res.ExitCode < 0 {
			res.ExitCode = 128 + int(syscall.SIGKILL)
		}
	default:
		return res, err
	}
	return res, nil
}
