package deviceauth

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/deviceauth/deviceauth/internal/protocol"
)

// base64URL is binary data that travels in JSON as base64url without
// padding (RFC 4648 §5), as the wire protocol requires.
type base64URL []byte

// MarshalJSON encodes b as a base64url string without padding.
func (b base64URL) MarshalJSON() ([]byte, error) {
	return json.Marshal(protocol.EncodeBase64(b))
}

// UnmarshalJSON decodes a base64url string without padding; padding and the
// standard alphabet are refused.
func (b *base64URL) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	v, err := protocol.DecodeBase64(s)
	if err != nil {
		return errBase64
	}
	*b = v
	return nil
}

var errBase64 = errors.New("not base64url without padding")

// readBody reads r's body, capped at the configured limit.
func (s *Service) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if n := r.ContentLength; n > 0 && n <= s.cfg.MaxBodyBytes {
		// The length is declared and within the limit: read exactly it
		// (io.ReadAll and http.MaxBytesReader cost two allocations more),
		// then check that nothing follows.
		b := make([]byte, n, n+1)
		if _, err := io.ReadFull(r.Body, b); err != nil {
			return nil, ErrInvalidRequest.with(err).withMessage("the body could not be read")
		}
		if m, _ := r.Body.Read(b[n : n+1]); m != 0 {
			return nil, ErrInvalidRequest.withMessage("the body is longer than its Content-Length")
		}
		return b, nil
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, ErrBodyTooLarge
		}
		return nil, ErrInvalidRequest.with(err).withMessage("the body could not be read")
	}
	return b, nil
}

// readJSON reads r's capped body and strictly decodes it into v. On a
// failure it writes the error answer and reports false.
func (s *Service) readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := s.readBody(w, r)
	if err == nil {
		err = decodeJSON(body, v)
	}
	if err != nil {
		s.fail(w, r, err)
		return false
	}
	return true
}

// readOptionalJSON is readJSON for a body that may be empty (then v is
// left as it is, as for {}).
func (s *Service) readOptionalJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := s.readBody(w, r)
	if err == nil && len(body) > 0 {
		err = decodeJSON(body, v)
	}
	if err != nil {
		s.fail(w, r, err)
		return false
	}
	return true
}

// decodeJSON strictly decodes body into v (protocol.UnmarshalStrict):
// member names match case-sensitively, and a duplicate or unknown member,
// a wrong type, bad base64 and trailing data are ErrInvalidRequest with a
// message naming the problem.
func decodeJSON(body []byte, v any) error {
	err := protocol.UnmarshalStrict(body, v)
	if err == nil {
		return nil
	}
	msg := err.Error()
	if errors.Is(err, errBase64) {
		msg = "a binary field is not base64url without padding"
	}
	return ErrInvalidRequest.with(err).withMessage(msg)
}

// writeJSON writes v with status; every answer is Cache-Control: no-store.
func writeJSON(w http.ResponseWriter, status int, v any) {
	writeHeaders(w, status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

// writeRaw writes body, JSON encoded already, with status.
func writeRaw(w http.ResponseWriter, status int, body []byte) {
	writeHeaders(w, status)
	_, _ = w.Write(body)
}

// writeHeaders writes the headers of every JSON answer, then status.
func writeHeaders(w http.ResponseWriter, status int) {
	h := w.Header()
	// One allocation for the three values (h.Set makes one each), each
	// slice capped so that an Add by a later handler copies it.
	v := &[3]string{"application/json", "no-store", "nosniff"}
	h["Content-Type"], h["Cache-Control"], h["X-Content-Type-Options"] = v[0:1:1], v[1:2:2], v[2:3:3]
	w.WriteHeader(status)
}

// fail answers err with its status and body (the challenge's state too,
// when err carries one), through Config.ErrorHandler when it is set. A
// failure of the store is 503 "unavailable"; the cause is never sent.
func (s *Service) fail(w http.ResponseWriter, r *http.Request, err error) {
	s.writeDenial(w, r, deny(err))
}
