package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"text/template"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/ecosystem"
	"github.com/agentos/agentos/policy"
	"github.com/agentos/agentos/postgres"
	"github.com/agentos/agentos/sandbox"
	"github.com/agentos/agentos/sqlite"
	"github.com/spf13/cobra"
)

// basics are harmless everywhere: they read, compare and print.
var basics = []string{"true", "false", "test", "grep", "cat", "ls", "echo", "printf", "head", "tail", "wc", "sort", "uniq", "diff", "cmp", "find", "sha256sum", "stat"}

// initTemplate is parsed on first use: only `agentos init` and the
// default policy need it, not every command's start.
var initTemplate = sync.OnceValue(func() *template.Template {
	return template.Must(template.New(agentos.PolicyFile).Funcs(template.FuncMap{
		"quote": quoteYAML,
		"join": func(list []string) string {
			q := make([]string, len(list))
			for i, s := range list {
				q[i] = quoteYAML(s)
			}
			return strings.Join(q, ", ")
		},
	}).Parse(`# agentos.yaml: the AgentOS policy for this repository.
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
  # nothing else is reachable (no DNS, no other host or local service). A name
  # is resolved outside and reached by that name inside, e.g.
  # ["localhost:8080", "proxy.golang.org:443", "registry.npmjs.org:443"].
  allow_tcp: []
  read_only: []
  # Toolchains and dependency caches, read-only, and build caches in {cache}:
  # a writable directory AgentOS keeps for this repository and this policy
  # (never committed, never shared with another repository or policy), so the
  # second governed build is as warm as yours. ~/ is your home; a relative
  # path is in this repository. "agentos sandbox check" says what is missing.
  # Detected here: {{.Detected}}.
  profiles:{{if not .Profiles}} {}{{end}}
{{- range .Profiles}}
    {{.Name}}:
{{- range .Notes}}
      # {{.}}
{{- end}}
      read_only: [{{join .Profile.ReadOnly}}]
{{- if .Profile.Path}}
      path: [{{join .Profile.Path}}]
{{- end}}
      env:{{if not .Profile.Env}} {}{{end}}
{{- range $k, $v := .Profile.Env}}
        {{$k}}: {{quote $v}}
{{- end}}
      tools: [{{join .Profile.Tools}}]
{{- end}}
  # Always hidden, even inside a visible directory: ~/.ssh, ~/.aws, ~/.netrc,
  # ~/.npmrc, ~/.pypirc, ~/.docker/config.json, cloud SDK logins and the other
  # credential stores. Add paths of your own here.
  hide: []

# Every change is verified: a plan file without verify: gets these checks, and
# a model's or a contractor's plan gets them whatever checks it brings. Same
# shape as a plan file's verify checks (name, argv, cwd, timeout).
# A plan left with no check at all cannot commit unless allow_unverified is
# true; its ReviewPack and commit message then say UNVERIFIED. Detected here:
# the test command of each ecosystem. For example:
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

# Who may approve plans that need a human (empty: any human). With signers
# listed, every name here is a listed signer.
approvers: []

# People known by SSH keys, who answer, approve and administer. Paste a line
# of git's allowed_signers file ("alice ssh-ed25519 AAAA... alice@laptop";
# roles approve and answer), or give name, roles (approve, answer, admin)
# and keys. With signers listed, approve, reject and answer sign with the
# person's key (ssh-agent or --signing-key); without any (solo use) the OS
# user decides, unsigned. See docs/approvals.md.
# signers:
#   - alice ssh-ed25519 AAAA... alice@laptop
#   - name: bob
#     roles: [approve, admin]
#     keys: ["ssh-ed25519 AAAA... bob@desk"]

# Four eyes: whoever wrote, submitted or requested a plan never approves it.
# Default: on when signers are listed, off for solo use.
# approvals:
#   distinct_from_author: true

# Webhooks: task state changes (blocked, awaiting_approval, committed, failed,
# rejected, cancelled, rolled_back) POSTed by "agentos worker" as signed
# CloudEvents or Slack messages. Secrets never go here: name the environment
# variable (or file) that holds them. See docs/webhooks.md.
# webhooks:
#   public_url: https://agentos.example.com
#   endpoints:
#     - name: ops
#       url: https://ops.example.com/agentos
#       events: [blocked, awaiting_approval, failed]
#       secret_env: AGENTOS_WEBHOOK_SECRET
#     - name: chat
#       url_env: SLACK_WEBHOOK_URL
#       format: slack

{{.Gates}}`))
})

