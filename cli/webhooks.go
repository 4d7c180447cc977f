package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/webhooks"
	"github.com/spf13/cobra"
)

// NewCmdWebhooks builds `agentos webhooks` and its verbs.
func NewCmdWebhooks(f *Factory) *cobra.Command {
	cmd := group("webhooks", "See and test the webhooks that report task state changes")
	cmd.Long = `The committed policy's webhooks: section lists endpoints that receive task state
changes (blocked, awaiting_approval, committed, failed, rejected, cancelled,
rolled_back) as signed CloudEvents or Slack-compatible messages.
` + "`agentos worker`" + ` delivers them while it runs (and ` + "`agentos webhooks run`" + ` on its own),
in order per endpoint, retrying with backoff; every attempt is audited
(webhook.delivery). See docs/webhooks.md for the format and how a receiver
verifies the signature.`
	cmd.AddCommand(newCmdWebhooksStatus(f), newCmdWebhooksTest(f), newCmdWebhooksRun(f))
	return cmd
}

// webhookOptions are the deliverer's options for this repository: the
// policy in force, its redactor, the store. db must be a store adapter.
func (f *Factory) webhookOptions(ctx context.Context, db agentos.Store, log func(string, ...any)) (webhooks.Options, error) {
	cfg, err := f.Config(ctx)
	if err != nil {
		return webhooks.Options{}, err
	}
	st, ok := db.(webhooks.Store)
	if !ok {
		return webhooks.Options{}, agentos.Errorf(agentos.EINTERNAL, "this store keeps no webhook cursors")
	}
	r, err := policyRedactor(cfg)
	if err != nil {
		return webhooks.Options{}, err
	}
	o := webhooks.Options{Store: st, Policy: cfg.Webhooks, Redactor: r, Now: f.Now, Log: log}
	// Message ids name the store, so two repositories' receivers (or one
	// receiver of two) never mistake one's event for the other's.
	if in, ok := db.(agentos.StoreIntegrity); ok {
		if id, err := in.Identity(ctx); err == nil && id != "" {
			o.IDPrefix = "agentos-" + agentos.ShortID(id)
		}
	}
	return o, nil
}

// startWebhooks runs the deliverer beside a long-running verb when the
// policy has endpoints; stop closes its idle channel (it then delivers
// what is left, retries included) and waits for it.
func (f *Factory) startWebhooks(ctx context.Context, db agentos.Store, log func(string, ...any)) (stop func(), err error) {
	cfg, err := f.Config(ctx)
	if err != nil {
		return nil, err
	}
	if len(cfg.Webhooks.Endpoints) == 0 {
		return func() {}, nil
	}
	o, err := f.webhookOptions(ctx, db, log)
	if err != nil {
		return nil, err
	}
	idle := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { webhooks.Run(ctx, o, idle) })
	return func() { close(idle); wg.Wait() }, nil
}

// WebhookStatusDoc is the --json document of `agentos webhooks status`.
type WebhookStatusDoc struct {
	Version   int               `json:"version"`
	Head      int64             `json:"head"`
	Endpoints []WebhookEndpoint `json:"endpoints"`
}

// WebhookEndpoint is one endpoint as `agentos webhooks status` reports it.
type WebhookEndpoint struct {
	Name   string   `json:"name"`
	Format string   `json:"format"`
	Events []string `json:"events"`
	// URL is the literal URL without query or credentials, or where the
	// URL is read from ($VAR, a file).
	URL string `json:"url"`
	// Cursor is nil until a deliverer first ran for the endpoint.
	Cursor *agentos.WebhookCursor `json:"cursor"`
	// Behind is how many audit events the deliverer has not looked at.
	Behind int64 `json:"behind"`
}

func newCmdWebhooksStatus(f *Factory) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Each endpoint of the policy: its cursor and last delivery",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cfg, err := f.Config(ctx)
			if err != nil {
				return err
			}
			db, err := f.DBReadOnly(ctx)
			if err != nil {
				return err
			}
			ws, ok := db.(agentos.WebhookStore)
			if !ok {
				return agentos.Errorf(agentos.EINTERNAL, "this store keeps no webhook cursors")
			}
			head, _, err := db.ChainHead(ctx)
			if err != nil {
				return err
			}
			r, err := policyRedactor(cfg)
			if err != nil {
				return err
			}
			doc := WebhookStatusDoc{Version: 1, Head: head, Endpoints: []WebhookEndpoint{}}
			for _, e := range cfg.Webhooks.Endpoints {
				c, err := ws.WebhookCursor(ctx, e.Name)
				if err != nil {
					return err
				}
				we := WebhookEndpoint{Name: e.Name, Format: e.FormatOrDefault(), Events: e.EventSet(), Cursor: c, Behind: head}
				switch {
				case e.URL != "":
					we.URL = webhooks.AuditURL(e.URL, r)
				case e.URLEnv != "":
					we.URL = "$" + e.URLEnv
				default:
					we.URL = e.URLFile
				}
				if c != nil {
					we.Behind = head - c.Seq
				}
				doc.Endpoints = append(doc.Endpoints, we)
			}
			if asJSON {
				return printJSON(f, doc)
			}
			if len(doc.Endpoints) == 0 {
				fmt.Fprintf(f.IO.ErrOut, "no webhooks: add a webhooks: section to %s and commit it (docs/webhooks.md)\n", config.FileName)
				return nil
			}
			tw := tabwriter.NewWriter(f.IO.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ENDPOINT\tFORMAT\tURL\tEVENTS\tCURSOR\tBEHIND\tLAST")
			for _, we := range doc.Endpoints {
				cursor, last := "-", "never ran"
				if c := we.Cursor; c != nil {
					cursor = fmt.Sprint(c.Seq)
					last = "-"
					if c.LastStatus != "" {
						last = c.LastStatus
						if c.Event != 0 {
							last += fmt.Sprintf(" (event %d, attempt %d)", c.Event, c.Attempts)
						}
						if c.LastHTTP != 0 {
							last += fmt.Sprintf(" HTTP %d", c.LastHTTP)
						}
						last += " " + c.LastTime.UTC().Format(time.RFC3339)
						if c.LastError != "" {
							last += ": " + c.LastError
						}
					}
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", we.Name, we.Format, we.URL, strings.Join(we.Events, ","), cursor, we.Behind, last)
			}
			return tw.Flush()
		},
	}
	addJSONFlag(cmd, f, &asJSON)
	return cmd
}

