package web

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/agentos/agentos/internal/jsonbody"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/approval"
	"github.com/agentos/agentos/signers"
)

// A decision made on the page is signed in two round trips: begin asks the
// coordinator for the statement it will record (DecisionStatement,
// AnswerStatement) and hands its hash to the browser as the WebAuthn
// challenge; finish passes the assertion to Approve, Reject or Answer,
// whose Identity.Sign accepts it only when the pipeline states the same
// decision again and the assertion verifies against a passkey of the
// signed-in person listed in the committed policy. Admission verifies it
// again (signers.Keyring.Verify), as it does SSH signatures.
const pendingTTL = 5 * time.Minute

type pending struct {
	sid      string
	task     string
	decision string // approve | reject | answer | register
	planHash string
	comment  string
	answers  agentos.AnswerPack
	stmt     approval.Statement // what the person signs (the coordinator's own)
	msg      []byte             // its canonical bytes, whose hash is the challenge
	person   string
	origin   string
	expires  time.Time
}

type signRequest struct {
	Decision string            `json:"decision"`
	PlanHash string            `json:"plan_hash"`
	Comment  string            `json:"comment"`
	Pack     string            `json:"pack"`
	PackHash string            `json:"pack_hash"`
	Answers  map[string]string `json:"answers"`
}

type signChallenge struct {
	ID        string   `json:"id"`
	Statement string   `json:"statement"`
	Challenge string   `json:"challenge"`
	RPID      string   `json:"rp_id"`
	Allow     []string `json:"allow"`
	TimeoutMS int      `json:"timeout_ms"`
}

// origin is the page's origin as the browser sees it.
func origin(r *http.Request) string {
	if secure(r) {
		return "https://" + strings.ToLower(r.Host)
	}
	return "http://" + strings.ToLower(r.Host)
}

// signer finds the signed-in person among the policy's signers and checks
// they may decide (signers role) and their token allows it (token role).
func signer(keys *signers.Keyring, who Identity, decision string) (signers.Person, error) {
	if keys.Len() == 0 {
		return signers.Person{}, agentos.Errorf(agentos.EDENIED, "the policy lists no signers: the web page only decides with a passkey listed under signers: in %s (create one at /passkeys)", agentos.PolicyFile)
	}
	if who.Actor != "" && !who.Actor.IsHuman() {
		return signers.Person{}, agentos.Errorf(agentos.EDENIED, "%s holds a service's token, and only a person decides", who.Actor)
	}
	role, tokenRole := signers.RoleApprove, RoleApprover
	if decision == "answer" {
		role, tokenRole = signers.RoleAnswer, RoleAnswerer
	}
	if !who.Role.may(tokenRole) {
		return signers.Person{}, agentos.Errorf(agentos.EDENIED, "%s's token has the role %s, which may not %s", who.Name, who.Role, decision)
	}
	// A person may be listed in several entries (an SSH line, a passkey
	// line): their passkeys are those of every entry of theirs that holds
	// the role.
	var out signers.Person
	listed := false
	for _, p := range keys.People() {
		if p.Name != who.Name {
			continue
		}
		listed = true
		if p.Can(role) {
			if out.Name == "" {
				out = p
				out.Passkeys = nil
			}
			out.Passkeys = append(out.Passkeys, p.Passkeys...)
		}
	}
	switch {
	case !listed:
		return signers.Person{}, agentos.Errorf(agentos.EDENIED, "%s is not a signer listed in %s: a token alone never decides", who.Name, agentos.PolicyFile)
	case out.Name == "":
		return signers.Person{}, agentos.Errorf(agentos.EDENIED, "%s may not %s: the policy does not give them the %s role", who.Name, decision, role)
	}
	return out, nil
}

