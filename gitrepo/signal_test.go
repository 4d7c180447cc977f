package gitrepo_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/agentos/agentos/gitrepo"
)

const signalHelperEnv = "GITREPO_SIGNAL_HELPER"

// TestGitOutlivesTerminalInterrupt: a terminal's Ctrl-C is a SIGINT to its
// whole foreground process group. A git that AgentOS started must not die
// of it (AgentOS decides: a worker finishes its grace period with git),
// so it runs in its own group. The "terminal" here is a process group led
// by a helper (this test binary) that catches SIGINT, as agentos does, and
// holds a long-lived `git cat-file --batch` (a TreeReader); the group gets
// a real SIGINT, then the helper asks git for a directory and the test
// reads git's process state from /proc.
func TestGitOutlivesTerminalInterrupt(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "."}, {"commit", "-q", "-m", "one"}} {
		if args[0] == "add" {
			os.MkdirAll(filepath.Join(dir, "d"), 0o755)
			os.WriteFile(filepath.Join(dir, "d", "f"), []byte("x\n"), 0o644)
		}
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	helper := exec.Command(os.Args[0], "-test.run=^TestSignalHelper$", "-test.v")
	helper.Env = append(os.Environ(), signalHelperEnv+"="+dir)
	helper.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // the terminal's foreground group
	stdin, _ := helper.StdinPipe()
	stdout, _ := helper.StdoutPipe()
	helper.Stderr = os.Stderr
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	defer helper.Process.Kill()
	lines := bufio.NewScanner(stdout)
	expect := func(prefix string) string {
		t.Helper()
		for lines.Scan() {
			if l := lines.Text(); strings.HasPrefix(l, prefix) {
				return strings.TrimPrefix(l, prefix)
			}
		}
		t.Fatalf("helper ended before %q", prefix)
		return ""
	}
	expect("ready")
	gitPid := childNamed(t, helper.Process.Pid, "git")
	// Ctrl-C: SIGINT to every process of the foreground group.
	if err := syscall.Kill(-helper.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if got := expect("after SIGINT: "); got != "listed d/f" {
		t.Fatalf("git did not outlive the terminal's SIGINT: %s", got)
	}
	if st := procState(gitPid); st == "" || st == "Z" {
		t.Fatalf("git (pid %d) is gone after the terminal's SIGINT (state %q)", gitPid, st)
	}
	stdin.Close()
	if err := helper.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
}

// TestSignalHelper is the "agentos" of TestGitOutlivesTerminalInterrupt.
func TestSignalHelper(t *testing.T) {
	dir := os.Getenv(signalHelperEnv)
	if dir == "" {
		t.Skip("run by TestGitOutlivesTerminalInterrupt")
	}
	ints := make(chan os.Signal, 1)
	signal.Notify(ints, syscall.SIGINT) // agentos catches the terminal's Ctrl-C
	ctx := context.Background()
	r, err := gitrepo.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := r.ReadTree(ctx, "HEAD")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.ListDir("."); err != nil { // git is running
		t.Fatal(err)
	}
	fmt.Println("ready")
	<-ints
	es, err := tr.ListDir("d")
	switch {
	case err != nil:
		fmt.Println("after SIGINT: git failed:", err)
	case len(es) != 1:
		fmt.Printf("after SIGINT: listed %d entries\n", len(es))
	default:
		fmt.Println("after SIGINT: listed " + es[0].Path)
	}
	bufio.NewReader(os.Stdin).ReadString('\n') // until the test has looked at git
	tr.Close()
}

// childNamed returns the pid of parent's child running name.
func childNamed(t *testing.T, parent int, name string) int {
	t.Helper()
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		comm := s[strings.IndexByte(s, '(')+1 : i]
		f := strings.Fields(s[i+1:])
		if ppid, _ := strconv.Atoi(f[1]); ppid == parent && comm == name {
			return pid
		}
	}
	t.Fatalf("no %s child of %d", name, parent)
	return 0
}

// procState is the state letter of pid from /proc ("" when it is gone).
func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(b)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+1:])[0]
}

func TestRemoteCommandsMayPrompt(t *testing.T) {
	// fetch and push may ask for an ssh passphrase on the terminal: they
	// stay in its process group (gitCommand); everything else leaves it.
	for args, want := range map[string]bool{
		"fetch --quiet origin": true, "push --porcelain origin": true, "-c a=b fetch origin": true,
		"-c core.quotePath=true diff a b": false, "cat-file --batch": false, "commit-tree t": false,
	} {
		if got := gitrepo.MayPrompt(strings.Fields(args)); got != want {
			t.Errorf("MayPrompt(%s) = %v, want %v", args, got, want)
		}
	}
}
