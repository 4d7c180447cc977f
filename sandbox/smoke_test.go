package sandbox_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/agentos/agentos/sandbox"
)

const probeEnv = "AGENTOS_TEST_PROBE"

func runProbe(name string, args []string) int { return 2 }

func TestSmoke(t *testing.T) {
	rep := sandbox.Check()
	t.Logf("%+v", rep)
	wt := t.TempDir()
	var out bytes.Buffer
	res, err := sandbox.Run(context.Background(), sandbox.Spec{
		Argv: []string{"/bin/sh", "-c", "id; hostname; ls /proc; echo hi > x; cat x; cat /proc/self/status | grep -E 'Cap|NoNew|Seccomp'; ls /root; cat /etc/shadow; ls /etc/ssh"},
		Worktree: wt, Require: true, Stdout: &out, Stderr: &out,
		Env: []string{"PATH=/usr/bin:/bin"},
	})
	t.Logf("res=%+v err=%v\n%s", res, err, out.String())
}
