// Package redact removes secrets from text that goes to logs and events.
package redact

import "strings"

// URLs removes the user info, query and fragment of every URL in
// s (an error's text), which may hold a receiver's secret: failure reasons
// go to logs and events.
func URLs(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "://")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		end := i + 3 + strings.IndexAny(s[i+3:]+" ", " \t\r\n\"'<>`")
		b.WriteString(s[:i+3])
		rest := s[i+3 : end]
		s = s[end:]
		authority := rest
		if a := strings.IndexAny(rest, "/?#"); a >= 0 {
			authority = rest[:a]
		}
		if at := strings.LastIndex(authority, "@"); at >= 0 {
			rest = rest[at+1:]
		}
		if q := strings.IndexAny(rest, "?#"); q >= 0 {
			rest = rest[:q]
		}
		b.WriteString(rest)
	}
}
