package deviceauth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/deviceauth/deviceauth/event"
	"github.com/deviceauth/deviceauth/internal/ids"
	"github.com/deviceauth/deviceauth/internal/protocol"
	"github.com/deviceauth/deviceauth/risk"
	"github.com/deviceauth/deviceauth/store"
)

// Action history and reviews: every Track leaves an action record (over a
// store that keeps them, store.ActionStore); an operator decides the
// actions rules sent to REVIEW (docs/rules.md#reviews).

// Action is one tracked action, as Actions lists it. ClientIP, UserAgent,
// Details and Custom are what the request carried: attacker-controlled
// text, to be escaped wherever it is shown.
type Action struct {
	ID        string    `json:"id"`
	UserID    string    `json:"userId"`
	Action    string    `json:"action"`
	CreatedAt time.Time `json:"createdAt"`
	// State is what Track decided: ALLOW, BLOCK, REVIEW or
	// CHALLENGE_REQUIRED.
	State ActionState `json:"state"`
	// Rule names the rule that decided, "" for a default.
	Rule      string         `json:"rule,omitempty"`
	ClientIP  string         `json:"clientIp,omitempty"`
	UserAgent string         `json:"userAgent,omitempty"`
	Details   Details        `json:"details"`
	Custom    map[string]any `json:"custom,omitempty"`
	Amount    *risk.Amount   `json:"amount,omitempty"`
	// Signals are those the rules saw (nil under DefaultPolicy).
	Signals *risk.Signals `json:"signals,omitempty"`
	// Challenge is the state of the action's challenge as last seen
	// (APPROVED, DENIED, CONSUMED once validated, …); "" without one or
	// while it is pending. Method is how it was answered; PassedAt when
	// it was validated.
	Challenge store.State `json:"challenge,omitempty"`
	Method    Method      `json:"method,omitempty"`
	PassedAt  time.Time   `json:"passedAt,omitzero"`
	// Review is where an operator's review stands (REVIEW actions only):
	// PENDING, APPROVED, REJECTED, or USED once the approval let the
	// action through; Reviewer, ReviewNote and ReviewedAt record the
	// decision.
	Review     store.ReviewState `json:"review,omitempty"`
	Reviewer   string            `json:"reviewer,omitempty"`
	ReviewNote string            `json:"reviewNote,omitempty"`
	ReviewedAt time.Time         `json:"reviewedAt,omitzero"`
}

// ActionQuery selects actions for Actions.
type ActionQuery struct {
	// UserID selects one user's history, newest first.
	UserID string
	// Reviews selects the actions of every user whose review is pending,
	// oldest first, instead (UserID must then be empty).
	Reviews bool
	// Cursor continues a history from the next cursor Actions returned.
	Cursor string
	// Limit caps the page; 0 means 50, at most 200.
	Limit int
}

// ReviewDecision is an operator's decision on an action held for review.
type ReviewDecision struct {
	UserID   string
	ActionID string
	// Approve lets the same action (same user, action and details)
	// through once, within Config.ReviewFor of the action; otherwise it
	// stays refused.
	Approve bool
	// Operator is who decided, as the application knows them (1 to 128
	// bytes of printable UTF-8); Note, optional, why (up to 512 bytes).
	Operator string
	Note     string
}

// Defaults of the history settings.
const (
	defaultActionRetention = 90 * 24 * time.Hour
	defaultKnownFor        = 30 * 24 * time.Hour
	maxReviewFor           = 24 * time.Hour
	// signalRecords bounds the records one Track reads for its signals.
	signalRecords = 500
)

// historyDefaults fills in the history settings.
func (c *Config) historyDefaults() error {
	if c.ActionRetention == 0 {
		c.ActionRetention = defaultActionRetention
	}
	if c.KnownFor == 0 {
		c.KnownFor = defaultKnownFor
		if c.ActionRetention > 0 {
			c.KnownFor = min(c.KnownFor, c.ActionRetention)
		}
	}
	if c.ActionRetention > 0 && c.KnownFor > c.ActionRetention {
		return errors.New("deviceauth: Config.KnownFor must be at most ActionRetention")
	}
	if c.ReviewFor == 0 {
		c.ReviewFor = maxReviewFor
	}
	if c.ReviewFor < 0 || c.ReviewFor > maxReviewFor {
		return errors.New("deviceauth: Config.ReviewFor must be at most 24 hours")
	}
	return nil
}

