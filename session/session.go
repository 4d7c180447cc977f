// Package session runs a person's own agent CLI (Claude Code, Codex,
// OpenCode) interactively inside AgentOS: a full terminal through a pty
// (raw mode, colours, window resize, Ctrl-C to the agent), the agent in the
// AgentOS sandbox on a task layer of the current repository (the way
// contractors run, package contractor), its network limited to the model
// endpoints its own configuration and environment name, and its permission
// hooks answered by AgentOS. When the agent exits (or the person asks for a
// checkpoint), what it changed goes through the normal pipeline
// (coordinator.RunSession): nothing reaches the person's checkout before
// the commit.
package session

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/contractor"
	"github.com/creack/pty"
	"golang.org/x/term"
)

// Agents are the CLIs a session runs.
var Agents = []string{"claude", "codex", "opencode"}

// Options say which agent to run for whom.
type Options struct {
	// Agent is claude, codex or opencode; Args the person's own arguments.
	Agent string
	Args  []string
	// In and Out are the person's terminal.
	In, Out *os.File
	// Getenv reads the person's environment; Home is their home directory
	// (where the CLI keeps its login and configuration).
	Getenv func(string) string
	Home   string
	// Repo is the repository root; StateDir its .agentos directory.
	Repo     string
	StateDir string
}

// Session is one running session: it attaches the person's terminal to
// the agent for the agent's lifetime and answers checkpoint requests.
type Session struct {
	opts      Options
	endpoints []string
	env       map[string]string
	stop      chan struct{}
	stopOnce  sync.Once
	active    atomic.Bool
	started   time.Time
	// AgentStarted is when the CLI process was about to start; AgentEnded
	// when it was gone (for the timings `agentos session` reports).
	AgentStarted, AgentEnded time.Time

	mu       sync.Mutex
	task     string
	regFile  string
	sigs     chan os.Signal
	term     *attached
	attachMu sync.Mutex
}

// New checks the agent and the terminal and works out the endpoints the
// agent may reach. It starts nothing.
func New(opts Options) (*Session, error) {
	if !slices.Contains(Agents, opts.Agent) {
		return nil, agentos.Errorf(agentos.EINVALID, "unknown agent %q: use %s", opts.Agent, strings.Join(Agents, ", "))
	}
	if opts.In == nil || opts.Out == nil || !term.IsTerminal(int(opts.In.Fd())) || !term.IsTerminal(int(opts.Out.Fd())) {
		return nil, agentos.Errorf(agentos.EINVALID, "agentos session needs a terminal (stdin and stdout): the agent's own UI runs in it; for unattended work use planner.kind contractor")
	}
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	eps, err := Endpoints(opts.Agent, opts.Args, opts.Getenv, opts.Home, opts.Repo)
	if err != nil {
		return nil, err
	}
	if opts.Agent == "codex" {
		// The person's model settings first, their own -c arguments after
		// (the later wins).
		opts.Args = append(codexConfigArgs(opts.Getenv, opts.Home), opts.Args...)
	}
	s := &Session{opts: opts, endpoints: eps, stop: make(chan struct{}), started: time.Now()}
	s.env = map[string]string{}
	if opts.Agent == "claude" {
		for k, v := range claudeSettingsEnv(opts.Home) {
			s.env[k] = v
		}
	}
	if opts.Agent == "opencode" && opts.Getenv("OPENCODE_CONFIG_CONTENT") == "" {
		if c := openCodeConfigContent(opts.Getenv, opts.Home); c != "" {
			s.env["OPENCODE_CONFIG_CONTENT"] = c
		}
	}
	names := passEnv(opts.Agent)
	if opts.Agent == "codex" {
		names = append(names, codexKeyVars(opts.Args, opts.Getenv, opts.Home)...)
	}
	for _, k := range names {
		if v := opts.Getenv(k); v != "" {
			s.env[k] = v
		}
	}
	return s, nil
}

