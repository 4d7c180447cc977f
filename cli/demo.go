package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/agentos/agentos"
	"github.com/spf13/cobra"
)

// demoPlans are the plan files of the story.
var demoPlans = map[string]string{
	"greet.yaml": `version: 1
goal: Add a greeting file
steps:
  - write: {path: docs/hello.txt, content: "hello, governed world\n"}
    rationale: the docs need a greeting
  - exec: {argv: [wc, -l, docs/hello.txt], timeout: 30s}
verify:
  # A check of what must hold with or without the change: a rollback re-runs it.
  - {name: docs-index-intact, argv: [grep, -q, docs, docs/index.md]}
`,
	"fabricated.yaml": `version: 1
goal: Deploy to production
steps:
  - exec: {argv: [deploy-to-prod, --force]}
verify:
  - argv: ["true"]
`,
	"escape.yaml": `version: 1
goal: Leave the repository
steps:
  - write: {path: ../outside.txt, content: "escaped\n"}
verify:
  - argv: ["true"]
`,
	"broken.yaml": `version: 1
goal: Add a file that fails its check
steps:
  - write: {path: docs/todo.txt, content: "nothing here yet\n"}
verify:
  - {name: mentions-release, argv: [grep, -q, release, docs/todo.txt]}
`,
	"release.yaml": `version: 1
goal: Cut a release
params:
  - id: version
    question: Which version are we releasing?
    why: The VERSION file needs it.
    kind: text
    blocker: true
steps:
  - write: {path: VERSION, content: "{{ .params.version }}\n"}
    template: true
verify:
  - argv: [grep, -qx, "{{ .params.version }}", VERSION]
    template: true
`,
}

func newCmdDemo(f *Factory) *cobra.Command {
	var rm bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Walk through the whole story on a throwaway repository (no network, no API key)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDemo(cmd.Context(), f, !rm)
		},
	}
	cmd.Flags().BoolVar(&rm, "rm", false, "remove the throwaway repository at the end (default: keep it so its ReviewPacks can be read)")
	return cmd
}

type demo struct {
	f    *Factory
	dir  string
	step int
}

func (d *demo) say(format string, a ...any) {
	fmt.Fprintf(d.f.IO.Out, format+"\n", a...)
}

func (d *demo) chapter(title string) {
	d.step++
	d.say("\n%s", d.f.IO.OutColor("bold", fmt.Sprintf("%d. %s", d.step, title)))
}

// agentos runs one agentos command in-process against the demo repository,
// exactly as the binary would, and returns its exit code and output.
func (d *demo) agentos(ctx context.Context, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	sub := NewFactory(strings.NewReader(""), &out, &errb)
	sub.Dir = d.dir
	sub.Quiet = true
	defer sub.Close()
	root := NewRootCmd(sub)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err != nil {
		printError(sub, err)
	}
	d.say("  %s", d.f.IO.OutColor("dim", "$ agentos "+strings.Join(args, " ")))
	for _, l := range strings.Split(strings.TrimRight(out.String()+errb.String(), "\n"), "\n") {
		if l != "" {
			d.say("    %s", l)
		}
	}
	code := ExitCode(err)
	d.say("    %s", d.f.IO.OutColor("dim", fmt.Sprintf("(exit %d)", code)))
	return code, out.String(), errb.String()
}

