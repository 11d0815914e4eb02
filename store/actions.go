package store

import (
	"bytes"
	"context"
	"time"
)

// ActionRecord is one tracked action: what the Service decided, from where,
// and later what became of its challenge. A user's records are the user's
// action history (docs/rules.md#history) and the source of the signals
// rules read (known prefixes and browsers, velocity, failures, recency).
type ActionRecord struct {
	// ID is the challenge's ID when Track created one (so the record and
	// the challenge share their user's tag), else a new ID of the same
	// form.
	ID        string
	UserID    string
	Action    string
	CreatedAt time.Time
	// ExpiresAt is the end of the record's retention; Sweep (or the
	// store's own expiry) removes it after.
	ExpiresAt time.Time
	// Outcome is what Track decided: ALLOW, BLOCK, REVIEW or
	// CHALLENGE_REQUIRED.
	Outcome string
	// Prefix is the client IP's /24 (IPv4) or /64 (IPv6) in CIDR form, ""
	// when unknown; Browser a digest of the Service's browser cookie, ""
	// when the request carried none.
	Prefix  string
	Browser string
	// Result is the state of the challenge of the same ID as the store last
	// saw it (APPROVED, DENIED, CONSUMED, FAILED …); "" while there is
	// none or it is pending. PassedAt is when it was consumed (zero
	// otherwise) and Kind the kind of the credential that answered.
	Result   State
	PassedAt time.Time
	Kind     CredentialKind
	// Review is the state of an operator's review (REVIEW outcomes only):
	// PENDING, then APPROVED or REJECTED, and USED once an approval let the
	// action through.
	Review ReviewState
	// Reviewer, ReviewNote and ReviewedAt record the operator's decision.
	Reviewer   string
	ReviewNote string
	ReviewedAt time.Time
	// Binding is a digest of what a review approval lets through (the
	// user, the action and its details).
	Binding []byte
	// Data is JSON the Service owns (IP, user agent, details, custom data,
	// matched rules, signals); stores keep it as bytes.
	Data []byte
}

// Clone returns a with its own copy of every slice.
func (a ActionRecord) Clone() ActionRecord {
	a.Binding = bytes.Clone(a.Binding)
	a.Data = bytes.Clone(a.Data)
	return a
}

// ReviewState is where an operator's review of an action stands.
type ReviewState string

// Review states. REJECTED and USED are final.
const (
	ReviewPending  ReviewState = "PENDING"
	ReviewApproved ReviewState = "APPROVED"
	ReviewRejected ReviewState = "REJECTED"
	ReviewUsed     ReviewState = "USED"
)

// ActionQuery selects a user's action records, newest first (by CreatedAt,
// then ID, both descending).
type ActionQuery struct {
	UserID string
	// Before, when not zero, keeps records created before it, or created
	// at it with an ID below BeforeID: the cursor of the next page is the
	// last record's CreatedAt and ID.
	Before   time.Time
	BeforeID string
	// Since, when not zero, keeps records created at or after it — or,
	// when PassedSince is not zero too, records created at or after Since
	// or passed at or after PassedSince.
	Since       time.Time
	PassedSince time.Time
	// Limit caps the answer; 0 means no more than 100.
	Limit int
	// Brief says the caller reads no Data (the Service computing signals):
	// a store may leave it out.
	Brief bool
}

// Cap is the most records q asks for: Limit, or 100 when Limit is 0.
func (q ActionQuery) Cap() int {
	if q.Limit <= 0 {
		return 100
	}
	return q.Limit
}

// Matches reports whether a is one of q's records (ignoring Limit and
// ordering), for stores that filter in Go.
func (q ActionQuery) Matches(a ActionRecord) bool {
	if a.UserID != q.UserID {
		return false
	}
	if !q.Before.IsZero() && !(a.CreatedAt.Before(q.Before) || a.CreatedAt.Equal(q.Before) && a.ID < q.BeforeID) {
		return false
	}
	if q.Since.IsZero() {
		return true
	}
	if !a.CreatedAt.Before(q.Since) {
		return true
	}
	return !q.PassedSince.IsZero() && !a.PassedAt.IsZero() && !a.PassedAt.Before(q.PassedSince)
}

// Newer orders action records newest first: by CreatedAt, then ID, both
// descending. It is a cmp function for slices.SortFunc.
func Newer(a, b ActionRecord) int {
	if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
		return c
	}
	switch {
	case a.ID > b.ID:
		return -1
	case a.ID < b.ID:
		return 1
	}
	return 0
}

// ReviewDecision is an operator's decision on a pending review.
type ReviewDecision struct {
	// To is ReviewApproved or ReviewRejected.
	To         ReviewState
	Reviewer   string
	Note       string
	ReviewedAt time.Time
}

