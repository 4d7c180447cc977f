package config

import "testing"

func TestParseAllowTCP(t *testing.T) {
	for _, tc := range []struct {
		entry, host string
		port        uint16
		bad         bool
	}{
		{entry: "localhost:8080", host: "localhost", port: 8080},
		{entry: "LocalHost:8080", host: "localhost", port: 8080},
		{entry: "localhost.:8080", host: "localhost", port: 8080},
		{entry: "Registry.NPMJS.org:443", host: "registry.npmjs.org", port: 443},
		{entry: "127.0.0.1:8080", host: "127.0.0.1", port: 8080},
		{entry: "[::1]:11434", host: "::1", port: 11434},
		{entry: "localhost", bad: true},
		{entry: "localhost:0", bad: true},
		{entry: "bad host:80", bad: true},
		{entry: ".:80", bad: true},
	} {
		host, port, err := ParseAllowTCP(tc.entry)
		if tc.bad {
			if err == nil {
				t.Errorf("%q: accepted as %s:%d, want an error", tc.entry, host, port)
			}
			continue
		}
		if err != nil || host != tc.host || port != tc.port {
			t.Errorf("%q = %q, %d, %v; want %q, %d", tc.entry, host, port, err, tc.host, tc.port)
		}
	}
}
