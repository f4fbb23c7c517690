// Package statuspage serves the exporter's /status page for operators: per
// tracked user, the last refresh, its outcome, the next one due and the last
// error with what Zoom support asks for (HTTP status, Zoom's code and
// message, the x-zm-trackingid); the daily Heavy-call budget; the state of
// the access token (never the token); and the exporter's health. Users are
// named as --collector.user-label names them on /metrics, never more.
//
// It is plain server-rendered HTML (html/template escapes every value), with
// an inline style sheet allowed by its hash in the Content-Security-Policy,
// and no script at all.
package statuspage

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html/template"
	"log"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/zoomexporter/zoom_exporter/scrape"
	"github.com/zoomexporter/zoom_exporter/zoom"
)

// Source is what the page reads: the scraper's latest snapshot, and the Zoom
// client's budget and token state. main passes a small adapter.
type Source interface {
	Snapshot() *scrape.Snapshot
	Budget() zoom.BudgetState
	TokenState() (valid bool, expires time.Time)
	// LastFailures are the client's last token and API failures, nil
	// when none (or cleared by a success since).
	LastFailures() (token, api *zoom.Failure)
}

// Users say how the page names users. The page shows no more than /metrics
// does: --collector.user-label decides for both.
type Users struct {
	// Mode is --collector.user-label: email (or ""), id, hash or none.
	Mode string
	// Label is a user's user label exactly as /metrics serves it, false
	// when /metrics has none (collector.Exporter.UserLabelValue). Needed
	// for every mode but email.
	Label func(scrape.UserSnapshot) (string, bool)
}

// New returns the handler of the status page. interval is the refresh
// interval (--scrape.interval): a user's next refresh is due one interval
// (or the longer effective interval, when the daily budget stretches it)
// after its last attempt.
func New(src Source, interval time.Duration, users Users) http.Handler {
	return &handler{src: src, interval: interval, users: users, now: time.Now}
}

type handler struct {
	src      Source
	interval time.Duration
	users    Users
	now      func() time.Time
}

// contentSecurityPolicy forbids everything but the page's own inline style
// sheet, named by its hash: no script, no image, no frame, no form.
var contentSecurityPolicy = "default-src 'none'; style-src 'sha256-" + styleHash() + "'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func styleHash() string {
	sum := sha256.Sum256([]byte(styleSheet))
	return base64.StdEncoding.EncodeToString(sum[:])
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", allowedMethods)
		http.Error(w, "Method not allowed: use GET or HEAD", http.StatusMethodNotAllowed)
		return
	}
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, h.view()); err != nil {
		// Only a bug in the template can get here; no half page is sent.
		log.Printf("statuspage: rendering: %v", err)
		http.Error(w, "Cannot render the status page", http.StatusInternalServerError)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Content-Length", strconv.Itoa(buf.Len()))
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("Content-Security-Policy", contentSecurityPolicy)
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}

// Outcomes of a user's last refresh, as shown and as CSS classes.
const (
	outcomeFailed  = "failed"
	outcomeNever   = "not yet refreshed"
	outcomeOK      = "ok"
	outcomeUnknown = "ok (restored)"
)

// page is everything the template shows, already formatted.
type page struct {
	Now               moment
	Up                bool
	Published         moment
	LastSuccess       moment
	RefreshDuration   string
	Interval          string
	EffectiveInterval string // "" unless the budget stretches the interval
	PendingUsers      int
	Month             string

	Users        []userRow
	UsersTracked int
	UsersFailing int
	UsersNever   int
	// UserLabel is the --collector.user-label mode the rows follow.
	UserLabel string
	// HideUsers: the metrics carry no user identity (user label none), so
	// no row is shown; Errors groups the failures instead.
	HideUsers bool
	Errors    []errorGroup

	// NextRefresh is when the next refresh cycle starts; OverdueUsers
	// have data older than OverdueAfter.
	NextRefresh  moment
	OverdueUsers int
	OverdueAfter string

	// The first failure, where the operator looks: the last token and API
	// failures of the Zoom client, with what to do.
	TokenFailure *failureView
	APIFailure   *failureView

	Budget budgetView
	Token  tokenView
	// Events are the Zoom event transports' cards; none without events.
	Events []eventView
	// Account are the account collectors' lines (account.go); none
	// without them.
	Account []collectorView
}