func newCmdInit(f *Factory) *cobra.Command {
	var force, asJSON, newStore bool
	var target string
	var agents []string
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Write agentos.yaml (safe defaults) and .agentos/ (git-ignored) in this repository",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			f.policyNoticed = true // init says it itself, below
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
				if exists {
					// --force on a customised policy: keep the old one beside it.
					if old, err := os.ReadFile(cfgPath); err == nil && !bytes.Equal(old, body) {
						bak, err := backupFile(cfgPath, old)
						if err != nil {
							return err
						}
						fmt.Fprintf(f.IO.ErrOut, "saved the previous %s as %s\n", config.FileName, bak)
					}
				}
				if err := os.WriteFile(cfgPath, body, 0o644); err != nil {
					return err
				}
				fmt.Fprintf(f.IO.ErrOut, "wrote %s (target %s; detected %s)\n", cfgPath, target, detected)
			}
			state := filepath.Join(repo.Root, agentos.StateDir)
			for _, d := range []string{state, filepath.Join(state, "reviews")} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					return err
				}
			}
			// Task worktrees hold what commands produced: only the invoking
			// user may traverse them.
			if err := sandbox.PrivateDir(filepath.Join(state, "worktrees")); err != nil {
				return err
			}
			// A self-ignoring directory: nothing of the user's (.gitignore) changes.
			if err := os.WriteFile(filepath.Join(state, ".gitignore"), []byte("*\n"), 0o644); err != nil {
				return err
			}
			// Open (and migrate) the store the repository is configured
			// for; create it only when there is none. A damaged or replaced
			// store is refused here too: init does not paper over it.
			storeURL, err := f.StoreURL(ctx)
			if err != nil {
				return err
			}
			storeLine := ""
			db, err := f.DB(ctx)
			created := false
			if agentos.ErrorCode(err) == agentos.ENOTFOUND {
				// A repository that had a store says so outside it: its
				// store.json, checkpoints, refs/agentos/audit or commit
				// trailers. A lost store is restored, never silently
				// replaced by an empty one.
				if err := startOver(ctx, f, state, newStore); err != nil {
					return err
				}
				created = true
				if storeURL == "" {
					db, err = sqlite.Create(ctx, filepath.Join(state, "agentos.db"))
				} else {
					db, err = postgres.Create(ctx, storeURL)
				}
				if err == nil {
					db = f.setupDB(ctx, db)
					f.db = db
					// A new store: the anchor of any store it replaces goes.
					err = newAnchor(ctx, db, state)
				}
			}
			if err != nil {
				return err
			}
			if pg, ok := db.(*postgres.DB); ok {
				storeLine = "  store   " + pg.URL + "\n" // password redacted
			}
			key, keyCreated, err := initAuditKey(ctx, f, db, state, target, created)
			if err != nil {
				return err
			}
			auditLine := ""
			if key != nil {
				verb := "loaded"
				if keyCreated {
					verb = "created"
				}
				auditLine = fmt.Sprintf("  audit   key %s (%s, outside the repository)\n          %s\n", key.Path, verb, key.AuthorizedKey())
				if !exists || force {
					if err := pinAuditKey(cfgPath, key); err != nil {
						return err
					}
				} else if cfg, err := config.Load(cfgPath); err == nil && cfg.Audit.PublicKey == "" {
					auditLine += fmt.Sprintf("          not pinned: add to %s and commit: audit: {public_key: %s}\n", config.FileName, quoteYAML(key.AuthorizedKey()))
				}
			}
			if exists && !force {
				fmt.Fprintf(f.IO.ErrOut, "%s already exists and loads; kept it (use --force to rewrite it)\n", config.FileName)
			}
			if err := initAgents(f, repo.Root, agents); err != nil {
				return err
			}
			// Only the committed policy governs: say so until it is.
			inForce := f.origin != nil && f.origin.Committed && f.origin.WorkingTree == wtSame
			if !inForce {
				fmt.Fprintf(f.IO.ErrOut, "%s is not in force until you commit it (git add %s && git commit): until then %s\n", config.FileName, config.FileName, f.origin.NotInForce())
			}
			if asJSON {
				res := map[string]any{"root": repo.Root, "policy": cfgPath, "state": state, "target": target, "wrote_policy": !exists || force, "policy_in_force": inForce}
				if key != nil {
					res["audit_key"], res["audit_public_key"] = key.Path, key.AuthorizedKey()
				}
				return printJSON(f, res)
			}
			fmt.Fprintf(f.IO.Out, "initialised %s\n  policy  %s\n  state   %s (git-ignored)\n%s%snext: review and commit %s (only the committed policy governs), then `agentos run --plan change.yaml`\n", repo.Root, cfgPath, state, storeLine, auditLine, config.FileName)
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "rewrite agentos.yaml with the defaults")
	cmd.Flags().BoolVar(&newStore, "new-store", false, "start a new, empty store although this repository had one (its audit chain starts over)")
	addJSONFlag(cmd, f, &asJSON)
	cmd.Flags().StringVar(&target, "target", "", "the `branch` commits land on (default: the current branch)")
	cmd.Flags().StringSliceVar(&agents, "agent", nil, "wire an agent CLI's hooks to AgentOS (hook mode): claude, codex or opencode (repeatable; idempotent)")
	return cmd
}

