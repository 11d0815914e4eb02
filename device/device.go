// Package device is the Go client of the deviceauth wire protocol: what a
// phone (or a terminal, or a test) does to bind its key and answer
// challenges. It signs with any crypto.Signer, so hardware-backed keys
// plug in; NewP256Key and NewEd25519Key make software keys.
//
// # Flow
//
//	c, _ := device.New("https://app.example.com/deviceauth", key)
//	cred, _ := c.Register(ctx, registrationToken, "Ada's phone", "ios")
//	pending, _ := c.Pending(ctx)          // or c.Challenge(ctx, id)
//	res, _ := c.Approve(ctx, pending[0], codeTheUserTyped)
//
// The client rebuilds every signed message itself (docs/protocol.md) from
// the challenge it fetched: the details it shows are the details it signs.
//
// # Security
//
// Fetch, list, claim, remove and setting the push token are RFC 9421
// signed requests with a fresh nonce each; responses carry a signature over
// the challenge's ID, nonce, action, details digest and the decision; the
// registration proof signs the push token too. The server never trusts
// bytes to verify from the client. Claim refuses a QR code of another
// server.
package device

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/deviceauth/deviceauth/internal/httpsig"
	"github.com/deviceauth/deviceauth/internal/protocol"
)

// Client speaks the device side of the protocol for one key.
type Client struct {
	base   *url.URL
	signer crypto.Signer
	alg    string
	// CredentialID is the credential this key is registered as; Register
	// sets it. A client for an already registered key sets it directly.
	CredentialID string
	// HTTPClient sends the requests; nil means http.DefaultClient.
	HTTPClient *http.Client
	// Now is the clock used for signature created times; nil means time.Now.
	Now func() time.Time
	// SignatureFormat is "der" (default) or "raw" for P-256 keys.
	SignatureFormat string
	// PushToken is the device's push token (APNs, FCM) that Register sends,
	// covered by its signature; "" for none. SetPushToken changes it later.
	PushToken string
}

// New returns a client for the deviceauth Handler at baseURL (the
// server's Config.PublicURL) signing with signer, whose public key must be
// P-256 ECDSA or Ed25519.
func New(baseURL string, signer crypto.Signer) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("device: base URL %q is not an absolute http(s) URL", baseURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	c := &Client{base: u, signer: signer}
	switch k := signer.Public().(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return nil, errors.New("device: only P-256 ECDSA keys are supported")
		}
		c.alg = protocol.AlgES256
	case ed25519.PublicKey:
		c.alg = protocol.AlgEdDSA
	default:
		return nil, fmt.Errorf("device: unsupported key type %T", k)
	}
	return c, nil
}

// NewP256Key returns a new software P-256 key.
func NewP256Key() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

// NewEd25519Key returns a new software Ed25519 key.
func NewEd25519Key() (ed25519.PrivateKey, error) {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	return k, err
}

// Algorithm reports the protocol algorithm of the client's key (ES256 or
// EdDSA).
func (c *Client) Algorithm() string { return c.alg }

// Credential is a registered credential as the server reports it.
type Credential struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	Algorithm string    `json:"algorithm"`
	Name      string    `json:"name"`
	Platform  string    `json:"platform"`
	CreatedAt time.Time `json:"createdAt"`
}

// Register binds the client's key to the user of registrationToken, with
// a proof of possession (deviceauth/v2/register, which also signs
// c.PushToken), and sets c.CredentialID.
func (c *Client) Register(ctx context.Context, registrationToken, name, platform string) (Credential, error) {
	pub, err := x509.MarshalPKIXPublicKey(c.signer.Public())
	if err != nil {
		return Credential{}, fmt.Errorf("device: encoding public key: %w", err)
	}
	msg := protocol.RegistrationMessageV2(registrationToken, c.alg, pub, name, platform, c.PushToken)
	sig, format, err := c.sign(msg)
	if err != nil {
		return Credential{}, err
	}
	body := map[string]string{
		"token": registrationToken, "algorithm": c.alg, "publicKey": protocol.EncodeBase64(pub),
		"signature": protocol.EncodeBase64(sig), "name": name, "platform": platform,
	}
	if format != "" {
		body["signatureFormat"] = format
	}
	if c.PushToken != "" {
		body["pushToken"] = c.PushToken
	}
	var cred Credential
	if err := c.do(ctx, http.MethodPost, "/v1/credentials", body, false, &cred); err != nil {
		return Credential{}, err
	}
	c.CredentialID = cred.ID
	return cred, nil
}

