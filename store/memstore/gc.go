package memstore

import (
	"slices"
	"time"

	"github.com/deviceauth/deviceauth/store"
)

// gcBudget bounds how many queued records one call examines, so a jump of
// the caller's clock costs later calls a little each rather than one call a
// lot. Each write queues at most one entry, so the queue still drains.
const gcBudget = 64

// collectGarbage deletes records whose deadline is not after now, at most
// gcBudget queue entries per call. The caller holds s.mu.
func (s *Store) collectGarbage(now time.Time) {
	for range gcBudget {
		if len(s.garbage) == 0 || s.garbage[0].at.After(now) {
			return
		}
		e := s.garbage.pop()
		// The entry may be stale: the record is gone, or was renewed (a
		// counter's new window, a nonce claimed again) and queued again.
		switch e.kind {
		case gcChallenge:
			// Waiters of a deleted challenge stay registered until their
			// contexts end.
			if c, ok := s.challenges[e.key]; ok && !c.ExpiresAt.Add(expiredChallengeRetention).After(now) {
				delete(s.challenges, e.key)
				removeFromIndex(s.userChallenges, c.UserID, e.key)
			}
		case gcToken:
			if t, ok := s.tokens[e.key]; ok && !t.ExpiresAt.After(now) {
				delete(s.tokens, e.key)
			}
		case gcCounter:
			if c, ok := s.counters[e.key]; ok && !c.end.After(now) {
				delete(s.counters, e.key)
			}
		case gcNonce:
			if end, ok := s.nonces[e.key]; ok && !end.After(now) {
				delete(s.nonces, e.key)
			}
		case gcAction:
			if a, ok := s.actions[e.key]; ok && !a.ExpiresAt.After(now) {
				delete(s.actions, e.key)
				delete(s.pendingReviews, e.key)
				list := slices.DeleteFunc(s.userActions[a.UserID], func(r *store.ActionRecord) bool { return r == a })
				if len(list) == 0 {
					delete(s.userActions, a.UserID)
				} else {
					s.userActions[a.UserID] = list
				}
			}
		case gcCeremony:
			if c, ok := s.ceremonies[e.key]; ok && !c.ExpiresAt.After(now) {
				delete(s.ceremonies, e.key)
			}
		}
	}
}

type gcKind uint8

const (
	gcChallenge gcKind = iota
	gcToken
	gcCounter
	gcNonce
	gcCeremony
	gcAction
)

// gcEntry says that the record key of kind may be deleted from at on.
type gcEntry struct {
	at   time.Time
	kind gcKind
	key  string
}

// gcQueue is a min-heap of gcEntry by at, kept by hand rather than
// through container/heap, whose Push and Pop box every entry.
type gcQueue []gcEntry

// add queues an entry.
func (q *gcQueue) add(at time.Time, kind gcKind, key string) {
	*q = append(*q, gcEntry{at: at, kind: kind, key: key})
	h := *q
	for i := len(h) - 1; i > 0; {
		parent := (i - 1) / 2
		if !h[i].at.Before(h[parent].at) {
			break
		}
		h[i], h[parent] = h[parent], h[i]
		i = parent
	}
}

// pop removes and returns the earliest entry; the queue must not be empty.
func (q *gcQueue) pop() gcEntry {
	h := *q
	e, n := h[0], len(h)-1
	h[0] = h[n]
	h[n] = gcEntry{} // drop the key string
	h = h[:n]
	for i := 0; ; {
		least, l, r := i, 2*i+1, 2*i+2
		if l < n && h[l].at.Before(h[least].at) {
			least = l
		}
		if r < n && h[r].at.Before(h[least].at) {
			least = r
		}
		if least == i {
			break
		}
		h[i], h[least] = h[least], h[i]
		i = least
	}
	*q = h
	return e
}
