package deviceauth

import (
	"context"
	"time"

	"github.com/deviceauth/deviceauth/store"
)

// MaxLongPoll caps how long one long-poll waits.
const MaxLongPoll = 60 * time.Second

// waitChange returns challenge id once its state differs from since, or
// when d has passed (by the Service's clock), ctx ends or the Service
// closes — whichever is first; it then returns the state it last read. A
// change reaches it at once through the store's wake-up channel (from this
// instance or another), and polling every Config.PollInterval covers a lost
// wake-up.
func (s *Service) waitChange(ctx context.Context, id string, since store.State, d time.Duration) (store.Challenge, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Subscribe before reading, so no change falls between the two. A
	// store that cannot subscribe now is still polled, if polling is on.
	woken, err := s.store.Watch(ctx, id)
	if err != nil {
		if s.cfg.PollInterval <= 0 {
			return store.Challenge{}, s.storeFailed(ctx, err)
		}
		s.log.WarnContext(ctx, "deviceauth: watching a challenge failed; polling", "challengeId", id, "error", err.Error())
		woken = nil
	}
	timeout := s.cfg.Timer(d)
	var poll <-chan time.Time
	for {
		ch, err := s.store.GetChallenge(ctx, id, s.now())
		if err != nil {
			return store.Challenge{}, s.storeFailed(ctx, err)
		}
		if ch.State != since || ch.State.Final() {
			return ch, nil
		}
		if s.cfg.PollInterval > 0 {
			poll = s.cfg.Timer(s.cfg.PollInterval)
		}
		select {
		case _, ok := <-woken:
			if !ok {
				woken = nil // the store closed it: keep polling
			}
		case <-poll:
		case <-timeout:
			return ch, nil
		case <-ctx.Done():
			return ch, nil
		case <-s.done:
			return ch, nil
		}
	}
}
