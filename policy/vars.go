package policy

import (
	"strings"
	"unicode/utf8"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/redact"
	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/interpreter"
)

// Variable is one name a gate condition can use.
type Variable struct {
	Name string
	Type *cel.Type
	Doc  string
	// step is true for per-step variables: a rule using one is evaluated once
	// per step, other rules once per plan.
	step bool
}

var stringList = cel.ListType(cel.StringType)

// Variables is the documented vocabulary of gate conditions, in the order
// `agentos policy explain --vars` prints it.
var Variables = []Variable{
	{Name: "task.id", Type: cel.StringType, Doc: "task id"},
	{Name: "task.mode", Type: cel.StringType, Doc: "autonomy mode: interactive, semi_auto, full_auto"},
	{Name: "task.labels", Type: stringList, Doc: "task labels"},
	{Name: "task.goal", Type: cel.StringType, Doc: "the task's goal"},
	{Name: "task.submitter", Type: cel.StringType, Doc: "who submitted the task (human:NAME)"},
	{Name: "task.planner", Type: cel.StringType, Doc: "planner name (file, openai, contractor...)"},
	{Name: "task.target", Type: cel.StringType, Doc: "branch the commit integrates into"},
	{Name: "intent.kind", Type: cel.StringType, Doc: "intent kind (fix, feature, refactor, chore...)"},
	{Name: "intent.risk", Type: cel.StringType, Doc: "risk the intent declares (low, medium, high, critical)"},
	{Name: "intent.scope", Type: stringList, Doc: "paths and globs the intent is scoped to"},
	{Name: "plan.paths", Type: stringList, Doc: "every path the plan writes, deletes or renames"},
	{Name: "plan.steps", Type: cel.IntType, Doc: "number of steps"},
	{Name: "plan.kinds", Type: stringList, Doc: "step kinds, one per step"},
	{Name: "plan.commands", Type: stringList, Doc: "argv[0] of every exec step"},
	{Name: "plan.lines_added", Type: cel.IntType, Doc: "lines added over all steps"},
	{Name: "plan.lines_removed", Type: cel.IntType, Doc: "lines removed over all steps"},
	{Name: "plan.lines_changed", Type: cel.IntType, Doc: "lines added plus removed"},
	{Name: "plan.bytes_changed", Type: cel.IntType, Doc: "bytes of content written and of diffs, over all steps (one 64 MiB line is 1 line but 64 MiB)"},
	{Name: "plan.files_deleted", Type: cel.IntType, Doc: "files deleted (delete steps and deletions inside patches)"},
	{Name: "plan.binary_files", Type: cel.IntType, Doc: "binary files written or patched"},
	{Name: "plan.secrets", Type: cel.BoolType, Doc: "some step writes secret-looking content"},
	{Name: "plan.network", Type: cel.BoolType, Doc: "some exec step asks for network access"},
	{Name: "plan.risk", Type: cel.StringType, Doc: "highest risk of the intent and the steps"},
	{Name: "plan.source", Type: cel.StringType, Doc: "plan file or planner that produced the plan"},
	{Name: "plan.runs_plan_files", Type: stringList, Doc: "files the plan writes that an interpreter (sh, python, node, ...) in a later exec step or a verify check runs"},
	{Name: "step.index", Type: cel.IntType, Doc: "step index (0-based)", step: true},
	{Name: "step.kind", Type: cel.StringType, Doc: "write, patch, delete, rename, mkdir, exec", step: true},
	{Name: "step.path", Type: cel.StringType, Doc: "the step's main path (rename: the new path)", step: true},
	{Name: "step.paths", Type: stringList, Doc: "every path the step writes (rename: old and new)", step: true},
	{Name: "step.argv", Type: stringList, Doc: "exec: argv as written", step: true},
	{Name: "step.exe", Type: cel.StringType, Doc: "exec: resolved executable", step: true},
	{Name: "step.network", Type: cel.BoolType, Doc: "exec: asks for network access", step: true},
	{Name: "step.lines_added", Type: cel.IntType, Doc: "lines the step adds (write: lines of the new content)", step: true},
	{Name: "step.lines_removed", Type: cel.IntType, Doc: "lines the step removes", step: true},
	{Name: "step.files_deleted", Type: cel.IntType, Doc: "files the step deletes", step: true},
	{Name: "step.binary", Type: cel.BoolType, Doc: "the step writes binary content", step: true},
	{Name: "step.secrets", Type: cel.BoolType, Doc: "the step writes secret-looking content", step: true},
	{Name: "step.added", Type: cel.StringType, Doc: "text the step adds (write: content; patch: the + lines)", step: true},
	{Name: "step.size", Type: cel.IntType, Doc: "bytes of content or diff", step: true},
	{Name: "step.risk", Type: cel.StringType, Doc: "risk the planner gave the step", step: true},
	{Name: "step.runs_plan_file", Type: cel.BoolType, Doc: "exec: an interpreter runs a file an earlier step writes", step: true},
}

