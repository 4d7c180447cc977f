// Package cli is the agentos command tree: one file per noun, each verb an
// Options struct, a NewCmd constructor and a run function writing only to the
// Factory's streams. Exit codes are decided once, in ExitCode.
package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/cli/cliexit"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// NewRootCmd builds the command tree. Every top-level command is listed
// here, in one place, so the tree is read rather than assembled by init
// funcs; each noun's file holds its constructor.
func NewRootCmd(f *Factory) *cobra.Command {
	root := &cobra.Command{
		Use:           "agentos",
		Short:         "Governed execution of AI-proposed changes",
		Long:          "AgentOS turns a request into an Intent and a dry-run Plan and, only after gates, locks and approvals, into a sandboxed, verified, traceable commit.",
		Version:       agentos.Version,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          unknownCommand,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	root.SetVersionTemplate("{{.Version}}")
	root.Version = readBuildInfo().String()
	root.PersistentFlags().StringVarP(&f.Dir, "repo", "C", f.Dir, "repository `dir` (default: the current directory)")
	root.PersistentFlags().StringVar(&f.As, "as", f.As, "pick which of your identities acts: the OS user, or a signer of agentos.yaml whose key you hold (grants nothing by itself)")
	root.PersistentFlags().StringVar(&f.KeyFile, "signing-key", f.KeyFile, "SSH key `file` that signs approvals, rejections and answers (default: $"+SigningKeyEnv+", else ssh-agent)")
	root.PersistentFlags().BoolVar(&f.Debug, "debug", false, "print error causes")
	root.PersistentFlags().BoolVar(&f.NoPager, "no-pager", false, "never page long output (default: $AGENTOS_PAGER or $PAGER, else less, on a terminal)")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		// `agentos rnu --plan x`: cobra found no command "rnu" and parsed
		// the flags against the root; the mistyped command is the news.
		if c == c.Root() {
			if name := firstArg(c, f.argv); name != "" && !isCommand(c, name) {
				return unknownCommand(c, []string{name})
			}
		}
		return usageErr("%v (see `%s --help`)", err, c.CommandPath())
	})
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)
	root.AddCommand(
		// Tasks: plan, decide, apply.
		newCmdPlan(f),
		newCmdApply(f),
		newCmdRun(f, runRequest),
		NewCmdSubmit(f),
		NewCmdWorker(f),
		newCmdApprove(f),
		newCmdReject(f),
		newCmdQuestions(f),
		newCmdAnswer(f),
		newCmdTask(f),
		newCmdRollback(f),
		NewCmdGC(f),
		// Reading what happened.
		newCmdReview(f),
		newCmdTrace(f),
		newCmdAudit(f),
		newCmdUsage(f),
		// Policy and its machinery.
		newCmdInit(f),
		newCmdPolicy(f),
		NewCmdScheduler(f),
		newCmdSandbox(f),
		NewCmdLock(f),
		NewCmdMemory(f),
		NewCmdWebhooks(f),
		NewCmdHook(f),
		newCmdMCP(f),
		NewCmdSession(f),
		newCmdDoctor(f),
		NewCmdSchema(f),
		newCmdDemo(f),
		newCmdVersion(f),
		// The HTTP API.
		newCmdServe(f),
		newCmdToken(f),
	)
	root.AddCommand(newCmdMan(root))
	root.SetHelpCommand(newCmdHelp(root))
	wireTaskCompletion(f, root)
	return root
}

// Main runs the CLI with args and returns the process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	f := NewFactory(stdin, stdout, stderr)
	defer f.Close()
	ctx, stop := signalContext(context.Background(), f.IO.ErrOut)
	defer stop()
	f.argv = args
	root := NewRootCmd(f)
	root.SetArgs(args)
	// --json asks for a JSON error too, also when the error is in the flags
	// themselves (parsed before any command's PreRunE could say so).
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "--json" || a == "--json=true" || a == "--jq" || strings.HasPrefix(a, "--jq=") {
			f.JSONErrors = true
		}
	}
	err := root.ExecuteContext(ctx)
	// Whatever the command was doing when a signal came: the user reads
	// why it stopped.
	err = cliexit.Interrupted(ctx, err)
	err = f.storeDamage(err)
	if f.progressEnd != nil {
		f.progressEnd()
	}
	if err != nil {
		printError(f, err)
	}
	return ExitCode(err)
}

