package auditanchor

import (
	"encoding/json"
	"strings"

	"github.com/agentos/agentos"
)

// OCSF (Open Cybersecurity Schema Framework, 1.3) for `agentos audit export
// --format ocsf`. Every AgentOS event is an action on AgentOS's own API
// (a task created, moved, planned, approved, committed), so it maps to API
// Activity (class 6003). Account Change (class 3001) is for changes to who
// may act; the events that say so today are approvals and rejections,
// which grant or withhold a plan's authority, so they map there as
// "Other" activities with the approver as the user. docs/audit.md has the
// table.
const (
	ocsfVersion = "1.3.0"

	classAPIActivity   = 6003
	classAccountChange = 3001
)

var apiActivity = map[string]int{
	// 1 Create, 2 Read, 3 Update, 4 Delete, 99 Other.
	agentos.EventTaskCreated:      1,
	agentos.EventPlanStored:       1,
	agentos.EventMemoryPack:       1,
	agentos.EventStep:             1,
	agentos.EventCommit:           1,
	agentos.EventIntegrated:       3,
	agentos.EventReview:           1,
	agentos.EventRollback:         1,
	agentos.EventQuestions:        1,
	agentos.EventAnswers:          1,
	agentos.EventTransition:       3,
	agentos.EventMemoryWrite:      3,
	agentos.EventCancelRequested:  3,
	agentos.EventLockForceRelease: 4,
	agentos.EventWorktreeRemoved:  4,
}

var activityNames = map[int]string{1: "Create", 2: "Read", 3: "Update", 4: "Delete", 99: "Other"}

// OCSF maps one event to an OCSF event object.
func OCSF(e agentos.Event, hostname string) map[string]any {
	class, className, category, categoryName := classAPIActivity, "API Activity", 6, "Application Activity"
	activity, ok := apiActivity[e.Kind]
	if !ok {
		activity = 99
	}
	if e.Kind == agentos.EventApproval {
		class, className, category, categoryName = classAccountChange, "Account Change", 3, "Identity & Access Management"
		activity = 99
	}
	status, statusID := "Success", 1
	var data map[string]any
	_ = json.Unmarshal(e.Data, &data)
	if ok, has := data["ok"].(bool); has && !ok {
		status, statusID = "Failure", 2
	}
	if to, _ := data["to"].(string); to == string(agentos.StateFailed) || to == string(agentos.StateRejected) {
		status, statusID = "Failure", 2
	}
	if st, _ := data["status"].(string); e.Kind == agentos.EventWebhookDelivery && st != agentos.WebhookDelivered {
		status, statusID = "Failure", 2
	}
	out := map[string]any{
		"class_uid": class, "class_name": className,
		"category_uid": category, "category_name": categoryName,
		"activity_id": activity, "activity_name": activityNames[activity],
		"type_uid": class*100 + activity, "type_name": className + ": " + activityNames[activity],
		"severity_id": 1, "severity": "Informational",
		"status_id": statusID, "status": status,
		"time":         e.Time.UnixMilli(),
		"actor":        ocsfActor(e.Actor),
		"api":          map[string]any{"operation": e.Kind, "service": map[string]any{"name": "agentos"}},
		"src_endpoint": map[string]any{"hostname": hostname},
		"metadata": map[string]any{
			"version": ocsfVersion, "uid": e.Hash, "sequence": e.Seq, "log_name": "agentos.audit",
			"correlation_uid": e.Task,
			"product":         map[string]any{"name": "AgentOS", "vendor_name": "AgentOS"},
		},
		"unmapped": map[string]any{"seq": e.Seq, "task": e.Task, "run": e.Run, "actor": string(e.Actor), "kind": e.Kind,
			"data": e.Data, "prev_hash": e.PrevHash, "hash": e.Hash},
	}
	if e.Task != "" {
		out["resources"] = []map[string]any{{"type": "agentos.task", "uid": e.Task}}
	}
	if class == classAccountChange {
		out["user"] = ocsfActor(e.Actor)["user"]
	}
	return out
}

// ocsfActor: a person is a User, AgentOS itself a System, an agent Other.
func ocsfActor(a agentos.Actor) map[string]any {
	s := string(a)
	user := map[string]any{"name": s, "type": "Other", "type_id": 99}
	switch {
	case a.IsHuman():
		user = map[string]any{"name": strings.TrimPrefix(s, "human:"), "type": "User", "type_id": 1}
	case a == agentos.System:
		user = map[string]any{"name": "agentos", "type": "System", "type_id": 3}
	case a.IsAgent():
		user = map[string]any{"name": strings.TrimPrefix(s, "agent:"), "type": "Other", "type_id": 99, "uid": s}
	}
	return map[string]any{"user": user, "app_name": "agentos"}
}

// OCSFCheckpoint is the export's closing record in OCSF form: the
// checkpoint that vouches for the range, as an API Activity "Other".
func OCSFCheckpoint(c *Checkpoint, from, to int64, note, hostname string) map[string]any {
	return map[string]any{
		"class_uid": classAPIActivity, "class_name": "API Activity", "category_uid": 6, "category_name": "Application Activity",
		"activity_id": 99, "activity_name": "Other", "type_uid": classAPIActivity*100 + 99, "type_name": "API Activity: Other",
		"severity_id": 1, "severity": "Informational", "status_id": 1, "status": "Success",
		"time":         nowMillis(c),
		"actor":        ocsfActor(agentos.System),
		"api":          map[string]any{"operation": "audit.checkpoint", "service": map[string]any{"name": "agentos"}},
		"src_endpoint": map[string]any{"hostname": hostname},
		"metadata":     map[string]any{"version": ocsfVersion, "log_name": "agentos.audit", "product": map[string]any{"name": "AgentOS", "vendor_name": "AgentOS"}},
		"unmapped":     map[string]any{"checkpoint": c, "from": from, "to": to, "note": note},
	}
}

func nowMillis(c *Checkpoint) int64 {
	if c == nil {
		return 0
	}
	return c.Time.UnixMilli()
}
