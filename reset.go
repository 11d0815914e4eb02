package deviceauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"
	"time"

	"github.com/deviceauth/deviceauth/event"
	"github.com/deviceauth/deviceauth/internal/protocol"
	"github.com/deviceauth/deviceauth/store"
)

// The operator reset: the way back for a user who lost every device and
// has no recovery code, after the application proved who they are out of
// band (a support desk, KYC). See the README's "A lost phone".

// ResetRequest is an operator's reset of a user's credentials.
type ResetRequest struct {
	UserID string
	// Operator names who resets (an identity the application supplies,
	// e.g. a support agent's ID); Reason says why (a ticket, "lost phone,
	// ID checked at the counter"). Both are required, at most 128 and 256
	// bytes of text that passes the rules of details (no control,
	// bidirectional or invisible characters), and are recorded in
	// event.CredentialsReset.
	Operator string
	Reason   string
	// GrantTTL is how long the enrolment grant stays usable; default 24
	// hours, at most 30 days (time for a letter).
	GrantTTL time.Duration
}

// errResetLocked refuses a registration token to a reset user who brought
// no grant: a 403 on the web endpoint, never a new step-up challenge (the
// user has no device to approve one).
var errResetLocked = ErrStepUpRequired.withMessage("an operator reset this account: a new device needs the enrolment grant they gave")

const (
	defaultGrantTTL = 24 * time.Hour
	maxGrantTTL     = 30 * 24 * time.Hour
	grantPrefix     = "deg_"
)

// ResetCredentials removes every credential of req.UserID in one store
// call and locks the account's enrolment: from then on a registration
// token for the user is minted only with the enrolment grant it returns
// (passed as MintRegistrationToken's step-up token, or in the
// Deviceauth-Token header of the web endpoint), never with the session
// alone. The grant is single use and expires after req.GrantTTL; deliver
// it out of band (a letter, a verified email, in person). A later reset
// replaces an unused grant. The user's recovery codes are revoked too.
//
// It emits event.CredentialsReset (with Operator and Reason) and
// event.EndOtherSessions, and notifies the removed devices that can be
// reached. It needs a store that implements store.RecoveryCodeStore
// (every store of this module does); ErrNotFound otherwise.
func (s *Service) ResetCredentials(ctx context.Context, req ResetRequest) (RegistrationGrant, error) {
	rs, ok := s.store.(store.RecoveryCodeStore)
	switch {
	case !validUserID(req.UserID):
		return RegistrationGrant{}, ErrInvalidRequest.withMessage("userID must be 1 to 256 bytes of UTF-8")
	case req.Operator == "" || protocol.ContextText(req.Operator, 128) != req.Operator:
		return RegistrationGrant{}, ErrInvalidRequest.withMessage("operator must be 1 to 128 bytes of printable UTF-8")
	case req.Reason == "" || protocol.ContextText(req.Reason, 256) != req.Reason:
		return RegistrationGrant{}, ErrInvalidRequest.withMessage("reason must be 1 to 256 bytes of printable UTF-8")
	case req.GrantTTL < 0 || req.GrantTTL > maxGrantTTL:
		return RegistrationGrant{}, ErrInvalidRequest.withMessage("grantTTL must be at most 30 days")
	case !ok:
		return RegistrationGrant{}, ErrNotFound
	}
	ttl := req.GrantTTL
	if ttl == 0 {
		ttl = defaultGrantTTL
	}
	expires := s.now().Add(ttl).Truncate(time.Second)
	grant := newEnrolmentGrant(expires)
	creds, err := s.store.ListCredentials(ctx, req.UserID)
	if err != nil {
		return RegistrationGrant{}, s.storeFailed(ctx, err)
	}
	// The lock first: while the credentials are still there a session
	// needs a step-up, and once they are gone it needs the grant.
	if err := rs.ReplaceRecoveryCodes(ctx, req.UserID, [][]byte{resetMarker(req.UserID), grantHash(req.UserID, grant)}); err != nil {
		return RegistrationGrant{}, s.storeFailed(ctx, err)
	}
	_, err = s.store.DeleteUserCredentials(ctx, req.UserID)
	s.answers.removeUser(req.UserID)
	if err != nil {
		return RegistrationGrant{}, s.storeFailed(ctx, err)
	}
	s.emit(ctx, event.Event{Type: event.CredentialsReset, UserID: req.UserID, Operator: req.Operator, Reason: req.Reason})
	s.emit(ctx, event.Event{Type: event.EndOtherSessions, UserID: req.UserID, Reason: string(event.CredentialsReset)})
	for _, c := range creds {
		if c.Kind == store.KindDevice && c.PushToken != "" {
			s.notify(Notification{Type: NotificationCredentialRemoved, RemovedCredentialID: c.ID, RemovedPushToken: c.PushToken}, req.UserID)
		}
	}
	return RegistrationGrant{Token: grant, ExpiresAt: expires}, nil
}

