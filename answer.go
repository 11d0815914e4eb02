package deviceauth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/deviceauth/deviceauth/event"
	"github.com/deviceauth/deviceauth/internal/ids"
	"github.com/deviceauth/deviceauth/internal/protocol"
	"github.com/deviceauth/deviceauth/store"
)

// The device's answer: a signed approve or deny of a challenge, and the
// wrong-code block of number matching.

// DeviceAnswer is a device's signed answer to a challenge (docs/protocol.md#signed-messages).
type DeviceAnswer struct {
	ChallengeID      string
	CredentialID     string
	Decision         string // "approve" or "deny"
	DenyReason       string // [A-Za-z0-9_.:-]{0,64}, deny only
	VerificationCode string // as typed; approve only
	SignatureFormat  string // der (default) or raw, for ES256
	Signature        []byte
	ClientIP         netip.Addr
}

// AnswerResult reports a challenge's state after a response.
type AnswerResult struct {
	ChallengeID string `json:"challengeId"`
	State       string `json:"state"`
}

// appendJSON appends r's JSON as writeJSON writes it, by hand
// (TestAnswerResult_AppendJSONAsEncoder).
func (r AnswerResult) appendJSON(b []byte) []byte {
	b = protocol.AppendJSONString(append(b, `{"challengeId":`...), r.ChallengeID)
	b = protocol.AppendJSONString(append(b, `,"state":`...), r.State)
	return append(b, "}\n"...)
}

// Respond records a device's approval or denial. The server rebuilds the
// signed message from the stored challenge and verifies it with the key of
// the named credential, which must belong to the challenge's user; a
// challenge that offers no device method (only PASSKEY) is
// ErrInvalidResponse. Only a
// validly signed approval with a wrong code counts against the wrong-code
// limit; the limit-th in the window fails the challenge.
func (s *Service) Respond(ctx context.Context, r DeviceAnswer) (AnswerResult, error) {
	ctx, end := s.trace(ctx, "answer", "")
	res, err := s.respond(ctx, r)
	end(outcomeOf(err, res.State))
	return res, err
}

func (s *Service) respond(ctx context.Context, r DeviceAnswer) (AnswerResult, error) {
	if err := s.limitIP(ctx, "respond", r.ClientIP, s.cfg.RateLimits.Respond); err != nil {
		return AnswerResult{}, err
	}
	switch {
	case !protocol.ValidID(r.ChallengeID) || !protocol.ValidID(r.CredentialID):
		return AnswerResult{}, ErrInvalidResponse
	case r.Decision != protocol.DecisionApprove && r.Decision != protocol.DecisionDeny:
		return AnswerResult{}, ErrInvalidRequest.withMessage(`decision must be "approve" or "deny"`)
	case r.Decision == protocol.DecisionApprove && r.DenyReason != "":
		return AnswerResult{}, ErrInvalidRequest.withMessage("denyReason is only for deny")
	case r.Decision == protocol.DecisionDeny && r.VerificationCode != "":
		// A code proves the user saw the other screen; on a deny it would
		// only be a guess the server checks nowhere.
		return AnswerResult{}, ErrInvalidRequest.withMessage("verificationCode is only for approve")
	case r.DenyReason != "" && !protocol.ValidAction(r.DenyReason):
		return AnswerResult{}, ErrInvalidRequest.withMessage("denyReason must be at most 64 characters of [A-Za-z0-9_.:-]")
	case len(r.VerificationCode) > maxCodeDigits || !digitsOnly(r.VerificationCode):
		return AnswerResult{}, ErrInvalidRequest.withMessage("verificationCode must be digits")
	}
	now := s.now()
	if ch, cred, ok := s.answers.lookup(r.ChallengeID, r.CredentialID, now); ok {
		return s.respondCached(ctx, r, ch, cred, now)
	}
	gen := s.answers.generation()
	// The key is the one stored for the challenge's user: never chosen by
	// the request alone.
	ch, cred, err := s.cycle.GetChallengeCredential(ctx, r.ChallengeID, r.CredentialID, now)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (cred.UserID != ch.UserID || cred.Kind != store.KindDevice)) {
		return AnswerResult{}, ErrInvalidResponse
	}
	if err != nil {
		return AnswerResult{}, s.storeFailed(ctx, err)
	}
	if isInApp(ch.ID) && ch.ClaimedBy != "" && ch.ClaimedBy != cred.ID {
		// The application named the one phone that answers: the same
		// answer as for any other credential that may not.
		return AnswerResult{}, ErrInvalidResponse
	}
	key, err := s.pubkeys.parse(cred.Algorithm, cred.PublicKey)
	if err != nil {
		return AnswerResult{}, s.storeFailed(ctx, fmt.Errorf("stored key of credential %s: %w", cred.ID, err))
	}
	msg := protocol.ResponseMessage(protocol.Response{
		ChallengeID: ch.ID, Nonce: ch.Nonce, Action: ch.Action, CredentialID: cred.ID,
		Decision: r.Decision, DenyReason: r.DenyReason, VerificationCode: r.VerificationCode,
		DetailsDigest: ch.DetailsDigest,
	})
	if err := key.Verify(r.SignatureFormat, msg, r.Signature); err != nil {
		if e := signatureError(err); e != nil {
			return AnswerResult{}, e
		}
		s.emit(ctx, event.Event{Type: event.SignatureRejected, UserID: ch.UserID, CredentialID: cred.ID, ChallengeID: ch.ID, ClientIP: ipString(r.ClientIP), Reason: "response"})
		return AnswerResult{}, ErrInvalidResponse
	}
	if !deviceAnswers(ch) {
		return AnswerResult{}, ErrInvalidResponse.withMessage("this challenge is not answered with a device key")
	}
	if ch.State != store.StatePending {
		return AnswerResult{}, ErrChallengeClosed.withState(string(ch.State))
	}
	if r.Decision == protocol.DecisionApprove && !meetsRequirement(credentialAttestation(cred), ch.AttestationRequired) {
		// A denial is still accepted: any device of the user may refuse.
		s.emit(ctx, event.Event{Type: event.SignatureRejected, UserID: ch.UserID, CredentialID: cred.ID, ChallengeID: ch.ID, ClientIP: ipString(r.ClientIP), Reason: "attestation_required"})
		return AnswerResult{}, ErrAttestationRequired
	}
	if r.Decision == protocol.DecisionApprove && ch.VerificationCode != "" &&
		subtle.ConstantTimeCompare([]byte(r.VerificationCode), []byte(ch.VerificationCode)) != 1 {
		return s.wrongCode(ctx, ch, cred, r, now)
	}
	if isInApp(ch.ID) {
		// The phone's next in-app answer on this instance needs no read.
		s.answers.putCredential(cred, key, gen, now)
	}
	return s.recordAnswer(ctx, r, ch, now)
}