func (d *demo) git(ctx context.Context, args ...string) (string, error) {
	c := exec.CommandContext(ctx, "git", args...)
	c.Dir = d.dir
	c.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Demo", "GIT_AUTHOR_EMAIL=demo@example.com", "GIT_COMMITTER_NAME=Demo", "GIT_COMMITTER_EMAIL=demo@example.com")
	out, err := c.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

func (d *demo) expect(what string, got, want int) error {
	if got != want {
		return agentos.Errorf(agentos.EFAILED, "demo: %s exited %d, want %d: the story broke here", what, got, want)
	}
	return nil
}

func runDemo(ctx context.Context, f *Factory, keep bool) error {
	if _, err := exec.LookPath("git"); err != nil {
		return agentos.Errorf(agentos.EINVALID, "the demo needs git on PATH")
	}
	dir, err := os.MkdirTemp("", "agentos-demo-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(dir)
	}
	d := &demo{f: f, dir: dir}
	d.say("%s", f.IO.OutColor("bold", "AgentOS demo: the AI proposes, AgentOS decides."))
	d.say("A throwaway repository at %s; no network, no API key.", dir)

	d.chapter("A repository and its policy")
	if _, err := d.git(ctx, "init", "-q", "-b", "main"); err != nil {
		return err
	}
	os.WriteFile(filepath.Join(dir, "README.md"), []byte("# demo\n"), 0o644)
	os.MkdirAll(filepath.Join(dir, "docs"), 0o755)
	os.WriteFile(filepath.Join(dir, "docs", "index.md"), []byte("docs\n"), 0o644)
	for _, a := range [][]string{{"add", "."}, {"commit", "-q", "-m", "initial"}} {
		if _, err := d.git(ctx, a...); err != nil {
			return err
		}
	}
	if code, _, _ := d.agentos(ctx, "init"); code != 0 {
		return d.expect("init", code, 0)
	}
	// The policy is code: commit it like any other.
	if _, err := d.git(ctx, "add", agentos.PolicyFile); err != nil {
		return err
	}
	if _, err := d.git(ctx, "commit", "-q", "-m", "Add the AgentOS policy"); err != nil {
		return err
	}
	plans := filepath.Join(dir, agentos.StateDir, "demo-plans")
	os.MkdirAll(plans, 0o755)
	for name, body := range demoPlans {
		os.WriteFile(filepath.Join(plans, name), []byte(body), 0o644)
	}
	p := func(name string) string { return filepath.Join(plans, name) }

	d.chapter("A plan that commits: dry run, apply in a worktree, verify, traceable commit")
	code, out, _ := d.agentos(ctx, "run", "--plan", p("greet.yaml"))
	if err := d.expect("run greet.yaml", code, 0); err != nil {
		return err
	}
	greetTask := taskIDOf(out)
	head, _ := d.git(ctx, "rev-parse", "HEAD")
	d.say("  main is now at %s; the commit carries its trailers:", head[:12])
	d.agentos(ctx, "trace", "HEAD")

	d.chapter("A plan refused for a fabricated command (red line 3)")
	code, _, _ = d.agentos(ctx, "run", "--plan", p("fabricated.yaml"))
	if err := d.expect("run fabricated.yaml", code, 1); err != nil {
		return err
	}

	d.chapter("A plan refused for a path outside the repository (red line 3)")
	code, _, _ = d.agentos(ctx, "run", "--plan", p("escape.yaml"))
	if err := d.expect("run escape.yaml", code, 1); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "outside.txt")); err == nil {
		return agentos.Errorf(agentos.EFAILED, "demo: a file was written outside the repository")
	}

	d.chapter("A verify failure leaves the branch untouched")
	before, _ := d.git(ctx, "rev-parse", "main")
	code, _, _ = d.agentos(ctx, "run", "--plan", p("broken.yaml"))
	if err := d.expect("run broken.yaml", code, 1); err != nil {
		return err
	}
	after, _ := d.git(ctx, "rev-parse", "main")
	if before != after {
		return agentos.Errorf(agentos.EFAILED, "demo: main moved after a failed verify")
	}
	d.say("  main is still at %s", after[:12])

	d.chapter("Missing information blocks the task instead of a guess")
	code, out, _ = d.agentos(ctx, "run", "--plan", p("release.yaml"), "--mode", "semi_auto")
	if err := d.expect("run release.yaml", code, 3); err != nil {
		return err
	}
	relTask := taskIDOf(out)
	d.agentos(ctx, "questions", relTask)
	code, _, _ = d.agentos(ctx, "answer", relTask, "--set", "version=1.4.0")
	if err := d.expect("answer", code, 0); err != nil {
		return err
	}

	d.chapter("Rollback: a rollback task, planned, gated, verified and committed like any other")
	code, _, _ = d.agentos(ctx, "rollback", greetTask)
	if err := d.expect("rollback", code, 0); err != nil {
		return err
	}

	d.chapter("The audit chain and every commit check out")
	code, _, _ = d.agentos(ctx, "audit", "verify")
	if err := d.expect("audit verify", code, 0); err != nil {
		return err
	}
	d.agentos(ctx, "task", "list")
	review := ""
	if db, err := openDemoDB(ctx, dir); err == nil {
		if rp, _, err := db.Review(ctx, greetTask); err == nil {
			review = filepath.Join(dir, agentos.StateDir, "reviews", greetTask+"-"+rp.Run+".md")
		}
	}
	d.say("\n%s", f.IO.OutColor("green", "Done: every run above ended with a ReviewPack."))
	if keep {
		d.say("Read a ReviewPack: %s", review)
		d.say("The throwaway repository is %s (remove it with rm -rf, or run the demo with --rm).", dir)
	}
	return nil
}

// taskIDOf reads the id from "task ID STATE", the first line run prints.
func taskIDOf(out string) string {
	f := strings.Fields(out)
	if len(f) >= 2 && f[0] == "task" {
		return f[1]
	}
	return ""
}

func openDemoDB(ctx context.Context, dir string) (interface {
	Review(context.Context, string) (*agentos.ReviewPack, string, error)
	Close() error
}, error) {
	sub := NewFactory(strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
	sub.Dir = dir
	return sub.DB(ctx)
}