// Challenge is a challenge as the device sees it.
type Challenge struct {
	ID      string           `json:"challengeId"`
	Action  string           `json:"action"`
	State   string           `json:"state"`
	Nonce   []byte           `json:"-"`
	Details protocol.Details `json:"details"`
	Method  string           `json:"method"`
	// Origin is the web page that shows a QR code (QR challenges).
	Origin string `json:"origin"`
	// VerificationCodeRequired: ask the user to type the code shown on the
	// other screen.
	VerificationCodeRequired bool      `json:"verificationCodeRequired"`
	ClientIP                 string    `json:"clientIp"`
	UserAgent                string    `json:"userAgent"`
	CreatedAt                time.Time `json:"createdAt"`
	ExpiresAt                time.Time `json:"expiresAt"`
	// CredentialID is the only credential that may answer an in-app
	// challenge, when its application named one.
	CredentialID string `json:"credentialId,omitempty"`
}

// UnmarshalJSON decodes a challenge, its nonce from base64url.
func (ch *Challenge) UnmarshalJSON(b []byte) error {
	var v challengeJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	return v.challenge(ch)
}

// challengeJSON is a challenge as the server sends it: Challenge's members
// and the nonce as base64url. Decoding into it directly, not through
// Challenge.UnmarshalJSON, reads the JSON once.
type challengeJSON struct {
	plainChallenge
	Nonce string `json:"nonce"`
}

// plainChallenge is Challenge without its UnmarshalJSON method.
type plainChallenge Challenge

// challenge sets *ch to v, its nonce decoded.
func (v *challengeJSON) challenge(ch *Challenge) error {
	n, err := protocol.DecodeBase64(v.Nonce)
	if err != nil {
		return fmt.Errorf("device: challenge nonce: %w", err)
	}
	*ch = Challenge(v.plainChallenge)
	ch.Nonce = n
	return nil
}

// InAppChallenge reads the in-app challenge payload its application's
// backend handed this phone (deviceauth.TrackResult.InApp as JSON): the
// challenge to show and then Approve or Deny, with one signature and no
// fetch. A payload that names another credential is refused, as the
// server would refuse its answer.
func (c *Client) InAppChallenge(payload []byte) (Challenge, error) {
	var v challengeJSON
	var ch Challenge
	if !v.scanInApp(payload) {
		if err := json.Unmarshal(payload, &v); err != nil {
			return Challenge{}, fmt.Errorf("device: in-app challenge: %w", err)
		}
	}
	if err := v.challenge(&ch); err != nil {
		return Challenge{}, fmt.Errorf("device: in-app challenge: %w", err)
	}
	switch {
	case ch.ID == "" || len(ch.Nonce) == 0 || ch.Action == "":
		return Challenge{}, errors.New("device: in-app challenge: challengeId, nonce and action are required")
	case ch.CredentialID != "" && ch.CredentialID != c.CredentialID:
		return Challenge{}, errors.New("device: in-app challenge: it names another credential")
	}
	ch.State = "PENDING"
	ch.Method = "IN_APP"
	return ch, nil
}

// Challenge fetches challenge id with a signed request.
func (c *Client) Challenge(ctx context.Context, id string) (Challenge, error) {
	var v challengeJSON // not through Challenge.UnmarshalJSON: the JSON is read once
	if err := c.do(ctx, http.MethodGet, "/v1/challenges/"+url.PathEscape(id), nil, true, &v); err != nil {
		return Challenge{}, err
	}
	var ch Challenge
	if err := v.challenge(&ch); err != nil {
		return Challenge{}, fmt.Errorf("device: decoding answer: %w", err)
	}
	return ch, nil
}

// Pending lists the user's pending challenges, oldest first, with a signed
// request.
func (c *Client) Pending(ctx context.Context) ([]Challenge, error) {
	var v struct {
		Challenges []Challenge `json:"challenges"`
	}
	if err := c.do(ctx, http.MethodGet, "/v1/challenges", nil, true, &v); err != nil {
		return nil, err
	}
	return v.Challenges, nil
}

// Result is the challenge state after a response.
type Result struct {
	ChallengeID string `json:"challengeId"`
	State       string `json:"state"`
}

// Approve approves ch; code is the verification code the user typed ("" when
// none was asked).
func (c *Client) Approve(ctx context.Context, ch Challenge, code string) (Result, error) {
	return c.respond(ctx, ch, protocol.DecisionApprove, "", code)
}

// Deny denies ch with an optional reason such as "not_me".
func (c *Client) Deny(ctx context.Context, ch Challenge, reason string) (Result, error) {
	return c.respond(ctx, ch, protocol.DecisionDeny, reason, "")
}

