//go:build linux

package sandbox_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agentos/agentos/sandbox"
	"golang.org/x/sys/unix"
)

// The escape suite: each case tries to get out of the sandbox and must fail
// closed (non-zero exit or a refusal) with no effect outside. Every case is
// logged with what the sandbox answered.

type box struct {
	root, wt, out, home, other string
}

func newBox(t *testing.T) box {
	t.Helper()
	if !sandbox.Check().OK() {
		unavailable(t, "sandbox unavailable here: %v", sandbox.Check().Missing(false))
	}
	root := t.TempDir()
	b := box{
		root:  root,
		wt:    filepath.Join(root, "wt"),
		out:   filepath.Join(root, "outside"),
		home:  filepath.Join(root, "home"),
		other: filepath.Join(root, "other-task"),
	}
	for _, d := range []string{b.wt, b.out, filepath.Join(b.home, ".ssh"), b.other} {
		must(t, os.MkdirAll(d, 0o755))
	}
	must(t, os.WriteFile(filepath.Join(b.out, "existing"), []byte("original"), 0o644))
	must(t, os.WriteFile(filepath.Join(b.home, ".ssh", "id_rsa"), []byte("-----BEGIN PRIVATE KEY-----"), 0o600))
	must(t, os.WriteFile(filepath.Join(b.other, "secret.go"), []byte("other-task-secret"), 0o644))
	must(t, os.WriteFile(filepath.Join(b.wt, "file"), []byte("in worktree"), 0o644))
	return b
}

// unavailable skips a test whose facility this machine lacks, except in CI
// (CI=true), where .ci/run provides it and a missing one is a failure.
func unavailable(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true but "+format, args...)
	}
	t.Skipf(format, args...)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func testExe(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	must(t, err)
	return exe
}

// spec is the default: worktree writable, test binary readable (it is the
// probe program), network off, confinement required.
func (b box) spec(t *testing.T, argv ...string) sandbox.Spec {
	return sandbox.Spec{
		Argv:     argv,
		Dir:      b.wt,
		Worktree: b.wt,
		Env:      []string{"PATH=/usr/bin:/bin", "HOME=" + b.home, "OUT=" + b.out, "WT=" + b.wt},
		ReadOnly: []string{filepath.Dir(testExe(t))},
		Require:  true,
		Timeout:  30 * time.Second,
	}
}

func (b box) run(t *testing.T, spec sandbox.Spec) (string, sandbox.Result, error) {
	t.Helper()
	var out bytes.Buffer
	spec.Stdout, spec.Stderr = &out, &out
	res, err := sandbox.Run(t.Context(), spec)
	t.Logf("exit=%d timedout=%v err=%v output=%q", res.ExitCode, res.TimedOut, err, strings.TrimSpace(out.String()))
	if res.Unconfined {
		t.Fatal("ran unconfined")
	}
	return out.String(), res, err
}

func (b box) sh(t *testing.T, script string) (string, sandbox.Result, error) {
	return b.run(t, b.spec(t, "/bin/sh", "-c", script))
}

func (b box) probe(t *testing.T, args ...string) (string, sandbox.Result, error) {
	s := b.spec(t, append([]string{testExe(t)}, args[1:]...)...)
	s.Env = append(s.Env, probeEnv+"="+args[0])
	return b.run(t, s)
}

func failedClosed(t *testing.T, res sandbox.Result, err error) {
	t.Helper()
	if err == nil && res.ExitCode == 0 {
		t.Fatal("escape attempt succeeded (exit 0)")
	}
}

func unchanged(t *testing.T, b box) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(b.out, "existing"))
	must(t, err)
	if string(data) != "original" {
		t.Fatalf("outside file changed: %q", data)
	}
	st, err := os.Stat(filepath.Join(b.out, "existing"))
	must(t, err)
	if st.Mode().Perm() != 0o644 {
		t.Fatalf("outside file mode changed: %v", st.Mode())
	}
	ents, _ := os.ReadDir(b.out)
	if len(ents) != 1 {
		t.Fatalf("files appeared outside the worktree: %v", ents)
	}
}

