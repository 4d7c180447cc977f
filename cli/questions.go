package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/signers"
	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
)

func newCmdQuestions(f *Factory) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "questions TASK",
		Short: "Print the QuestionPack a blocked task waits on",
		Args:  exactArgs(1, "TASK"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			db, t, err := f.Task(ctx, args[0])
			if err != nil {
				return err
			}
			qp, err := db.LatestQuestionPack(ctx, t.ID)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(f, qp)
			}
			w := f.IO.Out
			fmt.Fprintf(w, "task %s is %s\nQuestionPack %s (%s)\nmode %s, budget %s, used %d\n\n", t.ID, t.State, qp.ID, qp.Hash, qp.Mode, budgetText(qp.Budget.Limit), qp.Budget.Used)
			var sets []string
			for _, q := range qp.Questions {
				kind := string(q.Kind)
				if q.Blocker {
					kind += ", blocker"
				}
				fmt.Fprintf(w, "%s (%s)\n  %s\n", q.ID, kind, q.Text)
				if q.Why != "" {
					fmt.Fprintf(w, "  why: %s\n", q.Why)
				}
				if len(q.Options) > 0 {
					fmt.Fprintf(w, "  options: %s\n", strings.Join(q.Options, ", "))
				}
				if q.Default != "" {
					fmt.Fprintf(w, "  default: %s\n", q.Default)
				}
				sets = append(sets, "--set "+q.ID+"=…")
			}
			if t.State == agentos.StateBlocked {
				fmt.Fprintf(w, "\nanswer with: agentos answer %s %s\n", t.ID, strings.Join(sets, " "))
			}
			return nil
		},
	}
	addJSONFlag(cmd, f, &asJSON)
	return cmd
}

func budgetText(n int) string {
	if n < 0 {
		return "unlimited"
	}
	return fmt.Sprint(n)
}

func newCmdAnswer(f *Factory) *cobra.Command {
	var sets []string
	var file string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "answer TASK (--set ID=VALUE... | --file ANSWERS.yaml)",
		Short: "Answer a blocked task's questions and resume it",
		Long: `Answer accepts an AnswerPack for a blocked task and resumes it: the task is
re-planned with the answers (a new plan hash; the old plan is kept) and
continues through the gates. With --set the AnswerPack is built for the
current QuestionPack; with --file it is read from YAML or JSON:

  pack: q…            # the QuestionPack id
  pack_hash: sha256:… # and its hash
  answers:
    - {question: version, value: 1.4.0, note: "optional"}`,
		Args: exactArgs(1, "TASK"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if err := refuseAgentSession("answer"); err != nil {
				return err
			}
			if (len(sets) == 0) == (file == "") {
				return usageErr("give the answers with --set ID=VALUE (repeatable) or --file ANSWERS.yaml")
			}
			c, err := f.Coordinator(ctx)
			if err != nil {
				return err
			}
			who, err := f.Decider(ctx, signers.RoleAnswer)
			if err != nil {
				return err
			}
			t, err := c.DB.Task(ctx, args[0])
			if err != nil {
				return err
			}
			var ap agentos.AnswerPack
			if file != "" {
				b, err := os.ReadFile(file)
				if err != nil {
					return agentos.Errorf(agentos.EINVALID, "cannot read %s: %v", file, err)
				}
				if ap, err = parseAnswerPack(b); err != nil {
					return agentos.Errorf(agentos.EINVALID, "%s: %v", file, err)
				}
			} else {
				if t.State != agentos.StateBlocked {
					return agentos.Errorf(agentos.ECONFLICT, "task %s is %s, not blocked: there is nothing to answer", t.ID, t.State)
				}
				qp, err := c.DB.LatestQuestionPack(ctx, t.ID)
				if err != nil {
					return err
				}
				ap = agentos.AnswerPack{Pack: qp.ID, PackHash: qp.Hash}
				for _, s := range sets {
					k, v, ok := strings.Cut(s, "=")
					if !ok || k == "" {
						return usageErr("--set %q: want ID=VALUE", s)
					}
					ap.Answers = append(ap.Answers, agentos.Answer{Question: k, Value: v})
				}
			}
			t, err = c.Answer(ctx, t.ID, ap, who)
			return f.reportTask(ctx, t, err, asJSON)
		},
	}
	cmd.Flags().StringArrayVar(&sets, "set", nil, "answer one question: `ID=VALUE` (repeatable)")
	cmd.Flags().StringVar(&file, "file", "", "an AnswerPack `file` (YAML or JSON)")
	addJSONFlag(cmd, f, &asJSON)
	return cmd
}

// answerPackFile is the on-disk AnswerPack: strict, so a typo is an error
// rather than a silently missing answer.
type answerPackFile struct {
	Version  int    `yaml:"version" json:"version"`
	Pack     string `yaml:"pack" json:"pack"`
	PackHash string `yaml:"pack_hash" json:"pack_hash"`
	Answers  []struct {
		Question string `yaml:"question" json:"question"`
		Value    string `yaml:"value" json:"value"`
		Note     string `yaml:"note" json:"note"`
	} `yaml:"answers" json:"answers"`
}

func parseAnswerPack(b []byte) (agentos.AnswerPack, error) {
	var raw answerPackFile
	trimmed := strings.TrimSpace(string(b))
	if strings.HasPrefix(trimmed, "{") {
		dec := json.NewDecoder(strings.NewReader(trimmed))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&raw); err != nil {
			return agentos.AnswerPack{}, fmt.Errorf("not a valid AnswerPack: %v", err)
		}
	} else {
		dec := yaml.NewDecoder(strings.NewReader(trimmed))
		dec.KnownFields(true)
		if err := dec.Decode(&raw); err != nil {
			return agentos.AnswerPack{}, fmt.Errorf("not a valid AnswerPack: %s", strings.TrimPrefix(err.Error(), "yaml: "))
		}
	}
	if raw.Version != 0 && raw.Version != agentos.DocVersion {
		return agentos.AnswerPack{}, fmt.Errorf("version %d is not supported (want %d)", raw.Version, agentos.DocVersion)
	}
	if raw.Pack == "" || raw.PackHash == "" {
		return agentos.AnswerPack{}, fmt.Errorf("missing pack or pack_hash: name the QuestionPack this answers (see `agentos questions TASK --json`)")
	}
	if len(raw.Answers) == 0 {
		return agentos.AnswerPack{}, fmt.Errorf("no answers")
	}
	ap := agentos.AnswerPack{Version: agentos.DocVersion, Pack: raw.Pack, PackHash: raw.PackHash}
	for i, a := range raw.Answers {
		if a.Question == "" {
			return ap, fmt.Errorf("answer %d: missing question", i+1)
		}
		ap.Answers = append(ap.Answers, agentos.Answer{Question: a.Question, Value: a.Value, Note: a.Note})
	}
	return ap, nil
}
