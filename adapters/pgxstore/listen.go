package pgxstore

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/deviceauth/deviceauth/internal/watchhub"
	"github.com/deviceauth/deviceauth/store"
)

// Watch implements [store.ChallengeStore]. The channel is woken by the
// NOTIFY that a trigger on the challenges table sends, in the writer's
// transaction, for every update of a challenge that a waiter is watching —
// by this Store, another Store over the same schema, or any other writer.
// Watch returns once the Store's LISTEN connection is listening and the
// challenge counts this waiter (a statement of its own, see the package
// doc), so a change committed after Watch returns wakes the channel; the
// count drops when ctx ends. A challenge that does not exist yet is counted
// once it does, by a retry every poll interval, which wakes the channel
// then: for its creation (which notifies nobody) and what followed. While
// the LISTEN connection is being re-established, every watcher is woken at
// each failed attempt and when it is back, because notifications sent
// meanwhile are lost. When the connection cannot be established or the
// count fails, Watch fails with the driver error.
func (s *Store) Watch(ctx context.Context, id string) (<-chan struct{}, error) {
	if err := s.closed.Check(ctx); err != nil {
		return nil, err
	}
	ch, unwatch, err := s.listener.watch(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.listener.count(ctx, id); err != nil {
		unwatch()
		return nil, wrap("watch: count the waiter", err)
	}
	return ch, nil
}

// listener owns one LISTEN connection, taken from the pool (and hijacked out
// of it) by one goroutine started at the first Watch, and wakes the
// watchers of the challenge IDs it is notified of. It also keeps the
// challenges' counts of waiters (watchcount.go).
type listener struct {
	pool    *pgxpool.Pool
	channel string
	poll    time.Duration
	q       *queries

	// background is cancelled by close; the goroutines that keep the
	// counts of waiters run under it, in workers.
	background     context.Context
	stopBackground context.CancelFunc
	workers        sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	watchers watchhub.Hub // waiters by challenge ID
	state    listenState
	err      error         // why the connection is down, in stateDown
	changed  chan struct{} // closed and replaced at every change of state
	cancel   context.CancelFunc
	done     chan struct{} // closed when the goroutine has returned
	// uncounted are the waiters whose challenge did not exist when Watch
	// counted them; retrying is set while the goroutine that retries them
	// runs. leaving counts, by challenge ID, the waiters gone whose count is
	// yet to drop; dropping is set while the goroutine that drops it runs.
	uncounted map[*waiter]struct{}
	retrying  bool
	leaving   map[string]int
	dropping  bool
}

type listenState uint8

const (
	stateIdle       listenState = iota // no goroutine yet
	stateConnecting                    // an attempt is under way
	stateUp                            // LISTEN done, receiving
	stateDown                          // the last attempt failed; waiting to retry
)

func newListener(pool *pgxpool.Pool, channel string, poll time.Duration, q *queries) *listener {
	background, stopBackground := context.WithCancel(context.Background())
	return &listener{
		pool:           pool,
		channel:        channel,
		poll:           poll,
		q:              q,
		background:     background,
		stopBackground: stopBackground,
		changed:        make(chan struct{}),
		uncounted:      make(map[*waiter]struct{}),
		leaving:        make(map[string]int),
	}
}

// watch registers a watcher of id, starts the goroutine if it is the first,
// and waits until the connection is listening. unwatch unregisters the
// watcher.
func (l *listener) watch(ctx context.Context, id string) (ch <-chan struct{}, unwatch func(), err error) {
	l.mu.Lock()
	ch, unwatch, ok := l.watchers.Watch(ctx, id)
	if !ok { // close closed the hub under l.mu
		l.mu.Unlock()
		return nil, nil, store.ErrClosed
	}
	if l.state == stateIdle {
		var runCtx context.Context
		runCtx, l.cancel = context.WithCancel(context.Background())
		l.done = make(chan struct{})
		l.setState(stateConnecting, nil)
		go l.run(runCtx)
	}
	l.mu.Unlock()

	if err := l.awaitListening(ctx); err != nil {
		unwatch()
		return nil, nil, err
	}
	return ch, unwatch, nil
}

// awaitListening returns nil once the connection is listening, or why it
// is not: the error of the last attempt, ctx's, or ErrClosed.
func (l *listener) awaitListening(ctx context.Context) error {
	for {
		l.mu.Lock()
		state, err, changed, closed := l.state, l.err, l.changed, l.closed
		l.mu.Unlock()
		switch {
		case closed:
			return store.ErrClosed
		case state == stateUp:
			return nil
		case state == stateDown:
			return wrap("watch: listen", err)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// close stops the goroutines, waits for them, and closes every channel.
func (l *listener) close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	l.watchers.Close()
	cancel, done := l.cancel, l.done
	l.setState(l.state, nil) // releases awaitListening, which sees closed
	l.mu.Unlock()
	l.stopBackground()
	l.workers.Wait()
	if cancel != nil {
		cancel()
		<-done
	}
}

// setState records a new state and tells awaitListening. The caller holds
// l.mu.
func (l *listener) setState(state listenState, err error) {
	l.state, l.err = state, err
	close(l.changed)
	l.changed = make(chan struct{})
}

// transition is setState under l.mu, optionally waking every watcher in the
// same critical section: a Watch that sees the new state has either been
// woken or registered after the wake-up.
func (l *listener) transition(state listenState, err error, wakeAll bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.setState(state, err)
	if wakeAll {
		l.watchers.WakeAll()
	}
}

// dispatch wakes the watchers of challenge id.
func (l *listener) dispatch(id string) { l.watchers.Wake(id) }

// run keeps a LISTEN connection until ctx ends. A lost connection is
// replaced at once, unless it lived less than a poll interval: then, as
// after a failed attempt, with a backoff capped at the poll interval, so a
// server that keeps dropping connections is not hammered.
func (l *listener) run(ctx context.Context) {
	defer close(l.done)
	var delay time.Duration
	backoff := func() bool {
		delay = min(max(2*delay, 50*time.Millisecond), l.poll)
		return sleep(ctx, delay)
	}
	connectedBefore := false
	for {
		conn, err := l.connect(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			// Waiters re-read at each attempt: the poll that stands in for
			// the notifications they cannot get.
			l.transition(stateDown, err, true)
			if !backoff() {
				return
			}
			l.transition(stateConnecting, nil, false)
			continue
		}
		// After a reconnection, changes made while nobody listened are
		// lost: wake everyone to re-read. The first time there were none.
		l.transition(stateUp, nil, connectedBefore)
		connectedBefore = true
		up := time.Now()
		l.receive(ctx, conn)
		closeConn(conn)
		if ctx.Err() != nil {
			return
		}
		l.transition(stateConnecting, nil, false)
		if time.Since(up) >= l.poll {
			delay = 0
		} else if !backoff() {
			return
		}
	}
}

// connect takes a connection from the pool, so that the pool's settings
// and hooks apply, hijacks it (the pool may open another in its place) and
// LISTENs on it.
func (l *listener) connect(ctx context.Context) (*pgx.Conn, error) {
	pc, err := l.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	conn := pc.Hijack()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{l.channel}.Sanitize()); err != nil {
		closeConn(conn)
		return nil, err
	}
	return conn, nil
}

// closeConn closes a hijacked connection, waiting at most a second for the
// server to hear of it.
func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	conn.Close(ctx)
}

// receive dispatches notifications until the connection fails or ctx ends;
// why it failed does not change what happens next. A connection that stays
// silent for a poll interval is pinged, so that one that died without a
// word (a half-open TCP connection) is noticed.
func (l *listener) receive(ctx context.Context, conn *pgx.Conn) {
	for {
		waitCtx, cancel := context.WithTimeout(ctx, l.poll)
		n, err := conn.WaitForNotification(waitCtx)
		cancel()
		switch {
		case err == nil:
			l.dispatch(n.Payload)
			continue
		case ctx.Err() != nil, !errors.Is(err, context.DeadlineExceeded), conn.IsClosed():
			return
		}
		pingCtx, cancel := context.WithTimeout(ctx, l.poll)
		err = conn.Ping(pingCtx)
		cancel()
		if err != nil {
			return
		}
	}
}

// sleep waits d or until ctx ends, and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