type failureView struct {
	When       moment
	Count      int
	Endpoint   string
	Status     int
	StatusText string
	Code       string
	Message    string
	TrackingID string
	Hint       string
}

// moment is a point in time, absolute (UTC) and relative to now.
type moment struct {
	Zero     bool
	UTC      string // 2026-11-24 20:31:20 UTC
	RFC3339  string // for <time datetime>
	Relative string // "3m ago", "in 42s"
}

type userRow struct {
	Name    string // the e-mail, or the user label the metrics carry instead
	Key     string // e-mail mode only, when it differs from the e-mail
	ID      string // e-mail mode only: Zoom user id, when it differs from Key
	Outcome string
	Class   string // CSS class of the outcome
	Last    moment // last successful refresh
	Attempt moment // last attempt
	Overdue moment // since when its data is overdue; zero when it is not
	Error   *errorView
}

type errorView struct {
	Text       string // the whole error, as logged
	Zoom       bool   // Zoom answered: the fields below are set
	Endpoint   string
	Status     int
	StatusText string
	Code       int
	Message    string
	TrackingID string
}

// errorGroup is one distinct failure and how many users have it, for the
// user label none, where no user may be named.
type errorGroup struct {
	Users   int
	Last    moment // latest attempt that failed so
	lastRaw time.Time
	Error   *errorView
}

type budgetView struct {
	Budget      int
	Used        int
	Remaining   int
	Percent     string
	ResetsAt    moment
	PausedUntil moment // zero when Heavy calls are not paused
}

type tokenView struct {
	Valid   bool
	Expired bool
	Expires moment
}