// newEnrolmentGrant makes a grant that carries its expiry: deg_ and the
// base64url of the expiry (UNIX seconds, 8 bytes) and 24 random bytes.
// The expiry is covered by the stored hash, so it cannot be changed.
func newEnrolmentGrant(expires time.Time) string {
	b := make([]byte, 8+24)
	binary.BigEndian.PutUint64(b, uint64(expires.Unix()))
	rand.Read(b[8:])
	return grantPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// grantExpiry reads a grant's expiry; ok is false when g is no grant.
func grantExpiry(g string) (time.Time, bool) {
	rest, ok := strings.CutPrefix(g, grantPrefix)
	if !ok {
		return time.Time{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(b) != 8+24 {
		return time.Time{}, false
	}
	return time.Unix(int64(binary.BigEndian.Uint64(b)), 0), true
}

// grantHash is what is stored of userID's grant, among the recovery codes.
func grantHash(userID, grant string) []byte {
	h := sha256.Sum256([]byte("deviceauth enrolment grant\x00" + userID + "\x00" + grant))
	return h[:]
}

// resetMarker is the entry a reset leaves among the user's recovery codes
// until its grant is used. No code or grant hashes to it: its domain is
// another.
func resetMarker(userID string) []byte {
	h := sha256.Sum256([]byte("deviceauth reset marker\x00" + userID))
	return h[:]
}

// resetLocked reports whether an operator reset userID and its grant has
// not been used yet.
func (s *Service) resetLocked(ctx context.Context, userID string) (bool, error) {
	rs, ok := s.store.(store.RecoveryCodeStore)
	if !ok {
		return false, nil
	}
	locked, err := rs.HasRecoveryCode(ctx, userID, resetMarker(userID))
	if err != nil {
		return false, s.storeFailed(ctx, err)
	}
	return locked, nil
}

// useEnrolmentGrantIfReset lets a user without a credential have a
// registration token: at once, unless an operator reset the user, in which
// case only the unused, unexpired grant of that reset will do (used up
// here; granted reports it). Anything else is ErrStepUpRequired. The lock
// stays until the granted device is registered (clearResetLock), so the
// session cannot mint a token of its own meanwhile.
func (s *Service) useEnrolmentGrantIfReset(ctx context.Context, userID, token string) (granted bool, err error) {
	locked, err := s.resetLocked(ctx, userID)
	if err != nil || !locked {
		return false, err
	}
	rs := s.store.(store.RecoveryCodeStore)
	expires, ok := grantExpiry(token)
	if !ok {
		return false, errResetLocked
	}
	if err := s.limit(ctx, "recovery", userID, s.cfg.RateLimits.Recovery); err != nil {
		return false, err
	}
	if !s.now().Before(expires) {
		s.emit(ctx, event.Event{Type: event.ValidationFailed, UserID: userID, Action: ActionAddAuthenticator, Reason: "grant_expired"})
		return false, ErrStepUpRequired.withMessage("the enrolment grant has expired: ask for a new one")
	}
	if _, err := rs.UseRecoveryCode(ctx, userID, grantHash(userID, token)); errors.Is(err, store.ErrNotFound) {
		s.emit(ctx, event.Event{Type: event.ValidationFailed, UserID: userID, Action: ActionAddAuthenticator, Reason: "enrolment_grant"})
		return false, ErrStepUpRequired.with(err)
	} else if err != nil {
		return false, s.storeFailed(ctx, err)
	}
	s.emit(ctx, event.Event{Type: event.RecoveryCodeUsed, UserID: userID, Action: ActionAddAuthenticator, Reason: "enrolment_grant"})
	return true, nil
}

// grantEnrolment records, after a grant was used, the one enrolment it
// allows: handle names the registration token (its hash) or the passkey
// ceremony the grant paid for. The lock stays until that enrolment is
// done (enrolmentAllowed, clearResetLock).
func (s *Service) grantEnrolment(ctx context.Context, userID, handle string) error {
	rs := s.store.(store.RecoveryCodeStore)
	if err := rs.ReplaceRecoveryCodes(ctx, userID, [][]byte{resetMarker(userID), enrolmentMarker(userID, handle)}); err != nil {
		return s.storeFailed(ctx, err)
	}
	return nil
}

// enrolmentMarker is the entry grantEnrolment leaves for handle.
func enrolmentMarker(userID, handle string) []byte {
	h := sha256.Sum256([]byte("deviceauth granted enrolment\x00" + userID + "\x00" + handle))
	return h[:]
}

// enrolmentAllowed reports whether a first credential for userID, made
// through handle, may be stored: always unless an operator reset the user,
// and then only the enrolment its grant paid for. locked tells the caller
// to clearResetLock once the credential is stored.
func (s *Service) enrolmentAllowed(ctx context.Context, userID, handle string) (allowed, locked bool, err error) {
	locked, err = s.resetLocked(ctx, userID)
	if err != nil || !locked {
		return !locked && err == nil, locked, err
	}
	ok, err := s.store.(store.RecoveryCodeStore).HasRecoveryCode(ctx, userID, enrolmentMarker(userID, handle))
	if err != nil {
		return false, true, s.storeFailed(ctx, err)
	}
	return ok, true, nil
}

// clearResetLock ends an operator reset's lock once the enrolment its
// grant paid for was stored. A failure is reported, not returned: the
// credential stands, and a user who has one needs a step-up anyway.
func (s *Service) clearResetLock(ctx context.Context, userID string) {
	if err := s.store.(store.RecoveryCodeStore).ReplaceRecoveryCodes(ctx, userID, nil); err != nil {
		s.storeFailed(ctx, err)
	}
}