func TestSandboxBaseline(t *testing.T) {
	b := newBox(t)
	out, res, err := b.sh(t, `echo ok > new && cat new file && mkdir -p d/e && mv new d/e/ && ls d/e && chmod +x d/e/new && id -u && hostname`)
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("a plain command failed in the sandbox: %v %+v", err, res)
	}
	if !strings.Contains(out, "ok\nin worktree") || !strings.Contains(out, "agentos-sandbox") {
		t.Fatalf("output = %q", out)
	}
	if _, err := os.Stat(filepath.Join(b.wt, "d/e/new")); err != nil {
		t.Fatal("write inside the worktree did not land")
	}
	out, res, err = b.sh(t, "exit 7")
	if err != nil || res.ExitCode != 7 {
		t.Fatalf("exit code = %d, %v; want 7", res.ExitCode, err)
	}
	_ = out
}

func TestEscapeWrite(t *testing.T) {
	cases := []struct {
		name   string
		setup  func(b box)
		script string
	}{
		{"absolute path", nil, `echo x > "$OUT/abs"`},
		{"dotdot", nil, `echo x > ../outside/dotdot`},
		{"overwrite existing outside", nil, `echo x > "$OUT/existing"`},
		{"planted symlink dir", func(b box) { os.Symlink(b.out, filepath.Join(b.wt, "link")) }, `echo x > link/sym`},
		{"planted symlink file", func(b box) { os.Symlink(filepath.Join(b.out, "existing"), filepath.Join(b.wt, "flink")) }, `echo x > flink`},
		{"symlink made inside", nil, `ln -s "$OUT" l2 && echo x > l2/made`},
		{"hardlink to outside file", nil, `ln "$OUT/existing" hl && echo x >> hl`},
		{"/proc/self/root", nil, `echo x > "/proc/self/root$OUT/procroot"`},
		{"/proc/self/cwd", nil, `echo x > /proc/self/cwd/../outside/proccwd`},
		{"rename worktree file out", nil, `mv file "$OUT/moved"`},
		{"chmod outside file", nil, `chmod 777 "$OUT/existing"`},
		{"truncate outside file", nil, `truncate -s 0 "$OUT/existing"`},
		{"touch timestamps outside", nil, `touch -d 2001-01-01 "$OUT/existing"`},
		{"system dir", nil, `echo x > /etc/agentos-escape`},
		{"/tmp", nil, `echo x > /tmp/agentos-escape-$$`},
		{"/dev/shm", nil, `echo x > /dev/shm/agentos-escape-$$`},
		{"chmod system binary setuid", nil, `chmod u+s /usr/bin/env`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newBox(t)
			if tc.setup != nil {
				tc.setup(b)
			}
			_, res, err := b.sh(t, tc.script)
			failedClosed(t, res, err)
			unchanged(t, b)
		})
	}
	t.Run("system files untouched", func(t *testing.T) {
		if _, err := os.Stat("/etc/agentos-escape"); err == nil {
			t.Fatal("/etc/agentos-escape exists")
		}
		if st, err := os.Stat("/usr/bin/env"); err == nil && st.Mode()&os.ModeSetuid != 0 {
			t.Fatal("/usr/bin/env became setuid")
		}
	})
}

func TestEscapeRead(t *testing.T) {
	cases := []struct {
		name, script, secret string
	}{
		{"planted ssh key under HOME", `cat "$HOME/.ssh/id_rsa"`, "PRIVATE KEY"},
		{"list HOME", `ls -a "$HOME/.ssh"`, "id_rsa"},
		{"another task's worktree", `cat ../other-task/secret.go`, "other-task-secret"},
		{"real home dir", `ls -a /root /home`, ".bashrc"},
		{"stat a planted key (existence leak)", `stat "$HOME/.ssh/id_rsa"`, "Size:"},
		{"host root hidden", `ls -a /root /home /var /run /mnt 2>&1; test -e /var -o -e /root -o -e /run`, ".bashrc"},
		{"shadow file (masked: reads as empty)", `cat /etc/shadow; test -s /etc/shadow`, "root:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newBox(t)
			out, res, err := b.sh(t, tc.script)
			failedClosed(t, res, err)
			if strings.Contains(out, tc.secret) {
				t.Fatalf("secret leaked: %q", out)
			}
		})
	}
}

func TestEscapeEnvSecret(t *testing.T) {
	b := newBox(t)
	t.Setenv("AGENTOS_TEST_SECRET", "s3cr3t-value")
	out, _, err := b.sh(t, `env; cat /proc/1/environ; cat /proc/self/environ; for p in /proc/[0-9]*; do cat $p/environ; done 2>/dev/null; true`)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "s3cr3t") {
		t.Fatalf("parent secret reached the sandbox: %q", out)
	}
}