func (h *handler) view() page {
	now := h.now().UTC()
	snap := h.src.Snapshot()
	if snap == nil {
		snap = &scrape.Snapshot{}
	}
	mode := h.userMode()
	p := page{
		Now:             at(now, now),
		Up:              snap.Up,
		Published:       at(snap.Published, now),
		LastSuccess:     at(snap.LastSuccess, now),
		RefreshDuration: roundDuration(snap.RefreshDuration),
		Interval:        roundDuration(h.interval),
		PendingUsers:    snap.PendingUsers,
		UserLabel:       mode,
		HideUsers:       mode == labelNone,
	}
	if !snap.Month.IsZero() {
		p.Month = snap.Month.UTC().Format("January 2006")
	}
	if snap.EffectiveInterval > h.interval {
		p.EffectiveInterval = roundDuration(snap.EffectiveInterval)
	}
	p.NextRefresh = at(snap.NextRefresh, now)
	if snap.OverdueAfter > 0 {
		p.OverdueAfter = roundDuration(snap.OverdueAfter)
	}

	groups := make(map[string]*errorGroup)
	for _, u := range snap.Users {
		if u.Retired {
			continue // no longer tracked: only its counters are served
		}
		p.UsersTracked++
		row := userRow{
			Last:    at(u.LastRefresh, now),
			Attempt: at(u.LastAttempt, now),
			Overdue: at(u.OverdueSince, now),
		}
		// Errors quote the user ({userId}, Zoom's message): outside e-mail
		// mode they name the user as the row does, and no other e-mail.
		clean := func(s string) string { return s }
		switch mode {
		case labelEmail:
			row.Name = u.Email
			if u.Key != u.Email {
				row.Key = u.Key
			}
			if u.ID != "" && u.ID != u.Key {
				row.ID = u.ID
			}
		case labelNone:
			clean = func(s string) string { return redact(s, u, hiddenUser) }
		default:
			row.Name, _ = h.users.Label(u)
			clean = func(s string) string { return redact(s, u, row.Name) }
		}
		switch {
		case u.LastError != "":
			row.Outcome, row.Class = outcomeFailed, "failed"
			row.Error = errorOf(u, clean)
			p.UsersFailing++
		case u.LastRefresh.IsZero():
			row.Outcome, row.Class = outcomeNever, "never"
			p.UsersNever++
		case u.LastAttempt.IsZero():
			// Restored from the store; not attempted since the start.
			row.Outcome, row.Class = outcomeUnknown, "ok"
		default:
			row.Outcome, row.Class = outcomeOK, "ok"
		}
		if u.Overdue {
			p.OverdueUsers++
		}
		if !p.HideUsers {
			p.Users = append(p.Users, row)
			continue
		}
		if row.Error != nil {
			g := groups[row.Error.Text]
			if g == nil {
				g = &errorGroup{Error: row.Error}
				groups[row.Error.Text] = g
			}
			g.Users++
			if g.Last.Zero || u.LastAttempt.After(g.lastRaw) {
				g.Last, g.lastRaw = row.Attempt, u.LastAttempt
			}
		}
	}
	// Failing users first, then those never refreshed, then the others;
	// by name, then key, within each group.
	rank := map[string]int{"failed": 0, "never": 1, "ok": 2}
	sort.SliceStable(p.Users, func(i, j int) bool {
		a, b := p.Users[i], p.Users[j]
		if rank[a.Class] != rank[b.Class] {
			return rank[a.Class] < rank[b.Class]
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Key < b.Key
	})
	for _, g := range groups {
		p.Errors = append(p.Errors, *g)
	}
	// The most widespread failure first.
	sort.Slice(p.Errors, func(i, j int) bool {
		a, b := p.Errors[i], p.Errors[j]
		if a.Users != b.Users {
			return a.Users > b.Users
		}
		return a.Error.Text < b.Error.Text
	})

	b := h.src.Budget()
	p.Budget = budgetView{
		Budget:      b.Budget,
		Used:        b.UsedToday,
		Remaining:   b.Remaining(),
		ResetsAt:    at(b.ResetsAt, now),
		PausedUntil: at(b.PausedUntil, now),
	}
	if b.Budget > 0 {
		p.Budget.Percent = strconv.FormatFloat(100*float64(b.UsedToday)/float64(b.Budget), 'f', 1, 64) + "%"
	}

	token, api := h.src.LastFailures()
	// Outside e-mail mode no e-mail may show: Zoom's messages quote them.
	hideEmails := func(s string) string { return s }
	if mode != labelEmail {
		hideEmails = func(s string) string { return emailPattern.ReplaceAllString(s, "[e-mail hidden]") }
	}
	p.TokenFailure = failureOf(token, now, hideEmails)
	p.APIFailure = failureOf(api, now, hideEmails)
	p.Account = accountViews(h.src, now, hideEmails)

	valid, expires := h.src.TokenState()
	p.Events = eventViews(h.src, now)
	p.Token = tokenView{Valid: valid, Expires: at(expires, now)}
	if valid && !expires.IsZero() && !now.Before(expires) {
		p.Token.Expired = true
	}
	return p
}

// User label modes, as collector names them (--collector.user-label).
const (
	labelEmail = "email"
	labelID    = "id"
	labelHash  = "hash"
	labelNone  = "none"
)

// hiddenUser stands for the user in errors shown with the user label none.
const hiddenUser = "[user]"

// userMode is the user label mode the page follows. A mode it cannot
// name users in (no Label function, a mode it does not know) hides them:
// the page must never show more than the metrics.
func (h *handler) userMode() string {
	switch h.users.Mode {
	case "", labelEmail:
		return labelEmail
	case labelID, labelHash:
		if h.users.Label != nil {
			return h.users.Mode
		}
	}
	return labelNone
}

// emailPattern finds what looks like an e-mail address in outside text.
var emailPattern = regexp.MustCompile(`[^\s@"'<>()\[\],;:]+@[^\s@"'<>()\[\],;:]+`)

// redact replaces, in s, the e-mail, key and Zoom id of u by name, and any
// other e-mail address by a placeholder: errors quote the {userId} sent to
// Zoom, and Zoom's messages may quote e-mails.
func redact(s string, u scrape.UserSnapshot, name string) string {
	ids := []string{u.Email, u.Key, u.ID}
	sort.Slice(ids, func(i, j int) bool { return len(ids[i]) > len(ids[j]) }) // an id inside another is replaced last
	for _, id := range ids {
		if id != "" && id != name {
			s = replaceWord(s, id, name)
		}
	}
	return emailPattern.ReplaceAllStringFunc(s, func(m string) string {
		if m == name {
			return m // the label itself is an e-mail (id mode, user without a Zoom id): /metrics shows it too
		}
		return "[e-mail hidden]"
	})
}

// replaceWord replaces old by new in s where old is not part of a longer
// word: a short key such as "me" must not eat into "message".
func replaceWord(s, old, new string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, old)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		end := i + len(old)
		if (i > 0 && isWordByte(s[i-1])) || (end < len(s) && isWordByte(s[end])) {
			b.WriteString(s[:i+1])
			s = s[i+1:]
			continue
		}
		b.WriteString(s[:i])
		b.WriteString(new)
		s = s[end:]
	}
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c >= 0x80
}