// Endpoints returns the "host:port" destinations the agent may reach.
func (s *Session) Endpoints() []string { return slices.Clone(s.endpoints) }

// Active reports whether the agent holds the terminal (nothing else may
// print then).
func (s *Session) Active() bool { return s.active.Load() }

// Configure fills in the interactive parts of the agent's run; it is
// called right before the agent starts, and attaches the terminal.
func (s *Session) Configure(spec *contractor.Spec) {
	spec.Args = slices.Clone(s.opts.Args)
	spec.AllowTCP = s.Endpoints()
	spec.Network = false
	spec.Env = map[string]string{}
	for k, v := range s.env {
		spec.Env[k] = v
	}
	spec.Seed = func(home, worktree string) error {
		return seed(s.opts.Agent, s.opts.Getenv, s.opts.Home, s.opts.Repo, home, worktree)
	}
	spec.Stop = s.stop
	spec.Ended = s.detach
	a, err := attach(s.opts.In, s.opts.Out)
	if err != nil {
		// No terminal for the agent: refuse to start it rather than run
		// it headless.
		spec.Terminal = nil
		spec.Argv = []string{"/bin/false"}
		fmt.Fprintf(s.opts.Out, "agentos: cannot open a terminal for the agent: %v\n", err)
		return
	}
	s.attachMu.Lock()
	s.term = a
	s.attachMu.Unlock()
	s.active.Store(true)
	s.AgentStarted = time.Now()
	spec.Terminal = a.tty
}

// detach gives the terminal back to the person once the agent is gone.
func (s *Session) detach() {
	s.attachMu.Lock()
	a := s.term
	s.term = nil
	s.attachMu.Unlock()
	if a != nil {
		s.AgentEnded = time.Now()
		a.close()
	}
	s.active.Store(false)
}

// Checkpoint ends the agent now; what it changed so far goes through the
// pipeline as on a normal exit.
func (s *Session) Checkpoint() { s.stopOnce.Do(func() { close(s.stop) }) }

// Record is a running session's entry under .agentos/sessions: another
// terminal finds it there to ask for a checkpoint.
type Record struct {
	Task    string    `json:"task"`
	Agent   string    `json:"agent"`
	PID     int       `json:"pid"`
	Started time.Time `json:"started"`
}

// Started registers the session under its task (called once the task
// exists) and starts answering checkpoint requests (SIGUSR1).
func (s *Session) Started(task string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.task = task
	dir := filepath.Join(s.opts.StateDir, "sessions")
	if err := os.MkdirAll(dir, 0o700); err == nil {
		s.regFile = filepath.Join(dir, task+".json")
		b, _ := json.Marshal(Record{Task: task, Agent: s.opts.Agent, PID: os.Getpid(), Started: s.started.UTC()})
		os.WriteFile(s.regFile, b, 0o600)
	}
	s.sigs = make(chan os.Signal, 1)
	signal.Notify(s.sigs, syscall.SIGUSR1)
	go func(ch chan os.Signal) {
		if _, ok := <-ch; ok {
			s.Checkpoint()
		}
	}(s.sigs)
}

// Close unregisters the session and gives the terminal back if the agent
// still had it.
func (s *Session) Close() {
	s.detach()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sigs != nil {
		signal.Stop(s.sigs)
		close(s.sigs)
		s.sigs = nil
	}
	if s.regFile != "" {
		os.Remove(s.regFile)
		s.regFile = ""
	}
}

// List returns the sessions running on the repository whose state
// directory is stateDir (entries of processes that are gone are removed).
func List(stateDir string) ([]Record, error) {
	dir := filepath.Join(stateDir, "sessions")
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, agentos.WrapError(agentos.EINTERNAL, err, "cannot read %s: %v", dir, err)
	}
	var out []Record
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		file := filepath.Join(dir, e.Name())
		var r Record
		b, err := os.ReadFile(file)
		if err != nil || json.Unmarshal(b, &r) != nil || r.PID <= 0 {
			continue
		}
		if !alive(r.PID) {
			os.Remove(file)
			continue
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Record) int { return a.Started.Compare(b.Started) })
	return out, nil
}

