package sandbox

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/sandbox/internal/helper"
	"golang.org/x/sys/unix"
)

// A run's control group bounds what rlimits cannot: the process count when
// agentos runs as root (RLIMIT_NPROC does not bind uid 0, pid_max cannot
// go below 301), memory and CPU time of the whole tree (rlimits are per
// process). cgroup v2 where this process's cgroup delegates the
// controllers, the v1 pids, memory and cpuacct hierarchies where the host
// has those; one child group per run, removed after it.

// Controllers of a run's cgroup, by the limit they enforce.
const (
	ctlPids   = "pids"
	ctlMemory = "memory"
	ctlCPU    = "cpu"
)

var controllers = []string{ctlPids, ctlMemory, ctlCPU}

// cgroupParents says, per controller, the directory a run's group is
// created under ("" when unavailable) and why not.
type cgroupParents struct {
	v2     bool
	parent map[string]string
	why    map[string]string
	// v1mounts: each v1 controller's mount point and mount root.
	v1mounts map[string][2]string
}

var cgroupsOnce = sync.OnceValue(detectCgroups)

const cgroupRoot = "/sys/fs/cgroup"

func detectCgroups() cgroupParents {
	cp := cgroupParents{parent: map[string]string{}, why: map[string]string{}}
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		for _, c := range controllers {
			cp.why[c] = "no /proc/self/cgroup"
		}
		return cp
	}
	var st unix.Statfs_t
	if unix.Statfs(cgroupRoot, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		cp.v2 = true
		detectV2(&cp, string(self))
	} else {
		detectV1(&cp, string(self))
	}
	return cp
}

// probed is cgroupsOnce with each parent tried for real (sandbox check):
// only a group that can be created counts. A run does not probe; a failed
// mkdir there is a missing controller.
func probed() cgroupParents {
	cp := cgroupsOnce()
	out := cgroupParents{v2: cp.v2, parent: map[string]string{}, why: map[string]string{}, v1mounts: cp.v1mounts}
	tried := map[string]error{}
	for _, c := range controllers {
		dir := cp.parent[c]
		if dir == "" {
			out.why[c] = cp.why[c]
			continue
		}
		err, done := tried[dir]
		if !done {
			err = probeMkdir(dir)
			tried[dir] = err
		}
		if err != nil {
			out.why[c] = fmt.Sprintf("cannot create a group in %s: %v", dir, unwrapPathErr(err))
			continue
		}
		out.parent[c] = dir
	}
	return out
}

func probeMkdir(dir string) error {
	p := filepath.Join(dir, fmt.Sprintf("agentos-probe-%d", os.Getpid()))
	if err := os.Mkdir(p, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return os.Remove(p)
}

// detectV2: the run's group goes under this process's own group, which
// must already delegate the controllers (cgroup.subtree_control): a group
// holding processes cannot enable them itself.
func detectV2(cp *cgroupParents, self string) {
	var path string
	for _, line := range strings.Split(self, "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			path = p
		}
	}
	dir := filepath.Join(cgroupRoot, path)
	sub, _ := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	enabled := strings.Fields(string(sub))
	for _, c := range controllers {
		switch {
		case c == ctlCPU:
			// cpu.stat (usage_usec) exists in every v2 group: CPU time
			// needs no controller.
			cp.parent[c] = dir
		case slices.Contains(enabled, c):
			cp.parent[c] = dir
		default:
			cp.why[c] = fmt.Sprintf("cgroup v2: %s does not delegate the %s controller (run agentos under a delegated group, e.g. systemd-run --user --scope -p Delegate=yes)", dir, c)
		}
	}
}

// detectV1 finds each controller's hierarchy in mountinfo and this
// process's group in it.
func detectV1(cp *cgroupParents, self string) {
	cp.v1mounts = map[string][2]string{}
	if f, err := os.Open("/proc/self/mountinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			pre, post, ok := strings.Cut(sc.Text(), " - ")
			fields, tail := strings.Fields(pre), strings.Fields(post)
			if !ok || len(fields) < 5 || len(tail) < 3 || tail[0] != "cgroup" {
				continue
			}
			for _, opt := range strings.Split(tail[2], ",") {
				cp.v1mounts[opt] = [2]string{fields[4], fields[3]}
			}
		}
		f.Close()
	}
	cp.parent, cp.why = cp.v1Dirs(self)
}

var v1name = map[string]string{ctlPids: "pids", ctlMemory: "memory", ctlCPU: "cpuacct"}

