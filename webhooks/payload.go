package webhooks

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/redact"
)

// TypePrefix starts the CloudEvents type of every task event:
// dev.agentos.task.blocked, dev.agentos.task.committed, …
const TypePrefix = "dev.agentos.task."

// TypeTest is the type of `agentos webhooks test`'s event.
const TypeTest = "dev.agentos.test"

// CloudEvent is a CloudEvents 1.0 event in structured JSON mode
// (Content-Type: application/cloudevents+json).
type CloudEvent struct {
	SpecVersion     string    `json:"specversion"`
	ID              string    `json:"id"`
	Source          string    `json:"source"`
	Type            string    `json:"type"`
	Subject         string    `json:"subject,omitempty"`
	Time            time.Time `json:"time"`
	DataContentType string    `json:"datacontenttype"`
	Data            any       `json:"data"`
}

// TaskData is the data of a task event: where the task went, why, and
// where to open it. Free text (goal, reason) is redacted.
type TaskData struct {
	Task     string   `json:"task"`
	State    string   `json:"state"`
	From     string   `json:"from"`
	Goal     string   `json:"goal,omitempty"`
	Reason   string   `json:"reason,omitempty"`
	Actor    string   `json:"actor"`
	Target   string   `json:"target,omitempty"`
	Labels   []string `json:"labels,omitempty"`
	Run      string   `json:"run,omitempty"`
	PlanHash string   `json:"plan_hash,omitempty"`
	Commit   string   `json:"commit,omitempty"`
	// Revert is the commit that rolled the task back (rolled_back).
	Revert string `json:"revert,omitempty"`
	// Questions are what a blocked task asks (its QuestionPack), answered
	// with `agentos answer` or on the task page.
	Questions []QuestionData `json:"questions,omitempty"`
	// Requirements say who must approve a task awaiting approval.
	Requirements []agentos.ApprovalRequirement `json:"requirements,omitempty"`
	// Seq is the audit event this reports (`agentos audit show`).
	Seq int64 `json:"seq"`
	// URL opens the task page (webhooks.public_url); empty without one.
	URL string `json:"url,omitempty"`
}

// QuestionData is one question of a blocked task.
type QuestionData struct {
	ID      string   `json:"id"`
	Text    string   `json:"text"`
	Kind    string   `json:"kind"`
	Options []string `json:"options,omitempty"`
	Blocker bool     `json:"blocker"`
}

// taskURL is the task page under the public URL, or "".
func taskURL(public, task string) string {
	if public == "" {
		return ""
	}
	return strings.TrimRight(public, "/") + "/tasks/" + url.PathEscape(task)
}

// taskData builds the data of transition event e of task t (t may be nil
// when the task cannot be read; the event alone still says what happened).
func taskData(e agentos.Event, tr *agentos.TransitionEvent, t *agentos.Task, qp *agentos.QuestionPack, public string, r *redact.Redactor) TaskData {
	d := TaskData{
		Task: e.Task, State: string(tr.To), From: string(tr.From), Reason: r.String(tr.Reason),
		Actor: string(e.Actor), Run: e.Run, Commit: tr.Commit, Revert: tr.Revert, Seq: e.Seq,
		URL: taskURL(public, e.Task), Requirements: tr.Requirements,
	}
	for i := range d.Requirements {
		d.Requirements[i].Reason = r.String(d.Requirements[i].Reason)
	}
	if qp != nil && tr.To == agentos.StateBlocked {
		for _, q := range qp.Questions {
			d.Questions = append(d.Questions, QuestionData{ID: q.ID, Text: r.String(q.Text), Kind: string(q.Kind), Options: r.Strings(q.Options), Blocker: q.Blocker})
		}
	}
	if t != nil {
		d.Goal, d.Target, d.Labels, d.PlanHash = r.String(t.Goal), t.Target, r.Strings(t.Labels), t.PlanHash
		if d.Commit == "" && tr.To == agentos.StateCommitted {
			d.Commit = t.Commit
		}
	}
	return d
}

// slackMessage is an incoming-webhook message (Slack, and the services that
// accept its format: Mattermost, Rocket.Chat, …).
type slackMessage struct {
	Text string `json:"text"`
}

// slackEscape escapes text for Slack's mrkdwn: outside text can neither
// make a link nor mention <!channel>.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

var slackHeadline = map[string]string{
	"blocked":           ":question: Task %s is blocked on questions",
	"awaiting_approval": ":raised_hand: Task %s awaits approval",
	"committed":         ":white_check_mark: Task %s committed",
	"failed":            ":x: Task %s failed",
	"rejected":          ":no_entry: Task %s was rejected",
	"cancelled":         ":heavy_minus_sign: Task %s was cancelled",
	"rolled_back":       ":leftwards_arrow_with_hook: Task %s was rolled back",
}

// slackText is the message of a task event.
func slackText(d TaskData) string {
	head, ok := slackHeadline[d.State]
	if !ok {
		head = "Task %s is " + d.State
	}
	var b strings.Builder
	fmt.Fprintf(&b, "*"+head+"*", slackEscape(agentos.ShortID(d.Task)))
	if d.Goal != "" {
		fmt.Fprintf(&b, "\n>%s", slackEscape(oneLine(d.Goal, 300)))
	}
	if d.Reason != "" {
		fmt.Fprintf(&b, "\n%s", slackEscape(oneLine(d.Reason, 300)))
	}
	for i, q := range d.Questions {
		if i == 5 {
			fmt.Fprintf(&b, "\n• … and %d more", len(d.Questions)-i)
			break
		}
		fmt.Fprintf(&b, "\n• %s", slackEscape(oneLine(q.Text, 200)))
	}
	if d.Commit != "" {
		fmt.Fprintf(&b, "\nCommit `%s`", slackEscape(agentos.ShortID(d.Commit)))
	}
	if d.URL != "" {
		// The URL is built from the policy's public_url and a task id;
		// '|' and '>' would end Slack's link syntax early.
		fmt.Fprintf(&b, "\n<%s|Open the task>", strings.NewReplacer("|", "%7C", ">", "%3E", "<", "%3C").Replace(d.URL))
	} else {
		fmt.Fprintf(&b, "\n`agentos task show %s`", slackEscape(d.Task))
	}
	return b.String()
}

// oneLine folds whitespace and cuts s to at most n runes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// body encodes a message in the endpoint's format and redacts every string
// in it once more: the last choke point before bytes leave the machine.
func body(format string, ev CloudEvent, text string, r *redact.Redactor) ([]byte, string, error) {
	var v any = ev
	ctype := "application/cloudevents+json; charset=utf-8"
	if format == "slack" {
		v, ctype = slackMessage{Text: text}, "application/json; charset=utf-8"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, "", err
	}
	return r.JSON(b), ctype, nil
}
