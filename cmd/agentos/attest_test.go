package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/crypto/ssh"
)

// The attestation scripts check AgentOS's envelopes with code of their own:
// DSSE's pre-authentication encoding and ed25519, written out again here
// from the DSSE specification, and the key read as ssh does. Nothing of the
// attest package is used, so a bug there cannot vouch for itself.

type testEnvelope struct {
	PayloadType string `json:"payloadType"`
	Payload     string `json:"payload"`
	Signatures  []struct {
		KeyID string `json:"keyid"`
		Sig   string `json:"sig"`
	} `json:"signatures"`
}

func readEnvelope(ts *testscript.TestScript, file string) testEnvelope {
	b, err := os.ReadFile(ts.MkAbs(file))
	ts.Check(err)
	var e testEnvelope
	if err := json.Unmarshal(b, &e); err != nil {
		ts.Fatalf("%s is not a DSSE envelope: %v", file, err)
	}
	return e
}

// dsseverify ENVELOPE KEYDIR: the envelope's signature verifies with the
// one ed25519 private key file in KEYDIR (the audit key), over
// "DSSEv1 len(type) type len(payload) payload"; the payload is printed.
func cmdDSSEVerify(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: dsseverify ENVELOPE KEYDIR")
	}
	e := readEnvelope(ts, args[0])
	keys, _ := filepath.Glob(filepath.Join(ts.MkAbs(args[1]), "*"))
	if len(keys) != 1 {
		ts.Fatalf("want one key in %s, found %v", args[1], keys)
	}
	kb, err := os.ReadFile(keys[0])
	ts.Check(err)
	raw, err := ssh.ParseRawPrivateKey(kb)
	ts.Check(err)
	priv, ok := raw.(*ed25519.PrivateKey)
	if !ok {
		ts.Fatalf("%s is a %T", keys[0], raw)
	}
	pub := priv.Public().(ed25519.PublicKey)
	payload, err := base64.StdEncoding.DecodeString(e.Payload)
	ts.Check(err)
	pae := []byte("DSSEv1 " + strconv.Itoa(len(e.PayloadType)) + " " + e.PayloadType + " " + strconv.Itoa(len(payload)) + " ")
	pae = append(pae, payload...)
	good := false
	for _, s := range e.Signatures {
		sig, err := base64.StdEncoding.DecodeString(s.Sig)
		if err == nil && ed25519.Verify(pub, pae, sig) {
			good = true
		}
	}
	if e.PayloadType != "application/vnd.in-toto+json" {
		good = false
	}
	if good == neg {
		ts.Fatalf("dsseverify %s: signature verifies = %v", args[0], good)
	}
	fmt.Fprintf(ts.Stdout(), "%s\n", payload)
}

// dssetamper ENVELOPE OLD NEW OUT: the envelope with OLD replaced by NEW in
// its payload (the signature kept), written to OUT.
func cmdDSSETamper(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 4 {
		ts.Fatalf("usage: dssetamper ENVELOPE OLD NEW OUT")
	}
	b, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	var e map[string]any
	ts.Check(json.Unmarshal(b, &e))
	payload, err := base64.StdEncoding.DecodeString(e["payload"].(string))
	ts.Check(err)
	if !bytes.Contains(payload, []byte(args[1])) {
		ts.Fatalf("the payload has no %q", args[1])
	}
	e["payload"] = base64.StdEncoding.EncodeToString(bytes.ReplaceAll(payload, []byte(args[1]), []byte(args[2])))
	out, err := json.Marshal(e)
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[3]), out, 0o644))
}
