package sandbox_test

import (
	"slices"
	"testing"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/sandbox"
)

func TestEnv(t *testing.T) {
	parent := []string{
		"PATH=relative:/usr/bin", "HOME=/home/me", "TMPDIR=/tmp/me",
		"SECRET_TOKEN=hunter2", "AWS_SECRET_ACCESS_KEY=x", "GOFLAGS=-mod=mod",
	}
	for _, k := range agentos.BaseEnvAllow() {
		parent = append(parent, k+"=v-"+k)
	}
	got := sandbox.Env(parent, []string{"GOFLAGS", "HOME"}, "/scratch")
	want := []string{"PATH=/usr/bin", "HOME=/scratch", "TMPDIR=/scratch", "AGENTOS=1", "GOFLAGS=-mod=mod"}
	for _, k := range agentos.BaseEnvAllow() {
		want = append(want, k+"=v-"+k)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("Env =\n%q\nwant\n%q", got, want)
	}
}

func TestSearchPathDefault(t *testing.T) {
	if got := sandbox.SearchPath([]string{"PATH=.:bin"}); got != "/usr/local/bin:/usr/bin:/bin" {
		t.Errorf("SearchPath with only relative entries = %q", got)
	}
}
