package deviceauth

import (
	"unicode/utf8"

	"github.com/deviceauth/deviceauth/internal/protocol"
)

// The input rules: what the Service accepts as a user ID, a name, a
// platform, a push token and the browser context a device is shown. Every
// endpoint and Service method checks its input with these, and package
// passkey's names too, so there is one rule for each. Details have their
// own rules (internal/protocol, docs/protocol.md).

// Caps, in bytes.
const (
	maxUserIDBytes   = 256
	maxNameBytes     = 64
	maxPlatformBytes = 32
	maxPushToken     = 4096
)

// Caps of the browser context a device is shown (protocol.ContextText).
const (
	maxUserAgentBytes = 512
	maxOriginBytes    = 256
)

// validUserID: 1 to 256 bytes of UTF-8.
func validUserID(s string) bool {
	return s != "" && len(s) <= maxUserIDBytes && utf8.ValidString(s)
}

// validText reports whether s may be shown to a user (protocol.ShownText):
// valid UTF-8 without controls, invisible or bidirectional characters.
func validText(s string) bool { return protocol.ShownText(s) }

// validName: a credential's name, 1 to 64 bytes of shown text.
func validName(s string) bool { return s != "" && len(s) <= maxNameBytes && validText(s) }

// digitsOnly reports whether s is ASCII digits only (a verification code).
func digitsOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
