package redisstore

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/deviceauth/deviceauth/store"
)

// subscribeTimeout bounds the wait for Redis to confirm the subscription.
const subscribeTimeout = 10 * time.Second

// Watch implements [store.ChallengeStore]. The first Watch of a Store
// subscribes to the wake-up channel and returns once Redis has confirmed
// the subscription, so every change committed after Watch returns — through
// any Store over the same Redis and prefix — wakes the channel. Later
// Watches share the subscription. The challenge need not exist yet.
func (s *Store) Watch(ctx context.Context, id string) (<-chan struct{}, error) {
	if err := s.closed.Check(ctx); err != nil {
		return nil, err
	}
	if err := s.subscribe(ctx); err != nil {
		return nil, err
	}
	ch, _, ok := s.watchers.Watch(ctx, id)
	if !ok {
		return nil, store.ErrClosed
	}
	return ch, nil
}

// wake wakes every waiter of challenge id.
func (s *Store) wake(id string) { s.watchers.Wake(id) }

// wakeAll wakes every waiter: after the subscription reconnected, wake-ups
// published meanwhile are lost, so every waiter re-reads.
func (s *Store) wakeAll() { s.watchers.WakeAll() }

// subscription is the Store's one subscription to the wake-up channel and
// the goroutine that dispatches it.
type subscription struct {
	ready chan struct{} // closed when subscribed, or when that failed
	err   error         // why it failed; written before ready is closed

	mu      sync.Mutex
	ps      *redis.PubSub
	stopped bool
}

// subscribe starts the subscription unless it runs, and waits until Redis
// has confirmed it. A subscription that failed is started again.
func (s *Store) subscribe(ctx context.Context) error {
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return store.ErrClosed
	}
	sub := s.sub
	if sub == nil || sub.failed() {
		sub = &subscription{ready: make(chan struct{})}
		s.sub = sub
		s.wg.Add(1)
		go s.listen(sub)
	}
	s.mu.Unlock()
	select {
	case <-sub.ready:
		return sub.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (sub *subscription) failed() bool {
	select {
	case <-sub.ready:
		return sub.err != nil
	default:
		return false
	}
}

// stop closes the subscription's connection, which ends its goroutine.
func (sub *subscription) stop() {
	sub.mu.Lock()
	sub.stopped = true
	ps := sub.ps
	sub.mu.Unlock()
	if ps != nil {
		_ = ps.Close()
	}
}

// listen subscribes, reports the confirmation on sub.ready, then dispatches
// wake-ups until the subscription is stopped. go-redis reconnects and
// subscribes again by itself after a connection fails (pinging to find
// out); each new confirmation wakes every waiter.
func (s *Store) listen(sub *subscription) {
	defer s.wg.Done()
	ctx, cancel := context.WithTimeout(context.Background(), subscribeTimeout)
	ps := s.client.Subscribe(ctx, s.keys.wakeChannel())
	sub.mu.Lock()
	stopped := sub.stopped
	sub.ps = ps
	sub.mu.Unlock()
	if stopped {
		_ = ps.Close()
	}
	msg, err := ps.ReceiveTimeout(ctx, subscribeTimeout)
	cancel()
	if err == nil {
		if m, ok := msg.(*redis.Subscription); !ok || m.Kind != "subscribe" {
			err = fmt.Errorf("unexpected first message %v", msg)
		}
	}
	if err != nil {
		_ = ps.Close()
		sub.mu.Lock()
		stopped = sub.stopped
		sub.mu.Unlock()
		if stopped {
			sub.err = store.ErrClosed
		} else {
			sub.err = wrap("Watch: subscribing to wake-ups", err)
		}
		close(sub.ready)
		return
	}
	close(sub.ready)
	for msg := range ps.ChannelWithSubscriptions(redis.WithChannelSize(256)) {
		switch m := msg.(type) {
		case *redis.Message:
			s.wake(m.Payload)
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				s.wakeAll()
			}
		}
	}
}
