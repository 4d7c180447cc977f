package signers

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/agentos/agentos"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
)

// PasskeyType is the key type word of a WebAuthn passkey in a signers:
// entry: "NAME webauthn ORIGIN CREDENTIAL_ID PUBLIC_KEY [comment]".
const PasskeyType = "webauthn"

// AssertionPEM is the PEM block type of a WebAuthn assertion kept as a
// decision's signature (SignedStatement.Signature), the counterpart of an
// armored SSHSIG.
const AssertionPEM = "AGENTOS WEBAUTHN ASSERTION"

// PasskeyNamespace is SignedStatement.Namespace for a passkey decision.
const PasskeyNamespace = "webauthn"

// Passkey is a person's WebAuthn credential as the committed policy lists
// it: the origin of the web page it signs on (its host is the relying
// party id the authenticator binds the credential to), the credential id,
// and the credential's COSE public key.
type Passkey struct {
	Origin       string
	CredentialID []byte
	PublicKey    []byte // COSE_Key, as the authenticator's attested credential data gives it
	Comment      string
}

// RPID is the relying party id: the origin's host.
func (k Passkey) RPID() string {
	u, _ := url.Parse(k.Origin)
	return u.Hostname()
}

// ID is the credential id, base64url without padding (WebAuthn's own form).
func (k Passkey) ID() string { return base64.RawURLEncoding.EncodeToString(k.CredentialID) }

// Line is the key's form in a signers: entry, after the person's name.
func (k Passkey) Line() string {
	s := strings.Join([]string{PasskeyType, k.Origin, k.ID(), base64.RawURLEncoding.EncodeToString(k.PublicKey)}, " ")
	if k.Comment != "" {
		s += " " + k.Comment
	}
	return s
}

// IsPasskeyLine reports whether a signers: key string is a passkey
// ("webauthn …", optionally after principals).
func IsPasskeyLine(line string) bool {
	f := strings.Fields(line)
	return (len(f) > 0 && f[0] == PasskeyType) || (len(f) > 1 && f[1] == PasskeyType)
}

// ParsePasskeyLine parses "[principals] webauthn ORIGIN CREDENTIAL_ID
// PUBLIC_KEY [comment]". ORIGIN is https://HOST[:PORT], or http:// for
// localhost only (the one insecure origin browsers allow WebAuthn on).
// CREDENTIAL_ID and PUBLIC_KEY are base64url (padding optional); the key
// must parse as a COSE key of an algorithm WebAuthn verifies.
func ParsePasskeyLine(line string) (principals []string, key Passkey, err error) {
	f := strings.Fields(line)
	if len(f) > 0 && f[0] != PasskeyType {
		for p := range strings.SplitSeq(f[0], ",") {
			if err := agentos.ValidHumanName(p); err != nil {
				return nil, Passkey{}, fmt.Errorf("principal %v", err)
			}
			principals = append(principals, p)
		}
		f = f[1:]
	}
	if len(f) < 4 || f[0] != PasskeyType {
		return nil, Passkey{}, errors.New("passkey: want \"NAME webauthn ORIGIN CREDENTIAL_ID PUBLIC_KEY\" (the line the web page shows after creating a passkey)")
	}
	if key.Origin, err = CheckOrigin(f[1]); err != nil {
		return nil, Passkey{}, err
	}
	if key.CredentialID, err = b64url(f[2]); err != nil || len(key.CredentialID) == 0 {
		return nil, Passkey{}, fmt.Errorf("passkey credential id %q is not base64url", f[2])
	}
	if key.PublicKey, err = b64url(f[3]); err != nil {
		return nil, Passkey{}, fmt.Errorf("passkey public key is not base64url: %v", err)
	}
	if _, err := webauthncose.ParsePublicKey(key.PublicKey); err != nil {
		return nil, Passkey{}, fmt.Errorf("passkey public key is not a COSE key: %v", err)
	}
	key.Comment = strings.Join(f[4:], " ")
	return principals, key, nil
}

// CheckOrigin returns origin in its canonical form (scheme://host[:port],
// nothing else) or says why it cannot serve WebAuthn.
func CheckOrigin(origin string) (string, error) {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("passkey origin %q: want https://HOST[:PORT], the address the web page is served at", origin)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && u.Hostname() == "localhost":
	default:
		return "", fmt.Errorf("passkey origin %q: WebAuthn needs https (or http://localhost)", origin)
	}
	return u.Scheme + "://" + strings.ToLower(u.Host), nil
}