// actionStore returns the store's ActionStore, nil when it keeps no
// history or the Service keeps none.
func (s *Service) actionStore() store.ActionStore {
	as, ok := s.store.(store.ActionStore)
	if !ok || s.cfg.ActionRetention < 0 {
		return nil
	}
	return as
}

// actionData is the part of an action record the Service owns (the
// record's Data).
type actionData struct {
	IP         string         `json:"ip,omitempty"`
	UserAgent  string         `json:"userAgent,omitempty"`
	Details    Details        `json:"details"`
	Custom     map[string]any `json:"custom,omitempty"`
	Amount     *risk.Amount   `json:"amount,omitempty"`
	Rule       string         `json:"rule,omitempty"`
	Signals    *risk.Signals  `json:"signals,omitempty"`
	Method     string         `json:"method,omitempty"` // the challenge's primary method
	UsedReview string         `json:"usedReview,omitempty"`
}

// actionRecord builds the record of req decided as outcome, with ID id
// (the challenge's, or a new one when id is ""). req.UserAgent is
// normalised (protocol.ContextText) already.
func (s *Service) actionRecord(id string, req TrackRequest, details Details, outcome ActionState, d Decision, sig *risk.Signals, method string, now time.Time) *store.ActionRecord {
	if id == "" {
		id = ids.NewUserID("ac", req.UserID)
	}
	data := actionData{IP: ipString(req.ClientIP), UserAgent: req.UserAgent,
		Details: details, Custom: req.Custom, Rule: d.Rule, Method: method}
	if d.Rule != "" || outcome != StateChallengeRequired {
		data.Signals = sig // what a reviewer reads: kept where a rule decided
	}
	if req.Amount != (risk.Amount{}) {
		a := req.Amount
		data.Amount = &a
	}
	raw, err := json.Marshal(data)
	if err != nil { // Custom was checked by Track; nothing else can fail
		raw = []byte("{}")
	}
	a := &store.ActionRecord{ID: id, UserID: req.UserID, Action: req.Action, CreatedAt: now,
		ExpiresAt: now.Add(s.cfg.ActionRetention), Outcome: string(outcome), Prefix: ipPrefix(req.ClientIP),
		Browser: browserDigest(req.Browser), Data: raw}
	if outcome == StateReview {
		a.Review = store.ReviewPending
		a.Binding = reviewBinding(req.UserID, req.Action, details)
	}
	return a
}

// putAction stores the record of an action that created no challenge. A
// failure is logged and reported as an event but does not change the
// answer: the decision stands without its history.
func (s *Service) putAction(ctx context.Context, a *store.ActionRecord) string {
	as := s.actionStore()
	if as == nil || a == nil {
		return ""
	}
	if err := as.PutAction(ctx, *a); err != nil {
		s.storeFailed(ctx, err)
		return ""
	}
	return a.ID
}

// ipPrefix is ip's /24 (IPv4) or /64 (IPv6), "" when ip is unknown.
func ipPrefix(ip netip.Addr) string {
	if !ip.IsValid() {
		return ""
	}
	ip = ip.Unmap()
	if ip.Is4() {
		b := ip.As4()
		out := make([]byte, 0, len("255.255.255.0/24"))
		for _, x := range b[:3] {
			out = strconv.AppendUint(out, uint64(x), 10)
			out = append(out, '.')
		}
		return string(append(out, "0/24"...))
	}
	p, err := ip.Prefix(64)
	if err != nil {
		return ""
	}
	return p.String()
}

