package agentos

import (
	"time"

	"github.com/agentos/agentos/canonjson"
)

// QuestionKind is the kind of answer a question expects.
type QuestionKind string

const (
	KindChoice QuestionKind = "choice"
	KindText   QuestionKind = "text"
	KindBool   QuestionKind = "bool"
	KindPath   QuestionKind = "path"
)

// Question is one piece of missing information.
type Question struct {
	ID      string       `json:"id"`
	Text    string       `json:"text"`
	Why     string       `json:"why"`
	Kind    QuestionKind `json:"kind"`
	Options []string     `json:"options"`
	Default string       `json:"default"`
	Blocker bool         `json:"blocker"`
	// Durable says the answer stays true beyond this task (a project fact
	// such as "which license"), so it is remembered once the task commits.
	// Omitted when false, so packs written before it hash the same.
	Durable bool `json:"durable,omitempty"`
}

// Budget is a mode's question budget and how much of it is spent.
type Budget struct {
	Limit int `json:"limit"` // -1: unlimited
	Used  int `json:"used"`
}

// QuestionPack is what a blocked task waits on.
type QuestionPack struct {
	Version   int        `json:"version"`
	ID        string     `json:"id"`
	Task      string     `json:"task"`
	Mode      Mode       `json:"mode"`
	Budget    Budget     `json:"budget"`
	Questions []Question `json:"questions"`
	CreatedAt time.Time  `json:"created_at"`
	Hash      string     `json:"hash"`
}

// ComputeHash returns the pack's digest with the hash field empty.
func (q QuestionPack) ComputeHash() string {
	q.Hash = ""
	return canonjson.MustDigest(q)
}

// Answer answers one question.
type Answer struct {
	Question string `json:"question"`
	Value    string `json:"value"`
	Note     string `json:"note"`
}

// AnswerPack answers a QuestionPack, named by id and hash.
type AnswerPack struct {
	Version  int       `json:"version"`
	Pack     string    `json:"pack"`
	PackHash string    `json:"pack_hash"`
	Answers  []Answer  `json:"answers"`
	Who      Actor     `json:"who"`
	When     time.Time `json:"when"`
	Hash     string    `json:"hash"`
}

// ComputeHash returns the pack's digest with the hash field empty.
func (a AnswerPack) ComputeHash() string {
	a.Hash = ""
	return canonjson.MustDigest(a)
}

// MemoryKind is the kind of a memory item.
type MemoryKind string

const (
	MemoryFact       MemoryKind = "fact"
	MemoryConvention MemoryKind = "convention"
	MemoryDecision   MemoryKind = "decision"
	MemoryAnswer     MemoryKind = "answer"
	MemoryLesson     MemoryKind = "lesson"
	// MemoryObservation is text AgentOS saw but nobody vouched for: command
	// output, a model's or an agent's words. It is quoted, ranks below the
	// other kinds, and becomes another kind only when a person promotes it.
	MemoryObservation MemoryKind = "observation"
)