func b64url(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// Assertion is what an authenticator returned for navigator.credentials.get,
// kept verbatim so that it can be verified again at admission.
type Assertion struct {
	CredentialID      string `json:"credential_id"`      // base64url
	AuthenticatorData string `json:"authenticator_data"` // base64url
	ClientDataJSON    string `json:"client_data_json"`   // base64url
	Signature         string `json:"signature"`          // base64url
	UserHandle        string `json:"user_handle,omitempty"`
}

// Armor returns the assertion as a PEM block (SignedStatement.Signature).
func (a Assertion) Armor() string {
	b, _ := json.Marshal(a)
	return string(pem.EncodeToMemory(&pem.Block{Type: AssertionPEM, Bytes: b}))
}

// ParseAssertion reads an armored assertion.
func ParseAssertion(armored string) (Assertion, error) {
	blk, rest := pem.Decode([]byte(armored))
	if blk == nil || blk.Type != AssertionPEM || len(bytes.TrimSpace(rest)) != 0 {
		return Assertion{}, errors.New("not a WebAuthn assertion")
	}
	var a Assertion
	dec := json.NewDecoder(bytes.NewReader(blk.Bytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return Assertion{}, fmt.Errorf("WebAuthn assertion does not decode: %v", err)
	}
	return a, nil
}

// IsAssertion reports whether a stored signature is a WebAuthn assertion
// rather than an SSHSIG.
func IsAssertion(armored string) bool {
	return strings.HasPrefix(strings.TrimSpace(armored), "-----BEGIN "+AssertionPEM+"-----")
}

// Challenge is the WebAuthn challenge for a statement: its SHA-256,
// base64url. The authenticator signs over clientDataJSON, which holds it.
func Challenge(msg []byte) string {
	sum := sha256.Sum256(msg)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// clientData is the part of clientDataJSON an assertion is judged by
// (WebAuthn §5.8.1).
type clientData struct {
	Type        string `json:"type"`
	Challenge   string `json:"challenge"`
	Origin      string `json:"origin"`
	CrossOrigin bool   `json:"crossOrigin"`
	TopOrigin   string `json:"topOrigin"`
}

// Authenticator data flags (WebAuthn §6.1).
const (
	flagUserPresent  = 0x01
	flagUserVerified = 0x04
)

// VerifyAssertion checks that a was made by passkey k over msg, following
// WebAuthn's verification of an assertion (§7.2): the ceremony is
// webauthn.get, the challenge is msg's hash, the origin is k's origin
// exactly and not a cross-origin frame, the authenticator data names k's
// relying party and says the user was present and verified, and the
// signature over authenticatorData || SHA-256(clientDataJSON) verifies
// under k's COSE key. The key parsing and the signature check are
// go-webauthn's (webauthncose); this package only reads the two
// structures, which keeps the pipeline clear of go-webauthn's protocol
// package and what it imports.
func VerifyAssertion(k Passkey, msg []byte, a Assertion) error {
	raw, err := b64url(a.CredentialID)
	if err != nil || !bytes.Equal(raw, k.CredentialID) {
		return fmt.Errorf("the assertion is by credential %s, not %s", a.CredentialID, k.ID())
	}
	cdJSON, err1 := b64url(a.ClientDataJSON)
	ad, err2 := b64url(a.AuthenticatorData)
	sig, err3 := b64url(a.Signature)
	if err := errors.Join(err1, err2, err3); err != nil {
		return fmt.Errorf("the assertion is not base64url: %v", err)
	}
	var cd clientData
	if err := json.Unmarshal(cdJSON, &cd); err != nil {
		return fmt.Errorf("the assertion's client data does not decode: %v", err)
	}
	switch {
	case cd.Type != "webauthn.get":
		return fmt.Errorf("the assertion's ceremony is %q, not webauthn.get", cd.Type)
	case subtle.ConstantTimeCompare([]byte(cd.Challenge), []byte(Challenge(msg))) != 1:
		return errors.New("the assertion signs another statement (its challenge is not the statement's hash)")
	case cd.CrossOrigin || cd.TopOrigin != "":
		return errors.New("the assertion was made in a cross-origin frame")
	}
	if o, err := CheckOrigin(cd.Origin); err != nil || o != k.Origin {
		return fmt.Errorf("the assertion was made on origin %q, not the listed %s", cd.Origin, k.Origin)
	}
	rp := sha256.Sum256([]byte(k.RPID()))
	switch {
	case len(ad) < 37:
		return errors.New("the assertion's authenticator data is too short")
	case subtle.ConstantTimeCompare(ad[:32], rp[:]) != 1:
		return fmt.Errorf("the assertion is for another relying party than %s", k.RPID())
	case ad[32]&flagUserPresent == 0:
		return errors.New("the authenticator says the person was not present")
	case ad[32]&flagUserVerified == 0:
		return errors.New("the authenticator did not verify the person (PIN or biometrics)")
	}
	pub, err := webauthncose.ParsePublicKey(k.PublicKey)
	if err != nil {
		return fmt.Errorf("the listed public key is not a COSE key: %v", err)
	}
	cdHash := sha256.Sum256(cdJSON)
	ok, err := webauthncose.VerifySignature(pub, append(append([]byte{}, ad...), cdHash[:]...), sig)
	if err != nil || !ok {
		return errors.New("the passkey signature does not verify under the listed public key")
	}
	return nil
}
