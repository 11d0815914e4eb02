package main

import (
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestBrowser_InAppThroughThePhoneSimulator: a transfer approved in the
// app. The app tracks it InApp; the phone simulator gets the payload over
// the app's channel (GET /phone/in-app, with the browser's session), shows
// it and answers with one request to deviceauth — the signed response,
// no fetch of the challenge — and the transfer page goes on by itself to
// a transfer validated as IN_APP.
func TestBrowser_InAppThroughThePhoneSimulator(t *testing.T) {
	a := startBrowserApp(t)
	b := startChromium(t)

	web := b.tab("app")
	signInAsAda(web, a.base)
	sim := b.tab("phone")
	credID := enrolSimulator(sim, a.base)

	web.navigate(a.base + "/transfer")
	web.setValue(`input[name="amount"]`, "42.00")
	web.setValue(`input[name="payee"]`, "Zoë")
	web.click("#send-in-app")
	id := waitFor[string](web, "the in-app challenge", `document.getElementById("in-app") && document.getElementById("approval").dataset.challengeId`, stepTimeout)
	if !strings.HasPrefix(id, "ia_") {
		t.Fatalf("the page waits for %q, not an in-app challenge", id)
	}
	if eval[bool](web, `!!document.getElementById("verification-code")`) {
		t.Fatal("the in-app page shows a verification code")
	}

	sim.click("#refresh-pending")
	item := `li[data-challenge="` + id + `"][data-in-app="1"]`
	waitFor[bool](sim, "the in-app challenge in the list", `!!document.querySelector(`+strconv.Quote(item)+`)`, stepTimeout)
	sim.click(item + " button.answer")
	waitFor[bool](sim, "the challenge", `document.getElementById("phone").dataset.open === `+strconv.Quote(id), stepTimeout)
	if got, want := sim.text("#ch-details"), "Send 42.00 EUR to Zoë\nAmount: 42.00 EUR\nPayee: Zoë"; got != want {
		t.Fatalf("the simulator shows %q, want %q", got, want)
	}
	if !eval[bool](sim, `document.getElementById("code-label").hidden`) {
		t.Fatal("the simulator asks for a code for an in-app challenge")
	}
	if where := sim.text("#ch-where"); !strings.Contains(where, id+" (IN_APP)") {
		t.Fatalf("the simulator's lines: %q", where)
	}
	approveTransfer(sim, web, "Sent 42.00 EUR to Zoë.", credID)
	if m := web.text("#method"); m != "IN_APP" {
		t.Fatalf("validated as %q, want IN_APP", m)
	}

	// The device's requests to deviceauth for this challenge: its answer,
	// once; and no challenge was fetched at all.
	if got, want := a.calls.matching(id), []string{"POST /deviceauth/v1/challenges/" + id + "/response"}; !slices.Equal(got, want) {
		t.Fatalf("requests for the in-app challenge: %q, want %q", got, want)
	}
	if got := a.calls.matching("GET /deviceauth/v1/challenges/"); len(got) != 0 {
		t.Fatalf("challenges fetched: %q", got)
	}
	// Answered, it is gone from the phone's list.
	sim.click("#refresh-pending")
	waitFor[bool](sim, "the list without it", `!document.querySelector(`+strconv.Quote(item)+`) && document.getElementById("phone-result").textContent.includes("pending")`, stepTimeout)
}
