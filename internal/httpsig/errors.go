package httpsig

import "errors"

// Errors returned by this package. Each is wrapped with detail; test with
// [errors.Is]. An error returned by a [KeyFunc] is passed through wrapped, so
// callers can still match their own store sentinels with errors.Is / errors.As.
var (
	// ErrMissingSignature means the message carries no signature to check:
	// no Signature-Input field, no member tagged "deviceauth" (profile), or a
	// Signature-Input member without its Signature member.
	ErrMissingSignature = errors.New("httpsig: missing signature")

	// ErrMalformed means the Signature-Input or Signature field does not
	// parse as RFC 9421 requires (RFC 8941 dictionary of inner lists of
	// strings, dictionary of byte sequences, parameter types).
	ErrMalformed = errors.New("httpsig: malformed signature fields")

	// ErrComponent means a covered component cannot be taken from the
	// message: the field is absent, the derived component does not apply to
	// this kind of message, a parameter is unknown or unsupported, or a
	// component is listed twice.
	ErrComponent = errors.New("httpsig: covered component unavailable")

	// ErrAlgorithm means the algorithm is not one this package implements,
	// the key does not fit the algorithm, or the signature's alg parameter
	// names another algorithm than the one the verifier was given.
	ErrAlgorithm = errors.New("httpsig: unsupported algorithm or key")

	// ErrBadSignature means the signature does not verify over the signature
	// base rebuilt from the message.
	ErrBadSignature = errors.New("httpsig: signature does not verify")

	// ErrDigest means the Content-Digest field is missing, unparsable, has no
	// sha-256 or sha-512 member, or does not match the body (RFC 9530).
	ErrDigest = errors.New("httpsig: content digest missing or wrong")

	// ErrPolicy means the signature breaks a rule of the deviceauth profile:
	// a required parameter or covered component is missing, created is
	// outside the skew, expires has passed, the nonce or keyid has the wrong
	// format, the alg parameter differs from the key's, more than one
	// signature is tagged "deviceauth", and so on.
	ErrPolicy = errors.New("httpsig: signature breaks the deviceauth profile")
)
