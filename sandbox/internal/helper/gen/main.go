// Command gen builds the sandbox helper (../cmd/agentos-sandbox-helper) for
// every architecture agentos embeds it for, reproducibly: the same source
// and Go toolchain give the same bytes, which TestEmbeddedHelperIsCurrent
// checks. Run through `go generate ./sandbox/...`; -o names the output
// directory (sandbox/helperbin).
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Pkg is the helper's main package.
const Pkg = "github.com/agentos/agentos/sandbox/internal/helper/cmd/agentos-sandbox-helper"

// Arches are the architectures with an embedded helper (and a seccomp
// filter); elsewhere agentos re-executes itself as the helper.
var Arches = []string{"amd64", "arm64"}

func main() {
	out := flag.String("o", "helperbin", "output directory")
	flag.Parse()
	for _, arch := range Arches {
		dst := filepath.Join(*out, "agentos-sandbox-helper-linux-"+arch)
		if err := build(arch, dst); err != nil {
			fmt.Fprintf(os.Stderr, "gen: %s: %v\n", arch, err)
			os.Exit(1)
		}
	}
}

// build builds the helper for linux/arch into dst. Everything that can
// change the bytes is set here, not taken from the caller's environment:
// no cgo, no paths, no VCS stamp, no build id, the baseline instruction
// set of each architecture, this toolchain only.
func build(arch, dst string) error {
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=", "-o", dst, Pkg)
	env := []string{}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "CGO_ENABLED", "GOOS", "GOARCH", "GOAMD64", "GOARM64", "GOFLAGS", "GOEXPERIMENT", "GOTOOLCHAIN", "GODEBUG":
			continue
		}
		env = append(env, kv)
	}
	cmd.Env = append(env, "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch, "GOAMD64=v1", "GOARM64=v8.0",
		"GOFLAGS=-mod=readonly", "GOTOOLCHAIN=local")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}
