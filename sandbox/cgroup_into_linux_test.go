package sandbox

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// v2Group finds a cgroup v2 hierarchy (the unified one of a hybrid
// machine, or the only one) and this process's group in it.
func v2Group(t *testing.T) (mount, path string) {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		pre, post, _ := strings.Cut(sc.Text(), " - ")
		if fs, tail := strings.Fields(pre), strings.Fields(post); len(tail) > 0 && tail[0] == "cgroup2" && len(fs) > 4 && fs[3] == "/" {
			mount = fs[4]
		}
	}
	self, _ := os.ReadFile("/proc/self/cgroup")
	for _, line := range strings.Split(string(self), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			path = p
		}
	}
	if mount == "" || path == "" {
		t.Skip("no cgroup v2 hierarchy here")
	}
	return mount, path
}

// On cgroup v2 the helper is cloned straight into the run's group
// (CLONE_INTO_CGROUP), never joined after its start; with that refused it
// is joined. Either way the command runs in the group. Exercised on the
// v2 hierarchy of this machine whatever the runs use here.
func TestHelperBornInV2Group(t *testing.T) {
	if !Check().OK() {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but the sandbox is unavailable here: %v", Check().Missing(false))
		}
		t.Skip("sandbox unavailable")
	}
	mount, path := v2Group(t)
	for _, into := range []bool{true, false} {
		t.Run(fmt.Sprintf("into=%v", into), func(t *testing.T) {
			name := fmt.Sprintf("agentos-test-%d-%v", os.Getpid(), into)
			dir := filepath.Join(mount, path, name)
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Skipf("cannot create a v2 group: %v", err)
			}
			cg := &cgroup{v2: true, dirs: map[string]string{ctlPids: dir}}
			defer cg.remove()
			intoDisabledForTest = !into
			defer func() { intoDisabledForTest = false }()
			wt := t.TempDir()
			hs := helperSpec{
				Argv: []string{"/bin/cat", "/proc/self/cgroup"}, Dir: wt, Env: []string{}, Worktree: wt,
				Protected: protectedIn(wt, nil), Limits: helperLimits(DefaultLimits),
			}
			var out, errb bytes.Buffer
			before := joins.Load()
			runtime.LockOSThread()
			cmd, rep, stuck, err := startHelperIn(hs, cloneFlags(false), nil, cg, false, nil, &out, &errb)
			if err != nil || stuck {
				t.Fatalf("%v (stuck %v)", err, stuck)
			}
			report, _ := io.ReadAll(rep)
			rep.Close()
			werr := cmd.Wait()
			runtime.UnlockOSThread()
			if werr != nil {
				t.Fatalf("%v: %s %s %s", werr, report, out.String(), errb.String())
			}
			if want := "0::" + filepath.Join(path, name) + "\n"; !strings.Contains(out.String(), want) {
				t.Fatalf("the command is not in the run's group: %q, want %q", out.String(), want)
			}
			if joined := joins.Load() - before; (joined == 0) != into {
				t.Fatalf("%d joins after the start (into=%v)", joined, into)
			}
		})
	}
}