func TestEscapeHostProcesses(t *testing.T) {
	b := newBox(t)
	t.Run("host pids invisible", func(t *testing.T) {
		out, _, err := b.sh(t, fmt.Sprintf(`ls /proc | grep -x %d; cat /proc/%d/cmdline`, os.Getpid(), os.Getpid()))
		must(t, err)
		if strings.Contains(out, "sandbox.test") {
			t.Fatalf("test process visible: %q", out)
		}
	})
	t.Run("signal the test process", func(t *testing.T) {
		_, res, err := b.probe(t, "kill", fmt.Sprint(os.Getpid()))
		failedClosed(t, res, err)
	})
	t.Run("ptrace the parent", func(t *testing.T) {
		_, res, err := b.probe(t, "ptrace")
		failedClosed(t, res, err)
	})
	t.Run("ptrace the test process", func(t *testing.T) {
		_, res, err := b.probe(t, "ptrace", fmt.Sprint(os.Getpid()))
		failedClosed(t, res, err)
	})
	t.Run("strace a child", func(t *testing.T) {
		if _, err := exec.LookPath("strace"); err != nil {
			t.Skip("no strace")
		}
		_, res, err := b.sh(t, `strace -f /bin/true`)
		failedClosed(t, res, err)
	})
}

func TestEscapeNetwork(t *testing.T) {
	b := newBox(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	must(t, err)
	defer ln.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- struct{}{}
			c.Close()
		}
	}()
	t.Run("connect to a host listener", func(t *testing.T) {
		_, res, err := b.probe(t, "dial", ln.Addr().String())
		failedClosed(t, res, err)
	})
	t.Run("bash /dev/tcp", func(t *testing.T) {
		_, res, err := b.sh(t, fmt.Sprintf(`exec bash -c 'echo x > /dev/tcp/127.0.0.1/%d'`, ln.Addr().(*net.TCPAddr).Port))
		failedClosed(t, res, err)
	})
	t.Run("dns", func(t *testing.T) {
		_, res, err := b.probe(t, "dns", "example.com")
		failedClosed(t, res, err)
	})
	t.Run("udp to a resolver", func(t *testing.T) {
		_, res, err := b.probe(t, "udp", "1.1.1.1:53")
		failedClosed(t, res, err)
	})
	t.Run("unix socket of a host service", func(t *testing.T) {
		// Like /run/systemd/private or docker.sock: a root-owned socket
		// outside the worktree that would run anything as host root.
		sock := filepath.Join(b.out, "svc.sock")
		uln, err := net.Listen("unix", sock)
		must(t, err)
		defer uln.Close()
		go func() {
			if c, err := uln.Accept(); err == nil {
				accepted <- struct{}{}
				c.Close()
			}
		}()
		_, res, err := b.probe(t, "unix", sock)
		failedClosed(t, res, err)
	})
	t.Run("netlink socket", func(t *testing.T) {
		_, res, err := b.probe(t, "netlink")
		failedClosed(t, res, err)
	})
	select {
	case <-accepted:
		t.Fatal("the host listener accepted a connection from the sandbox")
	case <-time.After(100 * time.Millisecond):
	}
	t.Run("allowed when the policy says so", func(t *testing.T) {
		s := b.spec(t, testExe(t))
		s.Env = append(s.Env, probeEnv+"=dial")
		s.Argv = append(s.Argv, ln.Addr().String())
		s.Network = true
		_, res, err := b.run(t, s)
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("network-enabled run could not connect: %v %+v", err, res)
		}
	})
}

