package pgxstore

import (
	"context"
	"time"
)

// A challenge's watchers column counts the waiters watching it, across
// every Store over the schema, and the trigger notifies an update of the
// challenge only while that count is above zero (migration 0004; the
// package doc, "Wake-ups"). Each Watch adds one before it returns and takes
// it back when its context ends. A count that stays too high (a process
// that died with waiters, a race between a waiter leaving and the retry
// that counts it) costs notifications, never a wake-up; one too low would
// lose wake-ups, so nothing is ever taken back that was not added.

// waiter is one Watch's share of its challenge's count. Its fields are
// guarded by listener.mu.
type waiter struct {
	id      string
	counted bool // the count includes it
	left    bool // its context ended
}

// count adds the waiter of a Watch of challenge id to the challenge's
// count, and arranges for it to be taken back when ctx ends. When the
// challenge does not exist yet, it is counted by retryCounts once it does.
func (l *listener) count(ctx context.Context, id string) error {
	found, err := l.add(ctx, map[string]int{id: 1})
	if err != nil {
		return err
	}
	w := &waiter{id: id, counted: len(found) == 1}
	l.mu.Lock()
	if !w.counted && !l.closed {
		l.uncounted[w] = struct{}{}
		if !l.retrying {
			l.retrying = true
			l.workers.Go(l.retryCounts)
		}
	}
	l.mu.Unlock()
	context.AfterFunc(ctx, func() { l.leave(w) })
	return nil
}

// add adds n[id] to the count of each challenge id, in one statement, and
// returns the IDs of the challenges that exist.
func (l *listener) add(ctx context.Context, n map[string]int) (map[string]bool, error) {
	ids, counts := columns(n)
	rows, err := l.pool.Query(ctx, l.q.countWaiters, ids, counts)
	if err != nil {
		return nil, err
	}
	found := make(map[string]bool, len(ids))
	var id string
	for rows.Next() {
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		found[id] = true
	}
	return found, rows.Err()
}

// columns is n as two parallel arrays, for unnest.
func columns(n map[string]int) ([]string, []int32) {
	ids := make([]string, 0, len(n))
	counts := make([]int32, 0, len(n))
	for id, c := range n {
		ids = append(ids, id)
		counts = append(counts, int32(c))
	}
	return ids, counts
}

// leave takes w back from its challenge's count, by dropLeft, when it was
// counted; an uncounted w is no longer retried.
func (l *listener) leave(w *waiter) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if w.left || l.closed {
		return
	}
	w.left = true
	if !w.counted {
		delete(l.uncounted, w)
		return
	}
	l.dropLater(w.id)
}

// dropLater has one waiter taken back from the count of challenge id. The
// caller holds l.mu.
func (l *listener) dropLater(id string) {
	l.leaving[id]++
	if !l.dropping {
		l.dropping = true
		l.workers.Go(l.dropLeft)
	}
}

// dropLeft takes back the waiters that left, in one statement for all
// those gone meanwhile, until none are left or the listener closes. A
// statement that fails leaves its counts too high.
func (l *listener) dropLeft() {
	for {
		l.mu.Lock()
		if len(l.leaving) == 0 || l.closed {
			l.dropping = false
			l.mu.Unlock()
			return
		}
		ids, counts := columns(l.leaving)
		clear(l.leaving)
		l.mu.Unlock()
		l.pool.Exec(l.background, l.q.uncountWaiters, ids, counts)
	}
}

// retryCounts tries every poll interval to count the waiters whose
// challenge did not exist, and wakes those it counts: their challenge was
// created since they watched. It returns when none are left or the
// listener closes. Errors wait for the next try; waiters poll meanwhile.
func (l *listener) retryCounts() {
	ticker := time.NewTicker(l.poll)
	defer ticker.Stop()
	for {
		select {
		case <-l.background.Done():
			return
		case <-ticker.C:
		}
		l.mu.Lock()
		if len(l.uncounted) == 0 {
			l.retrying = false
			l.mu.Unlock()
			return
		}
		tried := make([]*waiter, 0, len(l.uncounted))
		n := make(map[string]int)
		for w := range l.uncounted {
			tried = append(tried, w)
			n[w.id]++
		}
		l.mu.Unlock()
		found, err := l.add(l.background, n)
		if err != nil {
			continue
		}
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return
		}
		for _, w := range tried {
			if !found[w.id] {
				continue
			}
			delete(l.uncounted, w)
			if w.left { // it left while counted: take it back
				l.dropLater(w.id)
			} else {
				w.counted = true
			}
			l.watchers.Wake(w.id)
		}
		l.mu.Unlock()
	}
}
