package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/rogpeppe/go-internal/testscript"
)

// ramfs DIR mounts a ramfs (a file system that refuses idmapped mounts)
// at DIR, created first, until the script ends. Root only: the scripts
// using it run where commands get the dedicated identity, which needs
// root.
func cmdRamfs(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: ramfs DIR")
	}
	dir := ts.MkAbs(args[0])
	ts.Check(os.MkdirAll(dir, 0o755))
	if err := syscall.Mount("agentos-test", dir, "ramfs", 0, "mode=0755"); err != nil {
		ts.Fatalf("ramfs: mounting at %s: %v", dir, err)
	}
	ts.Defer(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
}

// hostuid VAR MARK RUN waits for the process started as `sleep MARK` (a
// confined command of a run started in the background, whose command line
// contains RUN), sets VAR to its uid as the host's /proc shows it, then
// kills it so the run ends: what identity a run really gave its command,
// seen from outside AgentOS. It fails when the run ends first.
func cmdHostUID(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: hostuid VAR MARK RUN")
	}
	for {
		ents, err := os.ReadDir("/proc")
		ts.Check(err)
		running := false
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			status, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
			argv := strings.Split(strings.TrimSuffix(string(cmdline), "\x00"), "\x00")
			if len(argv) == 2 && filepath.Base(argv[0]) == "sleep" && argv[1] == args[1] {
				for line := range strings.Lines(string(status)) {
					if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
						ts.Setenv(args[0], strings.Fields(rest)[0])
						syscall.Kill(pid, syscall.SIGKILL)
						return
					}
				}
			}
			// The run: a child of this test (an exited one, not yet
			// waited for, has no command line).
			if strings.Contains(string(status), fmt.Sprintf("\nPPid:\t%d\n", os.Getpid())) && strings.Contains(string(cmdline), args[2]) {
				running = true
			}
		}
		if !running {
			ts.Fatalf("hostuid: the run (%s) ended before its command was seen", args[2])
		}
		// Started in the background: not there yet.
		syscall.Nanosleep(&syscall.Timespec{Nsec: 20e6}, nil)
	}
}

// checkuid VAR RUNS sets VAR to the host uid `agentos sandbox check
// --json` (the last command's stdout) says commands of RUNS get
// ("exec steps and verify checks", "agentos sandbox run", …), and
// VAR_DEDICATED to whether that is the dedicated identity.
func cmdCheckUID(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: checkuid VAR RUNS")
	}
	var rep struct {
		Runs []struct {
			Runs      string `json:"runs"`
			UID       uint32 `json:"uid"`
			Dedicated bool   `json:"dedicated"`
		} `json:"identity_runs"`
	}
	if err := json.Unmarshal([]byte(ts.ReadFile("stdout")), &rep); err != nil {
		ts.Fatalf("checkuid: the last stdout is not sandbox check's JSON: %v", err)
	}
	for _, k := range rep.Runs {
		if k.Runs == args[1] {
			ts.Setenv(args[0], fmt.Sprint(k.UID))
			ts.Setenv(args[0]+"_DEDICATED", fmt.Sprint(k.Dedicated))
			return
		}
	}
	ts.Fatalf("checkuid: sandbox check names no runs %q", args[1])
}

// pubdir VAR makes a directory every uid can traverse (its parents too:
// the system's temp directory, not $WORK) for a command run as another
// uid, sets VAR to it, and removes it when the script ends.
func cmdPubdir(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: pubdir VAR")
	}
	d, err := os.MkdirTemp("", "agentos-pub-")
	ts.Check(err)
	ts.Check(os.Chmod(d, 0o755))
	ts.Defer(func() { os.RemoveAll(d) })
	ts.Setenv(args[0], d)
}
