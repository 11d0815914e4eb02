package redisstore_test

import (
	"context"
	"log"
	"os"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/adapters/redisstore"
)

// A Store over the application's client: one address for a single node,
// several for a Cluster, a MasterName for Sentinel. Close the Store before
// the client.
func Example() {
	ctx := context.Background()
	client := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs: strings.Split(os.Getenv("REDIS_ADDRS"), ","),
	})
	defer client.Close()

	// Refuses a server that may evict keys (see the package doc).
	st, err := redisstore.New(ctx, client, redisstore.WithKeyPrefix("myapp"))
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	svc, err := deviceauth.New(deviceauth.Config{
		Store:     st,
		Keys:      [][]byte{[]byte(os.Getenv("DEVICEAUTH_KEY"))},
		PublicURL: "https://app.example.com/deviceauth",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer svc.Close(ctx)
}