func printError(f *Factory, err error) {
	// An error can quote outside text (a failing check's last line, a
	// model's answer): it is redacted like everything stored.
	msg := f.redactText(agentos.ErrorMessage(err))
	if f.JSONErrors {
		w := f.IO.ErrOut
		if f.errOut != nil {
			w = f.errOut
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"error":     msg,
			"code":      agentos.ErrorCode(err),
			"exit_code": ExitCode(err),
		})
		return
	}
	fmt.Fprintln(f.IO.ErrOut, cliexit.ErrorLine(err, msg, f.IO.ErrTTY && !f.IO.NoColor))
	if f.Debug {
		for e := err; e != nil; {
			u, ok := e.(interface{ Unwrap() error })
			if !ok {
				break
			}
			e = u.Unwrap()
			if e != nil {
				fmt.Fprintf(f.IO.ErrOut, "  cause: %s\n", f.redactText(e.Error()))
			}
		}
	}
}

// Exit codes: the documented contract (README, "Exit codes"), decided
// in cliexit.
const (
	ExitOK               = cliexit.OK
	ExitFailed           = cliexit.Failed
	ExitUsage            = cliexit.Usage
	ExitBlocked          = cliexit.Blocked
	ExitAwaitingApproval = cliexit.AwaitingApproval
	ExitHeld             = cliexit.Held
	ExitSignal           = cliexit.Signal
)

// ExitCode is the one place an error becomes an exit code.
func ExitCode(err error) int { return cliexit.Code(err) }

func usageErr(format string, args ...any) error {
	return agentos.Errorf(agentos.EINVALID, format, args...)
}

// noArgs refuses positional arguments as a usage error (cobra's own validators
// return plain errors, which would exit 1).
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErr("%s takes no arguments, got %q (see `%s --help`)", cmd.CommandPath(), args[0], cmd.CommandPath())
	}
	return nil
}

func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErr("usage: %s %s", cmd.CommandPath(), names)
		}
		return nil
	}
}

// group builds a parent command whose leftover arguments are usage errors.
func group(use, short string) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  unknownCommand,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
}

// unknownCommand refuses a parent command's leftover argument as the
// mistyped subcommand it most likely is, with cobra's suggestions
// (Levenshtein distance and prefixes): "did you mean task?".
func unknownCommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %s", args[0], cmd.CommandPath())
	if s := suggest(cmd, args[0]); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	}
	return usageErr("%s (see `%s --help`)", msg, cmd.CommandPath())
}

// firstArg is the first argument that is not a flag (nor a persistent
// flag's value), as cobra would have taken for the command name.
func firstArg(root *cobra.Command, args []string) string {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return ""
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			return a
		}
		if strings.Contains(a, "=") {
			continue
		}
		name := strings.TrimLeft(a, "-")
		var fl *pflag.Flag
		if strings.HasPrefix(a, "--") {
			fl = root.PersistentFlags().Lookup(name)
		} else if len(name) == 1 {
			fl = root.PersistentFlags().ShorthandLookup(name)
		}
		if fl != nil && fl.NoOptDefVal == "" {
			i++ // the flag's value
		}
	}
	return ""
}

// suggest names the subcommands of parent close to name (cobra's edit
// distance of 2 and prefixes).
func suggest(parent *cobra.Command, name string) []string {
	if parent.SuggestionsMinimumDistance <= 0 {
		parent.SuggestionsMinimumDistance = 2
	}
	return parent.SuggestionsFor(name)
}

func isCommand(parent *cobra.Command, name string) bool {
	for _, c := range parent.Commands() {
		if c.Name() == name || c.HasAlias(name) {
			return true
		}
	}
	return false
}

// newCmdHelp replaces cobra's help command, which prints the root's help
// and exits 0 for a topic it does not know: `agentos help nope` is a
// usage error that names the topic and suggests the near ones.
func newCmdHelp(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, rest, err := root.Find(args)
			if err != nil || len(rest) > 0 {
				parent := c
				if parent == nil {
					parent = root
				}
				name := args[len(args)-1]
				if len(rest) > 0 {
					name = rest[0]
				}
				msg := fmt.Sprintf("unknown help topic %q", strings.Join(args, " "))
				if s := suggest(parent, name); len(s) > 0 {
					msg += "; did you mean " + strings.Join(s, " or ") + "?"
				}
				return usageErr("%s (see `%s --help`)", msg, root.CommandPath())
			}
			return c.Help()
		},
	}
}