func TestEscapeSyscalls(t *testing.T) {
	b := newBox(t)
	for _, name := range []string{"unshare", "keyctl", "bpf", "io_uring", "init_module", "chroot", "setuid-cap"} {
		t.Run(name, func(t *testing.T) {
			_, res, err := b.probe(t, name)
			failedClosed(t, res, err)
		})
	}
	t.Run("mount", func(t *testing.T) {
		_, res, err := b.probe(t, "mount", b.wt)
		failedClosed(t, res, err)
	})
	t.Run("setuid mount binary", func(t *testing.T) {
		_, res, err := b.sh(t, `mkdir m && /usr/bin/mount -t tmpfs none m && touch m/x && test -e m/x`)
		failedClosed(t, res, err)
	})
	t.Run("raise the process bound", func(t *testing.T) {
		_, res, err := b.sh(t, `echo 4194304 > /proc/sys/kernel/pid_max`)
		failedClosed(t, res, err)
	})
	t.Run("landlock binds the command itself", func(t *testing.T) {
		// /proc is mounted writable; only Landlock (enforced on the
		// helper's exec thread, inherited by the command) keeps a
		// process from renaming itself there.
		out, _, err := b.sh(t, `echo pwned > /proc/self/comm; cat /proc/$$/comm`)
		must(t, err)
		if strings.Contains(out, "pwned") {
			t.Fatalf("the command wrote /proc/self/comm: %q", out)
		}
	})
	t.Run("raise an rlimit", func(t *testing.T) {
		s := b.spec(t, "/bin/bash", "-c", `ulimit -u unlimited && ulimit -v unlimited`)
		s.Limits.Processes = 100
		_, res, err := b.run(t, s)
		failedClosed(t, res, err)
	})
	t.Run("nested user namespace", func(t *testing.T) {
		_, res, err := b.sh(t, `unshare -Ur id`)
		failedClosed(t, res, err)
	})
	t.Run("no capabilities, no_new_privs", func(t *testing.T) {
		out, _, err := b.sh(t, `grep -E '^(CapEff|CapPrm|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status`)
		must(t, err)
		for _, want := range []string{"CapEff:\t0000000000000000", "CapPrm:\t0000000000000000", "CapBnd:\t0000000000000000", "NoNewPrivs:\t1", "Seccomp:\t2"} {
			if !strings.Contains(out, want) {
				t.Errorf("missing %q in %q", want, out)
			}
		}
	})
}

func TestEscapeProtected(t *testing.T) {
	newGitBox := func(t *testing.T) (box, sandbox.Spec) {
		b := newBox(t)
		cmd := exec.Command("git", "init", "-q", b.wt)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Skipf("git init: %v %s", err, out)
		}
		must(t, os.WriteFile(filepath.Join(b.wt, "agentos.yaml"), []byte("version: 1\n"), 0o644))
		// No Protected: Run keeps agentos.ProtectedPaths() read-only in
		// every worktree without being asked.
		return b, sandbox.Spec{}
	}
	cases := []struct{ name, script string }{
		{"hook", `echo 'curl evil' > .git/hooks/pre-commit && chmod +x .git/hooks/pre-commit`},
		{"git config hooksPath", `git config core.hooksPath /tmp`},
		{"git config fsmonitor", `git config core.fsmonitor 'touch /tmp/pwn'`},
		{"append to .git/config", `echo '[core] hooksPath = /tmp' >> .git/config`},
		{"replace .git", `rm -rf .git`},
		{"rename .git", `mv .git .git-old && mkdir .git`},
		{"policy file", `echo 'sandbox: {require: false}' >> agentos.yaml`},
		{"replace policy file", `rm -f agentos.yaml; echo evil > agentos.yaml`},
		{"remount writable", ""},
		{"unmount", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, p := newGitBox(t)
			before := snapshot(t, b.wt)
			var s sandbox.Spec
			switch tc.name {
			case "remount writable":
				s = b.spec(t, testExe(t), filepath.Join(b.wt, ".git"))
				s.Env = append(s.Env, probeEnv+"=remount")
			case "unmount":
				s = b.spec(t, testExe(t), filepath.Join(b.wt, ".git"))
				s.Env = append(s.Env, probeEnv+"=umount")
			default:
				s = b.spec(t, "/bin/sh", "-c", tc.script)
			}
			s.Protected = p.Protected
			_, res, err := b.run(t, s)
			failedClosed(t, res, err)
			if after := snapshot(t, b.wt); after != before {
				t.Fatalf("protected paths changed:\n%s\nwant\n%s", after, before)
			}
		})
	}
}

// snapshot lists .git and the policy file with their contents' sizes and modes.
func snapshot(t *testing.T, wt string) string {
	t.Helper()
	var sb strings.Builder
	filepath.Walk(filepath.Join(wt, ".git"), func(p string, info os.FileInfo, err error) error {
		if err == nil {
			data, _ := os.ReadFile(p)
			fmt.Fprintf(&sb, "%s %v %x\n", p, info.Mode(), data)
		}
		return nil
	})
	data, _ := os.ReadFile(filepath.Join(wt, "agentos.yaml"))
	fmt.Fprintf(&sb, "agentos.yaml %q\n", data)
	return sb.String()
}