// WebhookTestDoc is the --json document of `agentos webhooks test`.
type WebhookTestDoc struct {
	Version    int    `json:"version"`
	Endpoint   string `json:"endpoint"`
	Status     string `json:"status"`
	HTTPStatus int    `json:"http_status,omitempty"`
	Error      string `json:"error,omitempty"`
	DurationMS int64  `json:"duration_ms"`
}

func newCmdWebhooksTest(f *Factory) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "test NAME",
		Short: "Send one test event to an endpoint, once, and audit it",
		Long: `Test sends the endpoint a signed test event (type dev.agentos.test) with this
process's environment for its URL and secret, once, without retries, and audits
the attempt. It exits 0 when the receiver answered 2xx and 1 otherwise.`,
		Args: exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cfg, err := f.Config(ctx)
			if err != nil {
				return err
			}
			pe, ok := cfg.Webhooks.Webhook(args[0])
			if !ok {
				names := []string{}
				for _, e := range cfg.Webhooks.Endpoints {
					names = append(names, e.Name)
				}
				return agentos.Errorf(agentos.ENOTFOUND, "no webhook endpoint %q in the committed %s (endpoints: %s)", args[0], config.FileName, strings.Join(names, ", "))
			}
			db, err := f.DB(ctx)
			if err != nil {
				return err
			}
			o, err := f.webhookOptions(ctx, db, nil)
			if err != nil {
				return err
			}
			d := webhooks.New(o)
			ep, err := d.Resolve(pe)
			if err != nil {
				return agentos.WrapError(agentos.EINVALID, err, "webhook %s: %s", pe.Name, agentos.ErrorMessage(err))
			}
			var b [6]byte
			rand.Read(b[:])
			res, err := d.Test(ctx, ep, hex.EncodeToString(b[:]))
			if err != nil {
				return err
			}
			if asJSON {
				if err := printJSON(f, WebhookTestDoc{Version: 1, Endpoint: pe.Name, Status: res.Status, HTTPStatus: res.HTTPStatus, Error: res.Err, DurationMS: res.Duration.Milliseconds()}); err != nil {
					return err
				}
			}
			if res.Status != agentos.WebhookDelivered {
				return agentos.Errorf(agentos.EFAILED, "webhook %s: not delivered: %s", pe.Name, res.Err)
			}
			if !asJSON {
				fmt.Fprintf(f.IO.Out, "webhook %s: delivered (HTTP %d) in %dms\n", pe.Name, res.HTTPStatus, res.Duration.Milliseconds())
			}
			return nil
		},
	}
	addJSONFlag(cmd, f, &asJSON)
	return cmd
}

func newCmdWebhooksRun(f *Factory) *cobra.Command {
	var untilIdle bool
	var poll time.Duration
	cmd := &cobra.Command{
		Use:   "run [--until-idle]",
		Short: "Deliver webhooks without running tasks (agentos worker also does)",
		Long: `Run delivers the policy's webhooks until interrupted, or with --until-idle until
every endpoint has delivered (or given up on) every event so far, or waits more
than 10s for its next retry. ` + "`agentos worker`" + `
runs the same deliverer; an endpoint is delivered by one process at a time
(a lease on webhook:NAME), so running both is safe.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cfg, err := f.Config(ctx)
			if err != nil {
				return err
			}
			if len(cfg.Webhooks.Endpoints) == 0 {
				return agentos.Errorf(agentos.EINVALID, "no webhooks: add a webhooks: section to %s and commit it (docs/webhooks.md)", config.FileName)
			}
			db, err := f.DB(ctx)
			if err != nil {
				return err
			}
			var mu sync.Mutex
			logf := func(format string, args ...any) {
				mu.Lock()
				defer mu.Unlock()
				fmt.Fprintf(f.IO.ErrOut, "agentos webhooks: "+format+"\n", args...)
			}
			o, err := f.webhookOptions(ctx, db, logf)
			if err != nil {
				return err
			}
			o.Poll = poll
			var idle chan struct{}
			if untilIdle {
				idle = make(chan struct{})
				close(idle)
			}
			return webhooks.Run(ctx, o, idle)
		},
	}
	cmd.Flags().BoolVar(&untilIdle, "until-idle", false, "exit once every event so far is delivered or given up (or its next retry is more than 10s away)")
	cmd.Flags().DurationVar(&poll, "poll", time.Second, "how often an idle endpoint looks for new events")
	return cmd
}
