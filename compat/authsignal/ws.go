package authsignal

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/deviceauth/deviceauth/internal/protocol"
	"github.com/deviceauth/deviceauth/internal/seam"
	"github.com/deviceauth/deviceauth/store"
)

// The browser SDK's QR flow over a WebSocket (its default): the SDK opens
// a socket at its base URL rewritten to …/ws-v1-challenge, offering the
// subprotocol authsignal-ws and its credentials as a second one
// (x.authsignal.token.<client token> or x.authsignal.tenant.<tenant ID>).
// On the socket it sends CREATE_CHALLENGE (again on every refresh) and
// receives CHALLENGE_CREATED, then STATE_CHANGE as a device claims and
// approves or rejects. The socket is the browser's binding: only it hears
// of the challenge's approval and the token (docs/compat-authsignal.md#qr-over-websocket).

// wsSubprotocol is the one subprotocol the server selects.
const wsSubprotocol = "authsignal-ws"

// The second subprotocol's prefixes: the credentials.
const (
	wsTokenPrefix  = "x.authsignal.token."
	wsTenantPrefix = "x.authsignal.tenant."
)

// wsMessage is a message on the socket, either way.
type wsMessage struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

// wsCreate is CREATE_CHALLENGE's data; custom is tolerated and ignored,
// as on the REST path.
type wsCreate struct {
	ChallengeType string          `json:"challengeType"`
	ActionCode    string          `json:"actionCode"`
	Custom        json.RawMessage `json:"custom"`
}

// wsCreated is CHALLENGE_CREATED's data.
type wsCreated struct {
	ChallengeID   string `json:"challengeId"`
	ChallengeType string `json:"challengeType"`
	ExpiresAt     string `json:"expiresAt"`
	State         string `json:"state"`
}

// wsStateChange is STATE_CHANGE's data.
type wsStateChange struct {
	ChallengeID string `json:"challengeId"`
	State       string `json:"state"`
	AccessToken string `json:"accessToken,omitempty"`
}

// wsAuthorized reports whether r offers the tenant ID or a valid client
// token as its credentials subprotocol.
func (h *Handler) wsAuthorized(r *http.Request) error {
	for _, p := range r.Header.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(p, ",") {
			p = strings.TrimSpace(p)
			if tok, ok := strings.CutPrefix(p, wsTokenPrefix); ok {
				_, err := h.openClient(tok, seam.Compat.Now(h.svc))
				return err
			}
			if id, ok := strings.CutPrefix(p, wsTenantPrefix); ok {
				if h.tenantID(id) {
					return nil
				}
				return errUnauthorized
			}
		}
	}
	return errUnauthorized
}

// socket is GET /ws-v1-challenge: the QR flow over a WebSocket. Refusals
// before the upgrade are answered in the SDKs' error shape; after it, a
// refused message closes the socket with 1008 and the error's code.
func (h *Handler) socket(w http.ResponseWriter, r *http.Request) {
	if err := h.wsAuthorized(r); err != nil {
		writeError(w, err)
		return
	}
	ip := h.clientIP(r)
	if err := seam.Compat.Limit(h.svc, r.Context(), "fetch", ip); err != nil {
		writeError(w, err)
		return
	}
	// Accept checks that the page's origin is the server's own (a
	// cross-site page cannot open the socket) and answers itself when not.
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{wsSubprotocol}})
	if err != nil {
		return
	}
	if c.Subprotocol() != wsSubprotocol {
		_ = c.Close(websocket.StatusPolicyViolation, "the subprotocol "+wsSubprotocol+" is required")
		return
	}
	c.SetReadLimit(h.cfg.MaxBodyBytes)
	s := &wsSession{h: h, c: c, ip: ip, userAgent: r.UserAgent()}
	s.run(r.Context())
}

// wsSession is one socket: at most one challenge watched at a time (a
// refresh's CREATE_CHALLENGE replaces it).
type wsSession struct {
	h         *Handler
	c         *websocket.Conn
	ip        string
	userAgent string

	wg sync.WaitGroup
}

