// Package phone is the terminal phone of the deviceauth example: what a
// mobile app does, as subcommands. Run is the whole command; example/device
// is its main, and the example's tests call Run in process (a main package
// cannot be imported, hence this package).
//
// The phone keeps its state — a software P-256 key (PKCS#8 PEM), its
// credential ID and the server's URL — in a JSON file, mode 0600. A real
// phone keeps the key in its Secure Enclave or Android Keystore instead;
// the device package takes any crypto.Signer for that.
package phone

import (
	"bufio"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"
	"unicode"

	"github.com/deviceauth/deviceauth/device"
)

// DefaultStateFile is where the phone keeps its key when -key is not given.
const DefaultStateFile = "deviceauth-phone.json"

const usage = `The terminal phone of the deviceauth example.

usage: go run ./example/device <command> [arguments]

  enrol -server URL -token drt_… [-name NAME]   make a key and bind it to your account
  pending                                       list the challenges waiting for you
  approve ID [-code NN] [-yes]                  show a challenge and approve it
  deny ID [-reason not_me]                      show a challenge and deny it
  inapp [-payload FILE] [-yes] [-deny]          answer an in-app challenge your app handed over
                                                (its JSON, from FILE or stdin): one signature, no fetch
  remove [-force]                               remove this device and delete its key

Every command takes -key FILE, the phone's state file (default deviceauth-phone.json):
it holds the private key, so keep it private.
`

// Run runs the terminal phone with args (without the program name) and
// returns the exit code: 0 done, 1 failed or not approved, 2 bad usage.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	p := &phone{in: bufio.NewReader(stdin), out: stdout, errOut: stderr}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	commands := map[string]func(context.Context, []string) error{
		"enrol": p.enrol, "enroll": p.enrol, "pending": p.pending,
		"approve": p.approve, "deny": p.deny, "remove": p.remove, "inapp": p.inApp,
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "unknown command %q\n\n%s", name, usage)
		return 2
	}
	err := cmd(ctx, rest)
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, usage)
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "%s: %v\n\n%s", name, err, usage)
		return 2
	}
	fmt.Fprintf(stderr, "%s: %v\n", name, explain(err))
	return 1
}

type phone struct {
	in     *bufio.Reader
	out    io.Writer
	errOut io.Writer
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// flags returns a flag set for a command, with the -key flag every command
// has.
func (p *phone) flags(name string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	// Run reports flag errors once, with the usage of every command.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs, fs.String("key", DefaultStateFile, "the phone's state `file` (private key, credential ID, server URL)")
}

// parse parses args with fs, letting flags come before or after the
// positional arguments (approve ID -yes, approve -yes ID), and checks their
// number. Only the flags fs defines are flags: challenge IDs are base64url
// and may start with "-", so anything else is positional ("--" ends the
// flags, too).
func parse(fs *flag.FlagSet, args []string, positional ...string) ([]string, error) {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f := fs.Lookup(name)
		help := name == "h" || name == "help"
		if !strings.HasPrefix(a, "-") || (f == nil && !help) {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		if f != nil && !hasValue && !isBoolFlag(f) && i+1 < len(args) {
			i++ // the flag's value, which may itself start with "-"
			flags = append(flags, args[i])
		}
	}
	if err := fs.Parse(flags); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usageError{err.Error()}
	}
	if len(pos) != len(positional) {
		if len(positional) == 0 {
			return nil, usageError{fmt.Sprintf("unexpected argument %q", pos[0])}
		}
		return nil, usageError{fmt.Sprintf("want %s, got %q", strings.Join(positional, " "), pos)}
	}
	return pos, nil
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

func (p *phone) enrol(ctx context.Context, args []string) error {
	fs, keyFile := p.flags("enrol")
	server := fs.String("server", "", "the app's deviceauth `URL`, as the web page shows it")
	token := fs.String("token", "", "the registration `token` (drt_…) from the web page")
	name := fs.String("name", "Terminal phone", "the device's `name`, as the app lists it")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *server == "" || *token == "" {
		return usageError{"-server and -token are required"}
	}
	if _, err := os.Stat(*keyFile); err == nil {
		return fmt.Errorf("%s already holds an enrolled phone: run remove first, or pass -key with another file", *keyFile)
	}
	key, err := device.NewP256Key()
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	c, err := newClient(*server, key)
	if err != nil {
		return err
	}
	cred, err := c.Register(ctx, *token, *name, "terminal")
	if err != nil {
		return err
	}
	st := state{Server: *server, CredentialID: cred.ID, Name: cred.Name,
		Key: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))}
	if err := st.create(*keyFile); err != nil {
		// A credential whose key is lost is of no use: take it back.
		if rerr := c.Remove(ctx); rerr != nil {
			return fmt.Errorf("%w; the server still lists credential %s: remove it on the Devices page", err, cred.ID)
		}
		return err
	}
	fmt.Fprintf(p.out, "Enrolled %q as credential %s.\nIts private key is in %s: keep that file private.\n", cred.Name, cred.ID, *keyFile)
	return nil
}

