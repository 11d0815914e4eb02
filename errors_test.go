package deviceauth

import (
	"errors"
	"testing"
)

// TestSentinels_MatchOnlyThemselves: every sentinel matches itself and the
// *Errors made from it (whatever their message, state or cause), and no
// other sentinel — even one that answers with the same code.
func TestSentinels_MatchOnlyThemselves(t *testing.T) {
	codes := map[string]int{}
	for k := Sentinel(1); int(k) < len(sentinels); k++ {
		codes[k.err().Code]++
		made := []error{k, k.err(), k.withMessage("other words"), k.withState("PENDING"), k.with(errors.New("cause"))}
		for j := Sentinel(1); int(j) < len(sentinels); j++ {
			for _, err := range made {
				if got := errors.Is(err, j); got != (j == k) {
					t.Fatalf("errors.Is(%v, %v) = %v", err, j, got)
				}
			}
		}
		var e *Error
		if !errors.As(k, &e) || e.Code != sentinels[k].code || e.Status != sentinels[k].status {
			t.Fatalf("errors.As(%v) = %+v", k, e)
		}
	}
	// Two sentinels may share a wire code and still not match each other.
	if codes["invalid_request"] < 1 || errors.Is(ErrNotFound.err(), ErrUnavailable) {
		t.Fatal("sentinels of other kinds match")
	}
}
