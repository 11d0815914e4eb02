package httpsig

import (
	"crypto"
	"fmt"
)

// SignMessage builds the signature base of m for in, signs it with signer
// under alg (see [SignBase]) and returns the Signature labelled label, ready
// for [AddSignature].
func SignMessage(m Message, label string, in SignatureInput, alg string, signer crypto.Signer) (Signature, error) {
	if err := checkLabel(label); err != nil {
		return Signature{}, err
	}
	base, err := Base(m, in)
	if err != nil {
		return Signature{}, err
	}
	value, err := SignBase(alg, signer, base)
	if err != nil {
		return Signature{}, err
	}
	return Signature{Label: label, Input: in, Value: value}, nil
}

// VerifySignature rebuilds the signature base of m for s.Input and checks
// s.Value with pub under alg. The caller resolves alg and pub (from keyid or
// otherwise): this function never decides which key to trust, and it checks
// no policy (created, expires, nonce, required components) beyond refusing
// an alg parameter that names another algorithm ([ErrAlgorithm]).
func VerifySignature(m Message, s Signature, alg string, pub crypto.PublicKey) error {
	if a, ok := s.Input.Alg(); ok && a != alg {
		return fmt.Errorf("%w: signature says alg %q, verifier has %q", ErrAlgorithm, a, alg)
	}
	if s.Value == nil {
		return fmt.Errorf("%w: label %q has no Signature member", ErrMissingSignature, s.Label)
	}
	base, err := Base(m, s.Input)
	if err != nil {
		return err
	}
	return VerifyBase(alg, pub, base, s.Value)
}
