package statuspage

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/zoomexporter/zoom_exporter/scrape"
)

// accountSource is a Source with account collectors.
type accountSource struct {
	*fakeSource
	collectors []scrape.CollectorStatus
}

func (a accountSource) AccountCollectors() []scrape.CollectorStatus { return a.collectors }

// TestStatusPageAccountCollectors: a line per account collector; one
// disabled for a missing scope names the scope, what to do and when it is
// tried again; a failing one shows its error (hostile text as text, no
// e-mail outside e-mail mode); without account collectors, no card.
func TestStatusPageAccountCollectors(t *testing.T) {
	t.Parallel()
	ago := func(d time.Duration) time.Time { return fixedNow.Add(-d) }
	collectors := []scrape.CollectorStatus{
		{Name: "licenses", Endpoints: []string{"/users (active, inactive, pending)"}, State: scrape.CollectorOK, Up: true, LastSuccess: ago(time.Minute)},
		{Name: "cloud_recording", Endpoints: []string{"/report/cloud_recording"}, State: scrape.CollectorFailing, LastSuccess: ago(30 * time.Hour),
			NextAttempt: fixedNow.Add(40 * time.Minute), LastError: `zoom API /report/cloud_recording: HTTP 502 <script>alert(1)</script> for ann@example.com`},
		{Name: "daily", Endpoints: []string{"/report/daily"}, State: scrape.CollectorDisabled, MissingScope: "report:read:admin",
			NextAttempt: fixedNow.Add(5 * time.Hour), LastError: "zoom API /report/daily: HTTP 400, code 4711"},
	}
	tests := []struct {
		name   string
		mode   string
		want   map[string][]string // line id -> texts
		absent []string
	}{
		{"email", "email", map[string][]string{
			"collector-licenses":        {"ok", "/users (active, inactive, pending)", "last success 2026-11-24 19:59:00 UTC (1m0s ago)"},
			"collector-cloud_recording": {"failing", "HTTP 502 <script>alert(1)</script> for ann@example.com", "tried again 2026-11-24 20:40:00 UTC (in 40m0s)"},
			"collector-daily": {"disabled", "lacks the scope report:read:admin", "--no-collector.daily", "tried again 2026-11-25 01:00:00 UTC (in 5h0m)",
				"The other collectors go on", "last success never"},
		}, nil},
		{"hash", "hash", map[string][]string{"collector-cloud_recording": {"[e-mail hidden]"}}, []string{"ann@example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := accountSource{sampleSource(), collectors}
			label := func(u scrape.UserSnapshot) (string, bool) { return "h-" + u.Key, true }
			h := newTestHandlerFor(src, 5*time.Minute, Users{Mode: tt.mode, Label: label})
			doc := parse(t, get(t, h, http.MethodGet).Body)
			for id, texts := range tt.want {
				line := text(byID(t, doc, id))
				for _, w := range texts {
					if !strings.Contains(line, w) {
						t.Errorf("line %s lacks %q:\n%s", id, w, line)
					}
				}
			}
			if len(findAll(doc, tag("script"))) > 0 {
				t.Error("hostile error text became a script element")
			}
			page := text(byID(t, doc, "account-collectors"))
			for _, a := range tt.absent {
				if strings.Contains(page, a) {
					t.Errorf("the card shows %q", a)
				}
			}
		})
	}

	for _, src := range []Source{sampleSource(), accountSource{sampleSource(), nil}} {
		doc := parse(t, get(t, newTestHandler(src, 5*time.Minute), http.MethodGet).Body)
		if cards := findAll(doc, func(n *html.Node) bool { return attr(n, "id") == "account-collectors" }); len(cards) != 0 {
			t.Errorf("%T: %d account cards without account collectors", src, len(cards))
		}
	}
}
