package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"sync/atomic"
	"time"

	"github.com/deviceauth/deviceauth/store"
)

// poller is the goroutine that finds changes made by other connections.
type poller struct {
	cancel context.CancelFunc
	// recheck asks for a read of the watched versions at the next tick even
	// when data_version has not moved: a new watcher's first version was
	// read on another connection.
	recheck atomic.Bool
}

// Watch implements [store.ChallengeStore]. Changes made through this Store
// wake the channel at once; changes made through other connections to the
// file (other Store values, other processes) within a poll interval. Watch
// reads the challenge's version before it returns, so a change made after
// that is never missed.
func (s *Store) Watch(ctx context.Context, id string) (<-chan struct{}, error) {
	if err := s.closed.Check(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	ch, unwatch, ok := s.watchers.Watch(ctx, id)
	if !ok { // Close closed the hub under s.mu
		s.mu.Unlock()
		return nil, store.ErrClosed
	}
	if s.poller == nil {
		s.startPoller()
	}
	s.mu.Unlock()

	// Registered first, so a local change meanwhile wakes ch; read second,
	// so any other change after this read moves the version past seen.
	var version int64
	err := s.queryRow(ctx, nil, `SELECT coalesce((SELECT version FROM challenges WHERE id = ?), 0)`, id).Scan(&version)
	if err != nil {
		unwatch()
		return nil, s.fail(ctx, "watch", err)
	}
	s.mu.Lock()
	// An earlier waiter's version stays: it may be older, and the poller
	// must wake that waiter for what came since (this one is then woken
	// too, which costs it one read).
	if _, ok := s.seen[id]; !ok {
		s.seen[id] = version
	}
	if s.poller != nil {
		s.poller.recheck.Store(true)
	}
	s.mu.Unlock()
	return ch, nil
}

// wake tells the waiters of challenge id that it reached version, unless a
// wake-up already told them. It never blocks: a full buffer already holds
// a wake-up the waiter has not read.
func (s *Store) wake(id string, version int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen, ok := s.seen[id]
	if ok && version <= seen {
		return
	}
	if ok {
		s.seen[id] = version
	}
	// Without seen, a Watch has not read the version yet: it reads this
	// one or a newer.
	s.watchers.Wake(id)
}

// idle stops the poller once the last watcher has left.
func (s *Store) idle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.watchers.Len() == 0 {
		clear(s.seen)
		s.stopPoller()
	}
}

// startPoller starts the poller goroutine. The caller holds s.mu.
func (s *Store) startPoller() {
	ctx, cancel := context.WithCancel(context.Background())
	p := &poller{cancel: cancel}
	s.poller = p
	s.pollers.Add(1)
	go func() {
		defer s.pollers.Done()
		s.poll(ctx, p)
	}()
}

// stopPoller tells the poller to stop; Close waits for it. The caller
// holds s.mu.
func (s *Store) stopPoller() {
	if s.poller != nil {
		s.poller.cancel()
		s.poller = nil
	}
}

// poll runs until ctx ends. At every tick it reads PRAGMA data_version on
// a connection it keeps, which moves when another connection commits; only
// then (or when asked to recheck) does it read the versions of the watched
// challenges and wake the waiters of those that moved. Errors are retried
// at the next tick: wake-ups are hints, and waiters poll too.
func (s *Store) poll(ctx context.Context, p *poller) {
	ticker := time.NewTicker(s.pollInterval)
	defer ticker.Stop()
	var conn *sql.Conn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	last := int64(-1) // data_version at the last read of the versions
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		if conn == nil {
			c, err := s.db.Conn(ctx)
			if err != nil {
				continue
			}
			conn = c
		}
		recheck := p.recheck.Swap(false)
		var dataVersion int64
		if err := conn.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&dataVersion); err != nil {
			conn.Close()
			conn, last = nil, -1
			continue
		}
		if dataVersion == last && !recheck {
			continue
		}
		versions, err := s.watchedVersions(ctx, conn)
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				conn.Close()
				conn = nil
			}
			last = -1
			continue
		}
		last = dataVersion
		s.wakeChanged(versions)
	}
}

// watchedVersions reads the version of every watched challenge on conn;
// missing challenges are left out (version 0).
func (s *Store) watchedVersions(ctx context.Context, conn *sql.Conn) (map[string]int64, error) {
	ids := s.watchers.IDs()
	versions := make(map[string]int64, len(ids))
	if len(ids) == 0 {
		return versions, nil
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return nil, err
	}
	rows, err := conn.QueryContext(ctx, `SELECT id, version FROM challenges
		WHERE id IN (SELECT value FROM json_each(?))`, string(list))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var version int64
		if err := rows.Scan(&id, &version); err != nil {
			return nil, err
		}
		versions[id] = version
	}
	return versions, rows.Err()
}

// wakeChanged wakes the waiters whose challenge moved past the version
// they were told about, and forgets the versions of challenges nobody
// watches any more. Challenges whose first version Watch has not read yet
// are left to Watch and to the next recheck.
func (s *Store) wakeChanged(versions map[string]int64) {
	watched := s.watchers.IDs()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.seen) > len(watched) {
		keep := make(map[string]bool, len(watched))
		for _, id := range watched {
			keep[id] = true
		}
		for id := range s.seen {
			if !keep[id] {
				delete(s.seen, id)
			}
		}
	}
	for id, seen := range s.seen {
		if version := versions[id]; version > seen {
			s.seen[id] = version
			s.watchers.Wake(id)
		}
	}
}
