package coordinator

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/attest"
	"github.com/agentos/agentos/auditkey"
)

// KindAttestation is the run record that says whether the run's commit got
// its attestation, and if not, why (the ReviewPack shows it).
const KindAttestation = "attestation"

// AttestationPath is where a run's attestation envelope sits, next to its
// ReviewPack.
func (c *Coordinator) AttestationPath(task, run string) string {
	return c.ReviewPath(task, run) + ".intoto.json"
}

// attest signs commit sha's in-toto statement with the audit key and keeps
// the envelope as a git note and beside the ReviewPack. The commit stands
// either way: a missing key or a failed write is recorded on the run (and
// so in the ReviewPack), never skipped in silence. Only failing to record
// that is returned.
func (c *Coordinator) attest(ctx context.Context, x *executor, sha, parent, diffHash string) error {
	rec := agentos.StepRecord{Phase: agentos.PhaseVerify, Index: -1, Kind: KindAttestation}
	env, err := c.signAttestation(ctx, x, sha, parent, diffHash)
	if err == nil {
		err = c.keepAttestation(ctx, x, sha, env)
	}
	if err != nil {
		rec.Summary = fmt.Sprintf("attestation missing for commit %s: %s", short(sha), agentos.ErrorMessage(err))
	} else {
		rec.OK = true
		rec.Summary = fmt.Sprintf("commit %s attested: in-toto statement signed by audit key %s, in git note %s and %s",
			short(sha), env.Signatures[0].KeyID, attest.NotesRef, filepath.Base(c.AttestationPath(x.task.ID, x.run.ID)))
	}
	return x.record(ctx, rec)
}

// attestationOf is what a run's records say of its last commit's
// attestation, "" when the run made no commit.
func attestationOf(recs []agentos.StepRecord) string {
	out := ""
	for _, r := range recs {
		if r.Kind == KindAttestation {
			out = r.Summary
		}
	}
	return out
}

func (c *Coordinator) signAttestation(ctx context.Context, x *executor, sha, parent, diffHash string) (*attest.Envelope, error) {
	if c.AuditKey == nil {
		return nil, agentos.Errorf(agentos.ENOTFOUND, "no audit key is configured for this coordinator")
	}
	key, err := c.AuditKey(ctx)
	if err != nil {
		return nil, err
	}
	p, err := c.predicate(ctx, x, parent, diffHash)
	if err != nil {
		return nil, err
	}
	return attest.Sign(attest.NewStatement(sha, *p), key.Private)
}

func (c *Coordinator) keepAttestation(ctx context.Context, x *executor, sha string, env *attest.Envelope) error {
	b, err := env.Marshal()
	if err != nil {
		return err
	}
	if err := c.Repo.AddNote(ctx, attest.NotesRef, sha, b, c.Identity); err != nil {
		return agentos.WrapError(agentos.EINTERNAL, err, "cannot write the git note: %v", err)
	}
	path := c.AttestationPath(x.task.ID, x.run.ID)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return writeFileAtomic(path, b)
}