// reviewBinding is what an approval of a review lets through: this user,
// action and these details.
func reviewBinding(user, action string, details Details) []byte {
	h := sha256.New()
	h.Write([]byte("deviceauth review v1\x00"))
	h.Write([]byte(user))
	h.Write([]byte{0})
	h.Write([]byte(action))
	h.Write([]byte{0})
	h.Write(digestOf(details))
	return h.Sum(nil)
}

// Actions lists a user's action history, newest first, or (ActionQuery.Reviews)
// the actions of every user awaiting an operator's review, oldest first.
// next is the cursor of a history's next page, "" at its end. Over a
// store that keeps no history the list is empty.
func (s *Service) Actions(ctx context.Context, q ActionQuery) (list []Action, next string, err error) {
	limit := q.Limit
	switch {
	case limit == 0:
		limit = 50
	case limit < 0 || limit > 200:
		return nil, "", ErrInvalidRequest.withMessage("limit must be 1 to 200")
	case q.Reviews && (q.UserID != "" || q.Cursor != ""):
		return nil, "", ErrInvalidRequest.withMessage("a review queue has no user or cursor")
	case !q.Reviews && !validUserID(q.UserID):
		return nil, "", ErrInvalidRequest.withMessage("userID must be 1 to 256 bytes of UTF-8")
	}
	list = []Action{}
	as := s.actionStore()
	if as == nil {
		return list, "", nil
	}
	now := s.now()
	var recs []store.ActionRecord
	if q.Reviews {
		recs, err = as.PendingReviews(ctx, limit, now)
	} else {
		sq := store.ActionQuery{UserID: q.UserID, Limit: limit}
		if q.Cursor != "" {
			if sq.Before, sq.BeforeID, err = parseCursor(q.Cursor); err != nil {
				return nil, "", err
			}
		}
		recs, err = as.Actions(ctx, sq, now)
	}
	if err != nil {
		return nil, "", s.storeFailed(ctx, err)
	}
	for _, r := range recs {
		list = append(list, actionOf(r))
	}
	if !q.Reviews && len(recs) == limit {
		last := recs[len(recs)-1]
		next = cursorOf(last.CreatedAt, last.ID)
	}
	return list, next, nil
}

// actionOf is the public view of record r.
func actionOf(r store.ActionRecord) Action {
	var d actionData
	_ = json.Unmarshal(r.Data, &d) // the Service wrote it; a damaged one shows empty
	a := Action{ID: r.ID, UserID: r.UserID, Action: r.Action, CreatedAt: r.CreatedAt, State: ActionState(r.Outcome),
		Rule: d.Rule, ClientIP: d.IP, UserAgent: d.UserAgent, Details: d.Details, Custom: d.Custom, Amount: d.Amount,
		Signals: d.Signals, Challenge: r.Result, PassedAt: r.PassedAt,
		Review: r.Review, Reviewer: r.Reviewer, ReviewNote: r.ReviewNote, ReviewedAt: r.ReviewedAt}
	switch {
	case r.Kind == store.KindPasskey:
		a.Method = MethodPasskey
	case isInApp(r.ID) && r.Kind != "":
		a.Method = MethodInApp
	case r.Kind != "":
		a.Method = Method(d.Method)
	}
	return a
}

// cursorOf and parseCursor encode a history position: the last record's
// time (UNIX milliseconds) and ID.
func cursorOf(at time.Time, id string) string {
	b := binary.BigEndian.AppendUint64(nil, uint64(at.UnixMilli()))
	return base64.RawURLEncoding.EncodeToString(append(b, id...))
}

func parseCursor(c string) (time.Time, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) < 9 || !protocol.ValidID(string(b[8:])) {
		return time.Time{}, "", ErrInvalidRequest.withMessage("the cursor is not one Actions returned")
	}
	return time.UnixMilli(int64(binary.BigEndian.Uint64(b))).UTC(), string(b[8:]), nil
}