func failureOf(f *zoom.Failure, now time.Time, clean func(string) string) *failureView {
	if f == nil {
		return nil
	}
	return &failureView{
		When: at(f.When, now), Count: f.Count, Endpoint: clean(f.Endpoint), Status: f.Status, StatusText: http.StatusText(f.Status),
		Code: f.Code, Message: clean(f.Message), TrackingID: f.TrackingID, Hint: f.Hint,
	}
}

func errorOf(u scrape.UserSnapshot, clean func(string) string) *errorView {
	e := &errorView{Text: clean(u.LastError)}
	if z := u.LastZoomErr; z != nil {
		e.Zoom = true
		e.Endpoint, e.Status, e.Code, e.Message, e.TrackingID = z.Endpoint, z.Status, z.Code, clean(z.Message), z.TrackingID
		e.StatusText = http.StatusText(z.Status)
	}
	return e
}

func at(t, now time.Time) moment {
	if t.IsZero() {
		return moment{Zero: true}
	}
	t = t.UTC()
	m := moment{UTC: t.Format("2006-01-02 15:04:05 UTC"), RFC3339: t.Format(time.RFC3339)}
	switch d := now.Sub(t); {
	case d >= -time.Second && d <= time.Second:
		m.Relative = "now"
	case d > 0:
		m.Relative = roundDuration(d) + " ago"
	default:
		m.Relative = "in " + roundDuration(-d)
	}
	return m
}

// roundDuration writes d the way people read it: 3m12s, 2h5m, 4d3h, 850ms.
func roundDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	case d < 48*time.Hour:
		return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	}
	days := int(d / (24 * time.Hour))
	hours := int((d % (24 * time.Hour)).Round(time.Hour) / time.Hour)
	return fmt.Sprintf("%dd%dh", days, hours)
}

var pageTemplate = template.Must(template.New("status").Parse(pageHTML + eventsHTML + accountHTML))

// styleSheet is the page's only style; its hash is in the CSP header.
const styleSheet = `
:root { color-scheme: light dark; --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --muted: #57606a; --line: #d0d7de; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 1.5rem auto; max-width: 80rem; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin: 0 0 .25rem; }
h2 { font-size: 1.15rem; margin: 1.75rem 0 .5rem; }
.muted, small { color: var(--muted); }
.cards { display: flex; flex-wrap: wrap; gap: 1rem; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: .75rem 1rem; min-width: 16rem; flex: 1; }
.card h2 { margin-top: 0; }
.card dl { display: grid; grid-template-columns: max-content 1fr; gap: .2rem .75rem; margin: 0; }
.card dt { color: var(--muted); }
.card dd { margin: 0; }
.badge { display: inline-block; border-radius: 1rem; padding: 0 .6rem; font-weight: 600; color: #fff; white-space: nowrap; }
.badge.ok { background: var(--ok); } .badge.failed { background: var(--bad); } .badge.never { background: var(--warn); }
progress { width: 100%; height: .8rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: .4rem .5rem; border-bottom: 1px solid var(--line); }
th { position: sticky; top: 0; background: Canvas; }
tr.failed td:first-child { border-left: 4px solid var(--bad); }
tr.never td:first-child { border-left: 4px solid var(--warn); }
.err dl { display: grid; grid-template-columns: max-content 1fr; gap: 0 .5rem; margin: 0; }
.err dt { color: var(--muted); }
.err dd { margin: 0; }
code { font: 13px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; overflow-wrap: anywhere; }
details summary { cursor: pointer; color: var(--muted); }
`

const pageHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Zoom Exporter status</title>
<style>` + styleSheet + `</style>
</head>
<body>
<h1>Zoom Exporter status</h1>
<p class="muted">As of <time datetime="{{.Now.RFC3339}}">{{.Now.UTC}}</time>. Reload the page to update it. <a href="/">Home</a></p>

<div class="cards">
<section class="card" id="exporter">
<h2>Exporter</h2>
<dl>
<dt>Zoom</dt><dd>{{if .Up}}<span class="badge ok">up</span> the last refresh had no failure and every user's data is current{{else}}<span class="badge failed">down</span> {{if .Published.Zero}}the first refresh has not finished yet{{else}}the last refresh failed, or some users' data is overdue{{end}}{{if .TokenFailure}}: see the last failure below{{else if .APIFailure}}: see the last failure below{{end}}{{end}}</dd>
<dt>Last refresh</dt><dd>{{template "when" .Published}}{{if not .Published.Zero}}, took {{.RefreshDuration}}{{end}}</dd>
<dt>Last success</dt><dd>{{template "when" .LastSuccess}}</dd>
<dt>Interval</dt><dd>{{.Interval}}{{if .EffectiveInterval}} (stretched to {{.EffectiveInterval}} by the daily budget){{end}}</dd>
{{if .PendingUsers}}<dt>Waiting</dt><dd>{{.PendingUsers}} users need a refresh the budget has not allowed yet</dd>{{end}}
<dt>Next refresh</dt><dd id="next-refresh">{{template "when" .NextRefresh}}</dd>
<dt>Users</dt><dd>{{.UsersTracked}} tracked, {{.UsersFailing}} failing, {{.UsersNever}} not yet refreshed</dd>
<dt>Overdue</dt><dd id="overdue">{{if .OverdueUsers}}<strong>{{.OverdueUsers}}</strong> users have data older than {{.OverdueAfter}}{{else}}none{{if .OverdueAfter}} (data counts as overdue after {{.OverdueAfter}}){{end}}{{end}}</dd>
{{if .Month}}<dt>Month</dt><dd>{{.Month}}</dd>{{end}}
</dl>
</section>

{{if or .TokenFailure .APIFailure}}<section class="card" id="failures">
<h2>Last failure</h2>
{{with .TokenFailure}}<h3>Access token</h3>{{template "failure" .}}{{end}}
{{with .APIFailure}}<h3>Zoom API</h3>{{template "failure" .}}{{end}}
</section>
{{end}}
<section class="card" id="quota">
<h2>Daily Heavy-call budget</h2>
<dl>
<dt>Used today</dt><dd><span id="quota-used">{{.Budget.Used}}</span> of <span id="quota-budget">{{.Budget.Budget}}</span>{{if .Budget.Percent}} ({{.Budget.Percent}}){{end}}</dd>
<dt>Remaining</dt><dd id="quota-remaining">{{.Budget.Remaining}}</dd>
<dt>Resets</dt><dd>{{template "when" .Budget.ResetsAt}}</dd>
<dt>Paused</dt><dd>{{if .Budget.PausedUntil.Zero}}no{{else}}<strong>yes</strong>, Zoom's daily limit was reached: no Heavy call until {{template "when" .Budget.PausedUntil}}{{end}}</dd>
</dl>
{{if .Budget.Budget}}<progress value="{{.Budget.Used}}" max="{{.Budget.Budget}}">{{.Budget.Percent}}</progress>{{end}}
</section>

<section class="card" id="token">
<h2>Access token</h2>
<dl>
<dt>State</dt><dd id="token-state">{{if .Token.Expired}}<span class="badge failed">expired</span>{{else if .Token.Valid}}<span class="badge ok">valid</span>{{else}}<span class="badge never">none</span> a new one is requested by the next call{{end}}</dd>
{{if .Token.Valid}}<dt>Expires</dt><dd>{{template "when" .Token.Expires}}</dd>{{end}}
</dl>
<p class="muted">The token itself is never shown.</p>
</section>
{{template "events" .Events}}{{template "account" .Account}}</div>