// predicate gathers what governed the run's commit from the store.
func (c *Coordinator) predicate(ctx context.Context, x *executor, parent, diffHash string) (*attest.Predicate, error) {
	p := &attest.Predicate{
		Task: x.task.ID, Run: x.run.ID, PlanID: x.plan.ID, PlanHash: x.plan.Hash, PolicyHash: x.plan.PolicyHash,
		MemoryPackHash: x.plan.MemoryPackHash, IntentID: x.plan.IntentID, Base: x.plan.BaseCommit, Parent: parent,
		Target: x.task.Target, DiffHash: diffHash, Time: c.Now().UTC(),
	}
	aps, err := c.DB.ActiveApprovals(ctx, x.task.ID)
	if err != nil {
		return nil, err
	}
	signer, err := c.approvalSigners(ctx, x.task.ID)
	if err != nil {
		return nil, err
	}
	p.Approvals = attestedApprovals(aps, x.plan.Hash, signer)
	p.Sandbox = attest.Sandbox{Confined: !x.run.Unconfined, Network: c.Config.Sandbox.Network, AllowTCP: c.Config.Sandbox.AllowTCP, Profiles: c.Config.Sandbox.ProfileNames()}
	if x.tt != nil && x.tt.fallback != "" {
		p.Sandbox.Fallbacks = append(p.Sandbox.Fallbacks, "full git worktree: "+x.tt.fallback)
	}
	if x.run.Unconfined {
		p.Sandbox.Fallbacks = append(p.Sandbox.Fallbacks, "a command ran unconfined (sandbox.require: false)")
	}
	recs, err := c.DB.Records(ctx, x.run.ID)
	if err != nil {
		return nil, err
	}
	latest := map[int]agentos.StepRecord{} // a re-verify after a rebase wins
	for _, r := range recs {
		if r.Phase == agentos.PhaseVerify && r.Index >= len(x.plan.Steps) {
			latest[r.Index] = r
		}
	}
	for j, ch := range x.plan.Verify {
		r := latest[len(x.plan.Steps)+j]
		p.Verify = append(p.Verify, attest.Check{Name: ch.Name, Argv: ch.Argv, OK: r.OK, ExitCode: r.ExitCode, Default: ch.PolicyDefault})
	}
	seq, hash, err := c.DB.ChainHead(ctx)
	if err != nil {
		return nil, err
	}
	p.Audit = attest.Checkpoint{Seq: seq, Hash: hash}
	if id := c.commitIdentity(ctx); id.Sign {
		spec := id.SigningKey
		if spec == "" {
			spec = expandHome(c.Repo.GitSigningKey(ctx))
		}
		p.CommitSigner = signerOf(spec)
	}
	return p, nil
}

// attestedApprovals are the approvals that counted for planHash, each
// with the key its decision was signed with (signer).
func attestedApprovals(aps []agentos.Approval, planHash string, signer func(agentos.Approval) string) []attest.Approval {
	out := []attest.Approval{}
	for _, a := range aps {
		if a.Kind != agentos.KindApprove || a.PlanHash != planHash {
			continue
		}
		out = append(out, attest.Approval{ID: a.ID, Kind: string(a.Kind), Actor: string(a.Actor), PlanHash: a.PlanHash, Time: a.Time.UTC(), Signer: signer(a)})
	}
	return out
}

// approvalSigners finds, for an approval of task, the SSH key fingerprint
// its approval event was signed with (the event's signed.key, which
// admission verified against the policy's signers), or attest.Unsigned.
// The event is decoded by field name, so a store whose events carry no
// signature reads as unsigned.
func (c *Coordinator) approvalSigners(ctx context.Context, task string) (func(agentos.Approval) string, error) {
	evs, err := c.DB.Events(ctx, agentos.EventFilter{Task: task, Kind: agentos.EventApproval})
	if err != nil {
		return nil, err
	}
	return signersOf(evs), nil
}

func signersOf(evs []agentos.Event) func(agentos.Approval) string {
	type signedEvent struct {
		Decision agentos.ApprovalKind    `json:"decision"`
		Plan     string                  `json:"plan"`
		PlanHash string                  `json:"plan_hash"`
		Binding  agentos.ApprovalBinding `json:"binding"`
		Signed   *struct {
			Key string `json:"key"`
		} `json:"signed"`
	}
	return func(a agentos.Approval) string {
		for _, e := range evs {
			var d signedEvent
			if e.Actor != a.Actor || json.Unmarshal(e.Data, &d) != nil || d.Decision != a.Kind || d.Plan != a.PlanID || d.PlanHash != a.PlanHash || d.Binding != a.Binding {
				continue
			}
			if d.Signed != nil && d.Signed.Key != "" {
				return d.Signed.Key
			}
		}
		return attest.Unsigned
	}
}

// commitIdentity is c.Identity with the signing the repository asks for:
// the policy's commit.signing_key, else its git config's commit.gpgsign
// with gpg.format ssh.
func (c *Coordinator) commitIdentity(ctx context.Context) agentos.CommitIdentity {
	id := c.Identity
	if id.Sign {
		return id
	}
	if c.Config != nil && c.Config.Commit.SigningKey != "" {
		id.Sign, id.SigningKey = true, expandHome(c.Config.Commit.SigningKey)
		return id
	}
	if c.Repo.SignsCommits(ctx) {
		id.Sign = true
		id.SigningKey = ""
	}
	return id
}

func expandHome(p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
	}
	return p
}

