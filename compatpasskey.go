package deviceauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/deviceauth/deviceauth/event"
	"github.com/deviceauth/deviceauth/internal/protocol"
	"github.com/deviceauth/deviceauth/internal/seam"
	"github.com/deviceauth/deviceauth/store"
)

// Passkeys through package compat/authsignal (docs/compat-authsignal.md#passkeys):
// the Authsignal SDKs' passkey sign-up and sign-in, keyed by the IDs the
// SDKs send back. A passkey added this way is a passkey like any other
// (store.KindPasskey): registration is the native ceremony, its state in
// the store, under the compat client token's user and the compat
// lifecycle rules. An assertion answers a compat challenge over the
// WebAuthn challenge the native step-up uses — SHA-256 of the framed
// challenge ID, nonce, action and details digest — so its approval is as
// strong as a native passkey's: Validate counts it as MethodPasskey and it
// needs no weak binding. The challenge record is the ceremony's state:
// the options write nothing, and the answer moves the challenge once.

// compatBeginPasskey begins adding a passkey for r.UserID: a user who has
// credentials needs the compat step-up (consumed here, as compatRegister
// does), and a first one is refused while an operator's reset holds.
func (s *Service) compatBeginPasskey(ctx context.Context, r seam.CompatRegistration) ([]byte, string, error) {
	if s.cfg.Passkeys == nil {
		return nil, "", ErrNotFound.withMessage("passkeys are not configured")
	}
	if err := s.compatLimit(ctx, "register", r.ClientIP); err != nil {
		return nil, "", err
	}
	opts, c, err := s.beginPasskeyRegistrationWith(ctx, r.UserID, "Passkey", func(creds []store.Credential) (bool, error) {
		if len(creds) > 0 {
			return false, s.compatStepUp(ctx, r)
		}
		return false, s.compatFirst(ctx, r.UserID, r.ClientIP)
	})
	if err != nil {
		return nil, "", err
	}
	return opts, c.ID, nil
}

// compatPasskeyChallenge returns compat challenge id for a passkey answer
// and its WebAuthn challenge: with userID, userID's pending tracked compat
// challenge; with userID "", an unclaimed in-app compat challenge (a
// sign-in with an action, whose user the passkey names). Any other
// challenge — native, QR (bound to its browser), another user's — is
// ErrNotFound.
func (s *Service) compatPasskeyChallenge(ctx context.Context, id, userID string) (store.Challenge, []byte, error) {
	if s.cfg.Passkeys == nil {
		return store.Challenge{}, nil, ErrNotFound.withMessage("passkeys are not configured")
	}
	want := store.StateUnclaimed
	if userID != "" {
		want = store.StatePending
		if !strings.HasPrefix(id, compatTrackedPrefix+"_") {
			return store.Challenge{}, nil, ErrNotFound
		}
	} else if !strings.HasPrefix(id, compatInAppPrefix) {
		return store.Challenge{}, nil, ErrNotFound
	}
	ch, err := s.readChallenge(ctx, id)
	switch {
	case err != nil:
		return store.Challenge{}, nil, err
	case ch.UserID != userID && want == store.StatePending:
		return store.Challenge{}, nil, ErrNotFound
	case ch.State != want:
		return store.Challenge{}, nil, ErrChallengeClosed.withState(string(ch.State))
	case ch.AttestationRequired != "":
		return store.Challenge{}, nil, ErrInvalidRequest.withMessage("this challenge requires an attested device key; passkeys are never attested")
	}
	wc := protocol.PasskeyChallenge(ch.ID, ch.Nonce, ch.Action, ch.DetailsDigest)
	return ch, wc[:], nil
}

// compatPasskeyOptions returns the request options of a passkey answer to
// compat challenge id (compatPasskeyChallenge): the user's passkeys, or
// none (discoverable) for an unclaimed challenge.
func (s *Service) compatPasskeyOptions(ctx context.Context, id, userID, clientIP string) ([]byte, error) {
	if err := s.compatLimit(ctx, "ceremony", clientIP); err != nil {
		return nil, err
	}
	_, wc, err := s.compatPasskeyChallenge(ctx, id, userID)
	if err != nil {
		return nil, err
	}
	var creds []store.Credential
	if userID != "" {
		if creds, err = s.passkeysOf(ctx, userID); err != nil {
			return nil, err
		}
		if len(creds) == 0 {
			return nil, ErrNotFound.withMessage("the user has no passkey")
		}
	}
	opts, err := s.cfg.Passkeys.AssertionOptions(ctx, wc, creds)
	if err != nil {
		return nil, ErrUnavailable.with(err)
	}
	return opts, nil
}