// index of each variable in an activation's value slice, in the order of
// Variables (TestVariableIndexes checks they agree).
const (
	vTaskID = iota
	vTaskMode
	vTaskLabels
	vTaskGoal
	vTaskSubmitter
	vTaskPlanner
	vTaskTarget
	vIntentKind
	vIntentRisk
	vIntentScope
	vPlanPaths
	vPlanSteps
	vPlanKinds
	vPlanCommands
	vPlanLinesAdded
	vPlanLinesRemoved
	vPlanLinesChanged
	vPlanBytesChanged
	vPlanFilesDeleted
	vPlanBinaryFiles
	vPlanSecrets
	vPlanNetwork
	vPlanRisk
	vPlanSource
	vPlanRunsPlanFiles
	vStepIndex
	vStepKind
	vStepPath
	vStepPaths
	vStepArgv
	vStepExe
	vStepNetwork
	vStepLinesAdded
	vStepLinesRemoved
	vStepFilesDeleted
	vStepBinary
	vStepSecrets
	vStepAdded
	vStepSize
	vStepRisk
	vStepRunsPlanFile
	numVars
)

// StepFacts are what the gates know about one step, computed once.
type StepFacts struct {
	Index        int
	Kind         string
	Path         string
	Paths        []string
	LinesAdded   int
	LinesRemoved int
	FilesDeleted int
	Binary       bool
	Secrets      []string // ids of the secret rules that matched
	Added        string
	Size         int
}

// Facts computes the step facts of s with r deciding what looks secret (nil:
// the built-in rules).
func Facts(i int, s agentos.Step, r *redact.Redactor) StepFacts {
	if r == nil {
		r = redact.Default()
	}
	f := StepFacts{Index: i, Kind: string(s.Kind), Paths: nonEmpty(s.Writes())}
	switch s.Kind {
	case agentos.StepRename:
		f.Path = s.To
	case agentos.StepPatch:
		if len(s.Paths) > 0 {
			f.Path = s.Paths[0]
		}
	default:
		f.Path = s.Path
	}
	switch s.Kind {
	case agentos.StepWrite:
		f.Added = s.Content
		f.Size = len(s.Content)
		f.LinesAdded = countLines(s.Content)
		f.Binary = isBinary(s.Content)
	case agentos.StepPatch:
		f.Size = len(s.Diff)
		d := scanDiff(s.Diff)
		f.Added, f.LinesAdded, f.LinesRemoved, f.FilesDeleted, f.Binary = d.added, d.plus, d.minus, d.deleted, d.binary
		if len(f.Paths) == 0 {
			f.Paths = d.paths
			if len(d.paths) > 0 {
				f.Path = d.paths[0]
			}
		}
	case agentos.StepDelete:
		f.FilesDeleted = 1
	}
	if f.Added != "" {
		f.Secrets = r.Find(f.Added)
	}
	return f
}

func nonEmpty(ss []string) []string {
	out := ss[:0:0]
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func countLines(s string) int {
	if s == "" {
		return 0
	}
	n := strings.Count(s, "\n")
	if !strings.HasSuffix(s, "\n") {
		n++
	}
	return n
}

// isBinary uses git's rule of thumb, a NUL byte in the first 8000 bytes, and
// adds bytes that are not UTF-8 there: a reviewer cannot read them as text
// (a `!!binary` write need not contain a NUL to be binary).
func isBinary(s string) bool {
	if len(s) > 8000 {
		s = s[:8000]
		// The cut may split the last character; that alone is not binary.
		for i := len(s) - 1; i >= 0 && i >= len(s)-utf8.UTFMax; i-- {
			if utf8.RuneStart(s[i]) {
				if !utf8.FullRuneInString(s[i:]) {
					s = s[:i]
				}
				break
			}
		}
	}
	return strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s)
}

