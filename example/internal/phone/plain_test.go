package phone

import "testing"

func TestPlain_MakesInvisibleCharactersVisible(t *testing.T) {
	// The server refuses such characters in details; the phone still never
	// lets a terminal interpret what a server sent.
	for in, want := range map[string]string{
		"Send 25.00 EUR to Bob": "Send 25.00 EUR to Bob",
		"Zoë, 1 000,00 €":       "Zoë, 1 000,00 €",
		"a\x1b[2Jb":             `a\u001B[2Jb`,
		"Bob\u202Ecod.exe":      `Bob\u202Ecod.exe`,
		"a\u200Bb\tc\n":         `a\u200Bb\u0009c\u000A`,
		"\u0085\xff":            `\u0085\uFFFD`,
	} {
		if got := plain(in); got != want {
			t.Errorf("plain(%q) = %q, want %q", in, got, want)
		}
	}
}
