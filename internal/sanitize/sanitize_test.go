package sanitize

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		max      int
		want     string
	}{
		{"short text unchanged", "Invalid access token.", 64, "Invalid access token."},
		{"control characters become spaces", "bad\nline\r\x1b[31mred\x00", 64, "bad line  [31mred "},
		{"line and paragraph separators", "a\u2028b\u2029c", 64, "a b c"},
		{"invalid UTF-8 replaced", "ok\xff\xfeok", 64, "ok ok"},
		{"cut on a character boundary", "ééééé", 5, "éé…(6 more bytes cut)"},
		{"cut exactly", "abcdef", 3, "abc…(3 more bytes cut)"},
		{"empty", "", 8, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Text(tt.in, tt.max)
			if got != tt.want {
				t.Errorf("Text(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
			}
			if !utf8.ValidString(got) {
				t.Errorf("Text(%q) = %q is not valid UTF-8", tt.in, got)
			}
		})
	}
}

func TestMessageBoundsEightMegabytes(t *testing.T) {
	t.Parallel()
	huge := strings.Repeat("x\n", 4<<20)
	got := Message(huge)
	if len(got) > MaxMessage+64 {
		t.Errorf("an 8 MB message became %d bytes", len(got))
	}
	if strings.ContainsAny(got, "\n") {
		t.Error("a newline survived")
	}
	if !strings.Contains(got, "more bytes cut") {
		t.Errorf("the cut is not said: %q", got[len(got)-40:])
	}
}
