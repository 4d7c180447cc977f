package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/policy"
	"github.com/agentos/agentos/postgres"
	"github.com/agentos/agentos/sqlite"
	"github.com/spf13/cobra"
)

// ecosystem is a build system init recognises by a marker file.
type ecosystem struct {
	marker   string
	name     string
	commands []string
	env      []string
}

var ecosystems = []ecosystem{
	{"go.mod", "Go", []string{"go", "gofmt"}, []string{"GOCACHE", "GOMODCACHE", "GOPATH", "GOFLAGS", "GOPROXY", "GOTOOLCHAIN", "CGO_ENABLED"}},
	{"Makefile", "Make", []string{"make"}, nil},
	{"package.json", "Node.js", []string{"node", "npm", "npx"}, []string{"NODE_ENV", "npm_config_cache"}},
	{"Cargo.toml", "Rust", []string{"cargo", "rustc", "rustfmt"}, []string{"CARGO_HOME", "RUSTUP_HOME"}},
	{"pyproject.toml", "Python", []string{"python3", "pytest"}, []string{"VIRTUAL_ENV"}},
	{"requirements.txt", "Python", []string{"python3", "pytest"}, []string{"VIRTUAL_ENV"}},
}

// verifyFor returns the test commands init writes as verify.default for a
// detected ecosystem (e.g. go test ./...); the first detected ecosystem
// that has some gives them. None: init writes `default: []`.
var verifyFor = func(e ecosystem) [][]string { return nil }

// basics are harmless everywhere: they read, compare and print.
var basics = []string{"true", "false", "test", "grep", "cat", "ls", "echo", "printf", "head", "tail", "wc", "sort", "uniq", "diff", "cmp", "find", "sha256sum", "stat"}

var initTemplate = template.Must(template.New(agentos.PolicyFile).Parse(`# agentos.yaml: the AgentOS policy for this repository.
# It is code: review and commit it. Its hash is pinned in every plan, so any
# change here makes earlier plans and approvals stale. No plan may write it.
version: 1

# The branch verified commits land on (the branch checked out at init).
target: {{.Target}}

# Red line 3: exec steps and verify checks may only run these programs, and
# only if they exist. Detected here: {{.Detected}}.
commands:
  allow:
{{- range .Allow}}
    - {{.}}
{{- end}}

# Commands get a scrubbed environment: PATH, a private HOME and TMPDIR, and
# only the variables listed here from yours (secrets never reach them).
exec:
  default_timeout: 10m
  env_allow:
{{- range .Env}}
    - {{.}}
{{- end}}{{if not .Env}} []{{end}}

# Every command runs in the OS sandbox: read-only system, read-write only the
# task's worktree, no network. If this machine cannot confine, AgentOS refuses
# to run commands; only an explicit "require: false" allows unconfined runs,
# and each such run is marked in the audit log and the ReviewPack.
sandbox:
  require: true
  network: false
  # Destinations ("host:port") commands may reach while network is false;
  # nothing else is reachable (no DNS, no other host or local service).
  allow_tcp: []
  read_only: []

# Every change is verified: a plan that brings no verify check of its own
# (a model's, a contractor's, a plan file without verify:) gets these checks,
# in the shape of a plan file's verify checks (name, argv, cwd, timeout).
# A plan left with no check at all cannot commit unless allow_unverified is
# true; its ReviewPack and commit message then say UNVERIFIED. For example:
#   default: [{name: tests, argv: [make, test], timeout: 10m}]
verify:
  default:
{{- range .Verify}}
    - name: {{.Name}}
      argv: {{.Argv}}
{{- end}}{{if not .Verify}} []{{end}}
  allow_unverified: false

# Autonomy modes. semi_auto asks at most question_budget blocker questions;
# full_auto asks none (red line 2: it cannot be given a budget).
modes:
  default: semi_auto
  semi_auto:
    question_budget: 3

# The MemoryPack attached to every plan is at most this many bytes of facts.
memory:
  pack_budget_bytes: 8192

# Worktrees of failed runs are kept for inspection: "keep" until
# "agentos task clean", or a duration (e.g. 168h) after the task ended
# (removed by "agentos gc" and when a write command starts).
retention:
  worktrees: keep

# Tasks blocked on questions for longer than this are cancelled (empty: never),
# by "agentos gc" and when a write command starts.
blocked_expires_after: ""

# Who may approve plans that need a human (empty: any human).
approvers: []

{{.Gates}}`))

