package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/agentos/agentos"
	"github.com/spf13/cobra"
)

// buildInfo is what `agentos version` reports: the release, and the commit
// and time the Go toolchain stamped into the binary (absent under `go run`
// and in builds outside a git checkout, where it says so).
type buildInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	BuildDate string `json:"build_date,omitempty"`
	Modified  bool   `json:"modified,omitempty"`
	Go        string `json:"go"`
	Platform  string `json:"platform"`
	// DocVersion is the version stamped into every JSON artifact.
	DocVersion int `json:"doc_version"`
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: agentos.Version, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH, DocVersion: agentos.DocVersion}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Commit = s.Value
			case "vcs.time":
				b.BuildDate = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
	}
	return b
}

func (b buildInfo) String() string {
	commit, date := b.Commit, b.BuildDate
	if commit == "" {
		commit = "unknown (not stamped: built with `go run`, -buildvcs=false or outside a git checkout)"
	} else if b.Modified {
		commit += " (with uncommitted changes)"
	}
	if date == "" {
		date = "unknown"
	}
	return fmt.Sprintf("agentos %s\ncommit  %s\ndate    %s\ngo      %s %s\n", b.Version, commit, date, b.Go, b.Platform)
}

func newCmdVersion(f *Factory) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and build date of this binary",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			b := readBuildInfo()
			if asJSON {
				return printJSON(f, b)
			}
			_, err := fmt.Fprint(f.IO.Out, b.String())
			return err
		},
	}
	addJSONFlag(cmd, f, &asJSON)
	return cmd
}
