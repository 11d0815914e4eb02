package deviceauth

import "testing"

// TestNewCode_DigitsAndSpread: a verification code has exactly n decimal
// digits, leading zeros kept, and every value of [0, 10^n) can come out:
// over 20 000 two-digit codes each of the 100 values appears (a miss has
// probability below 10^-80).
func TestNewCode_DigitsAndSpread(t *testing.T) {
	for n := 2; n <= maxCodeDigits; n++ {
		for range 200 {
			c := newCode(n)
			if len(c) != n || !digitsOnly(c) {
				t.Fatalf("newCode(%d) = %q", n, c)
			}
		}
	}
	seen := map[string]bool{}
	for range 20000 {
		seen[newCode(2)] = true
	}
	if len(seen) != 100 {
		t.Fatalf("%d distinct two-digit codes in 20000, want 100", len(seen))
	}
}