// DecideReview records an operator's decision on an action held for
// review. Approving lets the same action — same user, action and details —
// through once, within Config.ReviewFor of the action, on any instance;
// rejecting keeps it refused. A second decision is ErrChallengeClosed; an
// unknown action (or one not held for review) ErrNotFound. Each decision
// is an event (review.approved or review.rejected) naming the operator,
// and a notification to the user's devices (NotificationReviewDecided:
// with package webhook, a webhook).
func (s *Service) DecideReview(ctx context.Context, d ReviewDecision) (Action, error) {
	switch {
	case !validUserID(d.UserID) || !protocol.ValidID(d.ActionID):
		return Action{}, ErrInvalidRequest.withMessage("userID and actionID must name an action")
	case d.Operator == "" || protocol.ContextText(d.Operator, 128) != d.Operator:
		return Action{}, ErrInvalidRequest.withMessage("operator must be 1 to 128 bytes of printable UTF-8")
	case protocol.ContextText(d.Note, 512) != d.Note:
		return Action{}, ErrInvalidRequest.withMessage("note must be up to 512 bytes of printable UTF-8")
	}
	as := s.actionStore()
	if as == nil {
		return Action{}, ErrNotFound
	}
	now := s.now()
	to, typ := store.ReviewRejected, event.ReviewRejected
	if d.Approve {
		to, typ = store.ReviewApproved, event.ReviewApproved
	}
	rec, err := as.DecideReview(ctx, d.UserID, d.ActionID, store.ReviewDecision{To: to, Reviewer: d.Operator, Note: d.Note, ReviewedAt: now}, now)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return Action{}, ErrNotFound
	case errors.Is(err, store.ErrConflict) && rec.Review == "":
		return Action{}, ErrNotFound // not an action held for review
	case errors.Is(err, store.ErrConflict):
		return Action{}, ErrChallengeClosed.withMessage("the review was already decided")
	case err != nil:
		return Action{}, s.storeFailed(ctx, err)
	}
	s.emit(ctx, event.Event{Type: typ, UserID: d.UserID, ChallengeID: d.ActionID, Action: rec.Action, Operator: d.Operator})
	s.notifyDecision(ctx, rec, d.Operator)
	return actionOf(rec), nil
}

// notifyDecision sends the decision on rec to the user's devices through
// the Notifier (a webhook, with package webhook).
func (s *Service) notifyDecision(ctx context.Context, rec store.ActionRecord, operator string) {
	if s.cfg.Notifier == nil {
		return
	}
	creds, err := s.store.ListCredentials(ctx, rec.UserID)
	if err != nil {
		s.storeFailed(ctx, err)
		return
	}
	s.notify(Notification{Type: NotificationReviewDecided, ChallengeID: rec.ID, CredentialIDs: deviceIDs(creds, ""),
		Review: string(rec.Review), Operator: operator}, rec.UserID)
}

// useApproval looks among approvals (the user's approved reviews of this
// action within Config.ReviewFor, from readSignals) for one of these
// details, and uses it up. It reports
// the approval's ID, "" when there is none (or another instance used it
// first).
func (s *Service) useApproval(ctx context.Context, recs []store.ActionRecord, req TrackRequest, details Details, now time.Time) (string, error) {
	var binding []byte
	for _, r := range recs {
		if r.Review != store.ReviewApproved || r.Action != req.Action || !r.CreatedAt.After(now.Add(-s.cfg.ReviewFor)) {
			continue
		}
		if binding == nil {
			binding = reviewBinding(req.UserID, req.Action, details)
		}
		if string(r.Binding) != string(binding) {
			continue
		}
		_, err := s.actionStore().UseReview(ctx, req.UserID, r.ID, now)
		switch {
		case err == nil:
			return r.ID, nil
		case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
			continue // used meanwhile, elsewhere
		default:
			return "", s.storeFailed(ctx, err)
		}
	}
	return "", nil
}

