// Package protocol holds the byte-exact pieces of the deviceauth wire protocol (docs/protocol.md, v1):
// the signed messages a device builds and the server rebuilds, and the parsing of everything a
// device sends in them. It does no HTTP and touches no store, so a Swift, Kotlin or browser
// client can be checked against it byte for byte.
//
// # Keys and signatures
//
// [ParsePublicKey] reads a device key as sent at registration (SPKI DER, or the raw point) and
// binds its curve to the algorithm ([AlgES256] is P-256, [AlgEdDSA] is Ed25519); the result
// carries the normalised SPKI that is stored and later read back with [ParseSPKI].
// [PublicKey.Verify] checks a signature in the format the device declares ([FormatDER] or
// [FormatRaw]).
//
// # Messages
//
// Every signed message is a [Frame]: a label, a zero byte, then length-prefixed fields.
// [RegistrationMessageV2] is the proof of possession at registration (it signs the push token;
// [RegistrationMessage] is its v1 predecessor, still accepted), [ResponseMessage] the
// device's answer to a challenge. The server always builds these bytes itself and never takes
// bytes-to-verify from the client.
//
// # Details
//
// [Details] are what the device shows while answering. [NormalizeDetails] (and
// [ParseDetailsJSON]) apply NFC and the refusal rules once, at Track; [CanonicalJSON] is what
// is stored and sent, and [DetailsDigest] is what the response signs. [ContextText] filters
// what the browser says of itself (user agent, origin) by the same rules before a device
// shows it.
//
// # JSON bodies
//
// [UnmarshalStrict] reads every request body: names match case-sensitively, and duplicate or
// unknown members are errors.
//
// # Binary and IDs
//
// Binary values travel in JSON as base64url without padding ([EncodeBase64], [DecodeBase64]);
// server-generated IDs come from [NewID] and are checked with [ValidID].
package protocol
