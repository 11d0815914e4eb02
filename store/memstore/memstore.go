// Package memstore keeps deviceauth's state in the memory of one process.
//
// It implements [store.Store] with maps behind one mutex, for tests and for
// applications that run a single instance: a second process, or a second
// instance behind a load balancer, sees none of its state, and everything is
// lost on restart.
//
// # Time
//
// Expiry follows only the now callers pass in; the store never reads a clock
// of its own. Expired records are garbage collected lazily, a bounded number
// at each call that carries a now: tokens, counters, nonces and ceremonies
// once expired (they then behave as absent anyway), challenges an hour
// after ExpiresAt, so that waiters read EXPIRED rather than not-found
// meanwhile. There is no background goroutine, so nothing leaks: Close only
// closes the channels of Watch and drops the records.
//
// # Wake-ups
//
// Watch channels are woken in process, by changes made through the same
// Store value; each is closed when its context ends (through
// context.AfterFunc) or at Close.
//
// # Copies
//
// Records go in and come out as deep copies: neither the slices a caller
// passed in nor those it got back share memory with the store.
package memstore

import (
	"context"
	"sync"
	"time"

	"github.com/deviceauth/deviceauth/internal/watchhub"
	"github.com/deviceauth/deviceauth/store"
)

// expiredChallengeRetention is how long an expired challenge is kept past its
// ExpiresAt, so that a waiting browser or device reads EXPIRED rather than
// not-found.
const expiredChallengeRetention = time.Hour

// Store is an in-memory [store.Store]. The zero value is not usable; call
// [New]. It is safe for concurrent use.
type Store struct {
	mu     sync.Mutex
	closed bool

	credentials     map[string]store.Credential
	userCredentials map[string]map[string]struct{} // user ID → credential IDs

	challenges     map[string]store.Challenge
	userChallenges map[string]map[string]struct{} // user ID → challenge IDs

	tokens   map[string]store.RegistrationToken // by string(Hash)
	counters map[string]counter
	nonces   map[string]time.Time // nonce → expiresAt
	recovery map[string][][]byte  // user ID → recovery code hashes

	ceremonies map[string]store.Ceremony

	actions        map[string]*store.ActionRecord
	userActions    map[string][]*store.ActionRecord // user ID → the same records, oldest put first
	pendingReviews map[string]struct{}              // action IDs

	watchers watchhub.Hub // waiters by challenge ID
	garbage  gcQueue
}

var _ store.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{
		credentials:     make(map[string]store.Credential),
		userCredentials: make(map[string]map[string]struct{}),
		challenges:      make(map[string]store.Challenge),
		recovery:        make(map[string][][]byte),
		userChallenges:  make(map[string]map[string]struct{}),
		tokens:          make(map[string]store.RegistrationToken),
		counters:        make(map[string]counter),
		nonces:          make(map[string]time.Time),
		ceremonies:      make(map[string]store.Ceremony),
		actions:         make(map[string]*store.ActionRecord),
		userActions:     make(map[string][]*store.ActionRecord),
		pendingReviews:  make(map[string]struct{}),
	}
}

// lock takes the mutex after checking ctx and returns the error a method
// reports instead of running: ctx.Err() or ErrClosed. On nil, the caller
// holds the mutex and must unlock it.
func (s *Store) lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return store.ErrClosed
	}
	return nil
}

// Close closes the channels of every Watch and drops all records. Methods
// called afterwards return [store.ErrClosed]. Closing twice is a no-op.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.watchers.Close()
	s.credentials, s.userCredentials = nil, nil
	s.challenges, s.userChallenges = nil, nil
	s.tokens, s.counters, s.nonces = nil, nil, nil
	s.recovery, s.ceremonies = nil, nil
	s.actions, s.userActions, s.pendingReviews = nil, nil, nil
	s.garbage = nil
	return nil
}

// addToIndex records that owner (a user ID) has record id.
func addToIndex(index map[string]map[string]struct{}, owner, id string) {
	ids := index[owner]
	if ids == nil {
		ids = make(map[string]struct{})
		index[owner] = ids
	}
	ids[id] = struct{}{}
}

// removeFromIndex forgets that owner has record id, and owner once it has
// none.
func removeFromIndex(index map[string]map[string]struct{}, owner, id string) {
	ids := index[owner]
	delete(ids, id)
	if len(ids) == 0 {
		delete(index, owner)
	}
}
