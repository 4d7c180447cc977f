package cli

import (
	"strings"

	"github.com/agentos/agentos/schema"
	"github.com/spf13/cobra"
)

// SchemaOptions are the inputs of `agentos schema`.
type SchemaOptions struct {
	IO   *IOStreams
	Name string
	// JSON lists the schema names as a JSON array (a schema itself is
	// always JSON).
	JSON bool
}

// NewCmdSchema builds `agentos schema [NAME]`.
func NewCmdSchema(f *Factory) *cobra.Command {
	opts := &SchemaOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "schema [NAME]",
		Short: "Print the JSON Schema of a document (intent, plan, event.KIND, ...); without NAME, list them",
		Long: "Print the JSON Schema of an AgentOS document, as built into the binary. The artifact schemas (" +
			strings.Join(schema.ArtifactNames(), ", ") + ") are strict-mode Structured Outputs schemas: the LLM " +
			"planner sends them to the model. event.KIND is the schema of the data of an audit event of that kind, " +
			"derived from its payload type; `agentos audit verify` checks every event's data against its kind.",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageErr("usage: %s [NAME]", cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Name = args[0]
			}
			if opts.Name == "" && opts.JSON {
				return printJSON(f, schema.Names())
			}
			return schemaRun(opts)
		},
	}
	addJSONFlag(cmd, f, &opts.JSON)
	return cmd
}

func schemaRun(opts *SchemaOptions) error {
	if opts.Name == "" {
		for _, n := range schema.Names() {
			opts.IO.Out.Write([]byte(n + "\n"))
		}
		return nil
	}
	b, err := schema.Get(opts.Name)
	if err != nil {
		return err
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		b = append(b, '\n')
	}
	_, err = opts.IO.Out.Write(b)
	return err
}
