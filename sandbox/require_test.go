//go:build linux

package sandbox_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/sandbox"
)

func TestRequireRefusesWhenLandlockIsMissing(t *testing.T) {
	defer sandbox.DisableForTest("landlock")()
	wt := t.TempDir()
	var out bytes.Buffer
	res, err := sandbox.Run(context.Background(), sandbox.Spec{
		Argv: []string{"/bin/sh", "-c", "echo ran"}, Worktree: wt, Require: true, Stdout: &out,
	})
	if err == nil {
		t.Fatal("ran although a required feature is missing")
	}
	if agentos.ErrorCode(err) != agentos.EDENIED || !strings.Contains(err.Error(), "landlock (disabled by a test)") {
		t.Fatalf("err = %v (%s), want denied naming landlock", err, agentos.ErrorCode(err))
	}
	if out.Len() > 0 || res.Unconfined {
		t.Fatalf("command ran: %q %+v", out.String(), res)
	}
}

func TestNotRequiredRunsUnconfinedAndSaysSo(t *testing.T) {
	defer sandbox.DisableForTest("seccomp")()
	wt := t.TempDir()
	var out bytes.Buffer
	res, err := sandbox.Run(context.Background(), sandbox.Spec{
		Argv: []string{"/bin/sh", "-c", "echo ran"}, Worktree: wt, Require: false, Stdout: &out,
	})
	if err != nil || !res.Unconfined || out.String() != "ran\n" {
		t.Fatalf("res = %+v, err = %v, out = %q; want an unconfined run marked as such", res, err, out.String())
	}
}
