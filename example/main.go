// Command example is the deviceauth demo app: a small web application
// that gates a money transfer on the approval of the user's phone.
//
//	go run ./example
//
// prints the URL it listens on. Sign in with any username (there are no
// passwords: it is a demo of deviceauth, not of sign-in), add a device —
// the page shows the command that enrols the terminal phone of
// example/device — and make a transfer: the page asks you to approve it on
// the phone, which shows the amount and payee, and the transfer goes
// through only with that approval, exactly once. example/README.md walks
// through it.
//
// # What it shows
//
//   - deviceauth.Service.Require("transfer") with WithDetails (the amount and
//     payee from the form are bound into the challenge), WithTokenFrom (the
//     token from the form's hidden field) and WithErrorHandler (HTML pages
//     instead of JSON), and Service.Status to say why a token did not pass;
//   - an "approve on your phone" page that goes on by itself when the phone
//     answers (deviceauth.js's waitChallenge);
//   - passkeys (package passkey): sign-in, step-up, a credential kind;
//   - MintRegistrationToken and RemoveCredential with their step-up: adding
//     or removing a device while you have one needs its approval;
//     RenameCredential;
//   - recovery codes (Config.RecoveryCodes, Service.RecoveryCodes) shown
//     once, "I lost my phone", and the user's other sessions ended on
//     EventEndOtherSessions;
//   - adapters/gorillasession for who is signed in;
//   - the device endpoints mounted at /deviceauth/, with Config.PublicURL
//     set from the real listening address (so -addr 127.0.0.1:0 works);
//   - "Sign in with your phone": Config.QRCode and Config.SignIn, and the
//     handler's deviceauth.js on the sign-in page;
//   - push with number matching (WithMethods(DEVICE, PUSH) and a Notifier
//     that logs what a push would carry);
//   - a phone simulator page (/phone) that keeps a non-extractable WebCrypto
//     key in IndexedDB and speaks the wire protocol, so every flow can be
//     tried with one browser.
//
// # Flags
//
//	-addr      host:port to listen on (default 127.0.0.1:8080; port 0 picks one)
//	-store     sqlite:deviceauth-example.db (default), memory, redis://… (built
//	           with -tags redis), postgres://… (built with -tags postgres)
//	-key-file  the token-signing key, created on first run; default next to
//	           the SQLite database, random per run for memory
//
// The app's POSTs are behind http.CrossOriginProtection, and its session
// cookie is HttpOnly and SameSite=Lax.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "`host:port` to listen on; port 0 picks a free port")
	storeURL := flag.String("store", defaultStore, "where deviceauth keeps its state: sqlite:PATH, memory, redis://… (built with -tags redis) or postgres://… (built with -tags postgres)")
	keyFile := flag.String("key-file", "", "`file` of the token-signing key, created on first run (default: PATH.key for sqlite:PATH, deviceauth-example.key for servers, a random key per run for memory)")
	flag.Parse()
	if flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := serve(ctx, *addr, *storeURL, *keyFile)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "deviceauth example:", err)
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "deviceauth example: stopped")
}

// serve runs the app until ctx ends, then shuts it down gracefully.
func serve(ctx context.Context, addr, storeURL, keyFile string) error {
	if keyFile == "" {
		keyFile = defaultKeyFile(storeURL)
	}
	key, err := loadOrCreateKey(keyFile)
	if err != nil {
		return err
	}
	st, closeStore, err := openStore(ctx, storeURL)
	if err != nil {
		return err
	}
	defer closeStore()

	// Listen first: the URL phones are told (Config.PublicURL) needs the
	// real port.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return listenError(addr, err)
	}
	base := baseURL(ln.Addr())
	app, err := NewApp(AppConfig{BaseURL: base, Store: st, Key: key,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{Handler: app.Handler(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("deviceauth example listening on %s\n", base)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err = <-served:
	case <-ctx.Done():
		fmt.Fprintln(os.Stderr, "deviceauth example: shutting down")
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if serr := srv.Shutdown(shutdown); serr != nil && err == nil {
		err = serr
	}
	if cerr := app.Close(shutdown); cerr != nil && err == nil {
		err = cerr
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// listenError says which flag to change when the app cannot listen: most
// often the port is taken (another copy of the demo still running).
func listenError(addr string, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("-addr %s: the port is already in use (is the example already running?); choose another with -addr, e.g. -addr 127.0.0.1:0 for any free port: %w", addr, err)
	}
	return fmt.Errorf("-addr %s: %w", addr, err)
}

// baseURL is the URL of a listening address. A loopback or unspecified
// address (":8080", "0.0.0.0:8080") is named localhost, the one plain-http
// origin where browsers allow passkeys.
func baseURL(a net.Addr) string {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return "http://" + a.String()
	}
	ip := ap.Addr().Unmap()
	if ip.IsUnspecified() || ip.IsLoopback() {
		return fmt.Sprintf("http://localhost:%d", ap.Port())
	}
	return "http://" + netip.AddrPortFrom(ip, ap.Port()).String()
}