func (s *Server) signBegin(w http.ResponseWriter, r *request) {
	ctx := r.Context()
	var req signRequest
	if err := jsonbody.Decode(r.Request, &req); err != nil {
		s.fail(w, r.Request, err)
		return
	}
	switch req.Decision {
	case "approve", "reject", "answer":
	default:
		s.fail(w, r.Request, agentos.Errorf(agentos.EINVALID, "decision %q: want approve, reject or answer", req.Decision))
		return
	}
	c, err := s.opt.Coordinator(ctx)
	if err != nil {
		s.fail(w, r.Request, err)
		return
	}
	keys, err := c.Config.Keyring()
	if err != nil {
		s.fail(w, r.Request, agentos.WrapError(agentos.EINVALID, err, "signers: %v", err))
		return
	}
	p, err := signer(keys, r.who, req.Decision)
	if err != nil {
		s.fail(w, r.Request, err)
		return
	}
	org := origin(r.Request)
	var allow []string
	for _, pk := range p.Passkeys {
		if pk.Origin == org {
			allow = append(allow, pk.ID())
		}
	}
	if len(allow) == 0 {
		s.fail(w, r.Request, agentos.Errorf(agentos.EDENIED, "no passkey of %s is listed for %s in the committed policy: create one at /passkeys and commit its line", p.Name, org))
		return
	}
	pend := &pending{sid: r.sid, task: r.PathValue("id"), decision: req.Decision, planHash: req.PlanHash, comment: req.Comment,
		person: p.Name, origin: org, expires: time.Now().Add(pendingTTL)}
	if t, err := c.DB.Task(ctx, pend.task); err == nil {
		pend.task = t.ID
	}
	if req.Decision == "answer" {
		pend.answers = agentos.AnswerPack{Pack: req.Pack, PackHash: req.PackHash}
		ids := make([]string, 0, len(req.Answers))
		for id := range req.Answers {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			pend.answers.Answers = append(pend.answers.Answers, agentos.Answer{Question: id, Value: req.Answers[id]})
		}
		pend.stmt, err = c.AnswerStatement(ctx, pend.task, pend.answers, p.Actor())
	} else {
		pend.stmt, err = c.DecisionStatement(ctx, pend.task, pend.planHash, approval.Kind(req.Decision), p.Actor(), req.Comment)
	}
	if err != nil {
		s.fail(w, r.Request, err)
		return
	}
	pend.msg = pend.stmt.Encode()
	id := randomID()
	s.sweep()
	s.pending.Store(id, pend)
	writeJSON(w, http.StatusOK, signChallenge{ID: id, Statement: string(pend.msg), Challenge: signers.Challenge(pend.msg),
		RPID: signers.Passkey{Origin: org}.RPID(), Allow: allow, TimeoutMS: int(pendingTTL.Milliseconds())})
}

// webUser is what a web decision records as the OS user: the server acts,
// through the page, for the token holder.
func webUser(who Identity) string { return "web:" + who.Name }

type signFinishRequest struct {
	ID        string            `json:"id"`
	Assertion signers.Assertion `json:"assertion"`
}

// takePending returns and forgets pending challenge id of this session.
func (s *Server) takePending(r *request, id, task string) (*pending, error) {
	v, ok := s.pending.LoadAndDelete(id)
	if !ok {
		return nil, agentos.Errorf(agentos.ECONFLICT, "that signing request is unknown or was used: start again")
	}
	p := v.(*pending)
	if p.sid != r.sid || (task != "" && p.task != task) {
		return nil, agentos.Errorf(agentos.EDENIED, "that signing request belongs to another session or task")
	}
	if time.Now().After(p.expires) {
		return nil, agentos.Errorf(agentos.ECONFLICT, "that signing request expired: start again")
	}
	return p, nil
}

func (s *Server) signFinish(w http.ResponseWriter, r *request) {
	// A decision, and the apply an approval may start, goes on when the
	// browser goes away (as a CLI run does when its terminal closes); what
	// the request opened closes when the handler returns.
	ctx, cancel := context.WithCancelCause(context.WithoutCancel(r.Context()))
	defer cancel(nil)
	if stop := s.opt.Stop; stop != nil {
		defer context.AfterFunc(stop, func() { cancel(context.Cause(stop)) })()
	}
	var req signFinishRequest
	if err := jsonbody.Decode(r.Request, &req); err != nil {
		s.fail(w, r.Request, err)
		return
	}
	c, err := s.opt.Coordinator(ctx)
	if err != nil {
		s.fail(w, r.Request, err)
		return
	}
	t, err := c.DB.Task(ctx, r.PathValue("id"))
	if err != nil {
		s.fail(w, r.Request, err)
		return
	}
	pend, err := s.takePending(r, req.ID, t.ID)
	if err != nil {
		s.fail(w, r.Request, err)
		return
	}
	keys, err := c.Config.Keyring()
	if err != nil {
		s.fail(w, r.Request, agentos.WrapError(agentos.EINVALID, err, "signers: %v", err))
		return
	}
	p, err := signer(keys, r.who, pend.decision)
	if err != nil || p.Name != pend.person {
		if err == nil {
			err = agentos.Errorf(agentos.EDENIED, "the signing request was made for %s", pend.person)
		}
		s.fail(w, r.Request, err)
		return
	}
	armored := req.Assertion.Armor()
	// The pipeline builds the statement again when it records the decision;
	// it must state what the person signed (all but the time of signing).
	stale := agentos.Errorf(agentos.ECONFLICT, "task %s changed since you signed (its plan, base, policy, memory or questions): review it again and sign anew", t.ID)
	who := approval.Presigned(p.Actor(), webUser(r.who), pend.stmt, stale, func() (*agentos.SignedStatement, error) {
		signedBy, _, err := keys.Verify(pend.msg, armored)
		if err != nil {
			return nil, agentos.WrapError(agentos.EDENIED, err, "the passkey signature does not verify: %v", err)
		}
		if signedBy.Name != p.Name || !slices.ContainsFunc(p.Passkeys, func(k signers.Passkey) bool { return k.ID() == req.Assertion.CredentialID }) {
			return nil, agentos.Errorf(agentos.EDENIED, "the passkey that signed is %s's, not one %s may %s with", signedBy.Name, p.Name, pend.decision)
		}
		return &agentos.SignedStatement{Statement: string(pend.msg), Signature: armored, Namespace: signers.PasskeyNamespace, Key: signers.PasskeyType + ":" + req.Assertion.CredentialID}, nil
	})
	var msg string
	switch pend.decision {
	case "approve":
		res, aerr := c.Approve(ctx, t.ID, pend.planHash, who, pend.comment)
		err = aerr
		switch {
		case err != nil:
		case res.Applied:
			msg = "Approved; the task was applied."
		case res.Queued:
			msg = "Approved; the task is queued for a worker."
		default:
			msg = "Approved."
		}
	case "reject":
		_, err = c.Reject(ctx, t.ID, pend.planHash, who, pend.comment)
		msg = "Rejected."
	case "answer":
		_, err = c.Answer(ctx, t.ID, pend.answers, who)
		msg = "Answered; the task was planned again."
	}
	s.pages.forget()
	switch agentos.ErrorCode(err) {
	case "":
	case agentos.EBLOCKED, agentos.EAWAITINGAPPROVAL, agentos.EHELD:
		// Outcomes, not failures: the decision was recorded and the task waits.
		msg = agentos.ErrorMessage(err)
	default:
		s.fail(w, r.Request, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"message": s.opt.Redact(msg), "next": s.path("/tasks/" + t.ID)})
}