func TestEscapeResources(t *testing.T) {
	t.Run("fork bomb bounded by processes", func(t *testing.T) {
		b := newBox(t)
		// Each started process is counted in a file the host reads: the
		// shell (1) and its sleeps must stay within 64 tasks.
		s := b.spec(t, "/bin/sh", "-c", `i=0; while [ $i -lt 400 ]; do sleep 30 & if [ $? -ne 0 ]; then break; fi; i=$((i+1)); echo $i > started; done; echo started=$i`)
		s.Limits.Processes = 64
		s.Timeout = 20 * time.Second
		out, res, err := b.run(t, s)
		if err != nil {
			t.Fatal(err)
		}
		if res.TimedOut {
			t.Fatal("timed out instead of hitting the process limit")
		}
		data, err := os.ReadFile(filepath.Join(b.wt, "started"))
		must(t, err)
		n, _ := strconv.Atoi(strings.TrimSpace(string(data)))
		if n == 0 || n >= 64 {
			t.Fatalf("%d processes started under a limit of 64 (output %q)", n, out)
		}
		t.Logf("started %d, limits hit %v", n, res.LimitsHit)
	})
	t.Run("memory bounds the whole tree", func(t *testing.T) {
		b := newBox(t)
		// Two processes each under the per-process bound (RLIMIT_AS 256
		// MiB), 320 MiB together: one of them must not get its memory.
		// Each tail holds its 160 MiB line until its input ends, and each
		// input ends only once both lines were sent (or after 10 s), so
		// the two hold their memory at the same time however the
		// machine schedules them.
		s := b.spec(t, "/bin/sh", "-c", `for n in 1 2; do ({ head -c 167772160 /dev/zero; touch sent$n; i=0; while [ $i -lt 200 ] && ! { [ -e sent1 ] && [ -e sent2 ]; }; do sleep 0.05; i=$((i+1)); done; } | tail -n 1 | wc -c > got$n) & done; wait`)
		s.Limits.Memory = 256 << 20
		_, res, err := b.run(t, s)
		if err != nil {
			t.Fatal(err)
		}
		full := 0
		for _, f := range []string{"got1", "got2"} {
			if data, err := os.ReadFile(filepath.Join(b.wt, f)); err == nil && strings.TrimSpace(string(data)) == "167772160" {
				full++
			}
		}
		if full == 2 {
			t.Fatal("two processes held 320 MiB together under memory 256 MiB")
		}
		t.Logf("limits hit %v", res.LimitsHit)
	})
	t.Run("cpu time bounds the whole tree", func(t *testing.T) {
		b := newBox(t)
		// Three busy loops each die by RLIMIT_CPU after 1s of their own:
		// without a bound on the tree (3s together) the shell goes on to
		// write "after".
		busy := `sh -c 'while :; do :; done'`
		s := b.spec(t, "/bin/sh", "-c", busy+" & "+busy+" & "+busy+" & wait; echo survived > after")
		s.Limits.CPU = time.Second
		s.Timeout = 60 * time.Second
		_, res, err := b.run(t, s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(b.wt, "after")); err == nil {
			t.Fatalf("the tree used 3s of CPU under cpu_seconds 1 (%+v)", res)
		}
		if !slices.Contains(res.LimitsHit, "cpu") {
			t.Fatalf("LimitsHit = %v, want cpu", res.LimitsHit)
		}
	})
	t.Run("classic fork bomb ends", func(t *testing.T) {
		b := newBox(t)
		s := b.spec(t, "/bin/bash", "-c", `f(){ f | f & }; f; sleep 2`)
		s.Limits.Processes = 64
		s.Timeout = 5 * time.Second
		_, res, err := b.run(t, s)
		if err == nil && res.ExitCode == 0 && !res.TimedOut {
			t.Log("bomb exited by itself")
		}
	})
	t.Run("memory hog bounded", func(t *testing.T) {
		b := newBox(t)
		// tail must buffer its whole input: /dev/zero has no newline.
		s := b.spec(t, "/bin/sh", "-c", `head -c 2147483648 /dev/zero | tail -n 1 | wc -c`)
		s.Limits.Memory = 256 << 20
		out, res, err := b.run(t, s)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out, "2147483648") || !strings.Contains(out, "memory exhausted") {
			t.Fatalf("memory hog was not stopped: %q", out)
		}
		_ = res
	})
	t.Run("memory hog in Go bounded", func(t *testing.T) {
		b := newBox(t)
		s := b.spec(t, testExe(t), "3072")
		s.Env = append(s.Env, probeEnv+"=alloc")
		s.Limits.Memory = 2 << 30
		out, res, err := b.run(t, s)
		failedClosed(t, res, err)
		if !strings.Contains(out, "blocked: after") {
			t.Fatalf("want the allocation refused part way, got %q", out)
		}
	})
	t.Run("file size bounded", func(t *testing.T) {
		b := newBox(t)
		s := b.spec(t, "/bin/sh", "-c", `head -c 8388608 /dev/zero > big`)
		s.Limits.FileSize = 1 << 20
		_, res, err := b.run(t, s)
		failedClosed(t, res, err)
		if st, err := os.Stat(filepath.Join(b.wt, "big")); err == nil && st.Size() > 1<<20 {
			t.Fatalf("file grew to %d bytes", st.Size())
		}
	})
	t.Run("timeout kills the tree", func(t *testing.T) {
		b := newBox(t)
		s := b.spec(t, "/bin/sh", "-c", `(sleep 2; echo late > late) & sleep 60`)
		s.Timeout = 300 * time.Millisecond
		_, res, err := b.run(t, s)
		if err != nil || !res.TimedOut {
			t.Fatalf("want a timeout, got %+v %v", res, err)
		}
		time.Sleep(2500 * time.Millisecond)
		if _, err := os.Stat(filepath.Join(b.wt, "late")); err == nil {
			t.Fatal("a process outlived the timeout")
		}
	})
	t.Run("command dies with agentos", func(t *testing.T) {
		b := newBox(t)
		cmd := exec.Command(testExe(t), b.wt)
		cmd.Env = append(os.Environ(), probeEnv+"=runner")
		must(t, cmd.Start())
		time.Sleep(400 * time.Millisecond)
		must(t, cmd.Process.Kill())
		cmd.Wait()
		time.Sleep(1500 * time.Millisecond)
		if _, err := os.Stat(filepath.Join(b.wt, "late")); err == nil {
			t.Fatal("the sandboxed command outlived agentos")
		}
	})
	t.Run("daemon killed after the step", func(t *testing.T) {
		b := newBox(t)
		_, res, err := b.sh(t, `setsid sh -c 'sleep 2; echo late > late' </dev/null >/dev/null 2>&1 & nohup sh -c 'sleep 2; echo late > late2' >/dev/null 2>&1 & exit 0`)
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("%+v %v", res, err)
		}
		time.Sleep(2500 * time.Millisecond)
		for _, f := range []string{"late", "late2"} {
			if _, err := os.Stat(filepath.Join(b.wt, f)); err == nil {
				t.Fatalf("daemon outlived its step (%s written)", f)
			}
		}
	})
}

