package protocol

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

// unhex decodes hex written by hand in a test: spaces and newlines only lay it out, and
// "-- …" comments run to the end of the line.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if j := strings.Index(l, "--"); j >= 0 {
			lines[i] = l[:j]
		}
	}
	b, err := hex.DecodeString(strings.Join(strings.Fields(strings.Join(lines, "\n")), ""))
	if err != nil {
		t.Fatalf("bad hex in test: %v", err)
	}
	return b
}

func TestFrame_ExactBytes(t *testing.T) {
	tests := []struct {
		name   string
		label  string
		fields [][]byte
		want   string
	}{
		{"no fields", "ab", nil, "6162 00"},
		{"empty label", "", [][]byte{{0x78}}, "00 00000001 78"},
		{"absent optional value is a zero-length field", "ab", [][]byte{[]byte("x"), nil, {}, {0xff, 0x00}},
			"6162 00  00000001 78  00000000  00000000  00000002 ff00"},
		{"length is big-endian", "a", [][]byte{bytes.Repeat([]byte{7}, 258)},
			"61 00 00000102" + strings.Repeat("07", 258)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Frame(tt.label, tt.fields...)
			if want := unhex(t, tt.want); !bytes.Equal(got, want) {
				t.Fatalf("Frame = %x, want %x", got, want)
			}
		})
	}
}

func TestRegistrationMessage_ExactBytes(t *testing.T) {
	got := RegistrationMessage("t", AlgES256, []byte{0x04, 0x01}, "Phone", "ios")
	want := unhex(t, `
		646576696365617574682f76312f7265676973746572 00 -- "deviceauth/v1/register" 0x00
		00000020 e3b98a4da31a127d4bde6e43033f66ba274cab0eb7eb1c70ec41402bf6273dd8 -- SHA-256("t")
		00000005 4553323536 -- "ES256"
		00000002 0401       -- public key as sent
		00000005 50686f6e65 -- "Phone"
		00000003 696f73     -- "ios"`)
	if !bytes.Equal(got, want) {
		t.Fatalf("RegistrationMessage = %x, want %x", got, want)
	}
}

func TestResponseMessage_ExactBytes(t *testing.T) {
	digest := make([]byte, 32)
	for i := range digest {
		digest[i] = byte(i)
	}
	tests := []struct {
		name string
		r    Response
		want string
	}{
		{
			name: "approve with code",
			r: Response{ChallengeID: "ch_1", Nonce: []byte{0xaa, 0xbb}, Action: "transfer",
				CredentialID: "cred_9", Decision: DecisionApprove, VerificationCode: "12", DetailsDigest: digest},
			want: `646576696365617574682f76312f726573706f6e7365 00 -- "deviceauth/v1/response" 0x00
				00000004 63685f31         -- challenge ID "ch_1"
				00000002 aabb             -- nonce
				00000008 7472616e73666572 -- action "transfer"
				00000006 637265645f39     -- credential ID "cred_9"
				00000007 617070726f7665   -- "approve"
				00000000                  -- no deny reason
				00000002 3132             -- code "12"
				00000020 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f`,
		},
		{
			name: "deny with reason, no code",
			r: Response{ChallengeID: "ch_1", Nonce: []byte{0xaa, 0xbb}, Action: "transfer",
				CredentialID: "cred_9", Decision: DecisionDeny, DenyReason: "12", DetailsDigest: digest},
			want: `646576696365617574682f76312f726573706f6e7365 00
				00000004 63685f31
				00000002 aabb
				00000008 7472616e73666572
				00000006 637265645f39
				00000004 64656e79 -- "deny"
				00000002 3132     -- deny reason "12"
				00000000          -- no code
				00000020 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := ResponseMessage(tt.r), unhex(t, tt.want); !bytes.Equal(got, want) {
				t.Fatalf("ResponseMessage = %x, want %x", got, want)
			}
		})
	}
}

func TestDetailsDigest_HandFramed(t *testing.T) {
	tests := []struct {
		name   string
		d      Details
		framed string
	}{
		{"no details", Details{}, `646576696365617574682f76312f64657461696c73 00 -- "deviceauth/v1/details" 0x00
			00000000 -- empty message
			00000000 -- zero fields`},
		{"message and one field", Details{Message: "Pay €5", Fields: []Field{{Label: "Amount", Value: "€5"}}},
			`646576696365617574682f76312f64657461696c73 00
			00000008 50617920e282ac35 -- "Pay €5"
			00000001                  -- one field (a count, not a field)
			00000006 416d6f756e74     -- "Amount"
			00000004 e282ac35         -- "€5"`},
		{"empty value is a zero-length field", Details{Fields: []Field{{Label: "Amount"}, {Label: "ios", Value: "12"}}},
			`646576696365617574682f76312f64657461696c73 00
			00000000
			00000002
			00000006 416d6f756e74 00000000
			00000003 696f73 00000002 3132`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := sha256.Sum256(unhex(t, tt.framed))
			if got := DetailsDigest(tt.d); got != want {
				t.Fatalf("DetailsDigest = %x, want SHA-256 of the hand-framed bytes %x", got, want)
			}
		})
	}
}

func TestPasskeyChallenge_HandFramed(t *testing.T) {
	// label ‖ 00 ‖ len("c1") "c1" ‖ len(nonce) nonce ‖ len("pay") "pay" ‖ len(digest) digest
	want := sha256.Sum256(unhex(t, "646576696365617574682f76312f706173736b657900"+
		"00000002"+"6331"+
		"00000002"+"abcd"+
		"00000003"+"706179"+
		"00000001"+"ff"))
	if got := PasskeyChallenge("c1", []byte{0xab, 0xcd}, "pay", []byte{0xff}); got != want {
		t.Fatalf("PasskeyChallenge = %x, want %x", got, want)
	}
}