// ResponseMessage returns the exact bytes a response to ch signs
// (docs/protocol.md#signed-messages), for clients that sign elsewhere.
func (c *Client) ResponseMessage(ch Challenge, decision, denyReason, code string) []byte {
	digest := protocol.DetailsDigest(ch.Details)
	return protocol.ResponseMessage(protocol.Response{
		ChallengeID: ch.ID, Nonce: ch.Nonce, Action: ch.Action, CredentialID: c.CredentialID,
		Decision: decision, DenyReason: denyReason, VerificationCode: code, DetailsDigest: digest[:],
	})
}

func (c *Client) respond(ctx context.Context, ch Challenge, decision, reason, code string) (Result, error) {
	if c.CredentialID == "" {
		return Result{}, errors.New("device: no CredentialID: register first")
	}
	sig, format, err := c.sign(c.ResponseMessage(ch, decision, reason, code))
	if err != nil {
		return Result{}, err
	}
	body := responseBody{CredentialID: c.CredentialID, Decision: decision, DenyReason: reason,
		VerificationCode: code, SignatureFormat: format, Signature: protocol.EncodeBase64(sig)}
	var res Result
	err = c.do(ctx, http.MethodPost, "/v1/challenges/"+url.PathEscape(ch.ID)+"/response", body.appendJSON(nil), false, &res)
	return res, err
}

// responseBody is the JSON body of a response (docs/protocol.md), its
// members in the order the protocol lists them.
type responseBody struct {
	CredentialID     string `json:"credentialId"`
	Decision         string `json:"decision"`
	DenyReason       string `json:"denyReason,omitempty"`
	VerificationCode string `json:"verificationCode,omitempty"`
	SignatureFormat  string `json:"signatureFormat,omitempty"`
	Signature        string `json:"signature"`
}

// appendJSON appends b's JSON, written by hand as encoding/json writes it
// but for <, > and & left unescaped (TestResponseBody_AppendJSONAsEncoder).
func (b responseBody) appendJSON(dst []byte) []byte {
	dst = protocol.AppendJSONString(append(dst, `{"credentialId":`...), b.CredentialID)
	dst = protocol.AppendJSONString(append(dst, `,"decision":`...), b.Decision)
	dst = protocol.AppendOptionalJSONString(dst, `,"denyReason":`, b.DenyReason)
	dst = protocol.AppendOptionalJSONString(dst, `,"verificationCode":`, b.VerificationCode)
	dst = protocol.AppendOptionalJSONString(dst, `,"signatureFormat":`, b.SignatureFormat)
	dst = protocol.AppendJSONString(append(dst, `,"signature":`...), b.Signature)
	return append(dst, '}')
}

// QRCode is what a QR code of a deviceauth server carries.
type QRCode struct {
	BaseURL     string // the server's PublicURL
	ChallengeID string
	ClaimSecret string
}

// ParseQRPayload reads a QR payload:
// <PublicURL>/v1/qr/claim#c=<challengeId>&s=<claim secret>. A device should
// only claim codes whose BaseURL is a server it is registered with.
func ParseQRPayload(payload string) (QRCode, error) {
	u, err := url.Parse(payload)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || !strings.HasSuffix(u.Path, "/v1/qr/claim") {
		return QRCode{}, fmt.Errorf("device: %q is not a deviceauth QR payload", payload)
	}
	frag, err := url.ParseQuery(u.Fragment)
	if err != nil || frag.Get("c") == "" || frag.Get("s") == "" {
		return QRCode{}, fmt.Errorf("device: the QR payload has no challenge or claim secret")
	}
	base := *u
	base.Path = strings.TrimSuffix(u.Path, "/v1/qr/claim")
	base.RawPath, base.Fragment, base.RawFragment = "", "", ""
	return QRCode{BaseURL: base.String(), ChallengeID: frag.Get("c"), ClaimSecret: frag.Get("s")}, nil
}

// Claim claims the QR challenge of code with a signed request. The
// returned challenge shows where the browser is (Origin, ClientIP,
// UserAgent) and whether the user must type the code shown beside the QR
// code; approve or deny it as any other challenge. A code whose BaseURL is
// not this client's server is refused before anything is sent: a QR code
// of another site must not be claimed with this account.
func (c *Client) Claim(ctx context.Context, code QRCode) (Challenge, error) {
	if !c.isBase(code.BaseURL) {
		return Challenge{}, fmt.Errorf("device: the QR code is for %q, not this client's server %q", code.BaseURL, c.base.String())
	}
	var ch Challenge
	err := c.do(ctx, http.MethodPost, "/v1/qr/"+url.PathEscape(code.ChallengeID)+"/claim", map[string]string{"claimSecret": code.ClaimSecret}, true, &ch)
	return ch, err
}

