// Package watchhub is the in-process half of store.ChallengeStore.Watch,
// shared by the stores: a registry of waiters by challenge ID whose
// channels have a buffer of one, are woken without blocking the writer, and
// are closed when the waiter's context ends or the hub closes. How a store
// learns of changes from other instances (pub/sub, LISTEN/NOTIFY) is its own
// business; it calls Wake or WakeAll.
//
// A Hub has its own lock, so its methods may be called while the caller
// holds a lock of its own (which keeps, say, a state change and a WakeAll in
// one critical section); the hub calls back into its owner only through
// Idle, and never with its lock held.
package watchhub

import (
	"context"
	"sync"
)

// Hub is a registry of waiters. The zero Hub is ready to use.
type Hub struct {
	// Idle, when set before the first Watch, runs each time a waiter
	// leaves (its context ended or its cancel ran) and leaves the hub
	// without waiters, before that waiter's channel is closed: an owner
	// that runs something only while there are waiters (a poller) stops it
	// there. It runs without the hub's lock, so it may take its owner's
	// locks and call the hub; a Watch may have come meanwhile, as Len tells.
	// Close does not run it.
	Idle func()

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

// remove closes w's channel unless Close or an earlier remove did, after
// running Idle when w was the last waiter. Once w is out of the registry
// nothing else sends on or closes its channel, so that may be done without
// the lock.
func (h *Hub) remove(id string, w *watcher) {
	h.mu.Lock()
	set := h.watchers[id]
	if _, ok := set[w]; !ok {
		h.mu.Unlock()
		return
	}
	delete(set, w)
	if len(set) == 0 {
		delete(h.watchers, id)
	}
	idle := len(h.watchers) == 0 && h.Idle != nil
	h.mu.Unlock()
	if idle {
		h.Idle()
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

// IDs returns the challenge IDs that have waiters, in no order.
func (h *Hub) IDs() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	ids := make([]string, 0, len(h.watchers))
	for id := range h.watchers {
		ids = append(ids, id)
	}
	return ids
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
