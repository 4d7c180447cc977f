package coordinator

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/contractor"
	"github.com/agentos/agentos/planner"
)

// stepsModel proposes fixed steps, as a model or a contractor would.
type stepsModel struct{ steps []agentos.Step }

func (m *stepsModel) Source() agentos.Source {
	return agentos.Source{Planner: "openai", Model: "fake-model"}
}

func (m *stepsModel) Intent(ctx context.Context, request string) (agentos.Intent, []agentos.PlannerCall, error) {
	return agentos.Intent{Goal: "template syntax", Kind: "chore", Risk: "low", Source: m.Source()}, nil, nil
}

func (m *stepsModel) Plan(ctx context.Context, intent agentos.Intent, pack agentos.MemoryPack, repo planner.RepoContext, allowed []string, validate func(agentos.Plan) error) (agentos.Plan, []agentos.Question, []agentos.PlannerCall, error) {
	p := agentos.Plan{Goal: intent.Goal, Steps: m.steps}
	return p, nil, nil, validate(p)
}

func (m *stepsModel) ContextBudget() int          { return 1000 }
func (m *stepsModel) LastAnswer(err error) string { return "" }

// A proposed plan is never a template: a model's content with {{ }} and
// ${{ }}, and a contractor's diffs (git's own output, with {{ in a text hunk,
// in binary data, and a Latin-1 line that is not UTF-8) are stored, applied
// and committed byte for byte.
func TestProposedPlansAreByteExact(t *testing.T) {
	c, dir := gateCoordinator(t)
	ctx := t.Context()
	base := strings.TrimSpace(gitOut(t, dir, "rev-parse", "HEAD"))

	// The contractor's changes, collected the way contractor.Run does.
	scratch := filepath.Join(t.TempDir(), "scratch")
	gitIn(t, dir, "worktree", "add", "-q", "--detach", scratch, base)
	for name, body := range map[string]string{
		"README.md":  "hello\n<p>{{ .Name }}</p> {{/* x */}} ${{ matrix.go }}\n",
		"latin1.txt": "caf\xe9 {{ \"x\" }}\n",
		"blob.bin":   "\x00\xf9\x83\x86R\xca\xce\xffsx\xd0\xe4&\xc6\x1c\x00a\xb4d6\x13\xf1a\x1b[", // base85 holds "{{"
	} {
		if err := os.WriteFile(filepath.Join(scratch, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	steps, err := contractor.Changes(ctx, scratch, base, "i", "test")
	if err != nil {
		t.Fatal(err)
	}
	steps = append(steps, agentos.Step{Kind: agentos.StepWrite, Path: "ci.yml", Content: "go: ${{ matrix.go }}\nv: {{ .params.version }}\n"})

	cfg, err := config.Parse([]byte(gatePolicy+"planner: {kind: openai, openai: {model: fake-model}}\nverify: {default: [{argv: [\"true\"]}]}\n"), config.FileName)
	if err != nil {
		t.Fatal(err)
	}
	c.Config = cfg
	c.ModelPlanners = map[string]NewModelPlanner{"openai": func(config.Planner, func(string) string) (ModelPlanner, error) {
		return &stepsModel{steps: steps}, nil
	}}
	ann := agentos.Human("ann")
	task, err := c.PlanRequest(ctx, NLRequest{Text: "template syntax", Actor: ann})
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := c.DB.Plan(ctx, task.PlanID)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Steps) != len(steps) {
		t.Fatalf("stored %d steps, proposed %d", len(p.Steps), len(steps))
	}
	for i, s := range p.Steps {
		if s.Content != steps[i].Content || s.Diff != steps[i].Diff {
			t.Errorf("step %d stored as content %q diff %q, proposed %q %q", i+1, s.Content, s.Diff, steps[i].Content, steps[i].Diff)
		}
	}
	if got := p.ComputeHash(); got != task.PlanHash {
		t.Errorf("stored plan hashes to %s, planned %s", got, task.PlanHash)
	}

	if nt, err := c.Apply(ctx, task.ID, ann); err != nil || nt.State != agentos.StateCommitted {
		t.Fatalf("Apply = %+v, %v; want committed", nt, err)
	}
	for _, name := range []string{"README.md", "latin1.txt", "blob.bin"} {
		want, _ := os.ReadFile(filepath.Join(scratch, name))
		if got := gitOut(t, dir, "cat-file", "blob", "main:"+name); got != string(want) {
			t.Errorf("%s committed as %q, want %q", name, got, want)
		}
	}
	if got := gitOut(t, dir, "cat-file", "blob", "main:ci.yml"); got != steps[len(steps)-1].Content {
		t.Errorf("ci.yml committed as %q", got)
	}
}

// gitOut runs git in dir and returns its stdout as is.
func gitOut(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %v: %v", args, err)
	}
	return string(out)
}