<h2>Users</h2>
{{if .HideUsers}}
<p id="users-hidden">Users are not listed: <code>--collector.user-label=none</code> keeps user identities out of the metrics, so this page shows counts only.</p>
{{if .Errors}}
<table id="errors">
<thead><tr><th>Users</th><th>Last attempt</th><th>Last error</th></tr></thead>
<tbody>
{{range .Errors}}<tr class="failed">
<td>{{.Users}}</td>
<td>{{template "when" .Last}}</td>
<td>{{template "error" .Error}}</td>
</tr>
{{end}}</tbody>
</table>
{{end}}
{{else if .Users}}
{{if ne .UserLabel "email"}}<p class="muted" id="users-label">Users are named by their <code>user</code> label, as on <code>/metrics</code> (<code>--collector.user-label={{.UserLabel}}</code>); e-mail addresses are hidden.</p>{{end}}
<table id="users">
<thead><tr><th>User</th><th>Outcome</th><th>Last refresh</th><th>Last attempt</th><th>Overdue</th><th>Last error</th></tr></thead>
<tbody>
{{range .Users}}<tr class="{{.Class}}">
<td><strong>{{.Name}}</strong>{{if .Key}}<br><code>{{.Key}}</code>{{end}}{{if .ID}}<br><code>{{.ID}}</code>{{end}}</td>
<td><span class="badge {{.Class}}">{{.Outcome}}</span></td>
<td>{{template "when" .Last}}</td>
<td>{{template "when" .Attempt}}</td>
<td>{{if .Overdue.Zero}}<span class="muted">no</span>{{else}}<strong>since</strong> {{template "when" .Overdue}}{{end}}</td>
<td>{{with .Error}}{{template "error" .}}{{else}}<span class="muted">none</span>{{end}}</td>
</tr>
{{end}}</tbody>
</table>
{{else}}
<p>No user is tracked yet{{if .Published.Zero}}: the first refresh has not finished{{end}}.</p>
{{end}}
</body>
</html>
{{define "error"}}<div class="err">{{if .Zoom}}<dl>
<dt>HTTP</dt><dd>{{.Status}}{{if .StatusText}} {{.StatusText}}{{end}}</dd>
{{if .Code}}<dt>Zoom code</dt><dd>{{.Code}}</dd>{{end}}
{{if .Message}}<dt>Message</dt><dd>{{.Message}}</dd>{{end}}
{{if .TrackingID}}<dt>Tracking id</dt><dd><code>{{.TrackingID}}</code></dd>{{end}}
<dt>Endpoint</dt><dd><code>{{.Endpoint}}</code></dd>
</dl>
<details><summary>Full error</summary><code>{{.Text}}</code></details>{{else}}<code>{{.Text}}</code>{{end}}</div>{{end}}
{{define "failure"}}<div class="err"><dl>
<dt>When</dt><dd>{{template "when" .When}}{{if gt .Count 1}}, {{.Count}} times in a row{{end}}</dd>
<dt>HTTP</dt><dd>{{if .Status}}{{.Status}}{{if .StatusText}} {{.StatusText}}{{end}}{{else}}no answer{{end}}</dd>
{{if .Code}}<dt>Code</dt><dd>{{.Code}}</dd>{{end}}
{{if .Message}}<dt>Message</dt><dd>{{.Message}}</dd>{{end}}
{{if .TrackingID}}<dt>Tracking id</dt><dd><code>{{.TrackingID}}</code></dd>{{end}}
{{if .Endpoint}}<dt>Endpoint</dt><dd><code>{{.Endpoint}}</code></dd>{{end}}
</dl>{{if .Hint}}<p class="hint"><strong>What to do:</strong> {{.Hint}}</p>{{end}}</div>{{end}}
{{define "when"}}{{if .Zero}}<span class="muted">never</span>{{else}}<time datetime="{{.RFC3339}}">{{.UTC}}</time> <small>({{.Relative}})</small>{{end}}{{end}}`