// compatAnswerPasskey approves compat challenge id with a passkey
// assertion over its WebAuthn challenge: by one of userID's passkeys, or,
// for an unclaimed challenge (userID ""), by the passkey the assertion
// names, whose user then claims it (the rules run and the action is
// recorded, as for a compat key's claim). The counter must move forward.
// Every failure to verify — unknown or removed passkey, wrong challenge,
// origin, RP ID, user handle or signature — is errPasskeyAssertion; a
// malformed response is ErrInvalidRequest; nothing changes on either.
func (s *Service) compatAnswerPasskey(ctx context.Context, id, userID string, response []byte, clientIP string) (store.Challenge, store.Credential, error) {
	if err := s.compatLimit(ctx, "respond", clientIP); err != nil {
		return store.Challenge{}, store.Credential{}, err
	}
	ch, wc, err := s.compatPasskeyChallenge(ctx, id, userID)
	if err != nil {
		return store.Challenge{}, store.Credential{}, err
	}
	creds, err := s.compatAssertionCredentials(ctx, userID, response)
	if err != nil {
		return store.Challenge{}, store.Credential{}, err
	}
	rejected := func(err error) (store.Challenge, store.Credential, error) {
		err = passkeyError(err, errPasskeyAssertion)
		if errors.Is(err, errPasskeyAssertion) {
			s.emit(ctx, event.Event{Type: event.SignatureRejected, UserID: userID, ChallengeID: id, ClientIP: clientIP, Reason: "compat_passkey"})
		}
		return store.Challenge{}, store.Credential{}, err
	}
	if len(creds) == 0 {
		return rejected(errors.New("compat: no such passkey"))
	}
	a, err := s.cfg.Passkeys.VerifyAssertion(ctx, wc, creds, response)
	if err != nil {
		return rejected(err)
	}
	i := slices.IndexFunc(creds, func(c store.Credential) bool { return c.ID == a.CredentialID })
	if i < 0 {
		return rejected(errors.New("compat: the assertion's passkey was not offered"))
	}
	cred := creds[i]
	if err := s.usePasskey(ctx, cred.UserID, cred.ID, a.SignCount, a.Flags); err != nil {
		if errors.Is(err, ErrNotFound) {
			return rejected(err)
		}
		return store.Challenge{}, store.Credential{}, err
	}
	if ch.State == store.StateUnclaimed {
		if ch, err = s.compatClaimFor(ctx, ch, cred); err != nil {
			return store.Challenge{}, store.Credential{}, err
		}
	}
	now := s.now()
	next, err := s.store.TransitionChallenge(ctx, ch.ID, store.Transition{
		From: store.StatePending, To: store.StateApproved, UserID: cred.UserID, CredentialID: cred.ID, AnsweredAt: now,
	}, now)
	if errors.Is(err, store.ErrConflict) {
		return store.Challenge{}, store.Credential{}, s.challengeClosed(ctx, ch.ID, now)
	}
	if err != nil {
		return store.Challenge{}, store.Credential{}, s.storeFailed(ctx, err)
	}
	s.emit(ctx, event.Event{Type: event.ChallengeApproved, UserID: cred.UserID, CredentialID: cred.ID, ChallengeID: ch.ID, Action: ch.Action, ClientIP: clientIP, Reason: "compat_passkey"})
	return next, cred, nil
}

// compatAssertionCredentials returns the passkeys that may have made the
// assertion response: userID's, or, for userID "", the one its raw ID
// names (none when there is no such passkey). A response without a
// base64url rawId is ErrInvalidRequest.
func (s *Service) compatAssertionCredentials(ctx context.Context, userID string, response []byte) ([]store.Credential, error) {
	if userID != "" {
		return s.passkeysOf(ctx, userID)
	}
	var b struct {
		RawID string `json:"rawId"`
	}
	raw, err := []byte(nil), json.Unmarshal(response, &b)
	if err == nil {
		raw, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(b.RawID, "="))
	}
	if err != nil || len(raw) == 0 {
		return nil, ErrInvalidRequest.withMessage("the body is not a PublicKeyCredential's JSON with a base64url rawId")
	}
	c, err := s.passkey(ctx, seam.CredentialID(raw))
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return []store.Credential{c}, nil
}

// The passkey steps of package compat/authsignal (internal/seam.Compat).
func init() {
	c := &seam.Compat
	c.BeginPasskey = func(svc any, ctx context.Context, r seam.CompatRegistration) ([]byte, string, error) {
		return svc.(*Service).compatBeginPasskey(ctx, r)
	}
	c.FinishPasskey = func(svc any, ctx context.Context, id, userID string, response []byte, clientIP string) (store.Credential, error) {
		s := svc.(*Service)
		if s.cfg.Passkeys == nil {
			return store.Credential{}, ErrNotFound.withMessage("passkeys are not configured")
		}
		return s.finishPasskey(ctx, id, userID, response, clientIP)
	}
	c.PasskeyOptions = func(svc any, ctx context.Context, id, userID, clientIP string) ([]byte, error) {
		return svc.(*Service).compatPasskeyOptions(ctx, id, userID, clientIP)
	}
	c.AnswerPasskey = func(svc any, ctx context.Context, id, userID string, response []byte, clientIP string) (store.Challenge, store.Credential, error) {
		return svc.(*Service).compatAnswerPasskey(ctx, id, userID, response, clientIP)
	}
	c.Passkey = func(svc any, ctx context.Context, id string) (store.Credential, error) {
		return svc.(*Service).passkey(ctx, id)
	}
}
