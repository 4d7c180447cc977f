package sandbox

import _ "embed"

// embeddedHelper is agentos-sandbox-helper for linux/amd64 (helperbin_linux.go).
//
//go:embed helperbin/agentos-sandbox-helper-linux-amd64
var embeddedHelper []byte
