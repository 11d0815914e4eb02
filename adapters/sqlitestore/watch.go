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

// watcher is one Watch: its channel, how to stop waiting for its context,
// and the version of the challenge it has been told about.
type watcher struct {
	ch   chan struct{}
	stop func() bool // unregisters the context.AfterFunc
	// seen is the challenge's version (0: no such row) when Watch read it
	// or at the last wake-up, -1 until Watch has read it. Guarded by
	// Store.mu.
	seen int64
}

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
	w := &watcher{ch: make(chan struct{}, 1), seen: -1}
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return nil, store.ErrClosed
	}
	set := s.watchers[id]
	if set == nil {
		set = make(map[*watcher]struct{})
		s.watchers[id] = set
	}
	set[w] = struct{}{}
	if s.poller == nil {
		s.startPoller()
	}
	// Runs on its own goroutine once ctx is done; Close unregisters it first.
	w.stop = context.AfterFunc(ctx, func() { s.unwatch(id, w) })
	s.mu.Unlock()

	// Registered first, so a local change meanwhile wakes w; read second,
	// so any other change after this read moves the version past seen.
	var version int64
	err := s.queryRow(ctx, nil, `SELECT coalesce((SELECT version FROM challenges WHERE id = ?), 0)`, id).Scan(&version)
	if err != nil {
		w.stop()
		s.unwatch(id, w)
		return nil, s.fail(ctx, "watch", err)
	}
	s.mu.Lock()
	w.seen = max(w.seen, version)
	if s.poller != nil {
		s.poller.recheck.Store(true)
	}
	s.mu.Unlock()
	return w.ch, nil
}

// unwatch removes w and closes its channel, unless Close did; the poller
// stops with the last watcher.
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
	if len(s.watchers) == 0 {
		s.stopPoller()
	}
}

// wake tells the waiters of challenge id that it reached version, unless a
// wake-up already told them. It never blocks: a full buffer already holds
// a wake-up the waiter has not read.
func (s *Store) wake(id string, version int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for w := range s.watchers[id] {
		if version > w.seen {
			w.seen = version
			select {
			case w.ch <- struct{}{}:
			default:
			}
		}
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
	s.mu.Lock()
	ids := make([]string, 0, len(s.watchers))
	for id := range s.watchers {
		ids = append(ids, id)
	}
	s.mu.Unlock()
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
// they were told about. Waiters whose first version Watch has not read yet
// are left to Watch and to the next recheck.
func (s *Store) wakeChanged(versions map[string]int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, set := range s.watchers {
		version := versions[id]
		for w := range set {
			if w.seen >= 0 && version > w.seen {
				w.seen = version
				select {
				case w.ch <- struct{}{}:
				default:
				}
			}
		}
	}
}
