package sandboxrun

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/cli/cliexit"
	"github.com/agentos/agentos/cli/policysource"
	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/gitrepo"
	"github.com/agentos/agentos/redact"
	"github.com/agentos/agentos/sandbox"
	"golang.org/x/term"
)

// The light path. Go initialises every linked package before main, and
// agentos links the policy language, protobuf, SQLite, PostgreSQL, the
// model clients and telemetry: about 9 ms before any verb starts, more
// than the sandbox's own work for `agentos sandbox run -- CMD` (issue 13).
// This package's init takes over such a process as soon as what Run
// needs is initialised (Go 1.21+ initialises packages in dependency
// order, lexically first among the ready ones), runs Run — the verb's one
// implementation — and exits, as main would have. It takes over only the
// command lines it understands exactly and where the policy in force is
// committed; everything else (--help, other flags, the embedded default
// policy, any error before the command is decided) falls through to the
// full command tree, which does the same and says the same.
//
// Keep this package's imports light: cmd/agentos's
// TestSandboxRunStartsBeforeTheHeavyPackages checks the init trace.

// FullEnv, set to 1, sends `sandbox run` through the full command tree
// (for debugging; the behaviour is the same).
const FullEnv = "AGENTOS_SANDBOX_RUN_FULL"

func init() {
	if code, ok := takeover(os.Args[1:]); ok {
		os.Exit(code)
	}
}

// errDefaults: the embedded default policy governs, which only the full
// command tree renders.
var errDefaults = errors.New("the embedded defaults govern")

// takeover runs `agentos [-C DIR] sandbox run ...` and returns its exit
// code, or ok false when args are not a command line it understands.
func takeover(args []string) (code int, ok bool) {
	if os.Getenv(FullEnv) == "1" {
		return 0, false
	}
	dir, args, ok := parseGlobal(args)
	if !ok {
		return 0, false
	}
	o, argv, ok := parseRun(args)
	if !ok {
		return 0, false
	}
	// The helper's memfd and Go's pidfd check meanwhile, on the other core.
	sandbox.Prepare()
	ctx := context.Background()
	// Nothing is printed or run before the policy in force is known: up to
	// here, falling through repeats the same work and prints its errors.
	repo, err := gitrepo.Open(ctx, dir)
	if err != nil {
		return 0, false
	}
	src := &policysource.Source{Repo: repo, Defaults: func(string) (*config.Config, error) { return nil, errDefaults }}
	cfg, origin, err := src.Load(ctx)
	if err != nil {
		return 0, false
	}
	if n := origin.Notice(); n != "" {
		fmt.Fprintln(os.Stderr, n)
	}
	ctx, stop := cliexit.SignalContext(ctx, os.Stderr)
	defer stop()
	o.Stdin, o.Stdout, o.Stderr = os.Stdin, os.Stdout, os.Stderr
	err = cliexit.Interrupted(ctx, Run(ctx, env{repo, cfg}, argv, o))
	if err != nil {
		// As cli's printError: redacted with the policy's patterns.
		r := redact.Default()
		if rr, rerr := redact.New(cfg.Redact.Patterns); rerr == nil {
			r = rr
		}
		_, noColor := os.LookupEnv("NO_COLOR")
		color := term.IsTerminal(int(os.Stderr.Fd())) && !noColor
		fmt.Fprintln(os.Stderr, cliexit.ErrorLine(err, r.String(agentos.ErrorMessage(err)), color))
	}
	return cliexit.Code(err), true
}

// env is the light path's Env.
type env struct {
	repo *gitrepo.Repo
	cfg  *config.Config
}

func (e env) Repo(context.Context) (*gitrepo.Repo, error)             { return e.repo, nil }
func (e env) ConfigUnchecked(context.Context) (*config.Config, error) { return e.cfg, nil }

// parseGlobal takes the global flags the light path knows (-C/--repo DIR)
// and `sandbox run`; the rest is the verb's.
func parseGlobal(args []string) (dir string, rest []string, ok bool) {
	for len(args) > 0 {
		switch a := args[0]; {
		case a == "-C" || a == "--repo":
			if len(args) < 2 || strings.HasPrefix(args[1], "-") {
				return "", nil, false
			}
			dir, args = args[1], args[2:]
		case strings.HasPrefix(a, "--repo="):
			dir, args = strings.TrimPrefix(a, "--repo="), args[1:]
		case len(args) >= 2 && a == "sandbox" && args[1] == "run":
			return dir, args[2:], true
		default:
			return "", nil, false
		}
	}
	return "", nil, false
}

// parseRun parses the verb's flags as cobra would, for the shapes
// `[--network] [--allow-tcp H:P]... [--timeout D] [--] CMD ARGS...`; any
// other (a flag after CMD without --, --help, a bad value) is not ok.
func parseRun(args []string) (o Opts, argv []string, ok bool) {
	value := func(name string) (string, bool) {
		a := args[0]
		if v, found := strings.CutPrefix(a, name+"="); found {
			args = args[1:]
			return v, true
		}
		if a != name || len(args) < 2 || strings.HasPrefix(args[1], "-") {
			return "", false
		}
		v := args[1]
		args = args[2:]
		return v, true
	}
	for len(args) > 0 {
		a := args[0]
		switch {
		case a == "--":
			argv = args[1:]
			return o, argv, len(argv) > 0
		case a == "--network":
			o.Network, args = true, args[1:]
		case a == "--allow-tcp" || strings.HasPrefix(a, "--allow-tcp="):
			v, ok := value("--allow-tcp")
			if !ok {
				return o, nil, false
			}
			o.AllowTCP = append(o.AllowTCP, v)
		case a == "--timeout" || strings.HasPrefix(a, "--timeout="):
			v, ok := value("--timeout")
			if !ok {
				return o, nil, false
			}
			d, err := time.ParseDuration(v)
			if err != nil {
				return o, nil, false
			}
			o.Timeout = d
		case strings.HasPrefix(a, "-"):
			return o, nil, false
		default:
			// CMD without --: cobra would take any later -x as a flag.
			for _, rest := range args {
				if strings.HasPrefix(rest, "-") {
					return o, nil, false
				}
			}
			return o, args, true
		}
	}
	return o, nil, false
}
