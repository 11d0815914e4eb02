package memstore

import (
	"context"
	"slices"
	"time"

	"github.com/deviceauth/deviceauth/store"
)

// The store makes each step of a cycle one call; without it the Service
// would make them of the record methods.
var _ store.CycleStore = (*Store)(nil)

// BeginChallenge implements [store.CycleStore] in one critical section.
func (s *Store) BeginChallenge(ctx context.Context, b store.Begin, now time.Time) (store.Begun, error) {
	if err := s.lock(ctx); err != nil {
		return store.Begun{}, err
	}
	defer s.mu.Unlock()
	s.collectGarbage(now)
	var res store.Begun
	if c, ok := s.counters[b.Counter]; ok && b.Counter != "" && c.end.After(now) {
		res.Counter = c.value
	}
	res.Kinds = []store.CredentialKind{}
	for id := range s.userCredentials[b.Challenge.UserID] {
		if k := s.credentials[id].Kind; !slices.Contains(res.Kinds, k) {
			res.Kinds = append(res.Kinds, k)
		}
	}
	slices.Sort(res.Kinds)
	if !b.Allows(res.Counter, res.Kinds) {
		return res, nil
	}
	c, err := s.createChallenge(b.Challenge, now)
	if err != nil {
		return store.Begun{}, err
	}
	res.Challenge = c
	return res, nil
}

// GetChallengeCredential implements [store.CycleStore].
func (s *Store) GetChallengeCredential(ctx context.Context, id, credentialID string, now time.Time) (store.Challenge, store.Credential, error) {
	if err := s.lock(ctx); err != nil {
		return store.Challenge{}, store.Credential{}, err
	}
	defer s.mu.Unlock()
	s.collectGarbage(now)
	ch, err := s.getChallenge(id, now)
	cred, ok := s.credentials[credentialID]
	if err != nil || !ok {
		return store.Challenge{}, store.Credential{}, store.ErrNotFound
	}
	return ch, cred.Clone(), nil
}

// ConsumeChallenge implements [store.CycleStore] in one critical section.
func (s *Store) ConsumeChallenge(ctx context.Context, id string, b store.Binding, now time.Time) (store.Challenge, store.CredentialKind, error) {
	if err := s.lock(ctx); err != nil {
		return store.Challenge{}, "", err
	}
	defer s.mu.Unlock()
	s.collectGarbage(now)
	ch, ok := s.challenges[id] // read under the lock; cloned only to be returned
	if !ok {
		return store.Challenge{}, "", store.ErrNotFound
	}
	if ch.State = ch.StateAt(now); !b.Binds(ch) || ch.State != store.StateApproved {
		return ch.Clone(), "", store.ErrConflict
	}
	cred, ok := s.credentials[ch.CredentialID]
	if !ok || cred.UserID != b.UserID {
		failed, err := s.transition(id, store.Transition{From: store.StateApproved, To: store.StateFailed}, now)
		if err != nil {
			return store.Challenge{}, "", err
		}
		return failed, "", store.ErrRevoked
	}
	if !b.Admits(ch, cred.Kind) {
		return ch.Clone(), "", store.ErrConflict
	}
	consumed, err := s.transition(id, store.Transition{From: store.StateApproved, To: store.StateConsumed}, now)
	if err != nil {
		return store.Challenge{}, "", err
	}
	return consumed, cred.Kind, nil
}
