package protocol

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// UnmarshalStrict decodes the JSON body b into v as the wire protocol wants every request
// body read: member names match their field exactly (case-sensitively), and a duplicate
// member, an unknown member, a member of the wrong type, invalid UTF-8 and data after the
// value are all errors. Unlike encoding/json, which matches names case-insensitively and
// keeps the last of duplicates, nothing can reach the server under a name its handler does
// not read, or twice with a different value for a second reader. The error's text is one
// sentence fit for the client, naming the member; it wraps the decoder's error (and an
// UnmarshalJSON method's). Callers cap the size of b.
func UnmarshalStrict(b []byte, v any) error {
	err := json.Unmarshal(b, v, json.RejectUnknownMembers(true))
	if err == nil {
		return nil
	}
	return &jsonError{msg: jsonProblem(b, err), err: err}
}

// jsonError is an UnmarshalStrict error.
type jsonError struct {
	msg string
	err error
}

func (e *jsonError) Error() string { return e.msg }
func (e *jsonError) Unwrap() error { return e.err }

// jsonProblem says in one sentence what is wrong with b, from the decoder's error.
func jsonProblem(b []byte, err error) string {
	var se *json.SemanticError
	var syn *jsontext.SyntacticError
	switch {
	case len(bytes.TrimSpace(b)) == 0:
		return "the body is empty"
	case errors.As(err, &syn) && errors.Is(syn.Err, jsontext.ErrDuplicateName):
		return fmt.Sprintf("member %s appears twice", syn.JSONPointer)
	case errors.As(err, &se) && errors.Is(se.Err, json.ErrUnknownName):
		return fmt.Sprintf("member %s is unknown (names match case-sensitively)", se.JSONPointer)
	case errors.As(err, &se) && se.Err == nil:
		return fmt.Sprintf("member %s has the wrong type", se.JSONPointer)
	case errors.As(err, &se):
		return fmt.Sprintf("member %s is malformed", se.JSONPointer)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the body ends inside the JSON value"
	case errors.As(err, &syn):
		return fmt.Sprintf("the body is not valid JSON at byte %d", syn.ByteOffset)
	}
	return "the body is not valid JSON"
}
