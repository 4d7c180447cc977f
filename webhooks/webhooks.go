// Package webhooks POSTs task state changes (blocked, awaiting approval,
// committed, failed, rejected, cancelled, rolled back) to the receivers the
// committed policy lists under `webhooks:`, as CloudEvents 1.0 (structured
// JSON) signed the Standard Webhooks way, or as Slack-compatible messages.
//
// The audit log is the one durable, ordered source: a Deliverer tails its
// task.transition events after a cursor the store keeps per endpoint, so
// nothing is lost across crashes and nothing needs a second event path.
// Each endpoint is delivered in order (event n+1 waits until n was
// delivered or given up) by one deliverer at a time (a lease on
// "webhook:NAME"), at least once (the message id is stable: receivers
// de-duplicate by it), with a bounded number of attempts and exponential
// backoff; every attempt is a webhook.delivery audit event, written in the
// transaction that moves the cursor.
package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/lock"
	"github.com/agentos/agentos/redact"
)

// Store is what delivery needs of the store: the audit log it tails and
// appends to, the cursors, the leases that keep one deliverer per
// endpoint, and tasks (their goal goes in the message).
type Store interface {
	agentos.AuditStore
	agentos.WebhookStore
	agentos.LeaseStore
	Task(ctx context.Context, id string) (*agentos.Task, error)
	LatestQuestionPack(ctx context.Context, task string) (*agentos.QuestionPack, error)
}

// LockKey is the lease key of an endpoint's deliverer.
func LockKey(endpoint string) string { return "webhook:" + endpoint }

// Options configure a Deliverer.
type Options struct {
	Store  Store
	Policy config.Webhooks
	// Redactor redacts every text of a payload, the URLs and errors
	// audited (nil: the built-in rules).
	Redactor *redact.Redactor
	// Getenv and ReadFile find URLs and secrets (nil: the process's).
	Getenv   func(string) string
	ReadFile func(string) ([]byte, error)
	// Client sends the requests (nil: one that never follows redirects).
	Client *http.Client
	Now    func() time.Time
	// Log reports what a person running the worker should know (nil: nothing).
	Log func(format string, args ...any)
	// Owner names this deliverer in its leases (`agentos lock list`).
	Owner string
	// Source is the CloudEvents source (default: webhooks.public_url, else
	// "urn:agentos").
	Source string
	// IDPrefix starts every message id, to keep ids of different stores
	// apart (default "agentos").
	IDPrefix string
	// Poll is how often an idle endpoint looks for new events (default 1s).
	Poll time.Duration
	// LeaseTTL is the lifetime of an endpoint's lease between heartbeats
	// (default 30s).
	LeaseTTL time.Duration
	// DrainWait: once Run's idle channel is closed, an endpoint whose next
	// retry is due later than this stops instead of waiting (default 10s);
	// its cursor keeps the attempt count for the next run. A receiver that
	// is down does not hold `agentos worker --until-idle` for the sum of
	// every backoff.
	DrainWait time.Duration
}

// Endpoint is a policy endpoint with its URL and key resolved.
type Endpoint struct {
	config.WebhookEndpoint
	url string
	key []byte // nil: unsigned (slack without a secret)
}

// Deliverer delivers to every endpoint of a policy.
type Deliverer struct {
	o      Options
	locks  *lock.Manager
	client *http.Client
}

