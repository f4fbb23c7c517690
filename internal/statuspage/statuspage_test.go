package statuspage

import (
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/zoomexporter/zoom_exporter/scrape"
	"github.com/zoomexporter/zoom_exporter/zoom"
)

// fixedNow is the clock of every test: no test reads the wall clock.
var fixedNow = time.Date(2026, 11, 24, 20, 0, 0, 0, time.UTC)

type fakeSource struct {
	snap         *scrape.Snapshot
	budget       zoom.BudgetState
	valid        bool
	expires      time.Time
	tokenFailure *zoom.Failure
	apiFailure   *zoom.Failure
}

func (f *fakeSource) Snapshot() *scrape.Snapshot                  { return f.snap }
func (f *fakeSource) Budget() zoom.BudgetState                    { return f.budget }
func (f *fakeSource) TokenState() (valid bool, expires time.Time) { return f.valid, f.expires }
func (f *fakeSource) LastFailures() (token, api *zoom.Failure)    { return f.tokenFailure, f.apiFailure }

// Hostile values: every one must be shown as text, never run or parsed.
const (
	hostileEmail   = `bob<script>alert(1)</script>@example.com`
	hostileMessage = `User "x" not exist"><img src=x onerror=alert(2)>`
	trackingID     = "v=2.0;clid=us05;rid=WEB_0123456789abcdef"
)

// sampleSource is an account with every kind of user row.
func sampleSource() *fakeSource {
	ago := func(d time.Duration) time.Time { return fixedNow.Add(-d) }
	return &fakeSource{
		snap: &scrape.Snapshot{
			Published:       ago(40 * time.Second),
			Month:           time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
			Up:              false,
			LastSuccess:     ago(25 * time.Minute),
			RefreshDuration: 3200 * time.Millisecond,
			Users: []scrape.UserSnapshot{
				{Key: "alice-id", ID: "alice-id", Email: "alice@example.com", LastRefresh: ago(2 * time.Minute), LastAttempt: ago(2 * time.Minute)},
				{Key: "bob-id", ID: "bob-id", Email: hostileEmail, LastRefresh: ago(25 * time.Minute), LastAttempt: ago(40 * time.Second),
					LastError:   "report for user bob-id: zoom API /report/users/{userId}/meetings: HTTP 404, code 1001: " + hostileMessage + " (tracking id " + trackingID + ")",
					LastZoomErr: &zoom.APIError{Endpoint: "/report/users/{userId}/meetings", Status: 404, Code: 1001, Message: hostileMessage, TrackingID: trackingID}},
				{Key: "carol@example.com", Email: "carol@example.com", LastAttempt: ago(40 * time.Second),
					LastError: "report for user carol@example.com: zoom API /report/users/{userId}/meetings: giving up after 2 attempts: context deadline exceeded"},
				{Key: "dave-id", ID: "dave-id", Email: "dave@example.com"},
			},
		},
		budget:  zoom.BudgetState{Budget: 15000, UsedToday: 1234, ResetsAt: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)},
		valid:   true,
		expires: fixedNow.Add(42 * time.Minute),
	}
}

func newTestHandler(src Source, interval time.Duration) http.Handler {
	return newTestHandlerFor(src, interval, Users{})
}

func newTestHandlerFor(src Source, interval time.Duration, users Users) http.Handler {
	h := New(src, interval, users).(*handler)
	h.now = func() time.Time { return fixedNow }
	return h
}

func get(t *testing.T, h http.Handler, method string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, "/status", nil))
	return rec.Result()
}

