package statuspage

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/html"

	"github.com/zoomexporter/zoom_exporter/collector"
	"github.com/zoomexporter/zoom_exporter/scrape"
	"github.com/zoomexporter/zoom_exporter/zoom"
)

// privacySource is sampleSource with errors that quote users the way real
// ones do: the {userId} sent to Zoom, and an e-mail in Zoom's message.
func privacySource() *fakeSource {
	s := sampleSource()
	bob := &s.snap.Users[1]
	bob.LastZoomErr.Message = "User " + bob.Email + " does not exist; ask admin@example.com"
	bob.LastError = "report for user bob-id: zoom API /report/users/{userId}/meetings: HTTP 404, code 1001: " + bob.LastZoomErr.Message
	// The client's last API failure quotes an e-mail too: the failure card
	// follows the same rule as the rows.
	s.apiFailure = &zoom.Failure{When: fixedNow, Count: 2, Endpoint: "/report/users/{userId}/meetings", Status: 404, Code: "1001",
		Message: "User alice@example.com not exist or not belong to this account."}
	return s
}

// metricUserLabels are the values of the user label /metrics serves for src
// in mode, read from zoom_user_info through the real collector.
func metricUserLabels(t *testing.T, src *fakeSource, mode string) (*collector.Exporter, map[string]bool) {
	t.Helper()
	e, err := collector.New(src, collector.Options{UserLabel: mode, HashSalt: "the-account-id"})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(e)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]bool{}
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "user" {
					labels[l.GetValue()] = true
				}
			}
		}
	}
	return e, labels
}

// TestStatusPagePrivacy: whatever /metrics hides, /status hides. Each mode
// of --collector.user-label is rendered from the same snapshot as the
// metrics, and the page is searched for every identity the metrics lack.
func TestStatusPagePrivacy(t *testing.T) {
	t.Parallel()
	emails := []string{"alice@example.com", hostileEmail, "carol@example.com", "dave@example.com", "admin@example.com"}
	ids := []string{"alice-id", "bob-id", "dave-id"}
	tests := []struct {
		mode string
		// shown and hidden are checked in the page's text and raw HTML.
		shown, hidden []string
		rows          int  // rows of the users table; 0: no table
		errorsTable   bool // failures grouped without names (mode none)
	}{
		{mode: "email", shown: append(append([]string{}, emails[:4]...), ids...), rows: 4},
		// carol was configured by e-mail and is not listed: her id label is
		// that e-mail on /metrics too. Zoom's message loses the admin's.
		{mode: "id", shown: append([]string{"carol@example.com"}, ids...), hidden: []string{"alice@example.com", "bob<script>", "dave@example.com", "admin@example.com"}, rows: 4},
		{mode: "hash", hidden: append(append([]string{"@"}, emails...), ids...), rows: 4},
		{mode: "none", shown: []string{"[user]", "[e-mail hidden]"}, hidden: append(append([]string{"@"}, emails...), ids...), errorsTable: true},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			t.Parallel()
			src := privacySource()
			exporter, labels := metricUserLabels(t, src, tt.mode)
			resp := get(t, newTestHandlerFor(src, 5*time.Minute, Users{Mode: tt.mode, Label: exporter.UserLabelValue}), http.MethodGet)
			raw, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			doc := parse(t, strings.NewReader(string(raw)))
			page := text(doc)
			// The style sheet is no identity; leave it out of the raw search.
			body := strings.Replace(string(raw), styleSheet, "", 1)
			for _, s := range tt.shown {
				if !strings.Contains(page, s) {
					t.Errorf("page lacks %q:\n%s", s, page)
				}
			}
			for _, s := range tt.hidden {
				if strings.Contains(page, s) || strings.Contains(strings.ToLower(body), strings.ToLower(s)) {
					t.Errorf("page shows %q, which /metrics hides:\n%s", s, page)
				}
			}
			if !strings.Contains(page, "Users 4 tracked, 2 failing, 1 not yet refreshed") {
				t.Errorf("the counts are missing:\n%s", page)
			}

			tables := findAll(doc, func(n *html.Node) bool { return attr(n, "id") == "users" })
			if tt.rows == 0 {
				if len(tables) != 0 {
					t.Errorf("mode %s lists users", tt.mode)
				}
			} else {
				rows := userRows(t, doc)
				if len(rows) != tt.rows {
					t.Fatalf("%d user rows, want %d", len(rows), tt.rows)
				}
				// Each row is named exactly as a user label of /metrics.
				for _, strong := range findAll(tables[0], tag("strong")) {
					if name := text(strong); !labels[name] {
						t.Errorf("row named %q, which is no user label of /metrics (%v)", name, labels)
					}
				}
			}
			if tt.mode == "hash" {
				// bob's error names him by the same hash as the metrics.
				bob, _ := exporter.UserLabelValue(src.snap.Users[1])
				if !strings.Contains(page, "report for user "+bob+": ") || !strings.Contains(page, "Message User "+bob+" does not exist; ask [e-mail hidden]") {
					t.Errorf("bob's error does not name him by his hash %s:\n%s", bob, page)
				}
			}
			if got := len(findAll(doc, func(n *html.Node) bool { return attr(n, "id") == "errors" })); got != map[bool]int{true: 1, false: 0}[tt.errorsTable] {
				t.Errorf("%d grouped error tables", got)
			}
			if tt.errorsTable {
				groups := text(byID(t, doc, "errors"))
				for _, want := range []string{"report for user [user]: ", "User [user] does not exist; ask [e-mail hidden]", "Tracking id " + trackingID, "context deadline exceeded"} {
					if !strings.Contains(groups, want) {
						t.Errorf("grouped errors lack %q: %s", want, groups)
					}
				}
			}
		})
	}
}

// TestStatusPageUnknownModeHides: a mode the page cannot name users in, or
// no label function, shows no user rather than every e-mail.
func TestStatusPageUnknownModeHides(t *testing.T) {
	t.Parallel()
	for _, users := range []Users{{Mode: "hash"}, {Mode: "something-new", Label: func(scrape.UserSnapshot) (string, bool) { return "x", true }}} {
		resp := get(t, newTestHandlerFor(privacySource(), time.Minute, users), http.MethodGet)
		page := text(parse(t, resp.Body))
		if strings.Contains(page, "@") || !strings.Contains(page, "Users are not listed") {
			t.Errorf("%+v: the page shows users:\n%s", users.Mode, page)
		}
	}
}

func TestReplaceWord(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ s, old, want string }{
		{"report for user me: message me", "me", "report for user X: message X"},
		{"bob-id and bob-idx and xbob-id", "bob-id", "X and bob-idx and xbob-id"},
		{"", "a", ""},
	} {
		if got := replaceWord(tt.s, tt.old, "X"); got != tt.want {
			t.Errorf("replaceWord(%q, %q) = %q, want %q", tt.s, tt.old, got, tt.want)
		}
	}
}
