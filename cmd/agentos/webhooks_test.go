package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// A webhook receiver on the host, outside agentos: it records every request
// as it arrived, and the scripts judge delivery by what it saw.

type hookKey struct {
	ts   *testscript.TestScript
	name string
}

var hookReceivers sync.Map // hookKey -> *hookReceiver

type hookRequest struct {
	status  int // what the receiver answered (0: it hung until the sender gave up)
	header  http.Header
	body    []byte
	arrived time.Time
}

type hookReceiver struct {
	mu         sync.Mutex
	fail, hang int // answer 503 to the first fail requests, then hang on the next hang
	reqs       []hookRequest
}

// hookrecv NAME [fail=N] [hang=N] starts a receiver and sets $NAME_URL to
// its address: it answers 503 to the first N requests, then hangs on the
// next M (answering only once the sender gave up), then 204.
func cmdHookRecv(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 {
		ts.Fatalf("usage: hookrecv NAME [fail=N] [hang=N]")
	}
	rc := &hookReceiver{}
	for _, a := range args[1:] {
		k, v, _ := strings.Cut(a, "=")
		n, err := strconv.Atoi(v)
		ts.Check(err)
		switch k {
		case "fail":
			rc.fail = n
		case "hang":
			rc.hang = n
		default:
			ts.Fatalf("hookrecv: unknown option %s", a)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		n := len(rc.reqs)
		status := http.StatusNoContent
		switch {
		case n < rc.fail:
			status = http.StatusServiceUnavailable
		case n < rc.fail+rc.hang:
			status = 0
		}
		rc.reqs = append(rc.reqs, hookRequest{status: status, header: r.Header.Clone(), body: body, arrived: time.Now()})
		rc.mu.Unlock()
		if status == 0 {
			<-r.Context().Done() // the sender timed out and closed the connection
			return
		}
		if status != http.StatusNoContent {
			http.Error(w, "receiver down for maintenance", status)
			return
		}
		w.WriteHeader(status)
	})}
	go srv.Serve(ln)
	ts.Defer(func() { srv.Close() })
	hookReceivers.Store(hookKey{ts, args[0]}, rc)
	ts.Setenv(args[0]+"_URL", "http://"+ln.Addr().String()+"/hook")
}

func hookRecv(ts *testscript.TestScript, name string) []hookRequest {
	v, ok := hookReceivers.Load(hookKey{ts, name})
	if !ok {
		ts.Fatalf("no receiver %s (start it with hookrecv)", name)
	}
	rc := v.(*hookReceiver)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]hookRequest(nil), rc.reqs...)
}

// hookSigOK checks a request's signature the way docs/webhooks.md tells a
// receiver to, written here from the Standard Webhooks specification
// rather than with package webhooks: the key is the base64 after "whsec_";
// the signed content is "webhook-id.webhook-timestamp.body"; the header
// holds space-separated "v1,base64(HMAC-SHA256)" values.
func hookSigOK(secret string, r hookRequest) string {
	id, ts, sigs := r.header.Get("webhook-id"), r.header.Get("webhook-timestamp"), r.header.Get("webhook-signature")
	if sigs == "" {
		return "none"
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil || id == "" || ts == "" {
		return "bad"
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || r.arrived.Sub(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		return "stale"
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(r.body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, s := range strings.Fields(sigs) {
		if hmac.Equal([]byte(s), []byte(want)) {
			return "ok"
		}
	}
	return "bad"
}

// hookdump NAME [SECRET] prints "N requests", then one line per request in
// arrival order: what the receiver answered, the signature check against
// SECRET (ok, bad, stale, none), content type, id, and the CloudEvent's
// type, subject and data.state; then the body, and a Slack message's text
// decoded.
func cmdHookDump(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: hookdump NAME [SECRET]")
	}
	reqs := hookRecv(ts, args[0])
	fmt.Fprintf(ts.Stdout(), "%d requests\n", len(reqs))
	for i, r := range reqs {
		sig := "-"
		if len(args) == 2 {
			sig = hookSigOK(args[1], r)
		}
		var ev struct {
			Type, Subject, Text string
			Data                struct{ State string }
		}
		json.Unmarshal(r.body, &ev)
		fmt.Fprintf(ts.Stdout(), "%d status=%d sig=%s ct=%s id=%s type=%s subject=%s state=%s\n", i+1, r.status, sig,
			r.header.Get("Content-Type"), r.header.Get("webhook-id"), ev.Type, ev.Subject, ev.Data.State)
		fmt.Fprintf(ts.Stdout(), "  body %s\n", r.body)
		if ev.Text != "" {
			fmt.Fprintf(ts.Stdout(), "  text %q\n", ev.Text)
		}
	}
}

// hookorder NAME checks delivery order on the receiver's side: message
// ids (which end in the audit seq of the event) never go back, and once a
// message was answered 2xx it is not sent again.
func cmdHookOrder(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: hookorder NAME")
	}
	last := int64(-1)
	done := map[string]bool{}
	for i, r := range hookRecv(ts, args[0]) {
		id := r.header.Get("webhook-id")
		seq, err := strconv.ParseInt(id[strings.LastIndex(id, "-")+1:], 10, 64)
		if err != nil {
			ts.Fatalf("request %d: id %q does not end in a sequence number", i+1, id)
		}
		if seq < last {
			ts.Fatalf("request %d: event %d arrived after event %d: order not kept", i+1, seq, last)
		}
		if done[id] {
			ts.Fatalf("request %d: %s was sent again after it was delivered", i+1, id)
		}
		if r.status >= 200 && r.status < 300 {
			done[id] = true
		}
		last = seq
	}
}

// hookwait NAME N waits until receiver NAME has been sent N requests: a
// long-running deliverer (serve, worker) sends them in the background.
// The bound only ends a test that would otherwise hang; it measures nothing.
func cmdHookWait(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: hookwait NAME N")
	}
	n, err := strconv.Atoi(args[1])
	ts.Check(err)
	for deadline := time.Now().Add(60 * time.Second); len(hookRecv(ts, args[0])) < n; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			ts.Fatalf("receiver %s got %d of %d requests in 60s", args[0], len(hookRecv(ts, args[0])), n)
		}
	}
}