// run reads messages until the browser leaves, a message is refused or
// the Service closes.
func (s *wsSession) run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer s.wg.Wait()
	defer cancel()
	go func() {
		select {
		case <-ctx.Done():
		case <-seam.Compat.Done(s.h.svc):
			_ = s.c.Close(websocket.StatusGoingAway, "the server is shutting down")
			cancel()
		}
	}()
	stopWatch := func() {}
	defer func() { stopWatch() }()
	for {
		typ, data, err := s.c.Read(ctx)
		if err != nil {
			return // the browser left, or the socket was closed
		}
		if typ != websocket.MessageText {
			s.refuse(errInvalid.describe("messages are JSON text"))
			return
		}
		ch, err := s.create(ctx, data)
		if err != nil {
			s.refuse(err)
			return
		}
		stopWatch()
		watchCtx, stop := context.WithCancel(ctx)
		stopWatch = stop
		s.wg.Go(func() { s.watch(watchCtx, ch) })
	}
}

// create handles a CREATE_CHALLENGE: a QR challenge as the REST path
// creates, announced with CHALLENGE_CREATED.
func (s *wsSession) create(ctx context.Context, data []byte) (store.Challenge, error) {
	var m wsMessage
	var b wsCreate
	if err := protocol.UnmarshalStrict(data, &m); err != nil {
		return store.Challenge{}, errInvalid.describe(err.Error())
	}
	if m.Type != "CREATE_CHALLENGE" {
		return store.Challenge{}, errInvalid.describe("type must be CREATE_CHALLENGE")
	}
	if err := protocol.UnmarshalStrict(m.Data, &b); err != nil {
		return store.Challenge{}, errInvalid.describe(err.Error())
	}
	if b.ChallengeType != "QR_CODE" {
		return store.Challenge{}, errInvalid.describe("challengeType must be QR_CODE")
	}
	// The binding secret is not needed: the socket is the binding.
	ch, _, err := seam.Compat.Create(s.h.svc, ctx, true, b.ActionCode, s.ip, s.userAgent)
	if err != nil {
		return store.Challenge{}, err
	}
	return ch, s.send(ctx, "CHALLENGE_CREATED", wsCreated{ChallengeID: ch.ID, ChallengeType: "QR_CODE",
		ExpiresAt: ch.ExpiresAt.UTC().Format(time.RFC3339), State: "unclaimed"})
}

// watch sends STATE_CHANGE as challenge ch is claimed, then approved
// (with the token) or rejected, until it is final or ctx ends. An expired
// challenge sends nothing: the SDK refreshes the code on its own.
func (s *wsSession) watch(ctx context.Context, ch store.Challenge) {
	for since := ch.State; ; {
		next, err := seam.Compat.Wait(s.h.svc, ctx, ch.ID, since)
		if err != nil || ctx.Err() != nil {
			return
		}
		if next.State == since {
			select {
			case <-seam.Compat.Done(s.h.svc):
				return
			default:
				continue // the long-poll's time ran out
			}
		}
		since = next.State
		change := wsStateChange{ChallengeID: ch.ID}
		switch next.State {
		case store.StatePending:
			change.State = "claimed"
		case store.StateApproved:
			change.State, change.AccessToken = "approved", seam.Compat.Token(s.h.svc, ch.ID)
		case store.StateDenied, store.StateFailed:
			change.State = "rejected"
		}
		if change.State != "" && s.send(ctx, "STATE_CHANGE", change) != nil {
			return
		}
		if next.State.Final() || next.State == store.StateApproved {
			return
		}
	}
}

// send writes one message.
func (s *wsSession) send(ctx context.Context, typ string, data any) error {
	d, err := json.Marshal(data)
	if err != nil {
		return err
	}
	b, err := json.Marshal(wsMessage{Type: typ, Data: d})
	if err != nil {
		return err
	}
	return s.c.Write(ctx, websocket.MessageText, b)
}

// refuse closes the socket for err: 1008 with its code and description
// (cut to the 123 bytes a close reason holds), or 1011 when the Service
// is unavailable (the cause is never sent).
func (s *wsSession) refuse(err error) {
	e, code := apiErrorOf(err), websocket.StatusPolicyViolation
	if e.status >= 500 {
		code = websocket.StatusInternalError
	}
	reason := e.code + ": " + e.description
	if len(reason) > 123 {
		reason = strings.ToValidUTF8(reason[:123], "")
	}
	_ = s.c.Close(code, reason)
}