// Forget erases what the Service keeps about a user: the action history
// (with its IP addresses, user agents and known prefixes and browsers),
// the counters that name the user (rate limits, push mute, the wrong-code
// counters of the actions in the history), credentials and recovery
// codes. Pending challenges end with their TTL. It is an event
// (user.forgotten).
func (s *Service) Forget(ctx context.Context, userID string) error {
	if !validUserID(userID) {
		return ErrInvalidRequest.withMessage("userID must be 1 to 256 bytes of UTF-8")
	}
	if as, ok := s.store.(store.ActionStore); ok {
		counters, err := s.userCounters(ctx, as, userID)
		if err != nil {
			return err
		}
		if _, err := as.ForgetActions(ctx, userID, counters); err != nil {
			return s.storeFailed(ctx, err)
		}
	}
	creds, err := s.store.ListCredentials(ctx, userID)
	if err != nil {
		return s.storeFailed(ctx, err)
	}
	_, err = s.store.DeleteUserCredentials(ctx, userID)
	s.answers.removeUser(userID)
	if err != nil {
		return s.storeFailed(ctx, err)
	}
	if rs, ok := s.store.(store.RecoveryCodeStore); ok {
		if err := rs.ReplaceRecoveryCodes(ctx, userID, nil); err != nil {
			return s.storeFailed(ctx, err)
		}
	}
	s.emit(ctx, event.Event{Type: event.UserForgotten, UserID: userID})
	if len(creds) > 0 {
		s.emit(ctx, event.Event{Type: event.EndOtherSessions, UserID: userID, Reason: string(event.UserForgotten)})
	}
	for _, c := range creds {
		if c.Kind == store.KindDevice && c.PushToken != "" {
			s.notify(Notification{Type: NotificationCredentialRemoved, RemovedCredentialID: c.ID, RemovedPushToken: c.PushToken}, userID)
		}
	}
	return nil
}

// userCounters are the keys of the counters that name userID: its rate
// limits, push mute and the wrong-code counter of every action in its
// history.
func (s *Service) userCounters(ctx context.Context, as store.ActionStore, userID string) ([]string, error) {
	keys := []string{"rate:challenges:" + userID, "rate:push:" + userID, "rate:recovery:" + userID, s.muteKey(userID)}
	seen := map[string]bool{}
	q := store.ActionQuery{UserID: userID, Limit: 500, Brief: true}
	for {
		recs, err := as.Actions(ctx, q, s.now())
		if err != nil {
			return nil, s.storeFailed(ctx, err)
		}
		for _, r := range recs {
			if !seen[r.Action] {
				seen[r.Action] = true
				keys = append(keys, s.wrongCodeKey(userID, r.Action))
			}
		}
		if len(recs) < q.Limit {
			return keys, nil
		}
		last := recs[len(recs)-1]
		q.Before, q.BeforeID = last.CreatedAt, last.ID
	}
}

// checkCustom checks a Track's custom data: JSON types only, at most
// maxCustomBytes as JSON.
func checkCustom(m map[string]any) error {
	if m == nil {
		return nil
	}
	for k, v := range m {
		if !jsonValue(v, 0) || k == "" || strings.ContainsRune(k, 0) {
			return ErrInvalidRequest.withMessage("custom data must hold JSON values (string, number, bool, null, list, map) under non-empty keys")
		}
	}
	raw, err := json.Marshal(m)
	if err != nil || len(raw) > maxCustomBytes {
		return ErrInvalidRequest.withMessage("custom data must be at most 4096 bytes as JSON")
	}
	return nil
}

const maxCustomBytes = 4096

// jsonValue reports whether v is a JSON value of Go's JSON types (Go
// integers accepted) nested at most 8 deep.
func jsonValue(v any, depth int) bool {
	if depth > 8 {
		return false
	}
	switch v := v.(type) {
	case nil, string, bool, float64, float32, int, int64, int32, uint, uint64, uint32, json.Number:
		return true
	case []any:
		for _, e := range v {
			if !jsonValue(e, depth+1) {
				return false
			}
		}
		return true
	case map[string]any:
		for _, e := range v {
			if !jsonValue(e, depth+1) {
				return false
			}
		}
		return true
	}
	return false
}
