package protocol

import (
	"bytes"
	"encoding/json"
	"testing"
)

// encoderJSON is CanonicalJSON as encoding/json writes it (HTML escaping
// off, no trailing newline): the stored form CanonicalJSON must keep.
func encoderJSON(d Details) []byte {
	if d.Fields == nil {
		d.Fields = []Field{}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(d); err != nil {
		panic(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// FuzzCanonicalJSONAsEncoder: CanonicalJSON writes the bytes encoding/json
// writes, for any strings (normalised details or not), so the stored and
// signed form of details never changes with the writer.
func FuzzCanonicalJSONAsEncoder(f *testing.F) {
	f.Add("Send 10.00 EUR to Bob", "Amount", "10.00 EUR", 2)
	f.Add("a\"b\\c\x00\x1f\b\f\n\r\t<>&\u2028\u2029\xff\xc3", "é", "\U0001F600", 1)
	f.Add("", "", "", 0)
	f.Fuzz(func(t *testing.T, message, label, value string, n int) {
		d := Details{Message: message}
		for i := range n % 4 {
			d.Fields = append(d.Fields, Field{Label: label[:len(label)*i/4], Value: value})
		}
		if got, want := CanonicalJSON(d), encoderJSON(d); !bytes.Equal(got, want) {
			t.Fatalf("CanonicalJSON(%+v) = %s, encoding/json writes %s", d, got, want)
		}
	})
}