// signingPublicKey is the public half of a signing key as git's
// user.signingkey names it: "key::ssh-… AAAA…", a public key file, or a
// private key file (its .pub beside it, else the key itself when it has
// no passphrase).
func signingPublicKey(spec string) (ssh.PublicKey, error) {
	if lit, ok := strings.CutPrefix(spec, "key::"); ok {
		spec = lit
	}
	if strings.HasPrefix(spec, "ssh-") || strings.HasPrefix(spec, "ecdsa-") || strings.HasPrefix(spec, "sk-") {
		pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(spec))
		return pk, err
	}
	b, err := os.ReadFile(spec)
	if err != nil {
		return nil, err
	}
	if pk, _, _, _, err := ssh.ParseAuthorizedKey(b); err == nil {
		return pk, nil
	}
	if pb, err := os.ReadFile(spec + ".pub"); err == nil {
		if pk, _, _, _, err := ssh.ParseAuthorizedKey(pb); err == nil {
			return pk, nil
		}
	}
	s, err := ssh.ParsePrivateKey(b)
	if err != nil {
		return nil, err
	}
	return s.PublicKey(), nil
}

// signerOf names the key a commit is signed with: its SSH fingerprint, or
// "ssh" when its public half cannot be read here.
func signerOf(spec string) string {
	pk, err := signingPublicKey(spec)
	if spec == "" || err != nil {
		return "ssh"
	}
	return ssh.FingerprintSHA256(pk)
}

// verifyAttestation adds to tr the checks of trace --verify: the commit's
// note verifies with the audit key, names this commit, and agrees with the
// store; the commit object is signed when signing is configured.
func (c *Coordinator) verifyAttestation(ctx context.Context, tr *Trace, check func(what string, ok bool, got, want string)) {
	sha := tr.Commit
	c.verifyCommitSignature(ctx, sha, check)
	note, err := c.Repo.Note(ctx, attest.NotesRef, sha)
	check("attestation note is present ("+attest.NotesRef+")", err == nil, errText(err), "")
	if err != nil {
		return
	}
	env, err := attest.ParseEnvelope(note)
	if err != nil {
		check("attestation note is a DSSE envelope", false, agentos.ErrorMessage(err), "")
		return
	}
	var pub ed25519.PublicKey
	if c.AuditKey == nil {
		err = agentos.Errorf(agentos.ENOTFOUND, "no audit key is configured")
	} else {
		var k *auditkey.Key
		if k, err = c.AuditKey(ctx); err == nil {
			pub = k.Public
		}
	}
	if err != nil {
		check("audit key is available to check the attestation", false, agentos.ErrorMessage(err), "")
		return
	}
	st, err := env.Open(pub)
	check("attestation signature verifies with the audit key "+attest.KeyID(pub), err == nil, errText(err), "")
	if err != nil {
		return
	}
	tr.Attestation = st
	pr := st.Predicate
	check("attestation subject is this commit", st.Commit() == sha, st.Commit(), sha)
	check("attestation task matches the trailer", pr.Task == tr.Trailers[agentos.TrailerTask], pr.Task, tr.Trailers[agentos.TrailerTask])
	check("attestation run matches the trailer", pr.Run == tr.Run, pr.Run, tr.Run)
	check("attestation plan hash matches the trailer", pr.PlanHash == tr.Plan, pr.PlanHash, tr.Plan)
	check("attestation diff hash matches the commit's diff", pr.DiffHash == tr.DiffHash, pr.DiffHash, tr.DiffHash)
	if row, err := c.DB.Commit(ctx, sha); err == nil {
		check("attestation plan hash matches the recorded commit", pr.PlanHash == row.PlanHash, pr.PlanHash, row.PlanHash)
	}
	if pr.PlanID != "" {
		pl, stored, err := c.DB.Plan(ctx, pr.PlanID)
		check("attested plan "+pr.PlanID+" is recorded", err == nil, errText(err), "")
		if err == nil {
			check("attestation plan hash matches the stored plan", pr.PlanHash == stored && stored == pl.ComputeHash(), stored, pr.PlanHash)
			check("attestation policy hash matches the stored plan", pr.PolicyHash == pl.PolicyHash, pl.PolicyHash, pr.PolicyHash)
			check("attestation base matches the stored plan", pr.Base == pl.BaseCommit, pl.BaseCommit, pr.Base)
		}
	}
	aps, err := c.DB.Approvals(ctx, pr.Task)
	var signer func(agentos.Approval) string
	if err == nil {
		signer, err = c.approvalSigners(ctx, pr.Task)
	}
	if err != nil {
		check("the store's approvals are readable", false, errText(err), "")
	} else {
		got, want := approvalList(pr.Approvals), approvalList(recordedApprovals(aps, pr, signer))
		check("attestation approvals match the recorded approvals", got == want, got, want)
	}
	if pr.Audit.Seq > 0 {
		evs, err := c.DB.Events(ctx, agentos.EventFilter{FromSeq: pr.Audit.Seq, Limit: 1})
		got := ""
		if err == nil && len(evs) == 1 && evs[0].Seq == pr.Audit.Seq {
			got = evs[0].Hash
		}
		check(fmt.Sprintf("attested audit event %d is in the chain", pr.Audit.Seq), got == pr.Audit.Hash, got, pr.Audit.Hash)
	}
	signed, _ := c.Repo.CommitSigned(ctx, sha)
	if pr.CommitSigner != "" {
		check("commit is signed, as its attestation says ("+pr.CommitSigner+")", signed, "unsigned", "signed")
	} else if !signed && c.commitIdentity(ctx).Sign {
		check("commit is unsigned: its attestation says commit signing was not configured when it was made", true, "", "")
	}
	// The copy beside the ReviewPack, when it is this commit's (after a
	// rebase the earlier commit's envelope is only in its note).
	if b, err := os.ReadFile(c.AttestationPath(pr.Task, pr.Run)); err == nil {
		fe, err := attest.ParseEnvelope(b)
		var fst *attest.Statement
		if err == nil {
			fst, err = fe.Open(pub)
		}
		if err != nil {
			check("attestation beside the ReviewPack verifies", false, errText(err), "")
		} else if fst.Commit() == sha {
			check("attestation beside the ReviewPack is the note's", bytes.Equal(b, note), "", "")
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		check("attestation beside the ReviewPack is readable", false, err.Error(), "")
	}
}

// recordedApprovals are the store's approvals that counted for the
// attested plan at commit time (cleared later or not at all).
func recordedApprovals(aps []agentos.Approval, pr attest.Predicate, signer func(agentos.Approval) string) []attest.Approval {
	var counted []agentos.Approval
	for _, a := range aps {
		if a.ClearedAt.IsZero() || a.ClearedAt.After(pr.Time) {
			counted = append(counted, a)
		}
	}
	return attestedApprovals(counted, pr.PlanHash, signer)
}

func approvalList(aps []attest.Approval) string {
	var s []string
	for _, a := range aps {
		s = append(s, fmt.Sprintf("%d:%s:%s", a.ID, a.Actor, a.Signer))
	}
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ",")
}

