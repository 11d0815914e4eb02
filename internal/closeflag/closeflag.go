// Package closeflag is the closed flag of the stores that keep no lock of
// their own around every method (sqlitestore, pgxstore, redisstore), and
// the check each method makes with it before it runs.
package closeflag

import (
	"context"
	"sync/atomic"

	"github.com/deviceauth/deviceauth/store"
)

// Flag is set by a store's Close. The zero Flag is open. Its Bool methods
// (Load, Swap, CompareAndSwap …) are the store's to use.
type Flag struct{ atomic.Bool }

// Check returns the error a store method reports instead of running:
// ctx.Err() when ctx has ended, then store.ErrClosed once the flag is set,
// else nil.
func (f *Flag) Check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if f.Load() {
		return store.ErrClosed
	}
	return nil
}
