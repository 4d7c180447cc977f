// Package passkeytest is a software WebAuthn authenticator for tests: it
// makes a passkey bound to an origin and signs assertions with it the way
// a browser and authenticator do (clientDataJSON, authenticatorData,
// ECDSA P-256 over both), so that verification can be tested without a
// browser, including with fields a real browser would never produce.
package passkeytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/url"

	"github.com/agentos/agentos/signers"
	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
)

// Authenticator holds one passkey's private key.
type Authenticator struct {
	Key     signers.Passkey
	private *ecdsa.PrivateKey
}

// New makes a passkey for origin.
func New(origin string) (*Authenticator, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	pub, err := priv.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		return nil, err
	}
	cose, err := webauthncbor.Marshal(webauthncose.EC2PublicKeyData{
		PublicKeyData: webauthncose.PublicKeyData{KeyType: int64(webauthncose.EllipticKey), Algorithm: int64(webauthncose.AlgES256)},
		Curve:         1, XCoord: pub[1:33], YCoord: pub[33:],
	})
	if err != nil {
		return nil, err
	}
	id := make([]byte, 16)
	rand.Read(id)
	return &Authenticator{Key: signers.Passkey{Origin: origin, CredentialID: id, PublicKey: cose}, private: priv}, nil
}

// Ceremony is what the browser would put in clientDataJSON and the
// authenticator in authenticatorData; tests change fields to forge.
type Ceremony struct {
	Type        string `json:"type"`
	Challenge   string `json:"challenge"`
	Origin      string `json:"origin"`
	CrossOrigin bool   `json:"crossOrigin"`
	RPID        string `json:"-"`
	Flags       byte   `json:"-"`
}

// Ceremony returns the honest ceremony for msg.
func (a *Authenticator) Ceremony(msg []byte) Ceremony {
	u, _ := url.Parse(a.Key.Origin)
	return Ceremony{Type: "webauthn.get", Challenge: signers.Challenge(msg), Origin: a.Key.Origin, RPID: u.Hostname(), Flags: 0x05}
}

// Assert signs msg honestly.
func (a *Authenticator) Assert(msg []byte) signers.Assertion {
	return a.AssertCeremony(a.Ceremony(msg))
}

// AssertCeremony signs c as given.
func (a *Authenticator) AssertCeremony(c Ceremony) signers.Assertion {
	cd, _ := json.Marshal(c)
	rp := sha256.Sum256([]byte(c.RPID))
	ad := append(rp[:], c.Flags, 0, 0, 0, 1)
	cdh := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, ad...), cdh[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, a.private, digest[:])
	if err != nil {
		panic(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return signers.Assertion{CredentialID: a.Key.ID(), AuthenticatorData: enc(ad), ClientDataJSON: enc(cd), Signature: enc(sig)}
}
