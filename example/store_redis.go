//go:build redis

package main

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/deviceauth/deviceauth/adapters/redisstore"
	"github.com/deviceauth/deviceauth/store"
)

// openRedis opens a Redis store at url (redis://host:port/db).
func openRedis(ctx context.Context, url string) (store.Store, func(), error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, nil, fmt.Errorf("-store redis: %w", err)
	}
	client := redis.NewClient(opts)
	s, err := redisstore.New(ctx, client)
	if err != nil {
		client.Close()
		return nil, nil, fmt.Errorf("-store redis: %w", err)
	}
	return s, func() { _ = s.Close(); client.Close() }, nil
}
