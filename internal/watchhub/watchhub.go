// Package watchhub is the in-process half of store.ChallengeStore.Watch,
// shared by the stores: a registry of waiters by challenge ID whose
// channels have a buffer of one, are woken without blocking the writer, and
// are closed when the waiter's context ends or the hub closes. How a store
// learns of changes from other instances (pub/sub, LISTEN/NOTIFY) is its own
// business; it calls Wake or WakeAll.
//
// A Hub has its own lock, so its methods may be called while the caller
// holds a lock of its own (which keeps, say, a state change and a WakeAll in
// one critical section); the hub never calls back into its owner.
package watchhub

import (
	"context"
	"sync"
)

// Hub is a registry of waiters. The zero Hub is ready to use.
type Hub struct {
	mu       sync.Mutex
	closed   bool
	watchers map[string]map[*watcher]struct{}
}

type watcher struct {
	ch   chan struct{}
	stop func() bool // unregisters the context.AfterFunc
}

// Watch registers a waiter of id and returns its channel and a function
// that unregisters it (closing the channel) at once. The channel is also
// closed when ctx is done or the hub closes. ok is false after Close.
func (h *Hub) Watch(ctx context.Context, id string) (ch <-chan struct{}, cancel func(), ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, nil, false
	}
	if h.watchers == nil {
		h.watchers = make(map[string]map[*watcher]struct{})
	}
	w := &watcher{ch: make(chan struct{}, 1)}
	set := h.watchers[id]
	if set == nil {
		set = make(map[*watcher]struct{})
		h.watchers[id] = set
	}
	set[w] = struct{}{}
	// Runs on its own goroutine once ctx is done; Close unregisters it first.
	w.stop = context.AfterFunc(ctx, func() { h.remove(id, w) })
	return w.ch, func() { w.stop(); h.remove(id, w) }, true
}

// remove closes w's channel unless Close or an earlier remove did.
func (h *Hub) remove(id string, w *watcher) {
	h.mu.Lock()
	defer h.mu.Unlock()
	set := h.watchers[id]
	if _, ok := set[w]; !ok {
		return
	}
	delete(set, w)
	if len(set) == 0 {
		delete(h.watchers, id)
	}
	close(w.ch)
}

// Wake wakes every waiter of id without blocking: a full buffer already
// holds a wake-up the waiter has not read.
func (h *Hub) Wake(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.watchers[id] {
		wake(w)
	}
}

// WakeAll wakes every waiter, e.g. after a lost connection during which
// wake-ups from other instances may have been missed.
func (h *Hub) WakeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, set := range h.watchers {
		for w := range set {
			wake(w)
		}
	}
}

// Close closes every waiter's channel; later Watches fail. It is
// idempotent.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	for _, set := range h.watchers {
		for w := range set {
			w.stop()
			close(w.ch)
		}
	}
	h.watchers = nil
}

// Len reports how many challenge IDs have waiters.
func (h *Hub) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.watchers)
}

func wake(w *watcher) {
	select {
	case w.ch <- struct{}{}:
	default:
	}
}
