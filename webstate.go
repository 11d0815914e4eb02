package deviceauth

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/deviceauth/deviceauth/internal/protocol"
	"github.com/deviceauth/deviceauth/store"
)

// handleChallengeState answers GET /v1/web/challenges/{id}: the state of a
// challenge of the logged-in user, waiting up to ?wait= (at most MaxLongPoll)
// while it is ?since=. A page that shows "approve on your phone" watches
// it to go on by itself once the phone answers, as QR sign-in does. It
// only reports: the gated request still needs its token.
func (s *Service) handleChallengeState(w http.ResponseWriter, r *http.Request) {
	wait, err := waitParam(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	user, ok := s.webUser(w, r)
	if !ok {
		return
	}
	st, err := s.waitUserChallenge(r.Context(), user, r.PathValue("id"), r.URL.Query().Get("since"), wait)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, st)
}

// waitParam is the ?wait= duration of a long-poll, 0 when absent.
func waitParam(r *http.Request) (time.Duration, error) {
	v := r.URL.Query().Get("wait")
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, ErrInvalidRequest.withMessage("wait must be a duration such as 25s")
	}
	return d, nil
}

// waitUserChallenge reports the state of userID's challenge id, waiting up
// to wait (at most MaxLongPoll) for it to differ from since. A challenge of
// another user is ErrNotFound, as an unknown one.
func (s *Service) waitUserChallenge(ctx context.Context, userID, id, since string, wait time.Duration) (QRStatus, error) {
	if !protocol.ValidID(id) {
		return QRStatus{}, ErrNotFound
	}
	ch, err := s.store.GetChallenge(ctx, id, s.now())
	if errors.Is(err, store.ErrNotFound) || (err == nil && ch.UserID != userID) {
		return QRStatus{}, ErrNotFound
	}
	if err != nil {
		return QRStatus{}, s.storeFailed(ctx, err)
	}
	if wait > 0 && string(ch.State) == since {
		if ch, err = s.waitChange(ctx, id, ch.State, min(wait, MaxLongPoll)); err != nil {
			return QRStatus{}, err
		}
	}
	return QRStatus{ChallengeID: id, State: string(ch.State)}, nil
}
