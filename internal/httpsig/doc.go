// Package httpsig implements HTTP Message Signatures (RFC 9421) and the
// deviceauth profile of them used for device-signed requests.
//
// # Generic part (RFC 9421, RFC 9530)
//
// The generic part knows nothing about deviceauth. [Message] is the view of a
// request or response that component values come from; [RequestMessage] and
// [ResponseMessage] build it. [ParseSignatures] reads the Signature-Input and
// Signature fields into [Signature] values, [Base] builds the signature base of
// a [SignatureInput] over a Message byte for byte, and [SignMessage] /
// [VerifySignature] sign and check it with the algorithms
// "ecdsa-p256-sha256" (raw r‖s, 64 bytes) and "ed25519". The verifier is given
// the algorithm and public key by its caller: it never decides which key to
// trust. [ContentDigest] and [VerifyContentDigest] handle the RFC 9530
// Content-Digest field.
//
// Supported components: the derived components @method, @target-uri,
// @authority, @scheme, @request-target, @path, @query, @query-param (with
// name) and @status, and HTTP fields by lowercase name with the sf, key and bs
// parameters. The req and tr parameters (components of the related request,
// trailers) are not supported and make [Base] fail with [ErrComponent].
//
// # Profile (deviceauth policy)
//
// [Profile.Verify] and [Sign] are the deviceauth policy of docs/protocol.md on top
// of the generic part: exactly one signature tagged "deviceauth"; required
// parameters created, keyid, nonce and tag; covered @method, @authority,
// @path, @query and, with a body, content-digest; created within the skew;
// @authority from the configured public URL and @path/@query from the request
// URI as the client sent it. The key is resolved by the caller's [KeyFunc]
// only after every cheap check passed, and the nonce is returned in
// [Verified] for the caller to record in its replay cache.
package httpsig
