package admin_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/risk"
	"github.com/deviceauth/deviceauth/store"
)

// transferApp is an application route gated by Require: POST /transfer
// with a form (amount, payee), the user named by X-User. The amount is a
// field of the details, which the rules read as the action's amount.
type transferApp struct {
	*adminEnv
	sent atomic.Int64 // transfers the handler behind Require carried out
}

func newTransferApp(t *testing.T) *transferApp {
	t.Helper()
	app := &transferApp{}
	app.adminEnv = newAdminEnv(t, func(c *deviceauth.Config) {
		c.Users = deviceauth.UserResolverFunc(func(r *http.Request) (string, error) { return r.Header.Get("X-User"), nil })
	})
	details := func(r *http.Request, _ []byte) (deviceauth.Details, error) {
		amount, payee := r.PostFormValue("amount"), r.PostFormValue("payee")
		return deviceauth.Details{Message: "Send " + amount + " EUR to " + payee,
			Fields: []deviceauth.Field{{Label: "Amount", Value: amount}, {Label: "Payee", Value: payee}}}, nil
	}
	amount := func(_ *http.Request, d deviceauth.Details) (map[string]any, risk.Amount, error) {
		v, err := strconv.ParseFloat(d.Fields[0].Value, 64)
		return nil, risk.Amount{Value: v, Currency: "EUR"}, err
	}
	app.mux.Handle("POST /transfer", app.Service.Require("transfer", deviceauth.WithDetails(details), deviceauth.WithCustomData(amount))(
		http.HandlerFunc(func(http.ResponseWriter, *http.Request) { app.sent.Add(1) })))
	return app
}

// transfer posts a transfer as the env's user and returns the status and
// the refusal, if any.
func (app *transferApp) transfer(t *testing.T, amount, payee string) (int, deviceauth.DenialBody) {
	t.Helper()
	req, _ := http.NewRequest("POST", app.srv.URL+"/transfer", strings.NewReader(url.Values{"amount": {amount}, "payee": {payee}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-User", app.User)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body deviceauth.DenialBody
	if resp.StatusCode != http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatalf("transfer: %d with a body that is not JSON: %v", resp.StatusCode, err)
		}
	}
	return resp.StatusCode, body
}

// held posts a transfer and wants it held for review; it returns the
// action's ID.
func (app *transferApp) held(t *testing.T, amount, payee string) string {
	t.Helper()
	status, body := app.transfer(t, amount, payee)
	if status != http.StatusForbidden || body.Error != "review" || body.ActionID == "" {
		t.Fatalf("transfer of %s to %s: %d %+v, want 403 review with an actionId", amount, payee, status, body)
	}
	return body.ActionID
}

// decide posts the operator's decision through the admin handler's JSON
// endpoint and returns the status.
func (app *transferApp) decide(t *testing.T, actionID, decision, origin string) int {
	t.Helper()
	resp, raw := app.do(t, "POST", "/api/reviews/"+url.PathEscape(app.User)+"/"+actionID,
		`{"decision":"`+decision+`","note":"called the customer"}`, "ops@bank.example", origin)
	if origin == "" && resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %d %s", decision, actionID, resp.StatusCode, raw)
	}
	return resp.StatusCode
}

// TestAdminReviewEndToEnd_ApprovalPassesTheSameTransferOnce: a Require-
// gated route answers 403 review with the action's ID; an operator
// approves it through the admin handler; a different transfer is still
// held; the same transfer passes once; a second retry is held again.
func TestAdminReviewEndToEnd_ApprovalPassesTheSameTransferOnce(t *testing.T) {
	app := newTransferApp(t)
	id := app.held(t, "10000", "Mallory")
	if n := app.sent.Load(); n != 0 {
		t.Fatalf("%d transfers sent while held", n)
	}
	if status := app.decide(t, id, "approve", ""); status != http.StatusOK {
		t.Fatal(status)
	}
	// The approval is bound to the details: another amount or payee is
	// held on its own.
	for _, other := range [][2]string{{"10001", "Mallory"}, {"10000", "Bob"}} {
		if again := app.held(t, other[0], other[1]); again == id {
			t.Fatalf("a transfer of %s to %s reused the approved action", other[0], other[1])
		}
	}
	if status, body := app.transfer(t, "10000", "Mallory"); status != http.StatusOK {
		t.Fatalf("the approved transfer retried: %d %+v, want 200", status, body)
	}
	if n := app.sent.Load(); n != 1 {
		t.Fatalf("%d transfers sent after the approved retry, want 1", n)
	}
	if again := app.held(t, "10000", "Mallory"); again == id {
		t.Fatal("a second retry reused the used approval")
	}
	if n := app.sent.Load(); n != 1 {
		t.Fatalf("%d transfers sent after a second retry, want 1", n)
	}
	// The history shows the approval used, with the operator and note.
	list, _, err := app.Service.Actions(t.Context(), deviceauth.ActionQuery{UserID: app.User, Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, a := range list {
		if a.ID == id {
			found = true
			if a.Review != store.ReviewUsed || a.Reviewer != "ops@bank.example" || a.ReviewNote != "called the customer" {
				t.Fatalf("the approved action = %+v, want USED by ops@bank.example", a)
			}
		}
	}
	if !found {
		t.Fatalf("the history lacks %s", id)
	}
}

// TestAdminReviewEndToEnd_RejectedOrCrossOriginStaysRefused: a rejection
// through the admin handler keeps the transfer refused, and a cross-origin
// approval decides nothing.
func TestAdminReviewEndToEnd_RejectedOrCrossOriginStaysRefused(t *testing.T) {
	app := newTransferApp(t)
	id := app.held(t, "10000", "Mallory")
	if status := app.decide(t, id, "approve", "https://evil.example"); status != http.StatusForbidden {
		t.Fatalf("a cross-origin approval: %d, want 403", status)
	}
	if again := app.held(t, "10000", "Mallory"); again == id {
		t.Fatal("the retry after a cross-origin approval reused the action")
	}
	app.decide(t, id, "reject", "")
	if again := app.held(t, "10000", "Mallory"); again == id {
		t.Fatal("the retry after a rejection reused the action")
	}
	if n := app.sent.Load(); n != 0 {
		t.Fatalf("%d transfers sent, want none", n)
	}
}
