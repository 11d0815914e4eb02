//go:build !redis

package main

import (
	"context"

	"github.com/deviceauth/deviceauth/store"
)

// openRedis: this build has no Redis client (see store_redis.go).
func openRedis(context.Context, string) (store.Store, func(), error) {
	return notBuiltIn("Redis", "redis")
}
