// Package sanitize bounds text that comes from outside (Zoom's error
// messages and reasons, names, topics, header values, event payloads) before
// it reaches a log line, an error, the store, a label or a page: a hostile or
// broken upstream cannot flood the log, bloat the status page or inject
// control characters into either.
package sanitize

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Documented bounds (README, "Status page and reliability").
const (
	// MaxMessage bounds a message from Zoom (error message, OAuth reason).
	MaxMessage = 512
	// MaxField bounds a short field: a code, a header value, a tracking id.
	MaxField = 128
)

// Text returns s with invalid UTF-8 replaced, every control character
// (newlines and tabs included) turned into a space, and, when longer than
// max bytes, cut on a character boundary with a note of how much was cut.
func Text(s string, max int) string {
	clean := strings.Map(func(r rune) rune {
		if r == utf8.RuneError || unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
	if len(clean) <= max {
		return clean
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(clean[cut]) {
		cut--
	}
	return clean[:cut] + "…(" + strconv.Itoa(len(clean)-cut) + " more bytes cut)"
}

// Message bounds a message from Zoom.
func Message(s string) string { return Text(s, MaxMessage) }

// Field bounds a short field from Zoom.
func Field(s string) string { return Text(s, MaxField) }
