package rules_test

import (
	"context"
	"fmt"

	"github.com/deviceauth/deviceauth/rules"
)

// Load a rules file, then ask what it decides for a payment from a known
// place and browser.
func Example() {
	set, err := rules.Load("testdata/example.yaml", rules.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	s := rules.NewSignals("pay")
	s.Known.Prefix, s.Known.Browser = true, true
	s.Amount = rules.Amount{Value: 25000, Currency: "EUR"}
	res := set.Evaluate(context.Background(), &s)
	fmt.Println(res.Verdict.Outcome, res.Rule)

	s.Amount.Value = 20
	res = set.Evaluate(context.Background(), &s)
	fmt.Println(res.Verdict.Outcome, res.Verdict.Methods, res.Rule == "")
	// Output:
	// REVIEW large-payment
	// CHALLENGE [DEVICE PUSH] true
}
