package cli

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/tokens"
	"github.com/spf13/cobra"
)

func newCmdToken(f *Factory) *cobra.Command {
	cmd := group("token", "Make, list and revoke the bearer tokens of `agentos serve` (local admin only)")
	cmd.Long = "Tokens are made and revoked only here, by the local admin: the OS user at the repository " +
		"(as for `agentos init`), recorded as the actor of the audited token.created and token.revoked events. " +
		"The HTTP API has no way to make one. A token is printed once and stored as its SHA-256 only."
	cmd.AddCommand(newCmdTokenCreate(f), newCmdTokenList(f), newCmdTokenRevoke(f))
	return cmd
}

// TokenCreateDoc is the --json document of `agentos token create`.
type TokenCreateDoc struct {
	Version int              `json:"version"`
	Token   string           `json:"token"`
	Info    agentos.APIToken `json:"info"`
}

func newCmdTokenCreate(f *Factory) *cobra.Command {
	var name, role string
	var agent, asJSON bool
	var expires time.Duration
	cmd := &cobra.Command{
		Use:   "create --name NAME --role viewer|submitter|answerer|approver|admin [--expires DURATION] [--agent]",
		Short: "Make a token; it is printed once (stdout) and stored hashed",
		Long: "Roles are ordered, each with what the ones before it may do: viewer (read), submitter (submit, apply, " +
			"cancel, re-plan), answerer (answer questions), approver (approve, reject), admin (force-release locks, list tokens). " +
			"Answering and approving also need the person's own signature with a key listed under signers: in agentos.yaml: " +
			"a token alone never decides. Requests act as human:NAME, or agent:NAME with --agent (viewer or submitter only).",
		Example: `  agentos token create --name alice --role approver --expires 720h
  agentos token create --name ci --agent --role submitter`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if name == "" || role == "" {
				return usageErr("--name and --role are required")
			}
			r, err := tokens.ParseRole(role)
			if err != nil {
				return err
			}
			svc, by, err := f.tokenAdmin(ctx)
			if err != nil {
				return err
			}
			secret, t, err := svc.Create(ctx, tokens.CreateOptions{Name: name, Role: r, Agent: agent, TTL: expires, By: by})
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(f, TokenCreateDoc{Version: 1, Token: secret, Info: t})
			}
			fmt.Fprintln(f.IO.Out, secret)
			exp := "never expires"
			if !t.ExpiresAt.IsZero() {
				exp = "expires " + t.ExpiresAt.Format(time.RFC3339)
			}
			fmt.Fprintf(f.IO.ErrOut, "token %s for %s, role %s, %s: shown once, keep it secret (revoke with `agentos token revoke %s`)\n", t.ID, t.Actor, t.Role, exp, t.ID)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "who holds it: a person's `name` (or a service's, with --agent)")
	cmd.Flags().StringVar(&role, "role", "", "viewer, submitter, answerer, approver or admin")
	cmd.Flags().DurationVar(&expires, "expires", 0, "valid for this `duration` (e.g. 720h; default: until revoked)")
	cmd.Flags().BoolVar(&agent, "agent", false, "a service's token: requests act as agent:NAME")
	addJSONFlag(cmd, f, &asJSON)
	return cmd
}

// TokenListDoc is the --json document of `agentos token list`.
type TokenListDoc struct {
	Version int                `json:"version"`
	Tokens  []agentos.APIToken `json:"tokens"`
}

func newCmdTokenList(f *Factory) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List tokens (never their secrets): name, role, expiry, revocation",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			db, err := f.DBReadOnly(ctx)
			if err != nil {
				return err
			}
			ts, ok := db.(agentos.TokenStore)
			if !ok {
				return agentos.Errorf(agentos.EINVALID, "this store keeps no API tokens")
			}
			all, err := (&tokens.Service{DB: ts, Now: f.Now}).List(ctx)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(f, TokenListDoc{Version: 1, Tokens: all})
			}
			if len(all) == 0 {
				fmt.Fprintln(f.IO.ErrOut, "no tokens: make one with `agentos token create --name NAME --role ROLE`")
				return nil
			}
			w := tabwriter.NewWriter(f.IO.Out, 0, 2, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tACTOR\tROLE\tCREATED\tEXPIRES\tSTATE")
			for _, t := range all {
				exp, state := "-", "live"
				if !t.ExpiresAt.IsZero() {
					exp = t.ExpiresAt.Format(time.RFC3339)
					if !f.Now().Before(t.ExpiresAt) {
						state = "expired"
					}
				}
				if !t.RevokedAt.IsZero() {
					state = "revoked " + t.RevokedAt.Format(time.RFC3339) + " by " + string(t.RevokedBy)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Actor, t.Role, t.CreatedAt.Format(time.RFC3339), exp, state)
			}
			return w.Flush()
		},
	}
	addJSONFlag(cmd, f, &asJSON)
	return cmd
}

func newCmdTokenRevoke(f *Factory) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "revoke ID|NAME",
		Short: "Revoke a token by ID, or every live token of NAME; it stops working at once",
		Args:  exactArgs(1, "ID|NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			svc, by, err := f.tokenAdmin(ctx)
			if err != nil {
				return err
			}
			done, err := svc.Revoke(ctx, args[0], by)
			for _, t := range done {
				fmt.Fprintf(f.IO.ErrOut, "revoked %s (%s, role %s)\n", t.ID, t.Actor, t.Role)
			}
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(f, TokenListDoc{Version: 1, Tokens: done})
			}
			return nil
		},
	}
	addJSONFlag(cmd, f, &asJSON)
	return cmd
}

// tokenAdmin is the token service over the read-write store and the local
// admin who acts: the OS user (--as grants nothing here, and an agent's
// session never makes tokens).
func (f *Factory) tokenAdmin(ctx context.Context) (*tokens.Service, agentos.Actor, error) {
	for _, k := range agentSessionEnv {
		if _, ok := os.LookupEnv(k); ok {
			return nil, "", agentos.Errorf(agentos.EDENIED, "agentos token runs inside an agent session (%s is set): only the local admin makes and revokes API tokens", k)
		}
	}
	if f.As != "" {
		return nil, "", usageErr("--as: tokens are made and revoked by the local admin, the OS user; drop --as")
	}
	me, err := osUser()
	if err != nil {
		return nil, "", err
	}
	db, err := f.DB(ctx)
	if err != nil {
		return nil, "", err
	}
	ts, ok := db.(agentos.TokenStore)
	if !ok {
		return nil, "", agentos.Errorf(agentos.EINVALID, "this store keeps no API tokens")
	}
	return &tokens.Service{DB: ts, Now: f.Now}, agentos.Human(me), nil
}