func (p *phone) pending(ctx context.Context, args []string) error {
	fs, keyFile := p.flags("pending")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	c, _, err := load(*keyFile)
	if err != nil {
		return err
	}
	chs, err := c.Pending(ctx)
	if err != nil {
		return err
	}
	if len(chs) == 0 {
		fmt.Fprintln(p.out, "No pending challenges.")
		return nil
	}
	for i, ch := range chs {
		if i > 0 {
			fmt.Fprintln(p.out)
		}
		p.show(ch)
	}
	fmt.Fprintln(p.out, "\nApprove one with: go run ./example/device approve ID [-code NN]")
	return nil
}

func (p *phone) approve(ctx context.Context, args []string) error {
	fs, keyFile := p.flags("approve")
	code := fs.String("code", "", "the verification `code` shown on the other screen (asked for when needed)")
	yes := fs.Bool("yes", false, "approve without asking")
	pos, err := parse(fs, args, "ID")
	if err != nil {
		return err
	}
	c, ch, err := p.fetch(ctx, *keyFile, pos[0])
	if err != nil {
		return err
	}
	if ch.VerificationCodeRequired && *code == "" {
		if *code, err = p.ask("Type the code shown on the other screen: "); err != nil {
			return err
		}
		if *code == "" {
			return errors.New("no code given: not approved")
		}
	}
	if !*yes {
		if err := p.confirm(); err != nil {
			return err
		}
	}
	res, err := c.Approve(ctx, ch, *code)
	if err != nil {
		return err
	}
	fmt.Fprintf(p.out, "Approved (%s). Go back to the browser and continue.\n", res.State)
	return nil
}

// inApp answers the in-app challenge the app's backend handed this phone
// (deviceauth.TrackResult.InApp as JSON): it shows it and approves or
// denies it with one signed request and no fetch — what a mobile app does
// for its own user's actions.
func (p *phone) inApp(ctx context.Context, args []string) error {
	fs, keyFile := p.flags("inapp")
	file := fs.String("payload", "-", "the in-app challenge's JSON `file` (- reads it from stdin)")
	yes := fs.Bool("yes", false, "approve without asking")
	deny := fs.Bool("deny", false, "deny it instead")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	c, _, err := load(*keyFile)
	if err != nil {
		return err
	}
	var payload []byte
	if *file == "-" {
		payload, err = io.ReadAll(p.in)
	} else {
		payload, err = os.ReadFile(*file)
	}
	if err != nil {
		return err
	}
	ch, err := c.InAppChallenge(payload)
	if err != nil {
		return err
	}
	p.show(ch)
	if *deny {
		res, err := c.Deny(ctx, ch, "")
		if err != nil {
			return err
		}
		fmt.Fprintf(p.out, "Denied (%s).\n", res.State)
		return nil
	}
	if !*yes {
		if *file == "-" {
			return errors.New("the challenge came on stdin, so there is none left to ask with: give -yes, or -payload FILE")
		}
		if err := p.confirm(); err != nil {
			return err
		}
	}
	res, err := c.Approve(ctx, ch, "")
	if err != nil {
		return err
	}
	fmt.Fprintf(p.out, "Approved (%s), with one signature.\n", res.State)
	return nil
}

func (p *phone) deny(ctx context.Context, args []string) error {
	fs, keyFile := p.flags("deny")
	reason := fs.String("reason", "", "why, e.g. not_me (letters, digits and _.:-)")
	pos, err := parse(fs, args, "ID")
	if err != nil {
		return err
	}
	c, ch, err := p.fetch(ctx, *keyFile, pos[0])
	if err != nil {
		return err
	}
	res, err := c.Deny(ctx, ch, *reason)
	if err != nil {
		return err
	}
	fmt.Fprintf(p.out, "Denied (%s).\n", res.State)
	return nil
}

func (p *phone) remove(ctx context.Context, args []string) error {
	fs, keyFile := p.flags("remove")
	force := fs.Bool("force", false, "delete the state file even when the server cannot be told")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	c, st, err := load(*keyFile)
	if err != nil {
		return err
	}
	if err := c.Remove(ctx); err != nil {
		if !*force {
			return fmt.Errorf("%w; the key is kept (-force deletes %s anyway)", explain(err), *keyFile)
		}
		fmt.Fprintf(p.errOut, "remove: %v; deleting %s anyway (-force)\n", explain(err), *keyFile)
	}
	if err := os.Remove(*keyFile); err != nil {
		return err
	}
	fmt.Fprintf(p.out, "Removed credential %s and deleted %s.\n", st.CredentialID, *keyFile)
	return nil
}

// confirm asks whether to approve; anything but y or yes is a refusal.
func (p *phone) confirm() error {
	answer, err := p.ask("Approve? [y/N] ")
	if err != nil {
		return err
	}
	if a := strings.ToLower(answer); a != "y" && a != "yes" {
		return errors.New("not approved")
	}
	return nil
}