// v1Dirs maps the groups a /proc/.../cgroup text names to their
// directories, per controller (why says what is missing).
func (cp cgroupParents) v1Dirs(self string) (dirs, why map[string]string) {
	dirs, why = map[string]string{}, map[string]string{}
	paths := map[string]string{} // v1 controller -> group
	for _, line := range strings.Split(self, "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			paths[c] = parts[2]
		}
	}
	for _, c := range controllers {
		n := v1name[c]
		m, ok := cp.v1mounts[n]
		p, okp := paths[n]
		if !ok || !okp {
			why[c] = fmt.Sprintf("no cgroup %s hierarchy mounted (v1) and no cgroup v2 at %s", n, cgroupRoot)
			continue
		}
		rel, err := filepath.Rel(m[1], p)
		if err != nil || strings.HasPrefix(rel, "..") {
			why[c] = fmt.Sprintf("this process's %s group %s lies outside the mounted hierarchy", n, p)
			continue
		}
		dirs[c] = filepath.Join(m[0], rel)
	}
	return dirs, why
}

// cgroup is one run's group: a directory per controller (v1) or one (v2).
type cgroup struct {
	v2   bool
	dirs map[string]string
	// cpuLimit is the tree's CPU time (0: not watched); cpuHit is set when
	// the watcher killed the run for it.
	cpuLimit time.Duration
	cpuHit   atomic.Bool
	// processes is the pids bound (pids.max), put back by enter's leave.
	processes uint64
}

var cgroupSeq atomic.Uint64

// cgroupPrefix names a run's group agentos-<pid>-<n>: a group whose agentos
// died (SIGKILL: no cleanup) is removed by the next run of another.
const cgroupPrefix = "agentos-"

// newCgroup creates the run's group with l's limits on the controllers
// this machine has. It returns the controllers it could not bound (a nil
// group when none).
func newCgroup(l Limits) (*cgroup, []string) {
	cp := cgroupsOnce()
	cg := &cgroup{v2: cp.v2, dirs: map[string]string{}}
	name := fmt.Sprintf("%s%d-%d", cgroupPrefix, os.Getpid(), cgroupSeq.Add(1))
	var missing []string
	for _, c := range controllers {
		parent := cp.parent[c]
		if parent == "" || disabledForTest["cgroup "+c] {
			missing = append(missing, c)
			continue
		}
		dir := filepath.Join(parent, name)
		if !slices.Contains(slices.Collect(mapValues(cg.dirs)), dir) {
			sweepStale(parent)
			if err := os.Mkdir(dir, 0o700); err != nil {
				missing = append(missing, c)
				continue
			}
		}
		cg.dirs[c] = dir
		if err := cg.limit(c, l); err != nil {
			missing = append(missing, c)
			delete(cg.dirs, c)
			if !slices.Contains(slices.Collect(mapValues(cg.dirs)), dir) {
				os.Remove(dir)
			}
		}
	}
	if len(cg.dirs) == 0 {
		return nil, missing
	}
	return cg, missing
}

func mapValues(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for _, v := range m {
			if !yield(v) {
				return
			}
		}
	}
}

func (cg *cgroup) limit(c string, l Limits) error {
	dir := cg.dirs[c]
	w := func(file string, v any) error {
		return os.WriteFile(filepath.Join(dir, file), []byte(fmt.Sprint(v)), 0)
	}
	switch c {
	case ctlPids:
		cg.processes = l.Processes
		return w("pids.max", l.Processes)
	case ctlMemory:
		if cg.v2 {
			if err := w("memory.max", l.Memory); err != nil {
				return err
			}
			// No swap beyond the bound; absent without swap accounting.
			if err := w("memory.swap.max", 0); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			return nil
		}
		if err := w("memory.limit_in_bytes", l.Memory); err != nil {
			return err
		}
		if err := w("memory.memsw.limit_in_bytes", l.Memory); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	case ctlCPU:
		cg.cpuLimit = l.CPU
		_, err := cg.cpuUsage()
		return err
	}
	return nil
}

// join moves pid (the helper, before it reads its spec: nothing of the
// command has run yet) into every controller's group.
func (cg *cgroup) join(pid int) error {
	joins.Add(1)
	done := map[string]bool{}
	for _, c := range controllers {
		dir, ok := cg.dirs[c]
		if !ok || done[dir] {
			continue
		}
		done[dir] = true
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
			return fmt.Errorf("joining the run's cgroup %s: %v", dir, unwrapPathErr(err))
		}
	}
	return nil
}

