package main

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/deviceauth/deviceauth"
)

// transferRequest is a transfer as the form asks for it.
type transferRequest struct {
	cents int64
	payee string
}

var amountPattern = regexp.MustCompile(`^([0-9]{1,7})(?:\.([0-9]{1,2}))?$`)

// parseTransfer checks the form's amount and payee. The gate and the
// handler both call it, so what the phone approves is what is sent.
func parseTransfer(amount, payee string) (transferRequest, error) {
	m := amountPattern.FindStringSubmatch(strings.TrimSpace(amount))
	if m == nil {
		return transferRequest{}, errors.New("the amount must be a number such as 25 or 25.00")
	}
	whole, _ := strconv.ParseInt(m[1], 10, 64)
	frac := m[2] + strings.Repeat("0", 2-len(m[2]))
	cents, _ := strconv.ParseInt(frac, 10, 64)
	t := transferRequest{cents: whole*100 + cents, payee: strings.TrimSpace(payee)}
	switch {
	case t.cents == 0:
		return transferRequest{}, errors.New("the amount must be more than zero")
	case t.payee == "" || len(t.payee) > 64:
		return transferRequest{}, errors.New("the payee must be 1 to 64 bytes")
	}
	return t, nil
}

// Amount is the amount as shown everywhere, e.g. "25.00 EUR".
func (t transferRequest) Amount() string {
	return fmt.Sprintf("%d.%02d EUR", t.cents/100, t.cents%100)
}

// Payee is the payee as typed, trimmed.
func (t transferRequest) Payee() string { return t.payee }

// details are what the phone shows and signs. deviceauth refuses control,
// bidi and zero-width characters in them, so a payee cannot disguise
// itself on the phone.
func (t transferRequest) details() deviceauth.Details {
	return deviceauth.Details{
		Message: "Send " + t.Amount() + " to " + t.payee,
		Fields:  []deviceauth.Field{{Label: "Amount", Value: t.Amount()}, {Label: "Payee", Value: t.payee}},
	}
}

// transferDetails is the gates' details extractor: the amount and payee of
// the posted form — of the body that Require buffered and put back, or
// that inAppTransfer parsed already to look for a token.
func transferDetails(r *http.Request, _ []byte) (deviceauth.Details, error) {
	if err := r.ParseForm(); err != nil {
		return deviceauth.Details{}, errors.New("the form is malformed")
	}
	t, err := parseTransfer(r.PostForm.Get("amount"), r.PostForm.Get("payee"))
	if err != nil {
		return deviceauth.Details{}, err
	}
	return t.details(), nil
}

// tokenFromForm reads the challenge token from the hidden form field of
// the Continue button (WithTokenFrom): browsers cannot set the
// Deviceauth-Token header on a form post, and a token never goes in a URL,
// where it would end up in logs and history. The form, once parsed, stays
// parsed for the details and the handler.
func tokenFromForm(r *http.Request) string { return r.PostFormValue(tokenField) }

type transferView struct {
	frame
	Amount string
	Payee  string
	Error  string
}

func (a *App) transferForm(w http.ResponseWriter, r *http.Request) {
	user, ok := a.signedIn(w, r)
	if !ok {
		return
	}
	a.render(w, http.StatusOK, "transfer", transferView{frame: frame{Title: "Transfer", User: user}})
}

type sentView struct {
	frame
	Transfer     transferRequest
	CredentialID string
	Method       deviceauth.Method // how it was approved: IN_APP, DEVICE, PUSH, PASSKEY
	ValidatedAt  time.Time
}

// transfer runs only when Require let the request through: a valid token
// for this user, "transfer" and exactly this amount and payee.
func (a *App) transfer(w http.ResponseWriter, r *http.Request) {
	v, _ := deviceauth.FromContext(r.Context())
	t, err := parseTransfer(r.PostFormValue("amount"), r.PostFormValue("payee"))
	if err != nil { // the gate parsed the same body: not reached
		a.problem(w, r, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	a.render(w, http.StatusOK, "sent", sentView{frame: frame{Title: "Sent", User: v.UserID},
		Transfer: t, CredentialID: v.CredentialID, Method: v.Method, ValidatedAt: v.ValidatedAt})
}

// transferDenied renders the refusals of the transfer's gate at
// formAction (/transfer, or /transfer/in-app for the in-app approval) as
// pages instead of JSON, keeping Require's status codes.
func (a *App) transferDenied(formAction string) func(http.ResponseWriter, *http.Request, *deviceauth.Denial) {
	return func(w http.ResponseWriter, r *http.Request, d *deviceauth.Denial) {
		if d.Err != nil && d.Status >= 500 {
			a.log.ErrorContext(r.Context(), "example: transfer gate failed", "error", d.Err.Error())
		}
		user, _ := a.users.ResolveUser(r)
		amount, payee := r.PostFormValue("amount"), r.PostFormValue("payee")
		v := transferChallenge(user, amount, payee, formAction)
		switch d.Body.Error {
		case "challenge_required":
			v.waiting(d.Body.ChallengeID, d.Body.Token, d.Body.VerificationCode, d.Body.ExpiresAt)
			w.Header().Set("WWW-Authenticate", d.Header)
			a.render(w, d.Status, "challenge", v)
		case "challenge_failed":
			a.refused(r, &v, user, tokenFromForm(r))
			if v.State.Final {
				v.Title = "The transfer was not made"
			}
			a.render(w, d.Status, "challenge", v)
		case "invalid_request", "invalid_details":
			a.render(w, d.Status, "transfer", transferView{frame: frame{Title: "Transfer", User: user},
				Amount: amount, Payee: payee, Error: d.Body.Message})
		default:
			a.problem(w, r, d.Status, d.Body.Error, d.Body.Message)
		}
	}
}

// transferChallenge is the "approve" page of the transfer of amount to
// payee posted to formAction: /transfer, approved on a phone, or
// /transfer/in-app, approved in the app.
func transferChallenge(user, amount, payee, formAction string) challengeView {
	v := challengeView{frame: frame{Title: "Approve the transfer on your phone", User: user},
		Action: "transfer", FormAction: formAction, InApp: formAction == inAppTransferPath,
		Fields: []hiddenField{{"amount", amount}, {"payee", payee}}}
	if v.InApp {
		v.Title = "Approve the transfer in the app"
	}
	if t, err := parseTransfer(amount, payee); err == nil {
		v.Summary = t.details().Message
	}
	return v
}
