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
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
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
		sha1sum := sha1.Sum(tgz)
		sha512sum := sha512.Sum512(tgz)
		tarURL := url + "/" + name + "/-/" + name + "-" + version + ".tgz"
		packument, _ := json.Marshal(map[string]any{
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
		mux := http.NewServeMux()
		mux.HandleFunc("/"+name, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(packument)
		})
		mux.HandleFunc("/"+name+"/-/", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != strings.TrimPrefix(tarURL, url) {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(tgz)
		})
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
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
