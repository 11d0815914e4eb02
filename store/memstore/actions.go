package memstore

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/deviceauth/deviceauth/store"
)

var _ store.ActionStore = (*Store)(nil)

// PutAction implements [store.ActionStore].
func (s *Store) PutAction(ctx context.Context, a store.ActionRecord) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	return s.putAction(a)
}

// putAction is PutAction for a caller that holds s.mu.
func (s *Store) putAction(a store.ActionRecord) error {
	if _, ok := s.actions[a.ID]; ok {
		return store.ErrConflict
	}
	r := a.Clone()
	s.actions[a.ID] = &r
	s.userActions[a.UserID] = append(s.userActions[a.UserID], &r)
	if a.Review == store.ReviewPending {
		s.pendingReviews[a.ID] = struct{}{}
	}
	s.garbage.add(a.ExpiresAt, gcAction, a.ID)
	return nil
}

// actionResult keeps the action record of challenge c in step with it.
// The caller holds s.mu.
func (s *Store) actionResult(c store.Challenge, now time.Time) {
	a, ok := s.actions[c.ID]
	if !ok || a.UserID != c.UserID {
		return
	}
	a.Result = c.State
	if cred, ok := s.credentials[c.CredentialID]; ok && c.CredentialID != "" {
		a.Kind = cred.Kind
	}
	if c.State == store.StateConsumed {
		a.PassedAt = now
	}
}

// action returns userID's unexpired record id, the store's own. The
// caller holds s.mu.
func (s *Store) action(userID, id string, now time.Time) (*store.ActionRecord, bool) {
	a, ok := s.actions[id]
	if !ok || a.UserID != userID || !a.ExpiresAt.After(now) {
		return nil, false
	}
	return a, true
}

// GetAction implements [store.ActionStore].
func (s *Store) GetAction(ctx context.Context, userID, id string, now time.Time) (store.ActionRecord, error) {
	if err := s.lock(ctx); err != nil {
		return store.ActionRecord{}, err
	}
	defer s.mu.Unlock()
	s.collectGarbage(now)
	a, ok := s.action(userID, id, now)
	if !ok {
		return store.ActionRecord{}, store.ErrNotFound
	}
	return a.Clone(), nil
}

// Actions implements [store.ActionStore].
func (s *Store) Actions(ctx context.Context, q store.ActionQuery, now time.Time) ([]store.ActionRecord, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	s.collectGarbage(now)
	return s.queryActions(q, now), nil
}

var _ store.SignalStore = (*Store)(nil)

// ReadSignals implements [store.SignalStore] in one critical section,
// tallying the user's records where they are.
func (s *Store) ReadSignals(ctx context.Context, q store.SignalQuery) (store.SignalRead, error) {
	if err := s.lock(ctx); err != nil {
		return store.SignalRead{}, err
	}
	defer s.mu.Unlock()
	s.collectGarbage(q.Now)
	r := store.SignalRead{Credentials: s.listCredentials(q.UserID)}
	if c, ok := s.counters[q.Counter]; ok && q.Counter != "" && c.end.After(q.Now) {
		r.Counter = c.value
	}
	for _, a := range s.userActions[q.UserID] {
		if a.ExpiresAt.After(q.Now) {
			q.Tally(&r, a)
		}
	}
	return r, nil
}

// queryActions is Actions for a caller that holds s.mu.
func (s *Store) queryActions(q store.ActionQuery, now time.Time) []store.ActionRecord {
	var picked []*store.ActionRecord
	for _, a := range s.userActions[q.UserID] {
		if a.ExpiresAt.After(now) && q.Matches(*a) {
			picked = append(picked, a)
		}
	}
	slices.SortFunc(picked, func(a, b *store.ActionRecord) int { return store.Newer(*a, *b) })
	list := make([]store.ActionRecord, min(len(picked), q.Cap()))
	for i := range list {
		a := *picked[i]
		if q.Brief {
			a.Data = nil
		}
		list[i] = a.Clone()
	}
	return list
}

// DecideReview implements [store.ActionStore].
func (s *Store) DecideReview(ctx context.Context, userID, id string, d store.ReviewDecision, now time.Time) (store.ActionRecord, error) {
	return s.moveReview(ctx, userID, id, store.ReviewPending, d, now)
}

// UseReview implements [store.ActionStore].
func (s *Store) UseReview(ctx context.Context, userID, id string, now time.Time) (store.ActionRecord, error) {
	return s.moveReview(ctx, userID, id, store.ReviewApproved, store.ReviewDecision{To: store.ReviewUsed}, now)
}

// moveReview moves a record's review from from to d.To, recording d's
// reviewer, note and time when d.To is a decision.
func (s *Store) moveReview(ctx context.Context, userID, id string, from store.ReviewState, d store.ReviewDecision, now time.Time) (store.ActionRecord, error) {
	if err := s.lock(ctx); err != nil {
		return store.ActionRecord{}, err
	}
	defer s.mu.Unlock()
	s.collectGarbage(now)
	a, ok := s.action(userID, id, now)
	if !ok {
		return store.ActionRecord{}, store.ErrNotFound
	}
	if a.Review != from {
		return a.Clone(), store.ErrConflict
	}
	a.Review = d.To
	if from == store.ReviewPending {
		a.Reviewer, a.ReviewNote, a.ReviewedAt = d.Reviewer, d.Note, d.ReviewedAt
		delete(s.pendingReviews, id)
	}
	return a.Clone(), nil
}

// PendingReviews implements [store.ActionStore].
func (s *Store) PendingReviews(ctx context.Context, limit int, now time.Time) ([]store.ActionRecord, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	s.collectGarbage(now)
	list := make([]store.ActionRecord, 0)
	for id := range s.pendingReviews {
		if a := s.actions[id]; a.ExpiresAt.After(now) {
			list = append(list, a.Clone())
		}
	}
	slices.SortFunc(list, func(a, b store.ActionRecord) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return list[:min(len(list), limit)], nil
}

// ForgetActions implements [store.ActionStore].
func (s *Store) ForgetActions(ctx context.Context, userID string, counters []string) (int, error) {
	if err := s.lock(ctx); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	for _, k := range counters {
		delete(s.counters, k)
	}
	list := s.userActions[userID]
	for _, a := range list {
		delete(s.actions, a.ID)
		delete(s.pendingReviews, a.ID)
	}
	delete(s.userActions, userID)
	return len(list), nil
}