// recordAnswer puts r, a verified answer to challenge ch (of which it
// reads ID, UserID, Action and ClientIP), in the store: one
// compare-and-set from PENDING, with the credential's last use.
func (s *Service) recordAnswer(ctx context.Context, r DeviceAnswer, ch store.Challenge, now time.Time) (AnswerResult, error) {
	to, typ := store.StateApproved, event.ChallengeApproved
	if r.Decision == protocol.DecisionDeny {
		to, typ = store.StateDenied, event.ChallengeDenied
	}
	next, err := s.store.TransitionChallenge(ctx, ch.ID, store.Transition{
		From: store.StatePending, To: to, UserID: ch.UserID, CredentialID: r.CredentialID, DenyReason: r.DenyReason, AnsweredAt: now,
		CredentialUsed: true,
	}, now)
	if isInApp(ch.ID) {
		s.answers.forget(ch.ID) // answered: a later answer reads the store
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return AnswerResult{}, ErrInvalidResponse
	case errors.Is(err, store.ErrConflict):
		cur, gerr := s.store.GetChallenge(ctx, ch.ID, now)
		if gerr != nil {
			return AnswerResult{}, ErrChallengeClosed
		}
		return AnswerResult{}, ErrChallengeClosed.withState(string(cur.State))
	case err != nil:
		return AnswerResult{}, s.storeFailed(ctx, err)
	}
	s.emit(ctx, event.Event{Type: typ, UserID: ch.UserID, CredentialID: r.CredentialID, ChallengeID: ch.ID, Action: ch.Action, ClientIP: ipString(r.ClientIP), Reason: r.DenyReason})
	if r.DenyReason == DenyReasonNotMe {
		s.reportNotMe(ctx, ch, r.CredentialID)
	}
	return AnswerResult{ChallengeID: ch.ID, State: string(next.State)}, nil
}