func (s *Server) passkeyPage(w http.ResponseWriter, r *request) {
	c, err := s.opt.Reader(r.Context())
	if err != nil {
		s.fail(w, r.Request, err)
		return
	}
	keys, err := c.Config.Keyring()
	if err != nil {
		s.fail(w, r.Request, agentos.WrapError(agentos.EINVALID, err, "signers: %v", err))
		return
	}
	var listed []string
	for _, p := range keys.People() {
		if p.Name != r.who.Name {
			continue
		}
		for _, pk := range p.Passkeys {
			listed = append(listed, pk.Origin+" "+pk.ID())
		}
	}
	s.show(w, r, "passkeys", "Passkeys", map[string]any{"Listed": listed, "Origin": origin(r.Request)})
}

// registerBegin returns the options for navigator.credentials.create. The
// passkey it makes authorises nothing until a person commits its line to
// the policy.
func (s *Server) registerBegin(w http.ResponseWriter, r *request) {
	if err := agentos.ValidHumanName(r.who.Name); err != nil {
		s.fail(w, r.Request, agentos.Errorf(agentos.EDENIED, "%s cannot hold a passkey: %v", r.who.Name, err))
		return
	}
	org := origin(r.Request)
	if _, err := signers.CheckOrigin(org); err != nil {
		s.fail(w, r.Request, agentos.WrapError(agentos.EINVALID, err, "%v", err))
		return
	}
	challenge := randomID()
	id := randomID()
	s.sweep()
	s.pending.Store(id, &pending{sid: r.sid, decision: "register", msg: []byte(challenge), person: r.who.Name, origin: org, expires: time.Now().Add(pendingTTL)})
	user := sum([]byte("agentos:" + r.who.Name))
	writeJSON(w, http.StatusOK, map[string]any{
		"id": id, "challenge": challenge, "timeout_ms": pendingTTL.Milliseconds(),
		"rp":   map[string]string{"id": signers.Passkey{Origin: org}.RPID(), "name": "AgentOS"},
		"user": map[string]string{"id": user, "name": r.who.Name, "displayName": r.who.Name},
	})
}

func (s *Server) registerFinish(w http.ResponseWriter, r *request) {
	var req struct {
		ID         string          `json:"id"`
		Credential json.RawMessage `json:"credential"`
	}
	if err := jsonbody.Decode(r.Request, &req); err != nil {
		s.fail(w, r.Request, err)
		return
	}
	pend, err := s.takePending(r, req.ID, "")
	if err != nil || pend.decision != "register" {
		if err == nil {
			err = agentos.Errorf(agentos.EINVALID, "that is not a passkey registration")
		}
		s.fail(w, r.Request, err)
		return
	}
	pk, err := parseRegistration(req.Credential, string(pend.msg), pend.origin)
	if err != nil {
		s.fail(w, r.Request, agentos.WrapError(agentos.EINVALID, err, "%v", err))
		return
	}
	pk.Comment = "added " + time.Now().UTC().Format("2006-01-02")
	writeJSON(w, http.StatusOK, map[string]string{"line": pend.person + " " + pk.Line(), "credential_id": base64.RawURLEncoding.EncodeToString(pk.CredentialID)})
}

// sweep forgets expired signing requests and sessions, so that neither map
// grows with requests never finished or sessions never ended.
func (s *Server) sweep() {
	now := time.Now()
	s.pending.Range(func(k, v any) bool {
		if now.After(v.(*pending).expires) {
			s.pending.Delete(k)
		}
		return true
	})
	s.sessions.Range(func(k, v any) bool {
		if now.After(v.(*session).expires) {
			s.sessions.Delete(k)
		}
		return true
	})
}