type diffStats struct {
	plus, minus, deleted int
	binary               bool
	added                string
	paths                []string
}

// scanDiff reads a unified diff as git prints it.
func scanDiff(diff string) diffStats {
	var d diffStats
	var added strings.Builder
	inHunk := false
	for line := range strings.Lines(diff) {
		line = strings.TrimSuffix(line, "\n")
		switch {
		case strings.HasPrefix(line, "diff --git "):
			inHunk = false
			if _, b, ok := strings.Cut(line, " b/"); ok {
				d.paths = append(d.paths, b)
			}
		case strings.HasPrefix(line, "@@"):
			inHunk = true
		case !inHunk && strings.HasPrefix(line, "deleted file mode"):
			d.deleted++
		case !inHunk && (strings.HasPrefix(line, "GIT binary patch") || strings.HasPrefix(line, "Binary files ")):
			d.binary = true
		case !inHunk && (strings.HasPrefix(line, "+++ ") || strings.HasPrefix(line, "--- ")):
		case inHunk && strings.HasPrefix(line, "+"):
			d.plus++
			added.WriteString(line[1:])
			added.WriteByte('\n')
		case inHunk && strings.HasPrefix(line, "-"):
			d.minus++
		}
	}
	d.added = added.String()
	if isBinary(d.added) {
		d.binary = true
	}
	return d
}

var riskRank = map[string]int{"": 0, "none": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}

func higherRisk(a, b string) string {
	if riskRank[strings.ToLower(b)] > riskRank[strings.ToLower(a)] {
		return b
	}
	return a
}

// activation resolves the gate variables for one plan and, when a step is
// selected, one step. Values are converted to CEL once per plan and step.
type activation struct {
	vals [numVars]ref.Val
}

func (a *activation) ResolveName(name string) (any, bool) {
	i := lookupVar(name)
	if i < 0 || a.vals[i] == nil {
		return nil, false
	}
	return a.vals[i], true
}

// lookupVar finds a variable's index: by prefix (task., intent., plan.,
// step.) first, then in that group's small sorted-by-declaration slice, which
// is cheaper than hashing the name.
func lookupVar(name string) int {
	lo, hi := 0, 0
	switch {
	case strings.HasPrefix(name, "step."):
		lo, hi = vStepIndex, numVars
	case strings.HasPrefix(name, "plan."):
		lo, hi = vPlanPaths, vStepIndex
	case strings.HasPrefix(name, "task."):
		lo, hi = vTaskID, vIntentKind
	case strings.HasPrefix(name, "intent."):
		lo, hi = vIntentKind, vPlanPaths
	}
	for i := lo; i < hi; i++ {
		if Variables[i].Name == name {
			return i
		}
	}
	return -1
}

func (a *activation) Parent() interpreter.Activation { return nil }

// stringListVal is a CEL list of strings converted once, so that iterating it
// in every rule does not convert each element again; glob() reads ss
// directly.
type stringListVal struct {
	traits.Lister
	ss []string
}

func strList(ss []string) ref.Val {
	vals := make([]ref.Val, len(ss))
	for i, s := range ss {
		vals[i] = types.String(s)
	}
	return &stringListVal{Lister: types.NewRefValList(types.DefaultTypeAdapter, vals), ss: ss}
}

// input is a plan prepared for evaluation.
type input struct {
	act      activation
	steps    []StepFacts
	stepVals [][numVars - vStepIndex]ref.Val
	plan     agentos.Plan
	// runs: per step, the plan-written files an interpreter in it runs.
	runs map[int][]string
	// frame wraps act once for every rule evaluated over this input.
	frame *interpreter.ExecutionFrame
}

func (in *input) close() { in.frame.Close() }

