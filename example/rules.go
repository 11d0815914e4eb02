package main

import (
	_ "embed"
	"net/http"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/risk"
	"github.com/deviceauth/deviceauth/rules"
)

// rulesFile is the demo's rule set (rules.yaml): large transfers wait for
// an operator, bursts and repeated failures are blocked, a new network or
// browser asks for number matching.
//
//go:embed rules.yaml
var rulesFile []byte

// loadRules compiles rulesFile; the app does not start with a rule that
// does not compile.
func loadRules() (*rules.Set, error) {
	def, err := rules.Parse(rulesFile)
	if err != nil {
		return nil, err
	}
	return rules.New(def, rules.Options{})
}

// transferAmount hands the rules the posted transfer's amount (amount.*);
// the gate's details extractor has checked the form already.
func transferAmount(r *http.Request, _ deviceauth.Details) (map[string]any, risk.Amount, error) {
	t, err := parseTransfer(r.PostFormValue("amount"), r.PostFormValue("payee"))
	if err != nil {
		return nil, risk.Amount{}, err
	}
	return nil, risk.Amount{Value: float64(t.cents) / 100, Currency: "EUR"}, nil
}
