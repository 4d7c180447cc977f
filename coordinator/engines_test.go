package coordinator

import (
	"fmt"
	"testing"

	"github.com/agentos/agentos/config"
)

// The compiled-policy cache belongs to the coordinator, returns the same
// engine for the same policy, and keeps only the newest engineCacheSize
// policies however often the policy changes.
func TestEngineCacheBounded(t *testing.T) {
	ec := &engineCache{}
	cfg, err := config.Parse([]byte("version: 1\n"), config.FileName)
	if err != nil {
		t.Fatal(err)
	}
	c := &Coordinator{Config: cfg, engines: ec}
	a, err := c.policyEngine()
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := c.policyEngine(); b != a {
		t.Fatal("the same policy compiled twice")
	}
	for i := range 3 * engineCacheSize {
		cc := *c
		cc.Config = &config.Config{}
		*cc.Config = *cfg
		cc.Config.Hash = fmt.Sprintf("sha256:%d", i)
		if _, err := cc.commandRules(); err != nil {
			t.Fatal(err)
		}
	}
	if len(ec.entries) != engineCacheSize {
		t.Fatalf("%d policies cached, want %d", len(ec.entries), engineCacheSize)
	}
}
