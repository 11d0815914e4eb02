// Package event names what a deviceauth Service reports as it works: the
// Event it hands to Config.OnEvent and logs, and the Types of events. It
// is a package of its own so that what consumes events (metrics, webhooks,
// audit trails) need not import the Service.
//
// An Event carries IDs only: never tokens, nonces, codes, details or
// signatures.
package event

import "time"

// Type names what happened.
type Type string

// Event types.
const (
	RegistrationTokenIssued Type = "registrationToken.issued"
	CredentialRegistered    Type = "credential.registered"
	CredentialRemoved       Type = "credential.removed"
	ChallengeCreated        Type = "challenge.created"
	ChallengeApproved       Type = "challenge.approved"
	ChallengeDenied         Type = "challenge.denied"
	ChallengeFailed         Type = "challenge.failed" // the wrong-code limit was reached
	WrongCode               Type = "challenge.wrongCode"
	ChallengeValidated      Type = "challenge.validated"
	ValidationFailed        Type = "challenge.validationFailed"
	ActionBlocked           Type = "action.blocked"
	RateLimited             Type = "rateLimited"
	SignatureRejected       Type = "signature.rejected"
	StoreError              Type = "store.error"
	PushSent                Type = "push.sent"
	PushFailed              Type = "push.failed"
	PushSuperseded          Type = "push.superseded" // an older pending push gave way to a newer one
	PushMuted               Type = "push.muted"      // not sent: the user reported not_me recently
	FraudReported           Type = "fraud.reported"  // a device denied with reason not_me
	QRClaimed               Type = "qr.claimed"
	SignedIn                Type = "signedIn"      // a QR or passkey sign-in completed
	PasskeyClone            Type = "passkey.clone" // a passkey's counter went backwards
)

// Event types of the device lifecycle.
const (
	// RegistrationRefused: a token minted for a first device was
	// presented after the user had enrolled one (Reason not_first_device).
	RegistrationRefused Type = "registration.refused"
	// EndOtherSessions: a credential was removed (or the user's
	// credentials were reset or recovered); the application should end the
	// user's other sessions, which deviceauth cannot see.
	EndOtherSessions Type = "sessions.endOthers"
	// RecoveryCodesIssued: new recovery codes replaced the user's
	// earlier ones.
	RecoveryCodesIssued Type = "recoveryCodes.issued"
	// RecoveryCodeUsed: a recovery code stood in for a step-up
	// (Action; Reason left=N, the codes that remain).
	RecoveryCodeUsed Type = "recoveryCode.used"
	// CredentialsReset: an operator removed all of the user's
	// credentials (ResetCredentials); Operator says who and Reason why.
	CredentialsReset Type = "credentials.reset"
)

// Event types of adaptive MFA (docs/rules.md).
const (
	// ActionTracked: Track decided an action without creating a challenge
	// (ChallengeCreated reports those that did). Reason is the outcome
	// (ALLOW, BLOCK, REVIEW, CHALLENGE_REQUIRED for a user without a
	// device), Rule the rule that decided, ChallengeID the action's ID.
	ActionTracked Type = "action.tracked"
	// RuleError: a rule's evaluation failed and the policy failed closed
	// (Rule names it).
	RuleError Type = "rule.error"
	// ReviewApproved and ReviewRejected: an operator decided an action
	// held for review (ChallengeID is the action's ID, Operator who).
	ReviewApproved Type = "review.approved"
	ReviewRejected Type = "review.rejected"
	// UserForgotten: the user's history, credentials and recovery codes
	// were erased (Forget).
	UserForgotten Type = "user.forgotten"
)

// Event is one thing that happened, for audit trails and metrics. It
// carries IDs only — never tokens, nonces, codes, details or signatures.
type Event struct {
	Type         Type
	Time         time.Time
	UserID       string
	CredentialID string
	ChallengeID  string
	Action       string
	ClientIP     string
	// Reason is a short machine-readable reason, e.g. an error code; for
	// CredentialsReset, the reason the application gave.
	Reason string
	// Operator is who acted, as the application named them
	// (CredentialsReset, ReviewApproved, ReviewRejected).
	Operator string
	// Rule is the rule that decided an action (ActionTracked,
	// ActionBlocked, ChallengeCreated under rules) or failed (RuleError).
	Rule string
}
