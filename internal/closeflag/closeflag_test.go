package closeflag

import (
	"context"
	"errors"
	"testing"

	"github.com/deviceauth/deviceauth/store"
)

func TestCheck(t *testing.T) {
	var f Flag
	if err := f.Check(context.Background()); err != nil {
		t.Fatalf("Check on an open flag: %v", err)
	}
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.Check(ended); !errors.Is(err, context.Canceled) {
		t.Fatalf("Check with an ended context: %v, want context.Canceled", err)
	}
	f.Store(true)
	if err := f.Check(context.Background()); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Check after the flag was set: %v, want store.ErrClosed", err)
	}
	// The context is reported first, as before the flag was set.
	if err := f.Check(ended); !errors.Is(err, context.Canceled) {
		t.Fatalf("Check with an ended context after the flag was set: %v, want context.Canceled", err)
	}
}