// RequestCheckpoint asks the session of task (or the only one running) to
// end its agent now and send its work through the pipeline.
func RequestCheckpoint(stateDir, task string) (Record, error) {
	rs, err := List(stateDir)
	if err != nil {
		return Record{}, err
	}
	var hit []Record
	for _, r := range rs {
		if task == "" || r.Task == task {
			hit = append(hit, r)
		}
	}
	switch {
	case len(hit) == 0 && task == "":
		return Record{}, agentos.Errorf(agentos.ENOTFOUND, "no agentos session is running in this repository")
	case len(hit) == 0:
		return Record{}, agentos.Errorf(agentos.ENOTFOUND, "no running agentos session has task %s (`agentos session list` shows them)", task)
	case len(hit) > 1:
		ids := make([]string, len(hit))
		for i, r := range hit {
			ids[i] = r.Task
		}
		return Record{}, agentos.Errorf(agentos.EINVALID, "%d sessions are running (%s): name the task", len(hit), strings.Join(ids, ", "))
	}
	if err := syscall.Kill(hit[0].PID, syscall.SIGUSR1); err != nil {
		return hit[0], agentos.WrapError(agentos.EINTERNAL, err, "cannot signal the session of task %s (pid %d): %v", hit[0].Task, hit[0].PID, err)
	}
	return hit[0], nil
}

// alive: pid is a running agentos process (not a recycled pid).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return true // no /proc: trust the signal probe
	}
	return strings.Contains(string(b), "session")
}

// attached is the person's terminal connected to a pty for the agent.
type attached struct {
	ptmx, tty *os.File
	in        *os.File // the person's terminal, opened afresh (non-blocking)
	restore   *term.State
	inFd      int
	winch     chan os.Signal
	done      chan struct{}
	outDone   chan struct{}
	once      sync.Once
}

// attach opens a pty sized like the person's terminal, puts their terminal
// in raw mode (every key, Ctrl-C included, goes to the agent), copies both
// ways and forwards window-size changes.
func attach(in, out *os.File) (*attached, error) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		return nil, err
	}
	a := &attached{ptmx: ptmx, tty: tty, inFd: int(in.Fd()), done: make(chan struct{}), outDone: make(chan struct{})}
	if err := pty.InheritSize(in, ptmx); err != nil {
		pty.Setsize(ptmx, &pty.Winsize{Rows: 24, Cols: 80})
	}
	// The person's terminal is read through a description of its own in
	// non-blocking mode, so the copy stops when the agent ends instead of
	// swallowing the next key the pipeline's prompt waits for.
	if f, err := os.OpenFile("/proc/self/fd/"+strconv.Itoa(a.inFd), os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
		a.in = f
	} else {
		ptmx.Close()
		tty.Close()
		return nil, err
	}
	if st, err := term.MakeRaw(a.inFd); err == nil {
		a.restore = st
	}
	a.winch = make(chan os.Signal, 1)
	signal.Notify(a.winch, syscall.SIGWINCH)
	go func() {
		for {
			select {
			case <-a.done:
				return
			case <-a.winch:
				pty.InheritSize(in, ptmx)
			}
		}
	}()
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := a.in.Read(buf)
			if n > 0 {
				if _, werr := ptmx.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	go func() {
		defer close(a.outDone)
		io.Copy(out, ptmx)
	}()
	return a, nil
}

func (a *attached) close() {
	a.once.Do(func() {
		close(a.done)
		signal.Stop(a.winch)
		a.in.Close() // ends the input copy (a pollable file: Close wakes Read)
		a.tty.Close()
		// The agent is gone and so is every other holder of the follower:
		// the output copy drains what it printed last, then ends.
		select {
		case <-a.outDone:
		case <-time.After(2 * time.Second):
		}
		a.ptmx.Close()
		if a.restore != nil {
			term.Restore(a.inFd, a.restore)
		}
	})
}
