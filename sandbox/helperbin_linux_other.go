//go:build linux && !amd64 && !arm64

package sandbox

// embeddedHelper: none for this architecture; agentos re-executes itself
// as the helper (helperbin_linux.go).
var embeddedHelper []byte