func TestRequireRefusesNamingWhatIsMissing(t *testing.T) {
	rep := sandbox.Report{Features: []sandbox.Feature{
		{Name: "landlock", Detail: "ABI 0, need 3 or later"},
		{Name: "network namespace", NetworkOnly: true, Detail: "clone: operation not permitted"},
		{Name: "seccomp", OK: true},
	}}
	got := strings.Join(rep.Missing(false), "; ")
	if got != "landlock (ABI 0, need 3 or later); network namespace (clone: operation not permitted)" {
		t.Fatalf("Missing(false) = %q", got)
	}
	if got := rep.Missing(true); len(got) != 1 {
		t.Fatalf("Missing(true) = %q, want only landlock", got)
	}
}

func TestRunErrors(t *testing.T) {
	b := newBox(t)
	t.Run("empty argv", func(t *testing.T) {
		if _, err := sandbox.Run(context.Background(), sandbox.Spec{Worktree: b.wt}); err == nil {
			t.Fatal("want an error")
		}
	})
	t.Run("program outside the visible paths", func(t *testing.T) {
		must(t, os.WriteFile(filepath.Join(b.out, "prog"), []byte("#!/bin/sh\necho ran\n"), 0o755))
		out, _, err := b.run(t, b.spec(t, filepath.Join(b.out, "prog")))
		if err == nil || strings.Contains(out, "ran") {
			t.Fatalf("ran a program the sandbox cannot see: %v %q", err, out)
		}
	})
}