// respondCached is respond for an in-app challenge this instance tracked,
// answered by a credential it has read (answerCache): the same checks, in
// the same order, with one store call, the transition, whose
// compare-and-set decides what only the store knows (pending, unexpired,
// the user's). An in-app challenge has no verification code.
func (s *Service) respondCached(ctx context.Context, r DeviceAnswer, ch cachedChallenge, cred cachedCredential, now time.Time) (AnswerResult, error) {
	if cred.userID != ch.userID || (ch.claimedBy != "" && ch.claimedBy != r.CredentialID) {
		return AnswerResult{}, ErrInvalidResponse
	}
	msg := protocol.ResponseMessage(protocol.Response{
		ChallengeID: r.ChallengeID, Nonce: ch.nonce, Action: ch.action, CredentialID: r.CredentialID,
		Decision: r.Decision, DenyReason: r.DenyReason, VerificationCode: r.VerificationCode,
		DetailsDigest: ch.detailsDigest,
	})
	if err := cred.key.Verify(r.SignatureFormat, msg, r.Signature); err != nil {
		if e := signatureError(err); e != nil {
			return AnswerResult{}, e
		}
		s.emit(ctx, event.Event{Type: event.SignatureRejected, UserID: ch.userID, CredentialID: r.CredentialID, ChallengeID: r.ChallengeID, ClientIP: ipString(r.ClientIP), Reason: "response"})
		return AnswerResult{}, ErrInvalidResponse
	}
	if r.Decision == protocol.DecisionApprove && !meetsRequirement(cred.attestation, ch.attestationRequired) {
		// A closed challenge says so first, as respond does.
		if cur, err := s.store.GetChallenge(ctx, r.ChallengeID, now); err == nil && cur.State != store.StatePending {
			return AnswerResult{}, ErrChallengeClosed.withState(string(cur.State))
		}
		s.emit(ctx, event.Event{Type: event.SignatureRejected, UserID: ch.userID, CredentialID: r.CredentialID, ChallengeID: r.ChallengeID, ClientIP: ipString(r.ClientIP), Reason: "attestation_required"})
		return AnswerResult{}, ErrAttestationRequired
	}
	return s.recordAnswer(ctx, r, store.Challenge{ID: r.ChallengeID, UserID: ch.userID, Action: ch.action, ClientIP: ch.clientIP}, now)
}

// wrongCode counts a validly signed approval with a wrong code against the
// (user, action) window, and fails the challenge at the limit.
func (s *Service) wrongCode(ctx context.Context, ch store.Challenge, cred store.Credential, r DeviceAnswer, now time.Time) (AnswerResult, error) {
	n, err := s.store.IncrementCounter(ctx, s.wrongCodeKey(ch.UserID, ch.Action), s.cfg.WrongCodeWindow, now)
	if err != nil {
		return AnswerResult{}, s.storeFailed(ctx, err)
	}
	if ch.Method == string(MethodQRCode) && ch.ClientIP != "" {
		// The browser that showed the code is counted too, like the user
		// (before the attempt, which a racing failure may refuse): its IP
		// may create no more QR challenges while at the limit.
		if _, err := s.store.IncrementCounter(ctx, s.qrWrongCodeKey(ch.ClientIP), s.cfg.WrongCodeWindow, now); err != nil {
			return AnswerResult{}, s.storeFailed(ctx, err)
		}
	}
	cur, err := s.store.RecordAttempt(ctx, ch.ID, store.StatePending, now)
	if errors.Is(err, store.ErrConflict) {
		return AnswerResult{}, ErrChallengeClosed
	}
	if err != nil {
		return AnswerResult{}, s.storeFailed(ctx, err)
	}
	s.emit(ctx, event.Event{Type: event.WrongCode, UserID: ch.UserID, CredentialID: cred.ID, ChallengeID: ch.ID, Action: ch.Action, ClientIP: ipString(r.ClientIP)})
	if n < int64(s.cfg.WrongCodeLimit) {
		return AnswerResult{}, ErrWrongCode.withState(string(cur.State))
	}
	failed, err := s.store.TransitionChallenge(ctx, ch.ID, store.Transition{
		From: store.StatePending, To: store.StateFailed, UserID: ch.UserID, CredentialID: cred.ID, AnsweredAt: now,
	}, now)
	if errors.Is(err, store.ErrConflict) {
		return AnswerResult{}, ErrChallengeClosed
	}
	if err != nil {
		return AnswerResult{}, s.storeFailed(ctx, err)
	}
	s.emit(ctx, event.Event{Type: event.ChallengeFailed, UserID: ch.UserID, CredentialID: cred.ID, ChallengeID: ch.ID, Action: ch.Action, Reason: "wrong_code_limit"})
	return AnswerResult{}, ErrWrongCode.withState(string(failed.State))
}

// wrongCodeKey names the wrong-code counter of (user, action); the user's
// length is part of it, so no two pairs share a key.
func (s *Service) wrongCodeKey(userID, action string) string {
	return ids.UserCounterKey("wrongcode", userID, action)
}

// qrWrongCodeKey names the wrong-code counter of the client IP that
// created QR challenges.
func (s *Service) qrWrongCodeKey(ip string) string {
	return "wrongcode-qr:ip=" + ip
}

// wrongCodeBlock is ErrRateLimited, with an event.ActionBlocked completed
// from ev, when wrong-code counter key is at Config.WrongCodeLimit.
func (s *Service) wrongCodeBlock(ctx context.Context, key string, ev event.Event, now time.Time) error {
	n, err := s.store.Counter(ctx, key, now)
	if err != nil {
		return s.storeFailed(ctx, err)
	}
	if n < int64(s.cfg.WrongCodeLimit) {
		return nil
	}
	ev.Type, ev.Reason = event.ActionBlocked, "wrong_code_limit"
	s.emit(ctx, ev)
	return ErrRateLimited.withMessage("too many wrong verification codes: try again later")
}