// quoteYAML writes s as a YAML double-quoted scalar (JSON's escaping is
// YAML's), so {cache} or a colon in a path cannot change the structure.
func quoteYAML(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func renderInit(root, target string) ([]byte, string, error) {
	return renderPolicy(target, ecosystem.Detect(root, ecosystem.Host{Env: os.Environ()}))
}

// renderPolicy writes the policy for target and the detected ecosystems;
// with none, it is the embedded default policy (policybase.go).
func renderPolicy(target string, found []ecosystem.Ecosystem) ([]byte, string, error) {
	allow := append([]string{}, basics...)
	var env, names []string
	var profiles []ecosystem.Ecosystem
	var verify []initCheck
	for _, e := range found {
		names = append(names, e.Title)
		for _, argv := range e.Verify {
			verify = append(verify, newInitCheck(argv))
		}
		for _, c := range e.Commands {
			if !slices.Contains(allow, c) {
				allow = append(allow, c)
			}
		}
		for _, v := range e.EnvAllow {
			if !slices.Contains(env, v) {
				env = append(env, v)
			}
		}
		if len(e.Profile.ReadOnly)+len(e.Profile.Path)+len(e.Profile.Env)+len(e.Profile.Tools) > 0 {
			profiles = append(profiles, e)
		}
	}
	detected := "no build system"
	if len(names) > 0 {
		detected = strings.Join(names, ", ")
	}
	var b bytes.Buffer
	err := initTemplate().Execute(&b, map[string]any{"Target": target, "Allow": allow, "Env": env, "Detected": detected, "Profiles": profiles, "Gates": policy.DefaultGatesYAML, "Verify": verify})
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

// backupFile writes b next to path as path.bak, or path.bak.N when that is
// taken: a backup never overwrites an earlier one.
func backupFile(path string, b []byte) (string, error) {
	for n := 0; n < 1000; n++ {
		bak := path + ".bak"
		if n > 0 {
			bak = fmt.Sprintf("%s.bak.%d", path, n)
		}
		f, err := os.OpenFile(bak, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", agentos.WrapError(agentos.EINTERNAL, err, "cannot back up %s: %v", path, err)
		}
		_, werr := f.Write(b)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			os.Remove(bak)
			return "", agentos.WrapError(agentos.EINTERNAL, werr, "cannot back up %s: %v", path, werr)
		}
		return bak, nil
	}
	return "", agentos.Errorf(agentos.ECONFLICT, "cannot back up %s: %s.bak through .bak.999 exist; remove some", path, path)
}
