package deviceauth

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/deviceauth/deviceauth/store"
)

// The device's signed fetch of a challenge, and of the user's pending
// ones (docs/protocol.md).

// ChallengeView is what a device sees of a challenge: enough to show the
// user what they approve and to build the response message (docs/protocol.md#signed-messages).
// It never carries the verification code, which the user must type.
type ChallengeView struct {
	ChallengeID string `json:"challengeId"`
	Action      string `json:"action"`
	// State is the challenge's lifecycle state (PENDING, APPROVED, …).
	State   string    `json:"state"`
	Nonce   base64URL `json:"nonce"`
	Details Details   `json:"details"`
	// VerificationCodeRequired says the user must type the code shown on
	// the primary screen.
	VerificationCodeRequired bool   `json:"verificationCodeRequired"`
	Method                   string `json:"method"`
	ClientIP                 string `json:"clientIp,omitempty"`
	// UserAgent (and Origin) came from the browser: characters details
	// refuse are shown as U+FFFD, and they are capped at 512 (256) bytes.
	UserAgent string `json:"userAgent,omitempty"`
	// Origin is the web page that asked for a QR challenge.
	Origin    string    `json:"origin,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	ExpiresAt time.Time `json:"expiresAt"`
}

func (s *Service) view(ch store.Challenge) ChallengeView {
	// Track stored the canonical JSON of normalised details; a record that
	// does not decode is shown as empty rather than as anything else.
	d := Details{Fields: []Field{}}
	if err := json.Unmarshal(ch.Details, &d); err != nil || d.Fields == nil {
		d = Details{Fields: []Field{}}
	}
	return ChallengeView{
		ChallengeID: ch.ID, Action: ch.Action, State: string(ch.State), Nonce: ch.Nonce, Details: d,
		VerificationCodeRequired: ch.VerificationCode != "", Method: ch.Method,
		ClientIP: ch.ClientIP, UserAgent: ch.UserAgent, Origin: ch.Origin, CreatedAt: ch.CreatedAt, ExpiresAt: ch.ExpiresAt,
	}
}

// fetchChallenge returns challenge id to a device of its user. A challenge
// of another user is ErrNotFound, the same answer as an unknown one.
func (s *Service) fetchChallenge(ctx context.Context, dev deviceIdentity, id string) (ChallengeView, error) {
	ch, err := s.readChallenge(ctx, id)
	if err != nil {
		return ChallengeView{}, err
	}
	return s.fetched(dev, ch)
}

// fetched is FetchChallenge's answer for ch, read from the store.
func (s *Service) fetched(dev deviceIdentity, ch store.Challenge) (ChallengeView, error) {
	if ch.UserID != dev.UserID || ch.Method == ceremonyMethod || isInApp(ch.ID) {
		// An in-app challenge is for the phone its application handed it
		// to, which needs no fetch.
		return ChallengeView{}, ErrNotFound
	}
	return s.view(ch), nil
}

// pendingChallenges lists the pending challenges of a device's user that
// this device may answer, oldest first, so that polling alone works without
// push. A challenge only a passkey may answer is not listed, nor an in-app
// one (its phone has it already), nor one whose attestation requirement
// the device does not meet.
func (s *Service) pendingChallenges(ctx context.Context, dev deviceIdentity) ([]ChallengeView, error) {
	chs, err := s.store.ListPendingChallenges(ctx, dev.UserID, s.now())
	if err != nil {
		return nil, s.storeFailed(ctx, err)
	}
	if slices.ContainsFunc(chs, func(ch store.Challenge) bool { return ch.AttestationRequired != "" }) {
		cred, err := s.store.GetCredential(ctx, dev.CredentialID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, s.storeFailed(ctx, err)
		}
		chs = visibleTo(chs, cred) // a credential gone meanwhile is not attested
	}
	out := []ChallengeView{}
	for _, ch := range chs {
		if deviceAnswers(ch) && !isInApp(ch.ID) {
			out = append(out, s.view(ch))
		}
	}
	return out, nil
}
