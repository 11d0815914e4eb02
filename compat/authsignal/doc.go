// Package authsignal lets Authsignal's own SDKs work against a
// self-hosted deviceauth Service: the backend SDKs' server API (track,
// validate, a user's authenticators), the mobile SDKs' device endpoints
// (add, find and remove a key; push fetch and answer; QR claim and
// answer; in-app verification), the browser SDK's push and QR (by
// polling or over its WebSocket) and the SDKs' passkey sign-up and
// sign-in (when the Service has passkeys), in their wire conventions
// (docs/compat-authsignal.md).
//
// A Handler parses and writes; the Service applies the rules, through
// internal/seam.Compat. The SDKs sign a challenge's ID alone and add keys
// without proof of possession, so their keys are credentials of their own
// kind (store.KindCompat): they answer only the challenges this package
// creates, and deviceauth.Service.Validate refuses their approvals unless
// the route accepts weak bindings for the action (Config.WeakActions,
// deviceauth.WithWeakBinding). Passkeys are not weakened: a passkey added
// here is an ordinary one, and its assertion signs a challenge the Service
// derives from the compat challenge, so its approval validates as PASSKEY.
package authsignal