// TestEscapeSetID: no command can leave a set-id file, a file capability or
// a device node behind. Judged on the host, by stat and getxattr of
// everything in the worktree after the run: as root (the CI), the sandbox's
// root is host root, so a set-id bit there would be a setuid-root program.
func TestEscapeSetID(t *testing.T) {
	shell := []struct{ name, script string }{
		{"cp sh, chmod 6755", `cp /bin/sh x && chmod 6755 x`},
		{"chmod u+s", `cp /bin/sh x && chmod u+s x`},
		{"chmod g+s", `cp /bin/sh x && chmod g+s x`},
		{"install -m 4755", `install -m 4755 /bin/sh x`},
		{"python os.chmod", `cp /bin/sh x && /usr/bin/python3 -c 'import os; os.chmod("x", 0o6755)'`},
		{"python os.open O_CREAT 06755", `/usr/bin/python3 -c 'import os; os.umask(0); os.close(os.open("x", os.O_CREAT|os.O_WRONLY, 0o6755))'`},
		{"perl chmod", `cp /bin/sh x && /usr/bin/perl -e 'chmod(06755, "x") or die "$!\n"'`},
		{"perl sysopen 06755", `/usr/bin/perl -e 'use Fcntl; umask 0; sysopen(my $f, "x", O_CREAT|O_WRONLY, 06755) or die "$!\n"'`},
		{"tar extract set-id member", `cp /bin/sh x && tar cf a.tar --mode=6755 x && rm x && tar xpf a.tar && rm a.tar`},
		{"cp -p of a setuid system binary", `for f in /usr/bin/su /usr/bin/passwd /bin/su /usr/bin/mount; do test -u $f && exec cp -p $f x; done; exit 1`},
		{"setcap", `cp /bin/sh x && /usr/sbin/setcap cap_setuid+ep x`},
		{"mkfifo is fine but mknod block device is not", `mknod x b 8 0`},
	}
	for _, tc := range shell {
		t.Run(tc.name, func(t *testing.T) {
			b := newBox(t)
			_, res, err := b.sh(t, tc.script)
			failedClosed(t, res, err)
			noSetID(t, b.wt)
		})
	}
	probes := []string{"setid-open", "setid-creat", "setid-tmpfile", "setid-openat2", "setid-mknod", "mknod-device", "setid-fchmod", "setid-fchmodat2", "file-capability"}
	for _, name := range probes {
		t.Run(name, func(t *testing.T) {
			b := newBox(t)
			x := filepath.Join(b.wt, "x")
			if strings.HasPrefix(name, "setid-fchmod") || name == "file-capability" {
				must(t, os.WriteFile(x, []byte("#!/bin/sh\n"), 0o755))
			}
			_, res, err := b.probe(t, name, x)
			failedClosed(t, res, err)
			noSetID(t, b.wt)
		})
	}
	t.Run("ordinary modes still work", func(t *testing.T) {
		b := newBox(t)
		_, res, err := b.sh(t, `cp /bin/sh x && chmod 0755 x && chmod +t . && mkfifo p && /usr/bin/python3 -c 'import os; os.close(os.open("y", os.O_CREAT|os.O_WRONLY, 0o700))' && test -x x && test -p p && test -f y`)
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("ordinary chmod, mkfifo, open(O_CREAT) failed: %+v %v", res, err)
		}
	})
}

// noSetID fails if anything under dir has a set-id bit, a file capability
// or is a device node, as the host sees it.
func noSetID(t *testing.T, dir string) {
	t.Helper()
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return nil
		}
		if m := info.Mode(); m&(os.ModeSetuid|os.ModeSetgid) != 0 && !info.IsDir() {
			t.Errorf("%s is %v on the host", p, m)
		}
		if info.Mode()&os.ModeDevice != 0 {
			t.Errorf("%s is a device node on the host", p)
		}
		if n, _ := unix.Lgetxattr(p, "security.capability", nil); n > 0 {
			t.Errorf("%s carries a file capability on the host", p)
		}
		return nil
	})
}
