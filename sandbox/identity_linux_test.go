//go:build linux

package sandbox_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentos/agentos/sandbox"
	"golang.org/x/sys/unix"
)

// dedicated skips unless this machine can give commands the dedicated
// identity (agentos root in the host's user namespace, a kernel with
// idmapped mounts); where it can, a command without it is a failure under
// CI=true.
func dedicated(t *testing.T) {
	t.Helper()
	if r := sandbox.IdentityUnavailable(); r != "" {
		t.Skipf("no dedicated identity on this machine: %s", r)
	}
	if !sandbox.Check().IdentityDedicated {
		unavailable(t, "root, but commands do not get the dedicated identity: %s", sandbox.Check().Identity)
	}
}

var sleepSerial atomic.Int64

// hostIDs runs a long command confined by spec (its argv replaced) and
// returns its uid and gid as the host's /proc sees them.
func hostIDs(t *testing.T, spec sandbox.Spec) (uid, gid string) {
	t.Helper()
	// A duration no other process has: the command is found by it.
	mark := fmt.Sprintf("%d.%06d", 900+os.Getpid()%90, sleepSerial.Add(1))
	spec.Argv = []string{"/bin/sleep", mark}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := sandbox.Run(ctx, spec)
		done <- err
	}()
	defer func() {
		cancel()
		<-done
	}()
	for {
		select {
		case err := <-done:
			t.Fatalf("the command ended before it was seen: %v", err)
		default:
		}
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			if _, err := strconv.Atoi(e.Name()); err != nil {
				continue
			}
			cl, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
			if string(cl) != "/bin/sleep\x00"+mark+"\x00" {
				continue
			}
			st, err := os.ReadFile("/proc/" + e.Name() + "/status")
			if err != nil {
				continue
			}
			for _, l := range strings.Split(string(st), "\n") {
				if f := strings.Fields(l); len(f) > 2 && f[0] == "Uid:" {
					uid = f[1]
				} else if len(f) > 2 && f[0] == "Gid:" {
					gid = f[1]
				}
			}
			return uid, gid
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestEscapeIdentity(t *testing.T) {
	dedicated(t)
	want := strconv.FormatUint(uint64(sandbox.DefaultIdentity.UID), 10)
	t.Run("host uid of a command is the dedicated one", func(t *testing.T) {
		b := newBox(t)
		uid, gid := hostIDs(t, b.spec(t))
		if uid != want || gid != strconv.FormatUint(uint64(sandbox.DefaultIdentity.GID), 10) {
			t.Fatalf("host uid/gid of the command = %s/%s, want %s", uid, gid, want)
		}
	})
	t.Run("sandbox.identity overrides it", func(t *testing.T) {
		b := newBox(t)
		spec := b.spec(t)
		spec.Identity = sandbox.Identity{UID: 2013265999, GID: 2013265998}
		if uid, gid := hostIDs(t, spec); uid != "2013265999" || gid != "2013265998" {
			t.Fatalf("host uid/gid = %s/%s, want 2013265999/2013265998", uid, gid)
		}
	})
	t.Run("no supplementary group of root", func(t *testing.T) {
		b := newBox(t)
		out, res, err := b.sh(t, `grep '^Groups:' /proc/self/status`)
		if err != nil || res.ExitCode != 0 || strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(out), "Groups:")) != "" {
			t.Fatalf("groups inside = %q (%v %+v), want none", out, err, res)
		}
	})
	t.Run("root's 0600 file in a read-only path is unreadable, a 0644 one readable", func(t *testing.T) {
		b := newBox(t)
		ro := filepath.Join(b.root, "ro") // under a 0700 directory of root's
		must(t, os.MkdirAll(ro, 0o755))
		must(t, os.WriteFile(filepath.Join(ro, "secret"), []byte("root-only"), 0o600))
		must(t, os.WriteFile(filepath.Join(ro, "public"), []byte("for-all"), 0o644))
		spec := b.spec(t, "/bin/sh", "-c", `cat "$RO/secret" > stolen; cat "$RO/public" > copied`)
		spec.ReadOnly = append(spec.ReadOnly, ro)
		spec.Env = append(spec.Env, "RO="+ro)
		b.run(t, spec)
		if got, _ := os.ReadFile(filepath.Join(b.wt, "stolen")); len(got) > 0 {
			t.Fatalf("root's 0600 file was read: %q", got)
		}
		if got, _ := os.ReadFile(filepath.Join(b.wt, "copied")); string(got) != "for-all" {
			t.Fatalf("the 0644 file was not readable: %q", got)
		}
	})
	t.Run("created files are the caller's on disk with the modes asked", func(t *testing.T) {
		b := newBox(t)
		_, res, err := b.sh(t, `umask 022 && mkdir -m 750 d && echo x > d/f && chmod 640 d/f && mkdir -p a/b && ln -s d/f l && echo y > file`)
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("writing in the worktree failed: %v %+v", err, res)
		}
		for p, mode := range map[string]os.FileMode{"d": 0o750, "d/f": 0o640, "a/b": 0o755, "file": 0o644} {
			var st unix.Stat_t
			must(t, unix.Lstat(filepath.Join(b.wt, p), &st))
			if int(st.Uid) != os.Getuid() || int(st.Gid) != os.Getgid() || os.FileMode(st.Mode&0o7777) != mode {
				t.Errorf("%s on disk: uid %d gid %d mode %o, want %d %d %o", p, st.Uid, st.Gid, st.Mode&0o7777, os.Getuid(), os.Getgid(), mode)
			}
		}
		var st unix.Stat_t
		must(t, unix.Lstat(filepath.Join(b.wt, "l"), &st))
		if int(st.Uid) != os.Getuid() {
			t.Errorf("symlink on disk: uid %d", st.Uid)
		}
	})
	t.Run("root's own files outside the writable paths cannot be changed", func(t *testing.T) {
		b := newBox(t)
		ro := filepath.Join(b.root, "ro")
		must(t, os.MkdirAll(ro, 0o777)) // even a world-writable directory...
		must(t, os.Chmod(ro, 0o777))
		must(t, os.WriteFile(filepath.Join(ro, "f"), []byte("root's"), 0o666))
		spec := b.spec(t, "/bin/sh", "-c", `echo changed > "$RO/f"; touch "$RO/new"`)
		spec.ReadOnly = append(spec.ReadOnly, ro)
		spec.Env = append(spec.Env, "RO="+ro)
		b.run(t, spec)
		if got, _ := os.ReadFile(filepath.Join(ro, "f")); string(got) != "root's" {
			t.Fatalf("file changed: %q", got)
		}
		if _, err := os.Stat(filepath.Join(ro, "new")); !errors.Is(err, os.ErrNotExist) {
			t.Fatal("a file appeared in a read-only path")
		}
	})
	t.Run("the command's writable cache is idmapped too", func(t *testing.T) {
		b := newBox(t)
		cache := filepath.Join(b.root, "cache")
		must(t, os.MkdirAll(cache, 0o700))
		spec := b.spec(t, "/bin/sh", "-c", `mkdir "$C/pkg" && echo z > "$C/pkg/z"`)
		spec.ReadWrite = []string{cache}
		spec.ReadOnly = append(spec.ReadOnly, cache) // named read-only too: writable wins, as without the identity
		spec.Env = append(spec.Env, "C="+cache)
		if _, res, err := b.run(t, spec); err != nil || res.ExitCode != 0 {
			t.Fatalf("writing the cache failed: %v %+v", err, res)
		}
		var st unix.Stat_t
		must(t, unix.Lstat(filepath.Join(cache, "pkg", "z"), &st))
		if int(st.Uid) != os.Getuid() {
			t.Fatalf("cache file on disk: uid %d", st.Uid)
		}
	})
}