func newCmdInit(f *Factory) *cobra.Command {
	var force, asJSON bool
	var target string
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Write agentos.yaml (safe defaults) and .agentos/ (git-ignored) in this repository",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			repo, err := f.Repo(ctx)
			if err != nil {
				return err
			}
			if target == "" {
				if target, err = repo.CurrentBranch(ctx); err != nil || target == "" {
					return agentos.Errorf(agentos.EINVALID, "HEAD is detached: check out the branch commits should land on, or pass --target BRANCH")
				}
			}
			cfgPath := filepath.Join(repo.Root, config.FileName)
			_, statErr := os.Stat(cfgPath)
			exists := statErr == nil
			if exists && !force {
				if _, err := config.Load(cfgPath); err != nil {
					return err
				}
			} else {
				body, detected, err := renderInit(repo.Root, target)
				if err != nil {
					return err
				}
				if _, err := config.Parse(body, config.FileName); err != nil {
					return agentos.WrapError(agentos.EINTERNAL, err, "the generated agentos.yaml does not load (a bug): %v", err)
				}
				if err := os.WriteFile(cfgPath, body, 0o644); err != nil {
					return err
				}
				fmt.Fprintf(f.IO.ErrOut, "wrote %s (target %s; detected %s)\n", cfgPath, target, detected)
			}
			state := filepath.Join(repo.Root, agentos.StateDir)
			for _, d := range []string{state, filepath.Join(state, "worktrees"), filepath.Join(state, "reviews")} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					return err
				}
			}
			// A self-ignoring directory: nothing of the user's (.gitignore) changes.
			if err := os.WriteFile(filepath.Join(state, ".gitignore"), []byte("*\n"), 0o644); err != nil {
				return err
			}
			// Create (or migrate) the store the repository is configured for.
			storeURL, err := f.StoreURL(ctx)
			if err != nil {
				return err
			}
			storeLine := ""
			if storeURL == "" {
				db, err := sqlite.Open(ctx, filepath.Join(state, "agentos.db"))
				if err != nil {
					return err
				}
				db.Close()
			} else {
				db, err := f.DB(ctx)
				if err != nil {
					return err
				}
				if pg, ok := db.(*postgres.DB); ok {
					storeLine = "  store   " + pg.URL + "\n" // password redacted
				}
			}
			if exists && !force {
				fmt.Fprintf(f.IO.ErrOut, "%s already exists and loads; kept it (use --force to rewrite it)\n", config.FileName)
			}
			if asJSON {
				return printJSON(f, map[string]any{"root": repo.Root, "policy": cfgPath, "state": state, "target": target, "wrote_policy": !exists || force})
			}
			fmt.Fprintf(f.IO.Out, "initialised %s\n  policy  %s\n  state   %s (git-ignored)\n%snext: review and commit %s, then `agentos run --plan change.yaml`\n", repo.Root, cfgPath, state, storeLine, config.FileName)
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "rewrite agentos.yaml with the defaults")
	addJSONFlag(cmd, f, &asJSON)
	cmd.Flags().StringVar(&target, "target", "", "the `branch` commits land on (default: the current branch)")
	return cmd
}

func renderInit(root, target string) ([]byte, string, error) {
	allow := append([]string{}, basics...)
	var env, names []string
	var verify []initCheck
	seen := map[string]bool{}
	for _, e := range ecosystems {
		if _, err := os.Stat(filepath.Join(root, e.marker)); err != nil {
			continue
		}
		if len(verify) == 0 {
			for _, argv := range verifyFor(e) {
				verify = append(verify, newInitCheck(argv))
			}
		}
		if !seen[e.name] {
			names = append(names, e.name)
			seen[e.name] = true
		}
		for _, c := range e.commands {
			if !seen["cmd:"+c] {
				allow = append(allow, c)
				seen["cmd:"+c] = true
			}
		}
		for _, v := range e.env {
			if !seen["env:"+v] {
				env = append(env, v)
				seen["env:"+v] = true
			}
		}
	}
	detected := "no build system"
	if len(names) > 0 {
		detected = strings.Join(names, ", ")
	}
	var b bytes.Buffer
	err := initTemplate.Execute(&b, map[string]any{"Target": target, "Allow": allow, "Env": env, "Detected": detected, "Gates": policy.DefaultGatesYAML, "Verify": verify})
	return b.Bytes(), detected, err
}

// initCheck is a default verify check as init writes it: JSON strings are
// YAML scalars that need no further quoting.
type initCheck struct{ Name, Argv string }

func newInitCheck(argv []string) initCheck {
	name, _ := json.Marshal(strings.Join(argv, " "))
	list, _ := json.Marshal(argv)
	return initCheck{Name: string(name), Argv: string(list)}
}