// isBase reports whether raw is the client's base URL: same scheme, host
// (case-insensitive, default port implied) and path.
func (c *Client) isBase(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	return strings.EqualFold(u.Scheme, c.base.Scheme) && hostPort(u) == hostPort(c.base) &&
		strings.TrimSuffix(u.Path, "/") == c.base.Path && u.User == nil && u.RawQuery == ""
}

// hostPort is u's host:port in lower case, with the scheme's default port.
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[strings.ToLower(u.Scheme)]
	}
	return strings.ToLower(u.Hostname()) + ":" + port
}

// SetPushToken replaces this device's push token on the server with a
// signed request ("" removes it) and sets c.PushToken. Call it whenever the
// platform hands the app a new token.
func (c *Client) SetPushToken(ctx context.Context, token string) error {
	if c.CredentialID == "" {
		return errors.New("device: no CredentialID: register first")
	}
	path := "/v1/credentials/" + url.PathEscape(c.CredentialID) + "/push-token"
	if err := c.do(ctx, http.MethodPut, path, map[string]string{"pushToken": token}, true, nil); err != nil {
		return err
	}
	c.PushToken = token
	return nil
}

// Remove deletes this device's own credential with a signed request.
func (c *Client) Remove(ctx context.Context) error {
	if c.CredentialID == "" {
		return errors.New("device: no CredentialID: register first")
	}
	return c.do(ctx, http.MethodDelete, "/v1/credentials/"+url.PathEscape(c.CredentialID), nil, true, nil)
}

// sign signs msg as the protocol wants: ES256 over SHA-256 (DER from the
// signer, converted to raw when SignatureFormat is raw), or pure Ed25519.
func (c *Client) sign(msg []byte) (sig []byte, format string, err error) {
	if c.alg == protocol.AlgEdDSA {
		sig, err = c.signer.Sign(rand.Reader, msg, crypto.Hash(0))
		return sig, "", err
	}
	h := sha256.Sum256(msg)
	sig, err = c.signer.Sign(rand.Reader, h[:], crypto.SHA256)
	if err != nil {
		return nil, "", fmt.Errorf("device: signing: %w", err)
	}
	if c.SignatureFormat == protocol.FormatRaw {
		raw, err := derToRaw(sig)
		return raw, protocol.FormatRaw, err
	}
	return sig, protocol.FormatDER, nil
}

// Error is an error answer from the server.
type Error struct {
	Status  int
	Code    string // the "error" member, e.g. "wrong_code"
	Message string
	State   string // the challenge state, where the error is about one
}

// Error reports the status, code and message.
func (e *Error) Error() string {
	return fmt.Sprintf("device: server answered %d %s: %s", e.Status, e.Code, e.Message)
}

// do sends a request and decodes a 2xx JSON answer into out. A body that
// is a []byte is sent as it is: JSON already.
func (c *Client) do(ctx context.Context, method, path string, body any, signed bool, out any) error {
	var raw []byte
	if b, ok := body.([]byte); ok {
		raw = b
	} else if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return err
		}
	}
	u := *c.base
	u.Path = c.base.Path + path
	u.RawPath = ""
	var rd io.Reader // none without a body: NewRequest makes it http.NoBody
	if raw != nil {
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if signed {
		if c.CredentialID == "" {
			return errors.New("device: no CredentialID: register first")
		}
		now := time.Now
		if c.Now != nil {
			now = c.Now
		}
		if err := httpsig.Sign(req, raw, c.CredentialID, c.signer, now(), ""); err != nil {
			return fmt.Errorf("device: signing request: %w", err)
		}
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		e := &Error{Status: resp.StatusCode}
		var b struct {
			Error, Message, State string
		}
		if json.Unmarshal(data, &b) == nil {
			e.Code, e.Message, e.State = b.Error, b.Message, b.State
		}
		return e
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := decode(data, out); err != nil {
		return fmt.Errorf("device: decoding answer: %w", err)
	}
	return nil
}

// derToRaw converts an ASN.1 DER ECDSA P-256 signature to r‖s.
func derToRaw(der []byte) ([]byte, error) {
	var v struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(der, &v)
	if err != nil || len(rest) != 0 || v.R == nil || v.S == nil || v.R.Sign() <= 0 || v.S.Sign() <= 0 || v.R.BitLen() > 256 || v.S.BitLen() > 256 {
		return nil, errors.New("device: signer returned a malformed ECDSA signature")
	}
	raw := make([]byte, 64)
	v.R.FillBytes(raw[:32])
	v.S.FillBytes(raw[32:])
	return raw, nil
}
