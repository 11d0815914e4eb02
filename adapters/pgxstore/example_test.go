package pgxstore_test

import (
	"context"
	"log"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/adapters/pgxstore"
)

// A Store over the application's pool: migrate at start, sweep from time to
// time, close the Store before the pool.
func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()

	st, err := pgxstore.New(pool, pgxstore.WithSchema("deviceauth"))
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil { // idempotent; safe from every instance at once
		log.Fatal(err)
	}

	svc, err := deviceauth.New(deviceauth.Config{
		Store:     st,
		Keys:      [][]byte{[]byte(os.Getenv("DEVICEAUTH_KEY"))},
		PublicURL: "https://app.example.com/deviceauth",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer svc.Close(ctx)

	// Garbage collection only: reads already ignore what has expired.
	go func() {
		for range time.Tick(10 * time.Minute) {
			if _, err := st.Sweep(ctx, time.Now()); err != nil {
				log.Printf("deviceauth sweep: %v", err)
			}
		}
	}()
}