// ActionStore keeps action records. It is optional: a Service over a store
// without it keeps no history, and rules see no known prefixes or
// browsers, velocity, failures or recency (docs/stores.md#actions).
//
// A store that implements it also keeps each record in step with the
// challenge of the same ID, in the same operation as the challenge's
// change: CreateChallenge and BeginChallenge write Challenge.Record (when
// not nil) with the challenge they create; every change of the
// challenge's state through TransitionChallenge and ConsumeChallenge
// sets the record's Result to the new state; a consume
// also sets PassedAt to now and Kind to the answering credential's kind.
// A challenge without a record changes alone.
type ActionStore interface {
	// PutAction stores a. ErrConflict when a record with a.ID exists.
	PutAction(ctx context.Context, a ActionRecord) error
	// GetAction returns userID's record id. ErrNotFound when there is none
	// (or it is another user's, or has expired at now).
	GetAction(ctx context.Context, userID, id string, now time.Time) (ActionRecord, error)
	// Actions returns the unexpired records q selects, newest first.
	Actions(ctx context.Context, q ActionQuery, now time.Time) ([]ActionRecord, error)
	// DecideReview moves userID's record id from ReviewPending to d.To,
	// recording the reviewer, note and time, and returns the record.
	// ErrConflict (with the record as it is) when it is not pending;
	// ErrNotFound when there is no such record. Of N racing callers
	// exactly one decides.
	DecideReview(ctx context.Context, userID, id string, d ReviewDecision, now time.Time) (ActionRecord, error)
	// UseReview moves userID's record id from ReviewApproved to ReviewUsed
	// and returns it. ErrConflict when it is not approved (pending,
	// rejected or already used); ErrNotFound when there is no such
	// record. Of N racing callers exactly one succeeds.
	UseReview(ctx context.Context, userID, id string, now time.Time) (ActionRecord, error)
	// PendingReviews returns up to limit unexpired records, of any user,
	// whose review is pending, oldest first.
	PendingReviews(ctx context.Context, limit int, now time.Time) ([]ActionRecord, error)
	// ForgetActions deletes every record of userID, and the counters
	// named (those whose keys name the user: the caller knows them), and
	// reports how many records it deleted.
	ForgetActions(ctx context.Context, userID string, counters []string) (int, error)
}

// SignalStore reads in one call what a Service's rules need to know about
// a user before Track decides (docs/rules.md#signals), computed where the
// records are: the user's credentials, a counter, and tallies of the
// user's action records. It is optional: over an ActionStore without it
// the Service reads the records (Actions) and tallies them itself. Its
// reads need not be one atomic step.
type SignalStore interface {
	// ReadSignals returns q.UserID's credentials (as ListCredentials
	// does), the value of counter q.Counter (as Counter does; 0 when it is
	// "") and the tallies of q.UserID's unexpired action records that
	// SignalQuery.Tally defines.
	ReadSignals(ctx context.Context, q SignalQuery) (SignalRead, error)
}

// SignalQuery is one ReadSignals call: about UserID's action Action,
// requested from IP prefix Prefix and browser Browser ("" for none), at
// Now.
type SignalQuery struct {
	UserID, Action  string
	Prefix, Browser string
	Counter         string
	Now             time.Time
	// KnownSince: records passed at or after it make their prefix and
	// browser known.
	KnownSince time.Time
	// ReviewSince: approved reviews of records created at or after it are
	// returned.
	ReviewSince time.Time
}

// SignalRead is what ReadSignals returns.
type SignalRead struct {
	Credentials []Credential
	Counter     int64
	// Minute, Hour and Day count the records of the action created less
	// than a minute, an hour and a day before Now.
	Minute, Hour, Day int
	// Denies and Failures count the records, of any action, created less
	// than an hour before Now whose Result is DENIED and FAILED.
	Denies, Failures int
	// KnownPrefix and KnownBrowser: a record of the prefix (the browser)
	// passed at or after KnownSince.
	KnownPrefix, KnownBrowser bool
	// PassedAction and PassedAny are the latest PassedAt at or after
	// KnownSince of a record of the browser, of the action and of any
	// action; zero for none.
	PassedAction, PassedAny time.Time
	// Approvals are the records of the action whose review is APPROVED,
	// created at or after ReviewSince (their Data may be left out).
	Approvals []ActionRecord
}

// Since is the earliest creation time of a record Tally counts (a day
// before Now), for stores that select records before tallying.
func (q SignalQuery) Since() time.Time { return q.Now.Add(-24 * time.Hour) }

// Tally adds record a, one of q.UserID's unexpired records, to r's
// tallies: the definition of SignalRead's fields, for stores that compute
// them in Go.
func (q SignalQuery) Tally(r *SignalRead, a *ActionRecord) {
	age := q.Now.Sub(a.CreatedAt)
	if a.Action == q.Action && age < 24*time.Hour {
		r.Day++
		if age < time.Hour {
			r.Hour++
		}
		if age < time.Minute {
			r.Minute++
		}
	}
	if age < time.Hour {
		switch a.Result {
		case StateDenied:
			r.Denies++
		case StateFailed:
			r.Failures++
		}
	}
	if a.Review == ReviewApproved && a.Action == q.Action && !a.CreatedAt.Before(q.ReviewSince) {
		r.Approvals = append(r.Approvals, a.Clone())
	}
	if a.PassedAt.IsZero() || a.PassedAt.Before(q.KnownSince) {
		return
	}
	if q.Prefix != "" && a.Prefix == q.Prefix {
		r.KnownPrefix = true
	}
	if q.Browser != "" && a.Browser == q.Browser {
		r.KnownBrowser = true
		if a.PassedAt.After(r.PassedAny) {
			r.PassedAny = a.PassedAt
		}
		if a.Action == q.Action && a.PassedAt.After(r.PassedAction) {
			r.PassedAction = a.PassedAt
		}
	}
}
