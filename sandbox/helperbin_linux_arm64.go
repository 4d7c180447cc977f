package sandbox

import _ "embed"

// embeddedHelper is agentos-sandbox-helper for linux/arm64 (helperbin_linux.go).
//
//go:embed helperbin/agentos-sandbox-helper-linux-arm64
var embeddedHelper []byte
