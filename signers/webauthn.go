package signers

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/agentos/agentos"
	"github.com/go-webauthn/webauthn/protocol"
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

// VerifyAssertion checks that a was made by passkey k over msg: the
// challenge is msg's hash, the ceremony is webauthn.get, the origin is
// k's origin exactly (not a cross-origin frame), the authenticator data
// names k's relying party and says the person was present and verified,
// and the signature verifies under k's public key.
func VerifyAssertion(k Passkey, msg []byte, a Assertion) error {
	raw, err := b64url(a.CredentialID)
	if err != nil || !bytes.Equal(raw, k.CredentialID) {
		return fmt.Errorf("the assertion is by credential %s, not %s", a.CredentialID, k.ID())
	}
	var resp protocol.CredentialAssertionResponse
	resp.ID = k.ID()
	resp.RawID = k.CredentialID
	resp.Type = string(protocol.PublicKeyCredentialType)
	for _, f := range []struct {
		dst *protocol.URLEncodedBase64
		src string
	}{{&resp.AssertionResponse.AuthenticatorData, a.AuthenticatorData}, {&resp.AssertionResponse.ClientDataJSON, a.ClientDataJSON},
		{&resp.AssertionResponse.Signature, a.Signature}, {&resp.AssertionResponse.UserHandle, a.UserHandle}} {
		b, err := b64url(f.src)
		if err != nil {
			return fmt.Errorf("the assertion is not base64url: %v", err)
		}
		*f.dst = b
	}
	parsed, err := resp.Parse()
	if err != nil {
		return fmt.Errorf("the assertion does not parse: %v", webauthnErr(err))
	}
	if parsed.Response.CollectedClientData.CrossOrigin {
		return errors.New("the assertion was made in a cross-origin frame")
	}
	err = parsed.Verify(Challenge(msg), k.RPID(), "", []string{k.Origin}, nil, nil, protocol.TopOriginExplicitVerificationMode,
		false, true, true, k.PublicKey, protocol.SignaturePolicy{})
	if err != nil {
		return fmt.Errorf("the passkey assertion does not verify: %v", webauthnErr(err))
	}
	return nil
}

// webauthnErr gives the library's detail, which says which check failed.
func webauthnErr(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		s := pe.Details
		if pe.DevInfo != "" {
			s += ": " + pe.DevInfo
		}
		return strings.ReplaceAll(s, "\n", " ")
	}
	return err.Error()
}

// ParseRegistration reads navigator.credentials.create's response (JSON,
// as the page sends it), checks it was made for challenge at origin, and
// returns the passkey. Attestation is not checked: a passkey is trusted
// because a person commits its line to the policy, not because of its
// maker.
func ParseRegistration(body []byte, challenge, origin string) (Passkey, error) {
	origin, err := CheckOrigin(origin)
	if err != nil {
		return Passkey{}, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(body)
	if err != nil {
		return Passkey{}, fmt.Errorf("the new passkey does not parse: %v", webauthnErr(err))
	}
	if err := parsed.Response.CollectedClientData.Verify(challenge, protocol.CreateCeremony, []string{origin}, nil, nil, protocol.TopOriginExplicitVerificationMode, false); err != nil {
		return Passkey{}, fmt.Errorf("the new passkey was not made for this page: %v", webauthnErr(err))
	}
	ad := parsed.Response.AttestationObject.AuthData
	rp := sha256.Sum256([]byte(mustHost(origin)))
	if !bytes.Equal(ad.RPIDHash, rp[:]) || !ad.Flags.HasAttestedCredentialData() {
		return Passkey{}, errors.New("the new passkey is not bound to this page's relying party")
	}
	k := Passkey{Origin: origin, CredentialID: ad.AttData.CredentialID, PublicKey: ad.AttData.CredentialPublicKey}
	if _, err := webauthncose.ParsePublicKey(k.PublicKey); err != nil {
		return Passkey{}, fmt.Errorf("the new passkey's public key is not a COSE key: %v", err)
	}
	return k, nil
}

func mustHost(origin string) string {
	u, _ := url.Parse(origin)
	return u.Hostname()
}
