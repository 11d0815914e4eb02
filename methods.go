package deviceauth

import (
	"fmt"
	"slices"

	"github.com/deviceauth/deviceauth/store"
)

// Verification methods: how a challenge may be answered, and which
// credentials answer which.

// methodOf reports how a challenge was answered: PASSKEY by a passkey;
// by a device key, the challenge's primary method when a device answers
// it, else the first device method it offered.
func methodOf(ch store.Challenge, kind store.CredentialKind) Method {
	if kind == store.KindPasskey {
		return MethodPasskey
	}
	if deviceMethod(Method(ch.Method)) {
		return Method(ch.Method)
	}
	for _, m := range ch.Methods {
		if deviceMethod(Method(m)) {
			return Method(m)
		}
	}
	return MethodDevice
}

// deviceMethod reports whether a device key answers m.
func deviceMethod(m Method) bool {
	return m == MethodDevice || m == MethodPush || m == MethodQRCode || m == MethodInApp
}

// deviceAnswers reports whether a device key may answer ch.
func deviceAnswers(ch store.Challenge) bool {
	return slices.ContainsFunc(toMethods(ch.Methods), deviceMethod)
}

// admittedKinds lists the credential kinds whose approval a validation
// admitting methods counts: those that answer methods (device keys and
// passkeys when methods is empty), and compat credentials, which answer
// as device keys, only when weak bindings are admitted. The lists are
// shared and read only: Validate makes none per call.
func admittedKinds(methods []Method, weak bool) []store.CredentialKind {
	device, passkey := len(methods) == 0, len(methods) == 0
	for _, m := range methods {
		if m == MethodPasskey {
			passkey = true
		} else {
			device = true
		}
	}
	switch {
	case device && passkey && weak:
		return kindsAllWeak
	case device && passkey:
		return kindsAll
	case device && weak:
		return kindsDeviceWeak
	case device:
		return kindsDevice
	}
	return kindsPasskey
}

// The lists admittedKinds returns, in the order the kinds are named.
var (
	kindsAll        = []store.CredentialKind{store.KindDevice, store.KindPasskey}
	kindsAllWeak    = []store.CredentialKind{store.KindDevice, store.KindPasskey, store.KindCompat}
	kindsDevice     = []store.CredentialKind{store.KindDevice}
	kindsDeviceWeak = []store.CredentialKind{store.KindDevice, store.KindCompat}
	kindsPasskey    = []store.CredentialKind{store.KindPasskey}
)

// primaryMethod is how a challenge reaches the user: PUSH when it is
// pushed to devices, else the first method offered.
func primaryMethod(ms []Method) Method {
	if slices.Contains(ms, MethodPush) {
		return MethodPush
	}
	return ms[0]
}

// defaultMethods are the methods credentials of the given kinds can
// answer.
func defaultMethods(kinds []store.CredentialKind) []Method {
	var ms []Method
	if slices.Contains(kinds, store.KindDevice) {
		ms = append(ms, MethodDevice)
	}
	if slices.Contains(kinds, store.KindPasskey) {
		ms = append(ms, MethodPasskey)
	}
	if len(ms) == 0 {
		ms = []Method{MethodDevice}
	}
	return ms
}

// kindsOf lists the kinds of creds.
func kindsOf(creds []store.Credential) []store.CredentialKind {
	var kinds []store.CredentialKind
	for _, c := range creds {
		if !slices.Contains(kinds, c.Kind) {
			kinds = append(kinds, c.Kind)
		}
	}
	return kinds
}

func checkMethods(ms []Method) ([]Method, error) {
	for i, m := range ms {
		switch m {
		case MethodDevice, MethodPush, MethodQRCode, MethodPasskey, MethodInApp:
		default:
			return nil, ErrInvalidRequest.withMessage(fmt.Sprintf("unknown verification method %q", m))
		}
		if slices.Contains(ms[:i], m) {
			return nil, ErrInvalidRequest.withMessage(fmt.Sprintf("verification method %q given twice", m))
		}
	}
	return ms, nil
}

func methodStrings(ms []Method) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m)
	}
	return out
}

func toMethods(ss []string) []Method {
	out := make([]Method, len(ss))
	for i, m := range ss {
		out[i] = Method(m)
	}
	return out
}

// Method is a verification method: how a challenge may be answered.
type Method string

// Verification methods.
const (
	MethodDevice  Method = "DEVICE"  // the app's own device key, after a signed fetch
	MethodPush    Method = "PUSH"    // a second device, notified
	MethodQRCode  Method = "QR_CODE" // a device scans a code shown by a browser
	MethodPasskey Method = "PASSKEY" // a WebAuthn assertion
	// MethodInApp: the app's own phone, from the InAppChallenge its
	// backend handed it; one signature, no fetch (TrackRequest.InApp).
	MethodInApp Method = "IN_APP"
)

// pathAdmitted reports whether a route that admits methods (any, when
// empty) accepts the path challenge id was answered by: an in-app
// challenge only where MethodInApp is admitted, any other only where some
// other method is. The ID tells, so nothing is read or consumed to refuse.
func pathAdmitted(id string, methods []Method) bool {
	if len(methods) == 0 {
		return true
	}
	if isInApp(id) {
		return slices.Contains(methods, MethodInApp)
	}
	return slices.ContainsFunc(methods, func(m Method) bool { return m != MethodInApp })
}
