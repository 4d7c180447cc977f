package contractortest

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// TestInstallCLIs installs every pinned CLI (skipped under -short or without
// npm off CI, failed under CI=true). .ci/run runs it alone before go test
// ./..., so the npm installs happen once, up front, with their own log line.
func TestInstallCLIs(t *testing.T) {
	for name, c := range CLIs {
		t.Run(name, func(t *testing.T) {
			bin := InstallCLI(t, name)
			if _, err := os.Stat(filepath.Join(bin, c.Bin)); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s@%s: %s", c.Package, c.Version, filepath.Join(bin, c.Bin))
		})
	}
}

// TestCLIsPinned keeps the table exact: a range or a tag would make the
// version-keyed cache lie about what it holds.
func TestCLIsPinned(t *testing.T) {
	exact := regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+$`)
	for name, c := range CLIs {
		if !exact.MatchString(c.Version) {
			t.Errorf("CLIs[%q].Version = %q, want an exact x.y.z", name, c.Version)
		}
		if c.Package == "" || c.Bin == "" {
			t.Errorf("CLIs[%q] = %+v, want a package and a bin", name, c)
		}
	}
}
