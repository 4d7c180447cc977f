package mcptest

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestInstallPackages installs every pinned package (failed under
// CI=true, skipped elsewhere without npm). .ci/run runs it alone before go
// test ./..., so the npm installs happen once, up front.
func TestInstallPackages(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no npm installs")
	}
	for key := range Packages {
		t.Run(key, func(t *testing.T) {
			dir, err := Install(t.Context(), key)
			if err != nil {
				fail, msg := Unavailable(os.Getenv("CI") == "true", key, err)
				if fail {
					t.Fatal(msg)
				}
				t.Skip(strings.SplitN(msg, "\n", 2)[0])
			}
			t.Log(dir)
		})
	}
}

// TestPackagesPinned keeps the table exact: a range would make the
// version-keyed cache lie about what it holds.
func TestPackagesPinned(t *testing.T) {
	exact := regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+$`)
	for key, p := range Packages {
		if !exact.MatchString(p.Version) || p.Name == "" || p.Check == "" {
			t.Errorf("Packages[%q] = %+v, want a name, an exact x.y.z version and a check path", key, p)
		}
	}
}
