package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// checkEviction reads maxmemory and maxmemory-policy on every master and
// refuses a server that may evict keys, or only warns when allow is set.
// A server that refuses CONFIG (managed services) is warned about. Errors
// reaching the server are returned.
func (s *Store) checkEviction(ctx context.Context, allow bool) error {
	var (
		mu        sync.Mutex
		evicting  []string
		unknown   []string
		unknownBy error
	)
	err := s.eachMaster(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		node := nodeName(c)
		cfg, err := c.ConfigGet(ctx, "maxmemory*").Result()
		var rerr redis.Error
		if errors.As(err, &rerr) {
			mu.Lock()
			unknown, unknownBy = append(unknown, node), err
			mu.Unlock()
			return nil
		}
		if err != nil {
			return fmt.Errorf("redisstore: reading the eviction policy of %s: %w", node, err)
		}
		policy := cfg["maxmemory-policy"]
		limit, perr := strconv.ParseInt(cfg["maxmemory"], 10, 64)
		switch {
		case policy == "" || perr != nil:
			mu.Lock()
			unknown, unknownBy = append(unknown, node), fmt.Errorf("CONFIG GET maxmemory* answered %v", cfg)
			mu.Unlock()
		case limit > 0 && policy != "noeviction":
			mu.Lock()
			evicting = append(evicting, fmt.Sprintf("%s has maxmemory %d and maxmemory-policy %s", node, limit, policy))
			mu.Unlock()
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(unknown) > 0 {
		s.log.WarnContext(ctx, "redisstore: cannot read the eviction policy; make sure the server has maxmemory-policy noeviction (or no maxmemory): evicted keys weaken replay protection, rate limits and approvals",
			"nodes", unknown, "error", unknownBy.Error())
	}
	if len(evicting) > 0 {
		if !allow {
			return fmt.Errorf("%w: %s; set maxmemory-policy noeviction (or maxmemory 0), or pass redisstore.AllowEviction()",
				ErrEvictionPolicy, strings.Join(evicting, "; "))
		}
		s.log.WarnContext(ctx, "redisstore: the Redis server may evict keys (allowed by AllowEviction): evicted keys weaken replay protection, rate limits and approvals",
			"nodes", evicting)
	}
	return nil
}

// nodeName names a node in messages: its address when known.
func nodeName(c redis.UniversalClient) string {
	if cl, ok := c.(*redis.Client); ok {
		return cl.Options().Addr
	}
	return "the server"
}
