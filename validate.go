package deviceauth

import (
	"context"
	"crypto/subtle"
	"errors"
	"strings"
	"time"

	"github.com/deviceauth/deviceauth/event"
	"github.com/deviceauth/deviceauth/internal/protocol"
	"github.com/deviceauth/deviceauth/store"
)

// Validate: the backend's one-time check that a token's challenge was
// approved for this user, action and details.

// ValidateRequest names the challenge token and what it must be bound to.
type ValidateRequest struct {
	Token  string
	UserID string
	Action string
	// Details must equal the details given to Track (after normalisation);
	// a challenge tracked with details does not validate without them.
	Details Details
	// Methods, when not empty, are the methods whose answer counts: a
	// challenge approved otherwise does not validate and stays approved.
	// MethodPasskey admits a passkey assertion; MethodDevice, MethodPush
	// and MethodQRCode a device key's signature.
	Methods []Method
	// VerificationCode admits a device key's approval only when it was
	// made with number matching. A passkey's needs no code (user
	// verification is its proof), nor does an in-app answer (made on the
	// screen that shows the action; a route that must have a second device
	// names its Methods).
	VerificationCode bool
	// Attestation, when set, must be included in the requirement the
	// challenge was tracked with (TrackRequest.Attestation): a challenge an
	// unattested device could approve does not validate.
	Attestation AttestationRequirement
	// WeakBinding admits an approval by a compat credential
	// (store.KindCompat, package compat/authsignal), whose signature
	// covers the challenge ID alone: not the decision, the action or the
	// details (docs/compat-authsignal.md). Default false: such an
	// approval does not validate, and the challenge stays approved.
	WeakBinding bool
}

// Validation is Validate's answer.
type Validation struct {
	// Valid is true exactly once per approved challenge, for its user,
	// action and details, while the approving credential still exists.
	Valid        bool        `json:"isValid"`
	State        ActionState `json:"state"` // StateChallengeSucceeded or StateChallengeFailed
	ChallengeID  string      `json:"challengeId,omitempty"`
	UserID       string      `json:"userId,omitempty"`
	Action       string      `json:"action,omitempty"`
	CredentialID string      `json:"credentialId,omitempty"`
	Method       Method      `json:"verificationMethod,omitempty"`
	Details      Details     `json:"details"`
	ValidatedAt  time.Time   `json:"validatedAt,omitzero"`
	// WeakBinding is true when the approval was a compat credential's
	// (ValidateRequest.WeakBinding).
	WeakBinding bool `json:"weakBinding,omitempty"`
	// Remembered is true when Require let the request through on a
	// remembered step-up (WithStepUpMemory) rather than a token.
	Remembered bool `json:"remembered,omitempty"`
}

// Validate is the backend's one-time check that the challenge behind token
// was approved by userID's device for action and details, by a method and
// with the number matching req asks for. It consumes the challenge: of any number of concurrent calls with the same token, on any
// instance, at most one is valid. An invalid, used, denied, expired or
// revoked token, or one for another user, action or details, gives Valid
// false and a nil error; the error is for store failures (ErrUnavailable),
// on which callers must fail closed.
func (s *Service) Validate(ctx context.Context, req ValidateRequest) (Validation, error) {
	ctx, end := s.trace(ctx, "validate", req.Action)
	v, err := s.validate(ctx, req)
	outcome := "invalid"
	if v.Valid {
		outcome = "valid"
	}
	end(outcomeOf(err, outcome))
	return v, err
}

func (s *Service) validate(ctx context.Context, req ValidateRequest) (Validation, error) {
	failed := Validation{State: StateChallengeFailed}
	id, ok := s.parseChallengeToken(req.Token)
	if !ok {
		return failed, nil
	}
	details, err := protocol.NormalizeDetails(stepUpDetails(req.Action, req.Details))
	if _, merr := checkMethods(req.Methods); err != nil || merr != nil {
		return failed, nil
	}
	now := s.now()
	digest := protocol.DetailsDigest(details)
	fail := func(reason string) (Validation, error) {
		s.emit(ctx, event.Event{Type: event.ValidationFailed, UserID: req.UserID, ChallengeID: id, Action: req.Action, Reason: reason})
		return failed, nil
	}
	if !pathAdmitted(id, req.Methods) {
		return fail("method_not_admitted")
	}
	// One store call checks the binding (the method that answered
	// included), consumes the challenge and checks that the approving
	// credential still exists (revocation), atomically.
	ch, kind, err := s.cycle.ConsumeChallenge(ctx, id, store.Binding{UserID: req.UserID, Action: req.Action, DetailsDigest: digest[:],
		Kinds: admittedKinds(req.Methods, req.WeakBinding), VerificationCode: req.VerificationCode && !isInApp(id)}, now)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return failed, nil
	case errors.Is(err, store.ErrRevoked):
		return fail("credential_revoked")
	case errors.Is(err, store.ErrConflict):
		switch {
		case ch.UserID != req.UserID || ch.UserID == "":
			return fail("other_user")
		case ch.Action != req.Action:
			return fail("other_action")
		case subtle.ConstantTimeCompare(ch.DetailsDigest, digest[:]) != 1:
			return fail("other_details")
		case ch.State == store.StateApproved:
			return fail("method_not_admitted")
		}
		return fail("state_" + strings.ToLower(string(ch.State)))
	case err != nil:
		return failed, s.storeFailed(ctx, err)
	}
	if !coversRequirement(ch.AttestationRequired, req.Attestation) {
		// Consumed all the same: the token is spent either way.
		return fail("attestation_requirement")
	}
	s.emit(ctx, event.Event{Type: event.ChallengeValidated, UserID: req.UserID, ChallengeID: id, Action: req.Action, CredentialID: ch.CredentialID})
	return Validation{
		Valid: true, State: StateChallengeSucceeded, ChallengeID: id, UserID: ch.UserID, Action: ch.Action,
		CredentialID: ch.CredentialID, Method: methodOf(ch, kind), Details: details, ValidatedAt: now,
		WeakBinding: kind == store.KindCompat,
	}, nil
}

// ChallengeState reports the lifecycle state of the challenge behind token
// (PENDING, APPROVED, DENIED, …) without consuming it, so a page can tell
// "not approved yet" from "denied". A token that is not valid, or not
// userID's, is ErrNotFound.
func (s *Service) ChallengeState(ctx context.Context, token, userID string) (store.State, error) {
	id, ok := s.parseChallengeToken(token)
	if !ok {
		return "", ErrNotFound
	}
	ch, err := s.store.GetChallenge(ctx, id, s.now())
	if errors.Is(err, store.ErrNotFound) || (err == nil && (ch.UserID != userID || userID == "")) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", s.storeFailed(ctx, err)
	}
	return ch.State, nil
}
