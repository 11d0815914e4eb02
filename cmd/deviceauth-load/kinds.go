package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/device"
	"github.com/deviceauth/deviceauth/store"
)

// A cycleKind is one kind of cycle: what it costs the device and the
// function that runs it up to the approval. The run loop does the rest of
// every kind the same way: Validate on the tracking instance, then the
// replay on the other.
type cycleKind struct {
	// signatures is how many signatures the device makes per cycle (each
	// verified once by the server): the cycle's share of the crypto
	// ceiling.
	signatures int
	// approve tracks a challenge on c.app, has c.dev answer it (through
	// the other instance's handler) and returns the token to validate.
	approve func(ctx context.Context, c cycle) (token string, err error)
	// validated is the method Validate must report for the cycle.
	validated func(Config) deviceauth.Method
}

// cycle is what a cycle runs with.
type cycle struct {
	app    *deviceauth.Service // tracks and validates
	dev    *device.Client      // the device, through the other instance
	sim    *simDevice
	method deviceauth.Method // Config.Method
}

// kinds are the cycle kinds by -kind name.
var kinds = map[string]cycleKind{
	"push":  {signatures: 2, approve: pushCycle, validated: func(c Config) deviceauth.Method { return c.Method }},
	"inapp": {signatures: 1, approve: inAppCycle, validated: func(Config) deviceauth.Method { return deviceauth.MethodInApp }},
}

// pushCycle is the signed-fetch cycle of push (and QR) challenges: Track
// offering c.method; for MethodPush the device learns the challenge from
// the Notifier, for MethodDevice from Track's answer (as an app handing
// it over); the device's RFC 9421-signed fetch; its signed approval,
// typing the verification code when one is shown. Two signatures.
func pushCycle(ctx context.Context, c cycle) (string, error) {
	res, err := c.app.Track(ctx, deviceauth.TrackRequest{UserID: c.sim.user, Action: action, Details: details,
		Methods: []deviceauth.Method{c.method}})
	switch {
	case err != nil:
		return "", stepError{"track", err}
	case res.State != deviceauth.StateChallengeRequired || res.ChallengeID == "":
		return "", stepError{"track", errNoChallenge}
	}
	id := res.ChallengeID
	if c.method == deviceauth.MethodPush {
		if err := waitNotified(ctx, c.sim, id); err != nil {
			return "", stepError{"notify", err}
		}
	}
	ch, err := c.dev.Challenge(ctx, id)
	if err != nil {
		return "", stepError{"fetch", err}
	}
	return approve(ctx, c.dev, ch, res.VerificationCode, res.Token)
}

// inAppCycle is the one-signature in-app cycle: Track for in-app
// verification naming the device's credential; the application hands the
// InAppChallenge to its phone as JSON (over its own channel, here in
// memory); the device reads it and sends its signed approval, with no
// fetch. One signature.
func inAppCycle(ctx context.Context, c cycle) (string, error) {
	res, err := c.app.Track(ctx, deviceauth.TrackRequest{UserID: c.sim.user, Action: action, Details: details,
		InApp: true, CredentialID: c.dev.CredentialID})
	switch {
	case err != nil:
		return "", stepError{"track", err}
	case res.State != deviceauth.StateChallengeRequired || res.InApp == nil:
		return "", stepError{"track", errNoChallenge}
	}
	payload, err := json.Marshal(res.InApp)
	if err != nil {
		return "", stepError{"track", err}
	}
	ch, err := c.dev.InAppChallenge(payload)
	if err != nil {
		return "", stepError{"payload", err}
	}
	return approve(ctx, c.dev, ch, "", res.Token)
}

// approve has dev approve ch, typing code, and returns token once the
// answer says approved.
func approve(ctx context.Context, dev *device.Client, ch device.Challenge, code, token string) (string, error) {
	ans, err := dev.Approve(ctx, ch, code)
	switch {
	case err != nil:
		return "", stepError{"answer", err}
	case ans.State != string(store.StateApproved):
		return "", stepError{"answer", errNotApproved}
	}
	return token, nil
}

// waitNotified waits for the notification of challenge id to d, skipping
// older ones (of challenges a failed cycle left behind).
func waitNotified(ctx context.Context, d *simDevice, id string) error {
	for {
		select {
		case got := <-d.notified:
			if got == id {
				return nil
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// The failures a cycle reports that are not errors of a call.
var (
	errNoChallenge = errors.New("no challenge")
	errNotApproved = errors.New("not approved")
	errNotValid    = errors.New("not valid")
	errWrongMethod = errors.New("validated by method")
	errValidTwice  = errors.New("VALID TWICE") // an exactly-once violation
)

// stepError is a cycle's failure at one step.
type stepError struct {
	step string
	err  error
}

func (e stepError) Error() string { return e.step + ": " + e.err.Error() }
func (e stepError) Unwrap() error { return e.err }

// errorKind is how the report counts err: its step and the error's code
// (a deviceauth code, a device error's HTTP code, timeout, network), or
// the failure itself.
func errorKind(err error) string {
	step := "cycle"
	var se stepError
	if errors.As(err, &se) {
		step = se.step
	}
	var de *deviceauth.Error
	var he *device.Error
	var ne net.Error
	code := ""
	switch {
	case errors.As(err, &de):
		code = de.Code
	case errors.As(err, &he):
		code = he.Code
		if code == "" {
			code = fmt.Sprintf("http %d", he.Status)
		}
	case errors.Is(err, context.DeadlineExceeded):
		code = "timeout"
	case errors.As(err, &ne):
		code = "network"
	case errors.Is(err, errWrongMethod):
		code = errWrongMethod.Error()
	case se.err != nil:
		code = se.err.Error()
	default:
		code = "other"
	}
	return step + ": " + code
}
