// Command device is the terminal phone of the deviceauth example: it does
// what a mobile app does, one subcommand at a time.
//
//	go run ./example/device enrol -server http://localhost:8080/deviceauth -token drt_…
//	go run ./example/device pending
//	go run ./example/device approve ID [-code NN] [-yes]
//	go run ./example/device deny ID [-reason not_me]
//	go run ./example/device inapp -payload FILE [-yes] [-deny]
//	go run ./example/device remove
//
// enrol makes a P-256 key, binds it to the account that the registration
// token (shown by the demo app's "Add a device") belongs to, and keeps the
// key, the credential ID and the server URL in deviceauth-phone.json (mode
// 0600; -key FILE chooses another file, so one terminal can be several
// phones). pending lists the challenges waiting for you; approve and deny
// show a challenge's details exactly as received and sign the answer;
// inapp answers the in-app challenge an app's backend handed over (its
// JSON) with one signature and no fetch;
// remove unbinds the key and deletes the file.
//
// The commands speak the device protocol (docs/protocol.md) through the
// deviceauth/device package; the logic lives in example/internal/phone so
// that the example's tests can run it in process.
package main

import (
	"context"
	"os"
	"os/signal"

	"github.com/deviceauth/deviceauth/example/internal/phone"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := phone.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
