package config_test

import (
	"slices"
	"testing"

	"github.com/agentos/agentos/config"
)

func TestDifferences(t *testing.T) {
	parse := func(s string) *config.Config {
		t.Helper()
		c, err := config.Parse([]byte(s), config.FileName)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	base := `version: 1
commands: {allow: ["true", cat]}
gates:
  - {id: ci, when: "true", effect: require_approval}
  - {id: big, when: "plan.lines_changed > 10", effect: deny}
`
	cases := []struct {
		name, other string
		want        []string
	}{
		{"same rules, a comment more", base + "# note\n", nil},
		{"a gate removed, one changed, one added, the allowlist widened", `version: 1
commands: {allow: ["true", cat, touch]}
gates:
  - {id: big, when: "plan.lines_changed > 99", effect: deny}
  - {id: new, when: "true", effect: allow}
`, []string{"commands.allow: changed", "gates.ci: removed", "gates.big: changed", "gates.new: added"}},
		{"reordered", `version: 1
commands: {allow: ["true", cat]}
gates:
  - {id: big, when: "plan.lines_changed > 10", effect: deny}
  - {id: ci, when: "true", effect: require_approval}
`, []string{"gates: reordered"}},
		{"a section", base + "sandbox: {network: true}\n", []string{"sandbox.network: changed"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := config.Differences(parse(base), parse(tc.other))
			if !slices.Equal(got, tc.want) {
				t.Fatalf("Differences = %q, want %q", got, tc.want)
			}
		})
	}
}
