package config

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestSandboxIdentity(t *testing.T) {
	c, err := Parse([]byte("version: 1\n"), "agentos.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Sandbox.Identity.UID != nil || c.Sandbox.Identity.GID != nil {
		t.Fatalf("default identity = %+v, want unset", c.Sandbox.Identity)
	}
	c, err = Parse([]byte("version: 1\nsandbox:\n  identity: {uid: 3000000000, gid: 3000000001}\n"), "agentos.yaml")
	if err != nil || *c.Sandbox.Identity.UID != 3000000000 || *c.Sandbox.Identity.GID != 3000000001 {
		t.Fatalf("Parse = %+v, %v", c.Sandbox.Identity, err)
	}
	cases := []struct{ yaml, want string }{
		{"{uid: 0}", "sandbox.identity.uid: 0 is root's"},
		{"{gid: 0}", "sandbox.identity.gid: 0 is root's"},
		{"{uid: 4294967295}", "not a valid id"},
		{"{uid: -1}", "wrong type"},
	}
	if os.Getuid() != 0 { // as root, the 0 cases above are the caller's
		cases = append(cases,
			struct{ yaml, want string }{fmt.Sprintf("{uid: %d}", os.Getuid()), "is agentos's own uid"},
			struct{ yaml, want string }{fmt.Sprintf("{uid: 7, gid: %d}", os.Getgid()), "is agentos's own gid"})
	}
	for _, tc := range cases {
		_, err := Parse([]byte("version: 1\nsandbox:\n  identity: "+tc.yaml+"\n"), "agentos.yaml")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("identity %s: Parse = %v, want an error containing %q", tc.yaml, err, tc.want)
		}
	}
}