// fetch loads the phone, fetches challenge id and shows it; a challenge
// that is no longer pending is an error.
func (p *phone) fetch(ctx context.Context, keyFile, id string) (*device.Client, device.Challenge, error) {
	c, _, err := load(keyFile)
	if err != nil {
		return nil, device.Challenge{}, err
	}
	ch, err := c.Challenge(ctx, id)
	if err != nil {
		return nil, device.Challenge{}, err
	}
	p.show(ch)
	if ch.State != "PENDING" {
		return nil, device.Challenge{}, fmt.Errorf("challenge %s is %s: there is nothing to answer", ch.ID, ch.State)
	}
	return c, ch, nil
}

// show prints a challenge as the phone's screen would: the details exactly
// as received, one per line, never reformatted, so what the user reads is
// what the phone signs.
func (p *phone) show(ch device.Challenge) {
	w := p.out
	fmt.Fprintf(w, "challenge %s\n", plain(ch.ID))
	fmt.Fprintf(w, "  action:   %s\n", plain(ch.Action))
	fmt.Fprintln(w, "  details:")
	if ch.Details.Message == "" && len(ch.Details.Fields) == 0 {
		fmt.Fprintln(w, "    (none)")
	}
	if ch.Details.Message != "" {
		fmt.Fprintf(w, "    %s\n", plain(ch.Details.Message))
	}
	for _, f := range ch.Details.Fields {
		fmt.Fprintf(w, "    %s: %s\n", plain(f.Label), plain(f.Value))
	}
	if ch.VerificationCodeRequired {
		fmt.Fprintln(w, "  code:     required: type the code shown on the other screen")
	}
	if ch.ClientIP != "" {
		fmt.Fprintf(w, "  from:     %s\n", plain(ch.ClientIP))
	}
	if ch.UserAgent != "" {
		fmt.Fprintf(w, "  browser:  %s\n", plain(ch.UserAgent))
	}
	fmt.Fprintf(w, "  expires:  %s (in %s)\n", ch.ExpiresAt.Local().Format(time.DateTime), time.Until(ch.ExpiresAt).Round(time.Second))
	if ch.State != "PENDING" {
		fmt.Fprintf(w, "  state:    %s\n", plain(ch.State))
	}
}

// plain makes invisible characters visible (\u…) so a terminal never
// interprets them. The server already refuses control, bidi and zero-width
// characters in details, so for an honest server this changes nothing.
func plain(s string) string {
	if strings.IndexFunc(s, invisible) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if invisible(r) {
			fmt.Fprintf(&b, `\u%04X`, r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func invisible(r rune) bool {
	return r == unicode.ReplacementChar || unicode.IsControl(r) || unicode.Is(unicode.Cf, r)
}

// ask prints prompt and reads one line of the answer.
func (p *phone) ask(prompt string) (string, error) {
	fmt.Fprint(p.out, prompt)
	line, err := p.in.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	if err != nil && line == "" {
		fmt.Fprintln(p.out) // no answer (end of input): end the prompt's line
	}
	return strings.TrimSpace(line), nil
}

// explain adds what to do about the server's answers a user can act on.
// It explains only a bare *device.Error, so explaining twice is harmless.
func explain(err error) error {
	e, ok := err.(*device.Error)
	if !ok {
		return err
	}
	switch e.Code {
	case "unauthorized":
		return fmt.Errorf("%w (does the server still know this device? is this computer's clock right?)", err)
	case "registration_failed":
		return fmt.Errorf("%w (a token works once, for 10 minutes: get a new one from the web page)", err)
	case "wrong_code":
		return fmt.Errorf("%w (the challenge is now %s)", err, e.State)
	case "challenge_closed":
		return fmt.Errorf("%w (it is %s)", err, e.State)
	}
	return err
}

// state is the phone's file.
type state struct {
	Server       string `json:"server"`
	CredentialID string `json:"credentialId"`
	Name         string `json:"name"`
	Key          string `json:"key"` // PKCS#8, PEM
}

// create writes the state to a new file, mode 0600; it never overwrites.
func (st state) create(path string) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

// load reads the state file and returns a client for it.
func load(path string) (*device.Client, state, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, state{}, fmt.Errorf("%s does not exist: enrol first (or pass -key)", path)
	}
	if err != nil {
		return nil, state{}, err
	}
	if fi, err := os.Stat(path); err == nil && runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, state{}, fmt.Errorf("%s is readable by others (mode %v): chmod 600 it", path, fi.Mode().Perm())
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, state{}, fmt.Errorf("%s: %w", path, err)
	}
	block, _ := pem.Decode([]byte(st.Key))
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, state{}, fmt.Errorf("%s: no PKCS#8 private key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, state{}, fmt.Errorf("%s: %w", path, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok || st.CredentialID == "" {
		return nil, state{}, fmt.Errorf("%s: not an enrolled phone", path)
	}
	c, err := newClient(st.Server, signer)
	if err != nil {
		return nil, state{}, err
	}
	c.CredentialID = st.CredentialID
	return c, st, nil
}

func newClient(server string, key crypto.Signer) (*device.Client, error) {
	c, err := device.New(server, key)
	if err != nil {
		return nil, err
	}
	c.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	return c, nil
}