func prepare(task agentos.Task, intent *agentos.Intent, plan agentos.Plan, r *redact.Redactor) *input {
	in := &input{plan: plan}
	v := &in.act.vals
	v[vTaskID] = types.String(task.ID)
	v[vTaskMode] = types.String(string(task.Mode))
	v[vTaskLabels] = strList(task.Labels)
	v[vTaskGoal] = types.String(task.Goal)
	v[vTaskSubmitter] = types.String(string(task.Submitter))
	v[vTaskPlanner] = types.String(task.Planner)
	v[vTaskTarget] = types.String(task.Target)
	risk := ""
	if intent != nil {
		v[vIntentKind] = types.String(intent.Kind)
		v[vIntentRisk] = types.String(intent.Risk)
		v[vIntentScope] = strList(intent.Scope)
		risk = intent.Risk
	} else {
		v[vIntentKind] = types.String("")
		v[vIntentRisk] = types.String("")
		v[vIntentScope] = strList(nil)
	}
	var kinds, commands []string
	var added, removed, deleted, binary, size int
	secrets, network := false, false
	in.steps = make([]StepFacts, len(plan.Steps))
	for i, s := range plan.Steps {
		f := Facts(i, s, r)
		in.steps[i] = f
		kinds = append(kinds, string(s.Kind))
		if s.Kind == agentos.StepExec && len(s.Argv) > 0 {
			commands = append(commands, s.Argv[0])
		}
		added += f.LinesAdded
		removed += f.LinesRemoved
		size += f.Size
		deleted += f.FilesDeleted
		if f.Binary {
			binary++
		}
		secrets = secrets || len(f.Secrets) > 0
		network = network || s.Network
		risk = higherRisk(risk, s.Risk)
	}
	v[vPlanPaths] = strList(plan.Paths())
	v[vPlanSteps] = types.Int(len(plan.Steps))
	v[vPlanKinds] = strList(kinds)
	v[vPlanCommands] = strList(commands)
	v[vPlanLinesAdded] = types.Int(added)
	v[vPlanLinesRemoved] = types.Int(removed)
	v[vPlanLinesChanged] = types.Int(added + removed)
	v[vPlanBytesChanged] = types.Int(size)
	v[vPlanFilesDeleted] = types.Int(deleted)
	v[vPlanBinaryFiles] = types.Int(binary)
	v[vPlanSecrets] = types.Bool(secrets)
	v[vPlanNetwork] = types.Bool(network)
	v[vPlanRisk] = types.String(risk)
	v[vPlanSource] = types.String(plan.Source)
	v[vPlanRunsPlanFiles] = strList(nil)
	frame, err := interpreter.NewExecutionFrame(&in.act)
	if err != nil {
		panic("policy: " + err.Error()) // only fails for activations of the wrong type
	}
	in.frame = frame
	return in
}

// selectStep points the activation's step variables at step i; the values
// are converted once per step and reused by every rule.
func (in *input) selectStep(i int) {
	if in.stepVals == nil {
		in.stepVals = make([][numVars - vStepIndex]ref.Val, len(in.steps))
	}
	sv := &in.stepVals[i]
	if sv[0] == nil {
		s, f := in.plan.Steps[i], in.steps[i]
		//lint:ignore SA4000 offset 0, written like the other offsets of the step section
		sv[vStepIndex-vStepIndex] = types.Int(i)
		sv[vStepKind-vStepIndex] = types.String(f.Kind)
		sv[vStepPath-vStepIndex] = types.String(f.Path)
		sv[vStepPaths-vStepIndex] = strList(f.Paths)
		sv[vStepArgv-vStepIndex] = strList(s.Argv)
		sv[vStepExe-vStepIndex] = types.String(s.Exe)
		sv[vStepNetwork-vStepIndex] = types.Bool(s.Network)
		sv[vStepLinesAdded-vStepIndex] = types.Int(f.LinesAdded)
		sv[vStepLinesRemoved-vStepIndex] = types.Int(f.LinesRemoved)
		sv[vStepFilesDeleted-vStepIndex] = types.Int(f.FilesDeleted)
		sv[vStepBinary-vStepIndex] = types.Bool(f.Binary)
		sv[vStepSecrets-vStepIndex] = types.Bool(len(f.Secrets) > 0)
		sv[vStepAdded-vStepIndex] = types.String(f.Added)
		sv[vStepSize-vStepIndex] = types.Int(f.Size)
		sv[vStepRisk-vStepIndex] = types.String(s.Risk)
		sv[vStepRunsPlanFile-vStepIndex] = types.Bool(len(in.runs[i]) > 0)
	}
	copy(in.act.vals[vStepIndex:], sv[:])
}

// clearStep hides the step variables (plan-level rules never see them).
func (in *input) clearStep() {
	for i := vStepIndex; i < numVars; i++ {
		in.act.vals[i] = nil
	}
}

// strListOf reads back a list built by strList.
func strListOf(v ref.Val) []string {
	if sl, ok := v.(*stringListVal); ok {
		return sl.ss
	}
	return nil
}