// enter moves the calling OS thread, which the caller has locked, into the
// run's groups (cgroup v1), so that the helper it starts next is born in
// them: a process joined after its start (join) costs the kernel a
// synchronize_rcu per hierarchy (cgroup_threadgroup_rwsem), several
// milliseconds of every run, while a thread moving itself ("0" into
// tasks) takes no such lock. The thread would count against the group's
// processes, so pids.max is lifted until leave: nothing runs in the
// group before the helper has its spec, which is sent after leave.
// leave is nil when the thread did not move (v2, or a write failed): the
// caller then joins the helper after its start. leave, called after the
// start whatever happened, moves the thread back to its own groups and
// restores pids.max. An error (from leave, or from enter when a partial
// entry could not be undone) fails the run; stuck says the thread could
// not leave, and must then never run anything else: its goroutine ends
// without unlocking it, which ends the thread.
func (cg *cgroup) enter() (leave func() (stuck bool, err error), stuck bool, err error) {
	if cg == nil || cg.v2 {
		return nil, false, nil
	}
	self, err := os.ReadFile("/proc/thread-self/cgroup")
	if err != nil {
		return nil, false, nil
	}
	home, _ := cgroupsOnce().v1Dirs(string(self))
	pids := cg.dirs[ctlPids]
	if pids != "" {
		if err := os.WriteFile(filepath.Join(pids, "pids.max"), []byte("max"), 0); err != nil {
			return nil, false, nil
		}
	}
	var moved []string // controllers the thread entered
	leave = func() (bool, error) {
		var first error
		for _, c := range moved {
			if err := os.WriteFile(filepath.Join(home[c], "tasks"), []byte("0"), 0); err != nil && first == nil {
				first = fmt.Errorf("leaving the run's cgroup %s: %v", cg.dirs[c], unwrapPathErr(err))
			}
		}
		if first != nil {
			return true, first
		}
		if pids != "" {
			if err := os.WriteFile(filepath.Join(pids, "pids.max"), []byte(strconv.FormatUint(cg.processes, 10)), 0); err != nil {
				return false, fmt.Errorf("bounding the run's processes in %s: %v", pids, unwrapPathErr(err))
			}
		}
		return false, nil
	}
	done := map[string]bool{}
	for _, c := range controllers {
		dir, ok := cg.dirs[c]
		if !ok || done[dir] {
			continue
		}
		done[dir] = true
		err := os.ErrNotExist
		if home[c] != "" {
			err = os.WriteFile(filepath.Join(dir, "tasks"), []byte("0"), 0)
		}
		if err != nil {
			// Undone, pids.max included; the caller joins instead.
			if stuck, err := leave(); err != nil {
				return nil, stuck, err
			}
			return nil, false, nil
		}
		moved = append(moved, c)
	}
	return leave, false, nil
}

// intoFD opens the run's cgroup v2 directory for a clone straight into it
// (SysProcAttr.CgroupFD): a process joined after its start costs a
// synchronize_rcu (see enter). ok is false on v1 and when it cannot be
// opened; the caller closes the descriptor after the start.
func (cg *cgroup) intoFD() (fd int, ok bool) {
	if cg == nil || !cg.v2 || intoDisabledForTest {
		return -1, false
	}
	for _, dir := range cg.dirs {
		fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, false
		}
		return fd, true // v2: one directory for every controller
	}
	return -1, false
}

// intoDisabledForTest makes a v2 run join its group after the start.
var intoDisabledForTest bool

// joins counts processes joined to a group after their start (the slow
// way; see enter), for the tests.
var joins atomic.Int64

// cpuUsage is the CPU time the group's processes used, all of them.
func (cg *cgroup) cpuUsage() (time.Duration, error) {
	dir := cg.dirs[ctlCPU]
	if cg.v2 {
		v, err := keyedValue(filepath.Join(dir, "cpu.stat"), "usage_usec")
		return time.Duration(v) * time.Microsecond, err
	}
	b, err := os.ReadFile(filepath.Join(dir, "cpuacct.usage"))
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return time.Duration(n), err
}

// watchCPU kills the run (kill) once the tree's CPU time passes the
// limit, checking a few times per limit and at least once a second;
// it stops when stop is closed.
func (cg *cgroup) watchCPU(kill func(), stop <-chan struct{}) {
	if cg == nil || cg.cpuLimit <= 0 || cg.dirs[ctlCPU] == "" {
		return
	}
	every := min(max(cg.cpuLimit/20, 20*time.Millisecond), time.Second)
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if u, err := cg.cpuUsage(); err == nil && u >= cg.cpuLimit {
					cg.cpuHit.Store(true)
					kill()
					return
				}
			}
		}
	}()
}

// hits names the limits the tree ran into: the process bound refused a
// fork, the memory bound killed a process, the CPU bound ended the run.
func (cg *cgroup) hits() []string {
	if cg == nil {
		return nil
	}
	var out []string
	if dir, ok := cg.dirs[ctlPids]; ok {
		if n, _ := keyedValue(filepath.Join(dir, "pids.events"), "max"); n > 0 {
			out = append(out, "processes")
		}
	}
	if dir, ok := cg.dirs[ctlMemory]; ok {
		file := filepath.Join(dir, "memory.oom_control")
		if cg.v2 {
			file = filepath.Join(dir, "memory.events")
		}
		if n, _ := keyedValue(file, "oom_kill"); n > 0 {
			out = append(out, "memory")
		}
	}
	if cg.cpuHit.Load() {
		out = append(out, "cpu")
	}
	return out
}

