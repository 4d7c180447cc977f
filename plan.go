package agentos

import (
	"github.com/agentos/agentos/canonjson"
)

// StepKind names what a plan step does.
type StepKind string

const (
	StepWrite  StepKind = "write"
	StepPatch  StepKind = "patch"
	StepDelete StepKind = "delete"
	StepRename StepKind = "rename"
	StepMkdir  StepKind = "mkdir"
	StepExec   StepKind = "exec"
)

// Step is one planned action. Paths are slash-separated and relative to the
// repository root; they have been normalised and checked by workspace.Resolve
// before a plan is stored.
type Step struct {
	Kind      StepKind          `json:"kind"`
	Path      string            `json:"path,omitempty"`    // write, delete, mkdir
	Content   string            `json:"content,omitempty"` // write
	Diff      string            `json:"diff,omitempty"`    // patch: unified diff as git prints it
	DiffHash  string            `json:"diff_hash,omitempty"`
	Paths     []string          `json:"paths,omitempty"` // patch: files the diff touches; exec: declared writes
	From      string            `json:"from,omitempty"`  // rename
	To        string            `json:"to,omitempty"`    // rename
	Argv      []string          `json:"argv,omitempty"`  // exec, as written
	Exe       string            `json:"exe,omitempty"`   // exec: argv[0] resolved to its real path
	Cwd       string            `json:"cwd,omitempty"`
	Env       map[string]string `json:"env,omitempty"`
	TimeoutMS int64             `json:"timeout_ms,omitempty"`
	Network   bool              `json:"network,omitempty"`
	IntentID  string            `json:"intent_id"`
	Rationale string            `json:"rationale,omitempty"`
	Risk      string            `json:"risk,omitempty"`

	// contentBlob / diffBlob name the blob a store keeps a large body in,
	// between PlanForStore's encoding and PlanFromStore's loading only.
	contentBlob, diffBlob string
}

// Writes returns the repository paths a step may write (for locks and gates).
func (s Step) Writes() []string {
	switch s.Kind {
	case StepWrite, StepDelete, StepMkdir:
		return []string{s.Path}
	case StepRename:
		return []string{s.From, s.To}
	case StepPatch, StepExec:
		// An exec step declares what it writes (writes:); anything else it
		// changes is refused at commit.
		return s.Paths
	}
	return nil
}

// Check is one verify check: a command whose exit code 0 means "holds".
type Check struct {
	Argv      []string `json:"argv"`
	Exe       string   `json:"exe,omitempty"`
	Cwd       string   `json:"cwd,omitempty"`
	TimeoutMS int64    `json:"timeout_ms,omitempty"`
	Name      string   `json:"name,omitempty"`
	// PolicyDefault marks a check the plan did not bring: it came from the
	// policy's verify.default. Omitted when false, so the hash of a plan
	// with its own checks is what it always was.
	PolicyDefault bool `json:"policy_default,omitempty"`
}

// Assumption is a question resolved without asking (semi_auto defaults).
type Assumption struct {
	Question string `json:"question"`
	Value    string `json:"value"`
	Why      string `json:"why"`
}

// Plan is the dry run: every step spelled out, pinned to its inputs (base
// commit, MemoryPack, policy) and hashed. A stored plan is immutable.
type Plan struct {
	Version        int               `json:"version"`
	ID             string            `json:"id"`
	Task           string            `json:"task"`
	IntentID       string            `json:"intent_id"`
	Goal           string            `json:"goal"`
	BaseCommit     string            `json:"base_commit"`
	Target         string            `json:"target"`
	MemoryPackHash string            `json:"memory_pack_hash"`
	PolicyHash     string            `json:"policy_hash"`
	Params         map[string]string `json:"params,omitempty"`
	Assumptions    []Assumption      `json:"assumptions,omitempty"`
	Steps          []Step            `json:"steps"`
	Verify         []Check           `json:"verify"`
	Source         string            `json:"source,omitempty"` // plan file path, planner name
	Hash           string            `json:"hash,omitempty"`
}

// ComputeHash returns the plan's SHA-256 over its canonical JSON with the
// hash field empty. The one function every plan hash goes through.
// Large bodies are hashed as a stream (see digest): same hash, no copies.
func (p Plan) ComputeHash() string {
	p.Hash = ""
	d, err := p.digest()
	if err != nil {
		panic(err)
	}
	return d
}

// Paths returns every repository path the plan may write, in step order,
// without duplicates.
func (p Plan) Paths() []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range p.Steps {
		for _, w := range s.Writes() {
			if w != "" && !seen[w] {
				seen[w] = true
				out = append(out, w)
			}
		}
	}
	return out
}

// Intent is the structured form of a request.
type Intent struct {
	Version       int        `json:"version"`
	ID            string     `json:"id"`
	Task          string     `json:"task"`
	Request       string     `json:"request"`
	Goal          string     `json:"goal"`
	Kind          string     `json:"kind"`
	Scope         []string   `json:"scope"`
	Constraints   []string   `json:"constraints"`
	Acceptance    []string   `json:"acceptance"`
	Assumptions   []string   `json:"assumptions"`
	Risk          string     `json:"risk"`
	OpenQuestions []Question `json:"open_questions"`
	Source        Source     `json:"source"`
	Hash          string     `json:"hash,omitempty"`
}

// Source says who produced an artifact.
type Source struct {
	Planner string `json:"planner"`
	Model   string `json:"model,omitempty"`
	File    string `json:"file,omitempty"`
}

// ComputeHash returns the intent's digest with the hash field empty.
func (i Intent) ComputeHash() string {
	i.Hash = ""
	return canonjson.MustDigest(i)
}