// MemoryItem is one thing AgentOS knows about the repository.
type MemoryItem struct {
	ID           string     `json:"id"`
	Kind         MemoryKind `json:"kind"`
	Text         string     `json:"text"`
	Scope        []string   `json:"scope"`
	Tags         []string   `json:"tags"`
	Source       string     `json:"source"`
	Author       string     `json:"author"`
	Confidence   float64    `json:"confidence"`
	CreatedAt    time.Time  `json:"created_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
	SupersededBy string     `json:"superseded_by,omitempty"`
}

// PackedItem is a memory item as frozen into a MemoryPack.
type PackedItem struct {
	ID     string     `json:"id"`
	Kind   MemoryKind `json:"kind"`
	Text   string     `json:"text"`
	Scope  []string   `json:"scope"`
	Source string     `json:"source"`
	Score  float64    `json:"score"`
}

// MemoryQuery is what a MemoryPack was selected with.
type MemoryQuery struct {
	Text        string   `json:"text"`
	Paths       []string `json:"paths"`
	BudgetBytes int      `json:"budget_bytes"`
}

// MemoryPack is the frozen, hashed selection of memory attached to a plan.
type MemoryPack struct {
	Version int          `json:"version"`
	ID      string       `json:"id"`
	Task    string       `json:"task"`
	Query   MemoryQuery  `json:"query"`
	Items   []PackedItem `json:"items"`
	Hash    string       `json:"hash,omitempty"`
}

// ComputeHash returns the pack's digest with the hash field empty.
func (m MemoryPack) ComputeHash() string {
	m.Hash = ""
	return canonjson.MustDigest(m)
}

// Effect is a gate's decision.
type Effect string

const (
	EffectAllow           Effect = "allow"
	EffectRequireApproval Effect = "require_approval"
	EffectDeny            Effect = "deny"
)

// GateDecision is one evaluated policy rule.
type GateDecision struct {
	RuleID     string `json:"rule_id"`
	Effect     Effect `json:"effect"`
	Reason     string `json:"reason"`
	Step       int    `json:"step"` // -1: the whole plan
	PolicyHash string `json:"policy_hash"`
}

// Phase is one of the three records every step carries (red line 4).
type Phase string

const (
	PhasePlan   Phase = "plan"
	PhaseApply  Phase = "apply"
	PhaseVerify Phase = "verify"
)

// StepRecord is what was intended, what happened, or what was checked.
type StepRecord struct {
	Run          string   `json:"run"`
	Phase        Phase    `json:"phase"`
	Index        int      `json:"index"` // step or check index
	Kind         string   `json:"kind"`
	Summary      string   `json:"summary"`
	Argv         []string `json:"argv,omitempty"`
	ExitCode     int      `json:"exit_code"`
	DurationMS   int64    `json:"duration_ms"`
	OutputDigest string   `json:"output_digest,omitempty"`
	OutputTail   string   `json:"output_tail,omitempty"`
	OK           bool     `json:"ok"`
	Unconfined   bool     `json:"unconfined,omitempty"`
}

// PatchRecord is red line 6: a patch with its intent and diff hash.
type PatchRecord struct {
	Path     string `json:"path"`
	Diff     string `json:"diff"`
	DiffHash string `json:"diff_hash"`
	IntentID string `json:"intent_id"`
	// DiffBlob is set instead of Diff, as a store reads a patch back, when
	// the diff is StreamMin bytes or more: the store keeps it once, as a
	// blob (TaskStore.Blob), and the ReviewPack references it rather than
	// carrying it twice. DiffBytes is its size.
	DiffBlob  string `json:"diff_blob,omitempty"`
	DiffBytes int64  `json:"diff_bytes,omitempty"`
}

// CommitRecord is a commit AgentOS made.
type CommitRecord struct {
	SHA      string            `json:"sha"`
	Branch   string            `json:"branch"`
	Trailers map[string]string `json:"trailers"`
}

// PlannerCall is one model call made while planning: what it was for,
// tokens, latency and outcome (ok, invalid, refused, truncated, error).
// No prompt, answer or key is in it.
type PlannerCall struct {
	Call             string `json:"call"`    // intent | plan
	Attempt          int    `json:"attempt"` // 1 + answers sent back so far
	Model            string `json:"model"`
	PromptTokens     int64  `json:"prompt_tokens"`
	CompletionTokens int64  `json:"completion_tokens"`
	TotalTokens      int64  `json:"total_tokens"`
	LatencyMS        int64  `json:"latency_ms"`
	Outcome          string `json:"outcome"`
}

// CommandDecision is a command rule's decision on one command line.
type CommandDecision struct {
	RuleID   string   `json:"rule_id"`
	Decision string   `json:"decision"`
	Argv     []string `json:"argv"`
	Reason   string   `json:"reason,omitempty"`
}

// ReviewPack is everything a reviewer needs for one run (red line 5).
type ReviewPack struct {
	Version     int            `json:"version"`
	Task        string         `json:"task"`
	Run         string         `json:"run"`
	Outcome     State          `json:"outcome"`
	Reason      string         `json:"reason,omitempty"`
	Unverified  string         `json:"unverified,omitempty"` // why no verify check covers the change (the policy allowed a plan without one)
	Mode        Mode           `json:"mode"`
	Request     string         `json:"request,omitempty"`
	Goal        string         `json:"goal"`
	Intent      *Intent        `json:"intent,omitempty"`
	MemoryPack  *MemoryPack    `json:"memory_pack,omitempty"`
	Questions   *QuestionPack  `json:"questions,omitempty"`
	Answers     []AnswerPack   `json:"answers,omitempty"`
	Assumptions []Assumption   `json:"assumptions,omitempty"`
	PlanHash    string         `json:"plan_hash,omitempty"`
	BaseCommit  string         `json:"base_commit,omitempty"`
	Target      string         `json:"target,omitempty"`
	Gates       []GateDecision `json:"gates"`
	Records     []StepRecord   `json:"records"`
	Patches     []PatchRecord  `json:"patches"`
	Commits     []CommitRecord `json:"commits"`
	Unconfined  bool           `json:"unconfined"`
	Rollback    []string       `json:"rollback"`
	AuditFrom   int64          `json:"audit_from"`
	AuditTo     int64          `json:"audit_to"`
	ChainHead   string         `json:"chain_head"`
	Attestation string         `json:"attestation,omitempty"` // the commit's signed attestation (git note, file beside this pack), or why it is missing
	CreatedAt   time.Time      `json:"created_at"`
	Hash        string         `json:"hash,omitempty"`

	// Attempts are every run of the task, oldest first, when it had more
	// than one (a worker re-queued it after its runner died): what each
	// ended as. The records above are the latest run's.
	Attempts []Run `json:"attempts,omitempty"`

	// Commands are the command-rule decisions made right before each
	// command of the run: rule, decision and the argv as matched.
	Commands []CommandDecision `json:"commands,omitempty"`
	// PlannerCalls are the model calls that planned the task (LLM planner).
	PlannerCalls []PlannerCall `json:"planner_calls,omitempty"`
	// PlannerLastAnswer is the model's last answer when none was usable.
	PlannerLastAnswer string `json:"planner_last_answer,omitempty"`
	// Spend is what the task's model calls consumed against its budget.
	Spend *Spend `json:"spend,omitempty"`
	// Decisions are the people's approvals, rejections and answers of the
	// task, from their audit events: who, and the key that signed, or
	// unsigned (no signers listed: the OS user decided).
	Decisions []DecisionRecord `json:"decisions,omitempty"`
	// ToolDecisions are the agent's tool calls as the AgentOS hook decided
	// them (a contractor run's contractor.decision events; arguments as
	// redacted in the audit), and ToolCounts sums them up.
	ToolDecisions []ContractorDecisionEvent `json:"tool_decisions,omitempty"`
	ToolCounts    *ToolDecisionCounts       `json:"tool_counts,omitempty"`
}

// ToolDecisionCounts counts an agent's tool decisions by outcome.
type ToolDecisionCounts struct {
	Total   int `json:"total"`
	Allowed int `json:"allowed"`
	Denied  int `json:"denied"`
	Asked   int `json:"asked,omitempty"`
}

// DecisionRecord is one person's decision as a ReviewPack shows it.
type DecisionRecord struct {
	Seq      int64     `json:"seq"` // its audit event
	Actor    Actor     `json:"actor"`
	Decision string    `json:"decision"` // approve | reject | answer
	PlanHash string    `json:"plan_hash,omitempty"`
	Key      string    `json:"key,omitempty"` // the signing key's fingerprint
	Unsigned bool      `json:"unsigned,omitempty"`
	OSUser   string    `json:"os_user,omitempty"`
	Time     time.Time `json:"time"`
}

// ComputeHash returns the pack's digest with the hash field empty.
func (r ReviewPack) ComputeHash() string {
	r.Hash = ""
	return canonjson.MustDigest(r)
}