// A worktree on a file system that refuses idmapped mounts (ramfs) runs
// as the caller, as before the dedicated identity, and says so only by
// its host uid; a worktree elsewhere in the same process still gets the
// dedicated one.
func TestIdentityFallbackWithoutIdmappedMounts(t *testing.T) {
	dedicated(t)
	dir := t.TempDir()
	if err := unix.Mount("agentos-test", dir, "ramfs", 0, "mode=0700"); err != nil {
		unavailable(t, "cannot mount a ramfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	b := newBox(t)
	wt := filepath.Join(dir, "wt")
	must(t, os.Mkdir(wt, 0o755))
	spec := b.spec(t)
	spec.Worktree, spec.Dir = wt, wt
	for i := range 2 { // the refusal is learnt by the first run
		if uid, _ := hostIDs(t, spec); uid != "0" {
			t.Fatalf("run %d on ramfs: host uid %s, want the caller's (0)", i, uid)
		}
	}
	spec.Argv = []string{"/bin/sh", "-c", "echo x > f"}
	if res, err := sandbox.Run(t.Context(), spec); err != nil || res.ExitCode != 0 {
		t.Fatalf("a run on ramfs failed: %v %+v", err, res)
	}
	if uid, _ := hostIDs(t, b.spec(t)); uid != strconv.FormatUint(uint64(sandbox.DefaultIdentity.UID), 10) {
		t.Fatalf("a worktree on another file system: host uid %s, want the dedicated one", uid)
	}
}

// A ramfs mounted below a worktree (the idmapped mount is recursive)
// makes that worktree's runs fall back, and only them: the worktree's own
// file system keeps the dedicated identity for every other path on it.
func TestIdentityRefusedBelowBlamesTheMountBelow(t *testing.T) {
	dedicated(t)
	b := newBox(t)
	sub := filepath.Join(b.wt, "mnt")
	must(t, os.Mkdir(sub, 0o755))
	if err := unix.Mount("agentos-test", sub, "ramfs", 0, "mode=0755"); err != nil {
		unavailable(t, "cannot mount a ramfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(sub, unix.MNT_DETACH) })
	for i := range 2 { // the refusal is learnt by the first run
		if uid, _ := hostIDs(t, b.spec(t)); uid != "0" {
			t.Fatalf("run %d over a ramfs below: host uid %s, want the caller's (0)", i, uid)
		}
	}
	other := newBox(t) // on the same file system as b.wt
	if uid, _ := hostIDs(t, other.spec(t)); uid != strconv.FormatUint(uint64(sandbox.DefaultIdentity.UID), 10) {
		t.Fatalf("a worktree on the same file system, nothing mounted below: host uid %s, want the dedicated one", uid)
	}
}

func TestCheckNamesTheIdentity(t *testing.T) {
	r := sandbox.Check()
	if !r.OK() {
		unavailable(t, "sandbox unavailable here: %v", r.Missing(false))
	}
	if r.IdentityUID == nil || r.IdentityGID == nil || r.Identity == "" {
		t.Fatalf("check names no identity: %+v", r)
	}
	if os.Getuid() != 0 {
		if r.IdentityDedicated || int(*r.IdentityUID) != os.Getuid() || !strings.Contains(r.Identity, "not root") {
			t.Fatalf("not root: identity = %d (%v) %q", *r.IdentityUID, r.IdentityDedicated, r.Identity)
		}
		return
	}
	if !r.IdentityDedicated || *r.IdentityUID != sandbox.DefaultIdentity.UID || !strings.Contains(r.Identity, fmt.Sprintf("host uid %d", sandbox.DefaultIdentity.UID)) {
		t.Fatalf("root: identity = %d (%v) %q", *r.IdentityUID, r.IdentityDedicated, r.Identity)
	}
	if !strings.HasPrefix(r.Limitations[0], "identity: commands run as an unprivileged uid of their own") {
		t.Fatalf("limitation = %q", r.Limitations[0])
	}
}

// BenchmarkIdentityOverhead alternates one command's start as the
// dedicated identity (idmapped worktree, private temp directory and a
// read-only entry, passed in by agentos) and as the caller, in process:
// what the identity adds to every command.
func BenchmarkIdentityOverhead(b *testing.B) {
	if os.Getuid() != 0 || !sandbox.Check().IdentityDedicated {
		b.Skip("commands do not get the dedicated identity here")
	}
	wt, tmp, ro := b.TempDir(), b.TempDir(), b.TempDir()
	spec := sandbox.Spec{Argv: []string{"/bin/true"}, Worktree: wt, ReadWrite: []string{tmp}, ReadOnly: []string{ro}, Require: true}
	one := func() time.Duration {
		t := time.Now()
		res, err := sandbox.Run(context.Background(), spec)
		if err != nil || res.ExitCode != 0 {
			b.Fatalf("%+v %v", res, err)
		}
		return time.Since(t)
	}
	var ded, caller []time.Duration
	for b.Loop() {
		ded = append(ded, one())
		restore := sandbox.IdentityOffForTest()
		caller = append(caller, one())
		restore()
	}
	md, mc := median(ded), median(caller)
	b.ReportMetric(float64(md.Microseconds())/1000, "dedicated-median-ms")
	b.ReportMetric(float64(mc.Microseconds())/1000, "caller-median-ms")
	b.ReportMetric(float64(md)/float64(mc), "ratio")
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// When the helper cannot set up what only the dedicated identity needs
// (a kernel without idmapped overlay layers, say), the run starts again
// as the caller, and later runs of that kind go straight there.
func TestIdentitySetupFailureFallsBack(t *testing.T) {
	dedicated(t)
	restore := sandbox.FailIdentitySetupForTest()
	defer restore()
	b := newBox(t)
	if _, res, err := b.sh(t, "echo x > made"); err != nil || res.ExitCode != 0 {
		t.Fatalf("the run did not fall back to the caller: %v %+v", err, res)
	}
	if _, err := os.Stat(filepath.Join(b.wt, "made")); err != nil {
		t.Fatal("the fallen-back run wrote nothing")
	}
	if uid, _ := hostIDs(t, b.spec(t)); uid != "0" {
		t.Fatalf("after the failure: host uid %s, want the caller's", uid)
	}
	restore()
	if uid, _ := hostIDs(t, b.spec(t)); uid != strconv.FormatUint(uint64(sandbox.DefaultIdentity.UID), 10) {
		t.Fatalf("with the failure gone and forgotten: host uid %s, want the dedicated one", uid)
	}
}
