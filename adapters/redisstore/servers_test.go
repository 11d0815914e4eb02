package redisstore_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/deviceauth/deviceauth/adapters/redisstore"
	"github.com/deviceauth/deviceauth/internal/testenv"
)

// quiet keeps the Store's warnings (miniredis has no CONFIG) out of the
// test output.
var quiet = redisstore.WithLogger(slog.New(slog.DiscardHandler))

// newStore returns a Store over client with prefix, closed when t ends.
func newStore(t testing.TB, client redis.UniversalClient, prefix string, opts ...redisstore.Option) *redisstore.Store {
	t.Helper()
	st, err := redisstore.New(context.Background(), client, append([]redisstore.Option{quiet, redisstore.WithKeyPrefix(prefix)}, opts...)...)
	if err != nil {
		t.Fatalf("redisstore.New: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// newClient returns a client of the single node at addr, closed when t ends.
func newClient(t testing.TB, addr string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { c.Close() })
	return c
}

// outageClient returns a client of the single node at addr that neither
// retries commands nor redials at length, so that requests during an outage
// fail in milliseconds rather than after go-redis's default backoff (which
// only makes an outage slower, not different).
func outageClient(t testing.TB, addr string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1, DialTimeout: time.Second})
	t.Cleanup(func() { c.Close() })
	return c
}

// ringClient returns a Ring of one shard, the server at addr, closed when t
// ends. It is a client the Store treats as it treats a Cluster's (it is not
// a *redis.Client), over a server a test controls.
func ringClient(t testing.TB, addr string) *redis.Ring {
	c := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"only": addr}})
	t.Cleanup(func() { c.Close() })
	return c
}

// miniredisClient starts a miniredis for t and returns it with a client.
func miniredisClient(t testing.TB) (*miniredis.Miniredis, *redis.Client) {
	mr := miniredis.RunT(t)
	return mr, newClient(t, mr.Addr())
}

// realRedisClient returns a client of the shared Redis named by
// DEVICEAUTH_REDIS_URL, skipping t without it.
func realRedisClient(t testing.TB) *redis.Client {
	opts, err := redis.ParseURL(testenv.RedisURL(t))
	if err != nil {
		t.Fatalf("%s: %v", testenv.RedisURLVar, err)
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	return c
}

// clusterClient returns a client of the shared Redis Cluster named by
// DEVICEAUTH_REDIS_CLUSTER_ADDRS, skipping t without it.
func clusterClient(t testing.TB) *redis.ClusterClient {
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: testenv.RedisClusterAddrs(t)})
	t.Cleanup(func() { c.Close() })
	return c
}

// isolatedPrefix returns a new random key prefix for a test on a shared
// server and deletes every key under it (on every master) when t ends.
func isolatedPrefix(t testing.TB, client redis.UniversalClient) string {
	prefix := "deviceauth-test-" + strings.ToLower(rand.Text()[:12])
	t.Cleanup(func() {
		if err := dropPrefix(client, prefix); err != nil {
			t.Errorf("deleting the keys of prefix %s: %v", prefix, err)
		}
	})
	return prefix
}

// dropPrefix deletes every key of prefix with SCAN and UNLINK, on each
// master of a Cluster.
func dropPrefix(client redis.UniversalClient, prefix string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	drop := func(ctx context.Context, c redis.UniversalClient) error {
		var keys []string
		iter := c.Scan(ctx, 0, prefix+":*", 1000).Iterator()
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			return err
		}
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range keys {
				p.Unlink(ctx, k) // one key each: a Cluster node holds many slots
			}
			return nil
		})
		return err
	}
	if cc, ok := client.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error { return drop(ctx, node) })
	}
	return drop(ctx, client)
}

// keysOf lists the keys of prefix (on every master of a Cluster).
func keysOf(t testing.TB, client redis.UniversalClient, prefix string) []string {
	t.Helper()
	var (
		mu   sync.Mutex
		keys []string
	)
	collect := func(ctx context.Context, c redis.UniversalClient) error {
		iter := c.Scan(ctx, 0, prefix+":*", 1000).Iterator()
		for iter.Next(ctx) {
			mu.Lock()
			keys = append(keys, iter.Val())
			mu.Unlock()
		}
		return iter.Err()
	}
	ctx := context.Background()
	var err error
	if cc, ok := client.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error { return collect(ctx, node) })
	} else {
		err = collect(ctx, client)
	}
	if err != nil {
		t.Fatalf("SCAN %s:*: %v", prefix, err)
	}
	return keys
}

// redisServer is a private redis-server a test starts on a free port, with
// its data (AOF) in a temporary directory, and stops by its pid. Tests never
// touch the shared servers' processes.
type redisServer struct {
	t    testing.TB
	bin  string
	args []string
	Addr string
	cmd  *exec.Cmd
	done chan error
}

// startRedisServer starts a private redis-server with extra arguments and
// stops it when t ends.
func startRedisServer(t testing.TB, extra ...string) *redisServer {
	t.Helper()
	bin := testenv.NeedBinary(t, "/usr/bin/redis-server", "/usr/local/bin/redis-server")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	srv := &redisServer{
		t:    t,
		bin:  bin,
		Addr: fmt.Sprintf("127.0.0.1:%d", port),
		args: append([]string{
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", t.TempDir(),
			"--appendonly", "yes", "--appendfsync", "always", "--save", "",
			"--daemonize", "no", "--logfile", "",
		}, extra...),
	}
	srv.Start()
	t.Cleanup(srv.Stop)
	return srv
}

// Start starts the server (again, on the same port) and waits until it
// answers PING.
func (r *redisServer) Start() {
	r.t.Helper()
	r.cmd = exec.Command(r.bin, r.args...)
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("starting redis-server: %v", err)
	}
	r.done = make(chan error, 1)
	go func(cmd *exec.Cmd, done chan<- error) { done <- cmd.Wait() }(r.cmd, r.done)
	c := redis.NewClient(&redis.Options{Addr: r.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := c.Ping(context.Background()).Err()
		if err == nil {
			return
		}
		select {
		case werr := <-r.done:
			r.cmd = nil
			r.t.Fatalf("redis-server exited before answering: %v", werr)
		default:
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server on %s did not answer within 15 s: %v", r.Addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop sends SIGTERM to the server's pid and waits for it to exit (Redis
// writes its AOF on the way out).
func (r *redisServer) Stop() {
	if r.cmd == nil {
		return
	}
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		r.t.Errorf("SIGTERM to redis-server pid %d: %v", r.cmd.Process.Pid, err)
	}
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		r.t.Errorf("redis-server pid %d did not exit within 30 s of SIGTERM; killing it", r.cmd.Process.Pid)
		r.cmd.Process.Kill()
		<-r.done
	}
	r.cmd = nil
}
