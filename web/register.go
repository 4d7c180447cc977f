package web

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"

	"github.com/agentos/agentos/signers"
	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
)

// parseRegistration reads navigator.credentials.create's response (JSON,
// as the page sends it) with go-webauthn, checks it was made for challenge
// at origin, and returns the passkey. Attestation is not checked: a passkey
// is trusted because a person commits its line to the policy, not because
// of who made the authenticator.
func parseRegistration(body []byte, challenge, origin string) (signers.Passkey, error) {
	origin, err := signers.CheckOrigin(origin)
	if err != nil {
		return signers.Passkey{}, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(body)
	if err != nil {
		return signers.Passkey{}, fmt.Errorf("the new passkey does not parse: %v", webauthnErr(err))
	}
	if err := parsed.Response.CollectedClientData.Verify(challenge, protocol.CreateCeremony, []string{origin}, nil, nil, protocol.TopOriginExplicitVerificationMode, false); err != nil {
		return signers.Passkey{}, fmt.Errorf("the new passkey was not made for this page: %v", webauthnErr(err))
	}
	k := signers.Passkey{Origin: origin}
	ad := parsed.Response.AttestationObject.AuthData
	rp := sha256.Sum256([]byte(k.RPID()))
	if !bytes.Equal(ad.RPIDHash, rp[:]) || !ad.Flags.HasAttestedCredentialData() {
		return signers.Passkey{}, errors.New("the new passkey is not bound to this page's relying party")
	}
	k.CredentialID, k.PublicKey = ad.AttData.CredentialID, ad.AttData.CredentialPublicKey
	if _, err := webauthncose.ParsePublicKey(k.PublicKey); err != nil {
		return signers.Passkey{}, fmt.Errorf("the new passkey's public key is not a COSE key: %v", err)
	}
	return k, nil
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
