package cli

import (
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/agentos/agentos"
)

// newCmdMan builds `agentos man`: man pages generated from the command tree
// itself, so they can never describe flags the binary does not have.
func newCmdMan(root *cobra.Command) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "man [--dir DIR]",
		Short: "Write the man pages (section 1) generated from the command tree",
		Long: "Without --dir, print agentos(1) (read it with `agentos man | man -l -`). With --dir, write one page per " +
			"command there (agentos.1, agentos-run.1, …), e.g. into /usr/local/share/man/man1.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			header := &doc.GenManHeader{Title: "AGENTOS", Section: "1", Source: "agentos " + agentos.Version, Manual: "AgentOS Manual"}
			root.DisableAutoGenTag = true
			if dir == "" {
				return doc.GenMan(root, header, cmd.OutOrStdout())
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return agentos.WrapError(agentos.EINVALID, err, "--dir %s: %v", dir, err)
			}
			if err := doc.GenManTree(root, header, dir); err != nil {
				return agentos.WrapError(agentos.EINTERNAL, err, "writing man pages to %s: %v", dir, err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "write one page per command into `DIR`")
	return cmd
}
