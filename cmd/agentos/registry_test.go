package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha1"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// npmregistry serves one npm package from a directory of the script, the
// way registry.npmjs.org would, on a loopback port; $REGISTRY is its URL:
//
//	npmregistry start NAME VERSION DIR
//	npmregistry stop
//
// A test fills a local npm cache (`npm install --registry $REGISTRY` on
// the host, as a developer would have), stops the registry, and then shows
// an offline install inside the sandbox finds everything in that cache.
func cmdNPMRegistry(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: npmregistry start NAME VERSION DIR | npmregistry stop")
	}
	switch {
	case args[0] == "start" && len(args) == 4:
		name, version, dir := args[1], args[2], ts.MkAbs(args[3])
		tgz, err := npmTarball(dir)
		ts.Check(err)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		ts.Check(err)
		url := "http://" + ln.Addr().String()
		srv := &http.Server{Handler: npmHandler(name, version, url, tgz), ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		npmMu.Lock()
		npmRegistries[ts] = srv
		npmMu.Unlock()
		ts.Defer(func() { srv.Close() })
		ts.Setenv("REGISTRY", url)
	case args[0] == "stop" && len(args) == 1:
		npmMu.Lock()
		srv := npmRegistries[ts]
		delete(npmRegistries, ts)
		npmMu.Unlock()
		if srv == nil {
			ts.Fatalf("npmregistry stop: no registry started")
		}
		srv.Close()
	default:
		ts.Fatalf("usage: npmregistry start NAME VERSION DIR | npmregistry stop")
	}
}

// npmRegistries are the running registries, one per script (scripts run
// in parallel).
var (
	npmMu         sync.Mutex
	npmRegistries = map[*testscript.TestScript]*http.Server{}
)

// npmTarball packs dir as npm does: a gzipped tar whose entries are under
// package/.
func npmTarball(dir string) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: "package/" + filepath.ToSlash(rel), Mode: 0o644, Size: int64(len(b)), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err = tw.Write(b)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// npmPackument is the registry document of one package version.
func npmPackument(name, version, tarURL string, tgz []byte) []byte {
	sha1sum := sha1.Sum(tgz)
	sha512sum := sha512.Sum512(tgz)
	b, _ := json.Marshal(map[string]any{
		"name":      name,
		"dist-tags": map[string]string{"latest": version},
		"versions": map[string]any{version: map[string]any{
			"name": name, "version": version,
			"dist": map[string]string{
				"tarball":   tarURL,
				"shasum":    hex.EncodeToString(sha1sum[:]),
				"integrity": "sha512-" + base64.StdEncoding.EncodeToString(sha512sum[:]),
			},
		}},
	})
	return b
}

// npmHandler serves a packument and the tarball of one package version.
func npmHandler(name, version, url string, tgz []byte) http.Handler {
	tarPath := fmt.Sprintf("/%s/-/%s-%s.tgz", name, name, version)
	packument := npmPackument(name, version, url+tarPath, tgz)
	mux := http.NewServeMux()
	mux.HandleFunc("/"+name, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(packument)
	})
	mux.HandleFunc(tarPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(tgz)
	})
	return mux
}
