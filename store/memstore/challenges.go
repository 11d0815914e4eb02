package memstore

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/deviceauth/deviceauth/store"
)

// CreateChallenge implements [store.ChallengeStore].
func (s *Store) CreateChallenge(ctx context.Context, c store.Challenge, now time.Time) (store.Challenge, error) {
	if err := s.lock(ctx); err != nil {
		return store.Challenge{}, err
	}
	defer s.mu.Unlock()
	s.collectGarbage(now)
	return s.createChallenge(c, now)
}

// createChallenge is CreateChallenge for a caller that holds s.mu and has
// collected garbage.
func (s *Store) createChallenge(c store.Challenge, now time.Time) (store.Challenge, error) {
	if existing, ok := s.findByIdempotencyKey(c.UserID, c.IdempotencyKey, now); ok {
		return existing.Clone(), nil
	}
	if _, ok := s.challenges[c.ID]; ok {
		return store.Challenge{}, store.ErrConflict
	}
	if c.Record != nil {
		if err := s.putAction(*c.Record); err != nil {
			return store.Challenge{}, err
		}
		c.Record = nil
	}
	s.challenges[c.ID] = c.Clone()
	addToIndex(s.userChallenges, c.UserID, c.ID)
	s.garbage.add(c.ExpiresAt.Add(expiredChallengeRetention), gcChallenge, c.ID)
	s.wake(c.ID)
	return c.Clone(), nil
}

// findByIdempotencyKey returns userID's unexpired challenge created with key.
// A user holds few live challenges (rate limits see to it), so a scan of
// them is cheap. The caller holds s.mu.
func (s *Store) findByIdempotencyKey(userID, key string, now time.Time) (store.Challenge, bool) {
	if key == "" {
		return store.Challenge{}, false
	}
	for id := range s.userChallenges[userID] {
		if c := s.challenges[id]; c.IdempotencyKey == key && c.ExpiresAt.After(now) {
			return c, true
		}
	}
	return store.Challenge{}, false
}

// GetChallenge implements [store.ChallengeStore].
func (s *Store) GetChallenge(ctx context.Context, id string, now time.Time) (store.Challenge, error) {
	if err := s.lock(ctx); err != nil {
		return store.Challenge{}, err
	}
	defer s.mu.Unlock()
	s.collectGarbage(now)
	return s.getChallenge(id, now)
}

// getChallenge is GetChallenge for a caller that holds s.mu.
func (s *Store) getChallenge(id string, now time.Time) (store.Challenge, error) {
	c, ok := s.challenges[id]
	if !ok {
		return store.Challenge{}, store.ErrNotFound
	}
	c = c.Clone()
	c.State = c.StateAt(now)
	return c, nil
}

// TransitionChallenge implements [store.ChallengeStore]. A transition out of
// a final state always fails with ErrConflict.
func (s *Store) TransitionChallenge(ctx context.Context, id string, t store.Transition, now time.Time) (store.Challenge, error) {
	if err := s.lock(ctx); err != nil {
		return store.Challenge{}, err
	}
	defer s.mu.Unlock()
	s.collectGarbage(now)
	return s.transition(id, t, now)
}

// transition is TransitionChallenge for a caller that holds s.mu.
func (s *Store) transition(id string, t store.Transition, now time.Time) (store.Challenge, error) {
	c, ok := s.challenges[id]
	if !ok {
		return store.Challenge{}, store.ErrNotFound
	}
	if t.From.Final() || c.State != t.From || !c.ExpiresAt.After(now) ||
		(t.UserID != "" && c.UserID != "" && t.UserID != c.UserID) {
		return store.Challenge{}, store.ErrConflict
	}
	c.State = t.To
	if c.UserID == "" && t.UserID != "" {
		removeFromIndex(s.userChallenges, "", id)
		addToIndex(s.userChallenges, t.UserID, id)
		c.UserID = t.UserID
	}
	if t.CredentialID != "" {
		c.CredentialID = t.CredentialID
	}
	if t.DenyReason != "" {
		c.DenyReason = t.DenyReason
	}
	if t.ClaimedBy != "" {
		c.ClaimedBy = t.ClaimedBy
	}
	if !t.AnsweredAt.IsZero() {
		c.AnsweredAt = t.AnsweredAt
	}
	s.challenges[id] = c
	s.actionResult(c, now)
	if cred, ok := s.credentials[t.CredentialID]; t.CredentialUsed && ok && cred.UserID == c.UserID {
		cred.LastUsedAt = t.AnsweredAt
		s.credentials[t.CredentialID] = cred
	}
	s.wake(id)
	return c.Clone(), nil
}

// RecordAttempt implements [store.ChallengeStore].
func (s *Store) RecordAttempt(ctx context.Context, id string, from store.State, now time.Time) (store.Challenge, error) {
	if err := s.lock(ctx); err != nil {
		return store.Challenge{}, err
	}
	defer s.mu.Unlock()
	s.collectGarbage(now)
	c, ok := s.challenges[id]
	if !ok {
		return store.Challenge{}, store.ErrNotFound
	}
	if c.State != from || from.Final() || !c.ExpiresAt.After(now) {
		return store.Challenge{}, store.ErrConflict
	}
	c.Attempts++
	s.challenges[id] = c
	s.wake(id)
	return c.Clone(), nil
}

// ListPendingChallenges implements [store.ChallengeStore].
func (s *Store) ListPendingChallenges(ctx context.Context, userID string, now time.Time) ([]store.Challenge, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	s.collectGarbage(now)
	list := make([]store.Challenge, 0)
	for id := range s.userChallenges[userID] {
		if c := s.challenges[id]; c.State == store.StatePending && c.ExpiresAt.After(now) {
			list = append(list, c.Clone())
		}
	}
	slices.SortFunc(list, func(a, b store.Challenge) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return list, nil
}