// verifyCommitSignature checks the commit object's signature, when it has
// one, against the policy's key (or git's allowed signers when git's own
// configuration signs).
func (c *Coordinator) verifyCommitSignature(ctx context.Context, sha string, check func(what string, ok bool, got, want string)) {
	id := c.commitIdentity(ctx)
	signed, err := c.Repo.CommitSigned(ctx, sha)
	if err != nil {
		check("commit object is readable", false, err.Error(), "")
		return
	}
	if !signed {
		// Whether it had to be is the attestation's to say (commit_signer):
		// turning signing on later does not condemn the commits before.
		return
	}
	allowed := ""
	if id.SigningKey != "" {
		pk, err := signingPublicKey(id.SigningKey)
		if err != nil {
			check("signing key "+id.SigningKey+" is readable", false, err.Error(), "")
			return
		}
		f, err := os.CreateTemp("", "agentos-allowed-signers-")
		if err != nil {
			check("commit signature can be checked", false, err.Error(), "")
			return
		}
		defer os.Remove(f.Name())
		fmt.Fprintf(f, "%s namespaces=\"git\" %s", c.Identity.Email, ssh.MarshalAuthorizedKey(pk))
		f.Close()
		allowed = f.Name()
	}
	_, err = c.Repo.VerifyCommit(ctx, sha, allowed)
	what := "commit signature verifies"
	if id.SigningKey != "" {
		what += " with " + signerOf(id.SigningKey)
	}
	check(what, err == nil, errText(err), "")
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return agentos.ErrorMessage(err)
}