func parse(t *testing.T, body io.Reader) *html.Node {
	t.Helper()
	doc, err := html.Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// findAll returns the element nodes below n for which match holds.
func findAll(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && match(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func tag(name string) func(*html.Node) bool {
	return func(n *html.Node) bool { return n.Data == name }
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func byID(t *testing.T, doc *html.Node, id string) *html.Node {
	t.Helper()
	found := findAll(doc, func(n *html.Node) bool { return attr(n, "id") == id })
	if len(found) != 1 {
		t.Fatalf("%d elements with id %q, want 1", len(found), id)
	}
	return found[0]
}

// blocks are the elements that separate words; inline ones do not.
var blocks = map[string]bool{"p": true, "div": true, "section": true, "h1": true, "h2": true, "dl": true, "dt": true, "dd": true,
	"table": true, "tr": true, "td": true, "th": true, "br": true, "details": true, "summary": true, "progress": true}

// text is the text content of n as a reader sees it: white space
// collapsed, the style sheet left out.
func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		switch {
		case n.Type == html.TextNode:
			b.WriteString(n.Data)
		case n.Type == html.ElementNode && (n.Data == "style" || n.Data == "head"):
			return
		case n.Type == html.ElementNode && blocks[n.Data]:
			b.WriteByte(' ')
			defer b.WriteByte(' ')
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

// userRows returns the rows of the users table: class and text of each.
func userRows(t *testing.T, doc *html.Node) [][2]string {
	t.Helper()
	table := byID(t, doc, "users")
	var rows [][2]string
	for _, tr := range findAll(table, tag("tr")) {
		if len(findAll(tr, tag("th"))) > 0 {
			continue
		}
		rows = append(rows, [2]string{attr(tr, "class"), text(tr)})
	}
	return rows
}

func TestStatusPage(t *testing.T) {
	t.Parallel()
	resp := get(t, newTestHandler(sampleSource(), 5*time.Minute), http.MethodGet)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTP %d", resp.StatusCode)
	}
	for header, want := range map[string]string{
		"Content-Type":           "text/html; charset=utf-8",
		"X-Content-Type-Options": "nosniff",
		"Cache-Control":          "no-store",
	} {
		if got := resp.Header.Get(header); got != want {
			t.Errorf("%s = %q, want %q", header, got, want)
		}
	}
	doc := parse(t, resp.Body)

	rows := userRows(t, doc)
	wantOrder := []struct{ class, contains string }{
		{"failed", hostileEmail}, // failing users first, by e-mail
		{"failed", "carol@example.com"},
		{"never", "dave@example.com"}, // then never refreshed
		{"ok", "alice@example.com"},   // then the others
	}
	if len(rows) != len(wantOrder) {
		t.Fatalf("%d user rows, want %d: %q", len(rows), len(wantOrder), rows)
	}
	for i, w := range wantOrder {
		if rows[i][0] != w.class || !strings.Contains(rows[i][1], w.contains) {
			t.Errorf("row %d = class %q %q, want class %q with %q", i, rows[i][0], rows[i][1], w.class, w.contains)
		}
	}

	bob := rows[0][1]
	for _, want := range []string{
		"failed",
		"HTTP 404 Not Found", "Zoom code 1001", "Message " + hostileMessage, "Tracking id " + trackingID,
		"Endpoint /report/users/{userId}/meetings",
	} {
		if !strings.Contains(bob, want) {
			t.Errorf("failing user row lacks %q: %s", want, bob)
		}
	}
	// Last refresh 25 minutes ago, attempt 40s ago, not overdue.
	for _, want := range []string{"2026-11-24 19:35:00 UTC (25m0s ago)", "2026-11-24 19:59:20 UTC (40s ago)", " no "} {
		if !strings.Contains(bob, want) {
			t.Errorf("failing user row lacks %q: %s", want, bob)
		}
	}
	if carol := rows[1][1]; !strings.Contains(carol, "context deadline exceeded") || !strings.Contains(carol, "never") {
		t.Errorf("user failing without a Zoom answer: %s", carol)
	}
	if dave := rows[2][1]; !strings.Contains(dave, "not yet refreshed") || strings.Contains(dave, "due") {
		t.Errorf("user never refreshed: %s", dave)
	}
	if alice := rows[3][1]; !strings.Contains(alice, "ok") || strings.Contains(alice, "since") || !strings.Contains(alice, "none") {
		t.Errorf("healthy user: %s", alice)
	}

	// Escaping: the hostile values are text, never elements.
	for _, el := range []string{"script", "img"} {
		if n := findAll(doc, tag(el)); len(n) > 0 {
			t.Errorf("the page has %d <%s> elements: a value was not escaped", len(n), el)
		}
	}

	if got := text(byID(t, doc, "quota")); !strings.Contains(got, "Used today 1234 of 15000 (8.2%)") ||
		!strings.Contains(got, "Remaining 13766") || !strings.Contains(got, "Resets 2026-11-25 00:00:00 UTC (in 4h0m)") ||
		!strings.Contains(got, "Paused no") {
		t.Errorf("quota card: %s", got)
	}
	if p := findAll(byID(t, doc, "quota"), tag("progress")); len(p) != 1 || attr(p[0], "value") != "1234" || attr(p[0], "max") != "15000" {
		t.Errorf("quota progress bar: %v", p)
	}
	if got := text(byID(t, doc, "token")); !strings.Contains(got, "State valid") || !strings.Contains(got, "Expires 2026-11-24 20:42:00 UTC (in 42m0s)") {
		t.Errorf("token card: %s", got)
	}
	if got := text(byID(t, doc, "exporter")); !strings.Contains(got, "Zoom down") ||
		!strings.Contains(got, "Last success 2026-11-24 19:35:00 UTC (25m0s ago)") ||
		!strings.Contains(got, "took 3.2s") ||
		!strings.Contains(got, "Users 4 tracked, 2 failing, 1 not yet refreshed") {
		t.Errorf("exporter card: %s", got)
	}

	// The inline style sheet is the one the CSP allows by hash.
	styles := findAll(doc, tag("style"))
	if len(styles) != 1 || styles[0].FirstChild == nil {
		t.Fatalf("%d style elements", len(styles))
	}
	sum := sha256.Sum256([]byte(styles[0].FirstChild.Data))
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "style-src 'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'") || !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "unsafe") {
		t.Errorf("Content-Security-Policy %q does not allow exactly the page's style sheet", csp)
	}
}

func TestStatusPageStates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		src    func() *fakeSource
		want   []string // in the page's text
		absent []string
	}{
		{
			name: "no snapshot yet",
			src:  func() *fakeSource { return &fakeSource{} },
			want: []string{"No user is tracked yet: the first refresh has not finished", "Zoom down the first refresh has not finished yet", "State none"},
		},
		{
			name: "up, healthy",
			src: func() *fakeSource {
				s := sampleSource()
				s.snap.Up, s.snap.Users = true, s.snap.Users[:1]
				return s
			},
			want:   []string{"Zoom up", "Users 1 tracked, 0 failing, 0 not yet refreshed"},
			absent: []string{"failed"},
		},
		{
			name: "token expired",
			src: func() *fakeSource {
				s := sampleSource()
				s.expires = fixedNow.Add(-time.Minute)
				return s
			},
			want: []string{"State expired"},
		},
		{
			name: "daily limit reached, budget stretched",
			src: func() *fakeSource {
				s := sampleSource()
				s.budget.PausedUntil = time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
				s.snap.EffectiveInterval = 50 * time.Minute
				s.snap.PendingUsers = 7
				return s
			},
			want: []string{
				"Paused yes, Zoom's daily limit was reached: no Heavy call until 2026-11-25 00:00:00 UTC (in 4h0m)",
				"Interval 5m0s (stretched to 50m0s by the daily budget)",
				"7 users need a refresh",
			},
		},
		{
			// A healthy exporter: the next cycle's start, no user overdue
			// (issue: "Next due: due now" for every user of a healthy one).
			name: "next refresh, nobody overdue",
			src: func() *fakeSource {
				s := sampleSource()
				s.snap.NextRefresh = fixedNow.Add(4*time.Minute + 20*time.Second)
				s.snap.OverdueAfter = 15 * time.Minute
				return s
			},
			want:   []string{"Next refresh 2026-11-24 20:04:20 UTC (in 4m20s)", "Overdue none (data counts as overdue after 15m0s)"},
			absent: []string{"due now", "Next due"},
		},
		{
			name: "overdue user",
			src: func() *fakeSource {
				s := sampleSource()
				s.snap.OverdueAfter = 15 * time.Minute
				s.snap.Users[1].Overdue = true
				s.snap.Users[1].OverdueSince = fixedNow.Add(-10 * time.Minute)
				return s
			},
			want: []string{"Overdue 1 users have data older than 15m0s", "since 2026-11-24 19:50:00 UTC (10m0s ago)"},
		},
		{
			// The first failure is shown where the operator looks, with
			// what to do (issue 12: a wrong client secret showed nothing).
			name: "token and API failures with hints",
			src: func() *fakeSource {
				s := sampleSource()
				s.valid = false
				s.tokenFailure = &zoom.Failure{When: fixedNow.Add(-30 * time.Second), Count: 3, Endpoint: "https://zoom.us/oauth/token", Status: 400,
					Code: "invalid_client", Message: "Invalid client_id or client_secret", Hint: "Check the client id, client secret and account id."}
				s.apiFailure = &zoom.Failure{When: fixedNow.Add(-time.Minute), Count: 1, Endpoint: "/report/users", Status: 400, Code: "4711",
					Message: "Invalid access token, does not contain scopes:[report:read:list_users:admin].", TrackingID: trackingID, Hint: "Add the scope named to the app."}
				return s
			},
			want: []string{
				"Last failure", "Access token", "HTTP 400 Bad Request", "Code invalid_client", "Message Invalid client_id or client_secret",
				"3 times in a row", "What to do: Check the client id, client secret and account id.",
				"Zoom API", "Code 4711", "does not contain scopes:[report:read:list_users:admin]", trackingID, "What to do: Add the scope named to the app.",
			},
		},
		{
			name:   "no failure, no failure card",
			src:    sampleSource,
			absent: []string{"Last failure", "What to do"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp := get(t, newTestHandler(tt.src(), 5*time.Minute), http.MethodGet)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("HTTP %d", resp.StatusCode)
			}
			page := text(parse(t, resp.Body))
			for _, w := range tt.want {
				if !strings.Contains(page, w) {
					t.Errorf("page lacks %q:\n%s", w, page)
				}
			}
			for _, a := range tt.absent {
				if strings.Contains(page, a) {
					t.Errorf("page has %q:\n%s", a, page)
				}
			}
		})
	}
}

func TestStatusPageMethods(t *testing.T) {
	t.Parallel()
	h := newTestHandler(sampleSource(), time.Minute)
	if resp := get(t, h, http.MethodPost); resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: HTTP %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	resp := get(t, h, http.MethodHead)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || len(body) != 0 || resp.Header.Get("Content-Length") == "0" {
		t.Errorf("HEAD: HTTP %d, %d body bytes, Content-Length %s", resp.StatusCode, len(body), resp.Header.Get("Content-Length"))
	}
}

func TestRoundDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		0:                                "0s",
		850 * time.Millisecond:           "850ms",
		3*time.Minute + 12*time.Second:   "3m12s",
		2*time.Hour + 5*time.Minute:      "2h5m",
		50 * time.Hour:                   "2d2h",
		4*24*time.Hour + 3*time.Hour + 1: "4d3h",
	} {
		if got := roundDuration(d); got != want {
			t.Errorf("roundDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
