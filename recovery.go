package deviceauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"net/netip"
	"strconv"
	"strings"

	"github.com/deviceauth/deviceauth/event"
	"github.com/deviceauth/deviceauth/store"
)

// ActionRecoveryCodes must be validated, with number matching, before a
// user who has a credential gets new recovery codes.
const ActionRecoveryCodes = "recoveryCodes"

// recoveryCodeLen is the length of a recovery code: four groups of four
// base32 characters (80 bits), e.g. ABCD-EFGH-JKLM-NPQR.
const recoveryCodeLen = 19

// RecoveryCodes issues Config.RecoveryCodes new one-time recovery codes
// for userID and revokes the earlier ones. The codes are returned once
// (show them to the user then); only their SHA-256, bound to the user, is
// stored. The user must have a credential, and stepUpToken must be the
// token of an ActionRecoveryCodes challenge (no details) that the user's
// device approved with number matching, even under Config.ApproveOnly: a
// session alone cannot mint itself codes, and a recovery code cannot
// either. ErrStepUpRequired otherwise; ErrNotFound when the user has no
// credential or the feature is off (Config.RecoveryCodes is 0, or the
// store does not implement store.RecoveryCodeStore).
//
// A recovery code stands in, once, for the step-up of MintRegistrationToken
// and RemoveCredential (pass it as the step-up token): that use emits
// event.RecoveryCodeUsed and event.EndOtherSessions and notifies the user's
// devices. Uses are rate-limited per user (RateLimits.Recovery), and
// through the web endpoints per client IP too.
func (s *Service) RecoveryCodes(ctx context.Context, userID, stepUpToken string) ([]string, error) {
	rs, ok := s.store.(store.RecoveryCodeStore)
	if !validUserID(userID) || !ok || s.cfg.RecoveryCodes <= 0 {
		return nil, ErrNotFound
	}
	creds, err := s.store.ListCredentials(ctx, userID)
	if err != nil {
		return nil, s.storeFailed(ctx, err)
	}
	if len(creds) == 0 {
		return nil, ErrNotFound
	}
	if isRecoveryCode(stepUpToken) {
		return nil, ErrStepUpRequired
	}
	if err := s.approvedStepUp(ctx, userID, ActionRecoveryCodes, stepUpToken, Details{}, true); err != nil {
		return nil, err
	}
	codes := make([]string, s.cfg.RecoveryCodes)
	hashes := make([][]byte, len(codes))
	for i := range codes {
		t := rand.Text()
		codes[i] = t[0:4] + "-" + t[4:8] + "-" + t[8:12] + "-" + t[12:16]
		hashes[i] = recoveryHash(userID, codes[i])
	}
	if err := rs.ReplaceRecoveryCodes(ctx, userID, hashes); err != nil {
		return nil, s.storeFailed(ctx, err)
	}
	s.emit(ctx, event.Event{Type: event.RecoveryCodesIssued, UserID: userID})
	return codes, nil
}

// isRecoveryCode reports whether a step-up token has the shape of a
// recovery code (challenge tokens start with dat_).
func isRecoveryCode(t string) bool {
	t = strings.TrimSpace(t)
	return len(t) == recoveryCodeLen && t[4] == '-' && t[9] == '-' && t[14] == '-'
}

// clientIPKey carries the client IP of a web request to the Service
// calls it makes, for the per-IP limit on recovery codes.
type clientIPKey struct{}

func withClientIP(ctx context.Context, ip netip.Addr) context.Context {
	return context.WithValue(ctx, clientIPKey{}, ip)
}

// recoveryHash is what is stored of userID's code: SHA-256 over the user
// and the code as the user may type it (upper case, no spaces). Looking
// the digest up compares no secret byte by byte.
func recoveryHash(userID, code string) []byte {
	h := sha256.Sum256([]byte("deviceauth recovery code\x00" + userID + "\x00" + strings.ToUpper(strings.TrimSpace(code))))
	return h[:]
}

// useRecoveryCode spends one of userID's recovery codes in place of the
// step-up for action, and reports it: an event, the application told to
// end the user's other sessions, and the user's devices notified.
func (s *Service) useRecoveryCode(ctx context.Context, userID, action, code string) error {
	rs, ok := s.store.(store.RecoveryCodeStore)
	if !ok || s.cfg.RecoveryCodes <= 0 {
		return ErrStepUpRequired
	}
	if err := s.limit(ctx, "recovery", userID, s.cfg.RateLimits.Recovery); err != nil {
		return err
	}
	if ip, ok := ctx.Value(clientIPKey{}).(netip.Addr); ok && ip.IsValid() {
		if err := s.limit(ctx, "recoveryip", ip.String(), s.cfg.RateLimits.Recovery); err != nil {
			return err
		}
	}
	left, err := rs.UseRecoveryCode(ctx, userID, recoveryHash(userID, code))
	if errors.Is(err, store.ErrNotFound) {
		s.emit(ctx, event.Event{Type: event.ValidationFailed, UserID: userID, Action: action, Reason: "recovery_code"})
		return ErrStepUpRequired.with(err)
	}
	if err != nil {
		return s.storeFailed(ctx, err)
	}
	s.emit(ctx, event.Event{Type: event.RecoveryCodeUsed, UserID: userID, Action: action, Reason: "left=" + strconv.Itoa(left)})
	s.emit(ctx, event.Event{Type: event.EndOtherSessions, UserID: userID, Reason: string(event.RecoveryCodeUsed)})
	if creds, err := s.store.ListCredentials(ctx, userID); err == nil {
		s.notify(Notification{Type: NotificationRecoveryCodeUsed, CredentialIDs: deviceIDs(creds, "")}, userID)
	}
	return nil
}
