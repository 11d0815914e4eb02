package memstore

import "context"

// watcher is one Watch: its channel and how to stop waiting for its context.
type watcher struct {
	ch   chan struct{}
	stop func() bool // unregisters the context.AfterFunc
}

// Watch implements [store.ChallengeStore]. Only changes made through this
// Store value wake the channel. The challenge need not exist yet.
func (s *Store) Watch(ctx context.Context, id string) (<-chan struct{}, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	w := &watcher{ch: make(chan struct{}, 1)}
	set := s.watchers[id]
	if set == nil {
		set = make(map[*watcher]struct{})
		s.watchers[id] = set
	}
	set[w] = struct{}{}
	// Runs on its own goroutine once ctx is done; Close unregisters it first.
	w.stop = context.AfterFunc(ctx, func() { s.unwatch(id, w) })
	return w.ch, nil
}

// unwatch closes w's channel unless Close already did.
func (s *Store) unwatch(id string, w *watcher) {
	s.mu.Lock()
	defer s.mu.Unlock()
	set := s.watchers[id]
	if _, ok := set[w]; !ok {
		return
	}
	delete(set, w)
	if len(set) == 0 {
		delete(s.watchers, id)
	}
	close(w.ch)
}

// wake sends to every waiter of challenge id without blocking: a full buffer
// already holds a wake-up the waiter has not read. The caller holds s.mu.
func (s *Store) wake(id string) {
	for w := range s.watchers[id] {
		select {
		case w.ch <- struct{}{}:
		default:
		}
	}
}