// keyedValue reads "key N" from a cgroup file of such lines.
func keyedValue(file, key string) (uint64, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+" "); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s: no %s", file, key)
}

// remove kills what is left in the group and removes it. The helper is
// pid 1 of its namespace, so by the time it has been reaped its tree is
// gone; exiting tasks leave the group a moment later, hence the retries.
func (cg *cgroup) remove() {
	if cg == nil {
		return
	}
	done := map[string]bool{}
	for _, dir := range cg.dirs {
		if done[dir] {
			continue
		}
		done[dir] = true
		if cg.v2 {
			os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0)
		}
		// Up to about two seconds, checking often at first: the last
		// tasks usually leave within a millisecond.
		wait := 200 * time.Microsecond
		for i := 0; i < 120; i++ {
			if err := os.Remove(dir); err == nil || errors.Is(err, fs.ErrNotExist) {
				break
			}
			killProcs(dir)
			time.Sleep(wait)
			wait = min(2*wait, 20*time.Millisecond)
		}
	}
}

// killProcs SIGKILLs every process still in a group (v1 has no cgroup.kill).
func killProcs(dir string) {
	b, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	for _, f := range strings.Fields(string(b)) {
		// Never agentos itself: one of its threads is in a run's group
		// while it starts the helper (enter).
		if pid, err := strconv.Atoi(f); err == nil && pid > 0 && pid != os.Getpid() {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// sweepStale removes the groups of agentos processes that are gone.
func sweepStale(parent string) {
	ents, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), cgroupPrefix)
		if !ok || !e.IsDir() {
			continue
		}
		pidStr, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid == os.Getpid() || syscall.Kill(pid, 0) != syscall.ESRCH {
			continue
		}
		dir := filepath.Join(parent, e.Name())
		killProcs(dir)
		os.Remove(dir)
	}
}

// cgroupFeatures are `agentos sandbox check`'s lines for the limits: which
// bound the whole tree on this machine.
func cgroupFeatures() []Feature {
	cp := probed()
	ver := "v1"
	if cp.v2 {
		ver = "v2"
	}
	what := map[string]string{
		ctlPids:   "sandbox.limits.processes bounds every process and thread of a run",
		ctlMemory: "sandbox.limits.memory_mb bounds the memory of a run's whole process tree",
		ctlCPU:    "sandbox.limits.cpu_seconds bounds the CPU time of a run's whole process tree",
	}
	var out []Feature
	for _, c := range controllers {
		f := Feature{Name: "cgroup " + c, LimitsOnly: true}
		if dir := cp.parent[c]; dir != "" {
			f.OK, f.Detail = true, fmt.Sprintf("%s, a group per run under %s: %s", ver, dir, what[c])
		} else {
			f.Detail = cp.why[c] + "; " + fallback[c]
		}
		out = append(out, f)
	}
	return disable(out)
}

// fallback says what still binds without the controller.
var fallback = map[string]string{
	ctlPids:   "only RLIMIT_NPROC (not for root) and the pid namespace's pid_max (301 or more) bind",
	ctlMemory: "only RLIMIT_AS binds, per process",
	ctlCPU:    "only RLIMIT_CPU binds, per process",
}

// unboundLimits refuses a run whose policy sets a limit this machine
// cannot bound for the whole tree (asked: the caller's limits, before
// defaults), unless the policy opted for best effort. The defaults bind
// as far as the machine allows, silently.
func unboundLimits(asked Limits, missing []string) error {
	if asked.BestEffort {
		return nil
	}
	var out []string
	for _, c := range missing {
		switch {
		case c == ctlPids && asked.Processes > 0 && asked.Processes+1 < helper.MinPidMax:
			out = append(out, fmt.Sprintf("processes: %d (no cgroup pids controller; the pid namespace cannot go below %d)", asked.Processes, helper.MinPidMax-1))
		case c == ctlMemory && asked.Memory > 0:
			out = append(out, fmt.Sprintf("memory_mb: %d for the whole tree (no cgroup memory controller; RLIMIT_AS is per process)", asked.Memory>>20))
		case c == ctlCPU && asked.CPU > 0:
			out = append(out, fmt.Sprintf("cpu_seconds: %d for the whole tree (no cgroup CPU accounting; RLIMIT_CPU is per process)", int64(asked.CPU.Seconds())))
		}
	}
	if len(out) == 0 {
		return nil
	}
	return agentos.Errorf(agentos.EDENIED, "sandbox: this machine cannot enforce sandbox.limits %s; see `agentos sandbox check`, or set `sandbox: {limits: {enforce: best_effort}}` in agentos.yaml to run with the per-process limits only", strings.Join(out, ", "))
}

func unwrapPathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