// New returns a Deliverer with o's defaults filled in.
func New(o Options) *Deliverer {
	if o.Redactor == nil {
		o.Redactor = redact.Default()
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.ReadFile == nil {
		o.ReadFile = os.ReadFile
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	if o.Owner == "" {
		host, _ := os.Hostname()
		o.Owner = fmt.Sprintf("webhooks@%s:%d", host, os.Getpid())
	}
	if o.Source == "" {
		o.Source = o.Policy.PublicURL
		if o.Source == "" {
			o.Source = "urn:agentos"
		}
	}
	if o.IDPrefix == "" {
		o.IDPrefix = "agentos"
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = 30 * time.Second
	}
	if o.DrainWait <= 0 {
		o.DrainWait = 10 * time.Second
	}
	c := o.Client
	if c == nil {
		c = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	return &Deliverer{o: o, locks: lock.New(o.Store, o.Now), client: c}
}

// Run delivers to every endpoint until ctx ends. It is what `agentos
// worker` and `agentos serve` run beside their own work. When idle is
// non-nil, Run returns once idle is closed and every endpoint has nothing
// left to deliver, or waits longer than DrainWait for its next retry. An
// endpoint whose URL or secret cannot be found is reported and left alone:
// its cursor stays, so its events wait, none lost, until it is fixed.
func (d *Deliverer) Run(ctx context.Context, idle <-chan struct{}) error {
	var wg sync.WaitGroup
	for _, pe := range d.o.Policy.Endpoints {
		ep, err := d.Resolve(pe)
		if err != nil {
			d.o.Log("webhook %s: %s; its events wait until it is fixed", pe.Name, agentos.ErrorMessage(err))
			continue
		}
		wg.Go(func() { d.endpoint(ctx, ep, idle) })
	}
	wg.Wait()
	return nil
}

// Run is New(o).Run(ctx, idle): the entry point for a front door.
func Run(ctx context.Context, o Options, idle <-chan struct{}) error {
	return New(o).Run(ctx, idle)
}

// Resolve finds an endpoint's URL and signing key.
func (d *Deliverer) Resolve(pe config.WebhookEndpoint) (*Endpoint, error) {
	ep := &Endpoint{WebhookEndpoint: pe}
	read := func(key, env, file string) (string, error) {
		if env != "" {
			v := d.o.Getenv(env)
			if strings.TrimSpace(v) == "" {
				return "", agentos.Errorf(agentos.EINVALID, "$%s is not set (it holds the %s)", env, key)
			}
			return strings.TrimSpace(v), nil
		}
		if strings.HasPrefix(file, "~/") {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", agentos.Errorf(agentos.EINVALID, "cannot read the %s from %s: no home directory: %v", key, file, err)
			}
			file = filepath.Join(home, file[2:])
		}
		b, err := d.o.ReadFile(file)
		if err != nil {
			// The path is named once; the cause without it.
			if pe, ok := errors.AsType[*fs.PathError](err); ok {
				err = pe.Err
			}
			return "", agentos.Errorf(agentos.EINVALID, "cannot read the %s from %s: %v", key, file, err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	ep.url = pe.URL
	if ep.url == "" {
		u, err := read("URL", pe.URLEnv, pe.URLFile)
		if err != nil {
			return nil, err
		}
		if err := config.CheckWebhookURL("url", u); err != nil {
			return nil, agentos.Errorf(agentos.EINVALID, "%v", err)
		}
		ep.url = u
	}
	if pe.SecretEnv != "" || pe.SecretFile != "" {
		s, err := read("signing secret", pe.SecretEnv, pe.SecretFile)
		if err != nil {
			return nil, err
		}
		key, err := ParseSecret(s)
		if err != nil {
			return nil, agentos.Errorf(agentos.EINVALID, "the signing secret cannot be used: %v", err)
		}
		ep.key = key
	}
	return ep, nil
}

// AuditURL is an endpoint URL as audited and shown: scheme, host and path,
// without query or credentials, redacted (a Slack webhook's path is its
// credential).
func AuditURL(raw string, r *redact.Redactor) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "[unparsable URL]"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return r.String(u.String())
}

// endpoint delivers to one endpoint while it holds its lease.
func (d *Deliverer) endpoint(ctx context.Context, ep *Endpoint, idle <-chan struct{}) {
	for ctx.Err() == nil {
		held, err := d.locks.Acquire(ctx, d.o.Owner, []string{LockKey(ep.Name)}, d.o.LeaseTTL)
		if err != nil {
			if closed(idle) {
				// Another deliverer has it (or the store failed): it is
				// not this one's to drain.
				if agentos.ErrorCode(err) != agentos.ECONFLICT {
					d.o.Log("webhook %s: %s", ep.Name, agentos.ErrorMessage(err))
				}
				return
			}
			// Woken when idle closes: then the holder drains it.
			t := time.NewTimer(d.o.LeaseTTL / 2)
			select {
			case <-ctx.Done():
			case <-t.C:
			case <-idleOrNever(idle):
			}
			t.Stop()
			continue
		}
		lctx, cancel := context.WithCancel(ctx)
		lost := held.KeepAlive(lctx, d.o.LeaseTTL/3)
		go func() {
			if err := <-lost; err != nil {
				d.o.Log("webhook %s: %s", ep.Name, agentos.ErrorMessage(err))
				cancel()
			}
		}()
		done := d.deliverAll(lctx, ep, idle)
		cancel()
		held.Release(context.WithoutCancel(ctx))
		if done {
			return
		}
	}
}

// deliverAll delivers events in order until ctx ends (false) or, once idle
// is closed, nothing is left (true).
func (d *Deliverer) deliverAll(ctx context.Context, ep *Endpoint, idle <-chan struct{}) bool {
	failures := 0
	for ctx.Err() == nil {
		busy, err := d.step(ctx, ep, idle)
		if errors.Is(err, errRetryLater) {
			d.o.Log("webhook %s: %s", ep.Name, err)
			return true
		}
		if err != nil {
			if ctx.Err() != nil {
				return false
			}
			failures++
			d.o.Log("webhook %s: %s", ep.Name, agentos.ErrorMessage(err))
			if agentos.ErrorCode(err) == agentos.ECONFLICT || failures > 5 {
				return false // another deliverer moved the cursor: re-take the lease
			}
			sleep(ctx, d.o.Poll)
			continue
		}
		failures = 0
		if busy {
			continue
		}
		if closed(idle) {
			return true
		}
		select {
		case <-ctx.Done():
		case <-idle:
		case <-time.After(d.o.Poll):
		}
	}
	return false
}

func closed(ch <-chan struct{}) bool {
	if ch == nil {
		return false
	}
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// idleOrNever is idle, or a channel that never closes when idle is nil or
// already closed (a closed one would wake the caller at once, forever).
func idleOrNever(idle <-chan struct{}) <-chan struct{} {
	if idle == nil || closed(idle) {
		return nil
	}
	return idle
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// page is how many transition events one read takes.
const page = 200

// Step does the next piece of work for ep: one attempt at its next event
// (after the backoff its failed attempts call for), or moving its cursor
// past events it does not receive. busy is false when nothing was left.
func (d *Deliverer) Step(ctx context.Context, ep *Endpoint) (busy bool, err error) {
	return d.step(ctx, ep, nil)
}

// errRetryLater: draining, the next retry is due later than DrainWait.
var errRetryLater = errors.New("the next retry is due later; the next run resumes it")

func (d *Deliverer) step(ctx context.Context, ep *Endpoint, idle <-chan struct{}) (busy bool, err error) {
	st := d.o.Store
	cur, err := st.WebhookCursor(ctx, ep.Name)
	if err != nil {
		return false, err
	}
	if cur == nil {
		start, err := d.startSeq(ctx, ep.MaxAgeOrDefault())
		if err != nil {
			return false, err
		}
		return true, st.SaveWebhookCursor(ctx, nil, agentos.WebhookCursor{Endpoint: ep.Name, Seq: start, Updated: d.o.Now()})
	}
	// The head before the read: every event up to it is visible to the
	// read, since appends commit in sequence order.
	headSeq, _, err := st.ChainHead(ctx)
	if err != nil {
		return false, err
	}
	e, tr, err := d.next(ctx, ep, cur.Seq, headSeq)
	if err != nil {
		return false, err
	}
	if e == nil {
		if headSeq > cur.Seq {
			next := *cur
			next.Seq, next.Event, next.Attempts, next.Updated = headSeq, 0, 0, d.o.Now()
			return false, st.SaveWebhookCursor(ctx, cur, next)
		}
		return false, nil
	}
	attempts := 0
	if cur.Event == e.Seq {
		attempts = cur.Attempts
	}
	if attempts > 0 {
		wait := cur.LastTime.Add(Backoff(ep.BackoffOrDefault(), ep.MaxBackoffOrDefault(), attempts)).Sub(d.o.Now())
		if wait > 0 {
			if wait > d.o.DrainWait && closed(idle) {
				return false, fmt.Errorf("event %d failed %d time(s), %w (in %s)", e.Seq, attempts, errRetryLater, wait.Round(time.Second))
			}
			// Woken early when idle closes, to judge the wait again.
			t := time.NewTimer(wait)
			defer t.Stop()
			select {
			case <-ctx.Done():
			case <-t.C:
			case <-idleOrNever(idle):
			}
			return true, ctx.Err()
		}
	}
	msg := d.taskMessage(ctx, ep, e, tr)
	var res Result
	if age := d.o.Now().Sub(e.Time); age > ep.MaxAgeOrDefault() {
		res = Result{Status: agentos.WebhookExpired, Err: fmt.Sprintf("the event is %s old, more than max_age %s: not sent", age.Round(time.Second), ep.MaxAgeOrDefault())}
	} else {
		res = d.send(ctx, ep, msg)
	}
	attempt := attempts + 1
	next := agentos.WebhookCursor{Endpoint: ep.Name, Seq: e.Seq, Updated: d.o.Now(), LastTime: d.o.Now(),
		LastStatus: res.Status, LastError: res.Err, LastHTTP: res.HTTPStatus}
	switch {
	case res.Status == agentos.WebhookExpired:
		attempt = 0
	case res.Status == agentos.WebhookDelivered:
	case attempt >= ep.AttemptsOrDefault():
		res.Status, next.LastStatus = agentos.WebhookGivenUp, agentos.WebhookGivenUp
		d.o.Log("webhook %s: gave up on event %d after %d attempts: %s", ep.Name, e.Seq, attempt, res.Err)
	default:
		res.Status = agentos.WebhookFailed
		next.Seq, next.Event, next.Attempts = e.Seq-1, e.Seq, attempt
	}
	ev := d.auditEvent(ep, e.Task, e.Seq, msg, attempt, res)
	// The attempt happened: it is recorded even when ctx ended meanwhile.
	return true, st.SaveWebhookCursor(context.WithoutCancel(ctx), cur, next, ev)
}

// Backoff is the wait after the n-th failed attempt: base doubled n-1
// times, capped at max.
func Backoff(base, max time.Duration, n int) time.Duration {
	w := base
	for i := 1; i < n && w < max; i++ {
		w *= 2
	}
	return min(w, max)
}

// next returns the first transition event after seq (up to head) that ep
// receives, with its payload; nil when there is none.
func (d *Deliverer) next(ctx context.Context, ep *Endpoint, seq, head int64) (*agentos.Event, *agentos.TransitionEvent, error) {
	want := ep.EventSet()
	for from := seq + 1; from <= head; {
		evs, err := d.o.Store.Events(ctx, agentos.EventFilter{FromSeq: from, Kind: agentos.EventTransition, Limit: page})
		if err != nil {
			return nil, nil, err
		}
		for i := range evs {
			e := &evs[i]
			if e.Seq > head {
				return nil, nil, nil
			}
			var tr agentos.TransitionEvent
			if err := json.Unmarshal(e.Data, &tr); err != nil {
				return nil, nil, agentos.WrapError(agentos.EINVALID, err, "audit event %d (%s) does not decode: %v (run `agentos audit verify`)", e.Seq, e.Kind, err)
			}
			if slices.Contains(want, string(tr.To)) {
				return e, &tr, nil
			}
		}
		if len(evs) < page {
			break
		}
		from = evs[len(evs)-1].Seq + 1
	}
	return nil, nil, nil
}

// startSeq is where a new endpoint's cursor starts: before the first event
// younger than maxAge, found by bisecting the log (events are appended in
// time order), so a new endpoint neither floods its receiver with the past
// nor misses what happened since the policy named it.
func (d *Deliverer) startSeq(ctx context.Context, maxAge time.Duration) (int64, error) {
	head, _, err := d.o.Store.ChainHead(ctx)
	if err != nil {
		return 0, err
	}
	since := d.o.Now().Add(-maxAge)
	lo, hi := int64(1), head+1 // the answer is in [lo, hi]
	for lo < hi {
		mid := lo + (hi-lo)/2
		evs, err := d.o.Store.Events(ctx, agentos.EventFilter{FromSeq: mid, Limit: 1})
		if err != nil {
			return 0, err
		}
		if len(evs) == 0 || !evs[0].Time.Before(since) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo - 1, nil
}

// message is one message to send: its id, type and body builder.
type message struct {
	id, typ, task string
	ev            CloudEvent
	text          string // slack
}

func (d *Deliverer) taskMessage(ctx context.Context, ep *Endpoint, e *agentos.Event, tr *agentos.TransitionEvent) message {
	t, err := d.o.Store.Task(ctx, e.Task)
	if err != nil {
		t = nil
	}
	var qp *agentos.QuestionPack
	if tr.To == agentos.StateBlocked {
		// The pack that blocked the task; a later one (it was answered
		// and blocked again) is another event's.
		if p, err := d.o.Store.LatestQuestionPack(ctx, e.Task); err == nil && p != nil && (tr.QuestionPack == "" || p.ID == tr.QuestionPack) {
			qp = p
		}
	}
	data := taskData(*e, tr, t, qp, d.o.Policy.PublicURL, d.o.Redactor)
	id := d.o.IDPrefix + "-" + strconv.FormatInt(e.Seq, 10)
	typ := TypePrefix + string(tr.To)
	return message{id: id, typ: typ, task: e.Task, text: slackText(data), ev: CloudEvent{
		SpecVersion: "1.0", ID: id, Source: d.o.Source, Type: typ, Subject: e.Task,
		Time: e.Time.UTC(), DataContentType: "application/json", Data: data,
	}}
}

// Result is the outcome of one attempt.
type Result struct {
	Status     string
	HTTPStatus int
	Err        string
	Duration   time.Duration
}

// send makes one attempt: sign, POST, judge the answer (2xx only).
func (d *Deliverer) send(ctx context.Context, ep *Endpoint, m message) Result {
	b, ctype, err := body(ep.FormatOrDefault(), m.ev, m.text, d.o.Redactor)
	if err != nil {
		return Result{Status: agentos.WebhookFailed, Err: "encoding: " + err.Error()}
	}
	start := d.o.Now()
	actx, cancel := context.WithTimeout(ctx, ep.TimeoutOrDefault())
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, ep.url, strings.NewReader(string(b)))
	if err != nil {
		return Result{Status: agentos.WebhookFailed, Err: d.o.Redactor.String(err.Error())}
	}
	ts := start.Unix()
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("User-Agent", "agentos/"+agentos.Version)
	req.Header.Set(HeaderID, m.id)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	if ep.key != nil {
		req.Header.Set(HeaderSignature, Sign(ep.key, m.id, ts, b))
	}
	resp, err := d.client.Do(req)
	res := Result{Duration: d.o.Now().Sub(start)}
	if err != nil {
		res.Status = agentos.WebhookFailed
		switch {
		case ctx.Err() != nil:
			res.Err = "interrupted: the deliverer stopped during the attempt"
		case errors.Is(err, context.DeadlineExceeded):
			res.Err = fmt.Sprintf("no answer within timeout %s", ep.TimeoutOrDefault())
		default:
			// The error quotes the URL, which may be a credential.
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			res.Err = d.o.Redactor.String(err.Error())
		}
		return res
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	res.HTTPStatus = resp.StatusCode
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		res.Status = agentos.WebhookDelivered
		return res
	}
	res.Status = agentos.WebhookFailed
	res.Err = "HTTP " + resp.Status
	if s := oneLine(string(snippet), 200); s != "" {
		res.Err += ": " + s
	}
	res.Err = d.o.Redactor.String(res.Err)
	return res
}

func (d *Deliverer) auditEvent(ep *Endpoint, task string, seq int64, m message, attempt int, res Result) agentos.EventInput {
	return agentos.EventInput{Task: task, Actor: agentos.System, Kind: agentos.EventWebhookDelivery, Data: agentos.WebhookDeliveryEvent{
		Endpoint: ep.Name, URL: AuditURL(ep.url, d.o.Redactor), EventID: m.id, Seq: seq, Type: m.typ,
		Attempt: attempt, Status: res.Status, HTTPStatus: res.HTTPStatus, Error: d.o.Redactor.String(res.Err),
		DurationMS: res.Duration.Milliseconds(),
	}}
}

// TestData is the data of the test event.
type TestData struct {
	Endpoint string `json:"endpoint"`
	Message  string `json:"message"`
}

// Test sends ep one test event, once, and audits the attempt: `agentos
// webhooks test NAME`. It moves no cursor.
func (d *Deliverer) Test(ctx context.Context, ep *Endpoint, id string) (Result, error) {
	now := d.o.Now().UTC()
	m := message{id: d.o.IDPrefix + "-test-" + id, typ: TypeTest,
		text: "*AgentOS test message* for webhook endpoint `" + slackEscape(ep.Name) + "`: delivery works."}
	m.ev = CloudEvent{SpecVersion: "1.0", ID: m.id, Source: d.o.Source, Type: TypeTest, Time: now,
		DataContentType: "application/json", Data: TestData{Endpoint: ep.Name, Message: "AgentOS test event: delivery works"}}
	res := d.send(ctx, ep, m)
	_, err := d.o.Store.Append(context.WithoutCancel(ctx), d.auditEvent(ep, "", 0, m, 1, res))
	return res, err
}
