package zoomfake

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

func uuids[T any](list []T, key func(T) string) []string {
	out := make([]string, 0, len(list))
	for _, m := range list {
		out = append(out, key(m))
	}
	return out
}

func reportUUID(m reportMeeting) string { return m.UUID }
func truthUUID(m Meeting) string        { return m.UUID }

func TestReportPagingHeavyUser(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token()
	u := e.fake.Users()[0]
	q := monthQuery("2026-11-01", "2026-11-24", "page_size", "300")
	got, pages := e.listAll(tok, u.ID, q)
	want := e.fake.Meetings(u.ID, day("2026-11-01"), day("2026-11-24"), "past")
	if len(want) != DefaultHeavyUserMeetings {
		t.Fatalf("ground truth has %d meetings, want %d", len(want), DefaultHeavyUserMeetings)
	}
	if len(pages) < 3 {
		t.Fatalf("%d pages, want 3+", len(pages))
	}
	if !slices.Equal(uuids(got, reportUUID), uuids(want, truthUUID)) {
		t.Fatal("paged uuids differ from Meetings()")
	}
	for i, p := range pages {
		if p.TotalRecords != len(want) || p.PageCount != 3 || p.PageSize != 300 || p.From != "2026-11-01" || p.To != "2026-11-24" {
			t.Errorf("page %d header: %+v", i, p)
		}
		if last := i == len(pages)-1; (p.NextPageToken == "") != last {
			t.Errorf("page %d: next_page_token %q", i, p.NextPageToken)
		}
	}
	// stable order: start_time, then uuid
	for i := 1; i < len(got); i++ {
		a, b := got[i-1], got[i]
		if a.StartTime > b.StartTime || (a.StartTime == b.StartTime && a.UUID > b.UUID) {
			t.Fatalf("order broken at %d", i)
		}
	}
	// every field of a meeting, against the ground truth
	m, w := got[0], want[0]
	if m.ID != w.ID || m.Type != w.Type || m.Topic != w.Topic || m.StartTime != w.Start.Format(time.RFC3339) ||
		m.EndTime != w.End.Format(time.RFC3339) || m.Duration != w.DurationMinutes || m.TotalMinutes != w.TotalMinutes ||
		m.ParticipantsCount != w.Participants || m.ParticipantsCountMyAccount != w.ParticipantsMyAccount ||
		m.HasRecording != w.HasRecording || m.HasScreenShare != w.HasScreenShare || m.HasChat != w.HasChat ||
		m.UserEmail != u.Email || m.UserName != u.DisplayName || m.HostName != u.DisplayName || m.HostOrganization != AccountName ||
		m.Source == "" || (m.MeetingEncryptionStatus != 1 && m.MeetingEncryptionStatus != 2) || m.CustomKeys == nil {
		t.Errorf("meeting fields: %+v vs %+v", m, w)
	}
	if _, err := time.Parse("01/02/2006 15:04", m.JoinTime); err != nil {
		t.Errorf("join_time %q: %v", m.JoinTime, err)
	}
}

func TestPageSizeDefaultAndCap(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token()
	u := e.fake.Users()[0]
	for _, tc := range []struct{ pageSize, want string }{{"", "30"}, {"1000", "300"}, {"50", "50"}, {"-3", "30"}, {"abc", "30"}} {
		q := monthQuery("2026-11-01", "2026-11-24")
		if tc.pageSize != "" {
			q.Set("page_size", tc.pageSize)
		}
		var p meetingsPage
		e.getJSON(tok, meetingsPath(u.ID, q), 200, &p)
		if want := tc.want; len(p.Meetings) != atoi(want) || p.PageSize != atoi(want) {
			t.Errorf("page_size %q: got %d meetings, page_size %d; want %s", tc.pageSize, len(p.Meetings), p.PageSize, want)
		}
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

func TestPageTokenBoundToQueryAndExpiring(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token()
	users := e.fake.Users()
	u := users[0]
	q := monthQuery("2026-11-01", "2026-11-24", "page_size", "300")
	var first meetingsPage
	e.getJSON(tok, meetingsPath(u.ID, q), 200, &first)
	if first.NextPageToken == "" {
		t.Fatal("no next_page_token")
	}
	next := cloneValues(q)
	next.Set("next_page_token", first.NextPageToken)

	const invalid = "The next page token is invalid or expired."
	changed := []struct {
		name, user, key, value string
	}{
		{"other to", u.ID, "to", "2026-11-23"},
		{"other from", u.ID, "from", "2026-11-02"},
		{"other type", u.ID, "type", "pastJoined"},
		{"other page_size", u.ID, "page_size", "100"},
		{"other user", users[1].ID, "", ""},
	}
	for _, c := range changed {
		q2 := cloneValues(next)
		if c.key != "" {
			q2.Set(c.key, c.value)
		}
		t.Run(c.name, func(t *testing.T) { e.wantError(tok, meetingsPath(c.user, q2), 400, 300, invalid) })
	}
	// same query, by id or e-mail, works, and more than once (retries)
	var second meetingsPage
	e.getJSON(tok, meetingsPath(u.ID, next), 200, &second)
	e.getJSON(tok, meetingsPath(u.Email, next), 200, &second)
	if second.Meetings[0].UUID == first.Meetings[0].UUID {
		t.Error("second page repeats the first")
	}
	// explicit type=past equals the default
	q3 := cloneValues(next)
	q3.Set("type", "past")
	e.getJSON(tok, meetingsPath(u.ID, q3), 200, nil)

	e.clock.Advance(DefaultPageTokenTTL - time.Second)
	e.getJSON(tok, meetingsPath(u.ID, next), 200, nil)
	e.clock.Advance(time.Second)
	e.wantError(tok, meetingsPath(u.ID, next), 400, 300, invalid)
	e.wantError(tok, meetingsPath(u.ID, monthQuery("2026-11-01", "2026-11-24", "next_page_token", "forged")), 400, 300, invalid)
}

func TestReportTypes(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token()
	from, to := "2026-10-01", "2026-10-31"
	sawJoinedOnly := false
	for _, u := range e.fake.Users() {
		byType := map[string][]Meeting{}
		for _, typ := range []string{"past", "pastOne", "pastJoined"} {
			want := e.fake.Meetings(u.ID, day(from), day(to), typ)
			got, _ := e.listAll(tok, u.ID, monthQuery(from, to, "type", typ, "page_size", "300"))
			if !slices.Equal(uuids(got, reportUUID), uuids(want, truthUUID)) {
				t.Fatalf("%s %s: HTTP and Meetings() differ", u.Email, typ)
			}
			for _, g := range got {
				if g.UserEmail != u.Email {
					t.Fatalf("user_email %q for %s", g.UserEmail, u.Email)
				}
			}
			byType[typ] = want
		}
		for _, m := range byType["past"] {
			if m.HostID != u.ID || m.Participants < 2 {
				t.Errorf("past: %+v", m)
			}
		}
		for _, m := range byType["pastOne"] {
			if m.HostID != u.ID || m.Participants != 1 {
				t.Errorf("pastOne: %+v", m)
			}
		}
		hosted := 0
		for _, m := range byType["pastJoined"] {
			switch {
			case m.HostID == u.ID:
				hosted++
			case slices.Contains(m.Joined, u.ID):
				sawJoinedOnly = true
			default:
				t.Errorf("pastJoined lists a meeting %s neither hosted nor joined", m.UUID)
			}
		}
		if hosted != len(byType["past"])+len(byType["pastOne"]) {
			t.Errorf("%s: pastJoined has %d hosted, past+pastOne %d", u.Email, hosted, len(byType["past"])+len(byType["pastOne"]))
		}
	}
	if !sawJoinedOnly {
		t.Error("no meeting joined but not hosted")
	}
	u := e.fake.Users()[0]
	e.wantError(tok, meetingsPath(u.ID, monthQuery(from, to, "type", "future")), 400, 300, "type")
}

func TestDateRules(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token()
	u := e.fake.Users()[1]
	tests := []struct {
		name     string
		q        url.Values
		ok       bool
		contains string
	}{
		{"missing from", url.Values{"to": {"2026-11-10"}}, false, "from"},
		{"missing to", url.Values{"from": {"2026-11-01"}}, false, "to"},
		{"bad format", monthQuery("2026/11/01", "2026-11-10"), false, "yyyy-mm-dd"},
		{"impossible date", monthQuery("2026-11-01", "2026-11-31"), false, "yyyy-mm-dd"},
		{"to before from", monthQuery("2026-11-10", "2026-11-01"), false, "before"},
		{"over one month", monthQuery("2026-10-01", "2026-11-01"), false, "one month"},
		{"two months", monthQuery("2026-09-01", "2026-10-31"), false, "one month"},
		{"older than six months", monthQuery("2026-05-01", "2026-05-31"), false, "six months"},
		{"six months to the day", monthQuery("2026-05-24", "2026-06-23"), true, ""},
		{"whole month", monthQuery("2026-10-01", "2026-10-31"), true, ""},
		{"1st to today", monthQuery("2026-11-01", "2026-11-24"), true, ""},
		{"to in the future", monthQuery("2026-11-01", "2026-11-30"), true, ""},
		{"mid-month window", monthQuery("2026-10-15", "2026-11-14"), true, ""},
		{"june", monthQuery("2026-06-01", "2026-06-30"), true, ""},
		{"single day", monthQuery("2026-11-03", "2026-11-03"), true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			paths := []string{meetingsPath(u.ID, tc.q), "/report/users?" + tc.q.Encode()}
			for _, p := range paths {
				if tc.ok {
					e.getJSON(tok, p, 200, nil)
				} else {
					e.wantError(tok, p, 400, 300, tc.contains)
				}
			}
		})
	}
}

func TestUserIDForms(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token()
	u := e.fake.Users()[0]
	q := monthQuery("2026-11-01", "2026-11-24", "page_size", "300")

	e.wantError(tok, meetingsPath("me", q), 400, 200, "me")
	e.wantError(tok, meetingsPath("nobody@example.com", q), 404, 1001, "User nobody@example.com not exist or not belong to this account.")
	e.wantError(tok, meetingsPath("AAAAAAAAAAAAAAAAAAAAAA", q), 404, 1001, "User AAAAAAAAAAAAAAAAAAAAAA not exist")

	byID, _ := e.listAll(tok, u.ID, q)
	// e-mail, escaped (%40) and raw, and in another case
	for _, path := range []string{
		meetingsPath(u.Email, q),
		"/report/users/" + u.Email + "/meetings?" + q.Encode(),
		"/report/users/" + strings.ToUpper(u.Email) + "/meetings?" + q.Encode(),
	} {
		var p meetingsPage
		e.getJSON(tok, path, 200, &p)
		if p.TotalRecords != len(byID) {
			t.Errorf("%s: %d records, by id %d", path, p.TotalRecords, len(byID))
		}
	}
	if e.fake.UserReportCalls(u.Email) < 6 {
		t.Errorf("UserReportCalls = %d", e.fake.UserReportCalls(u.Email))
	}

	// uuids with '/' and '+' survive JSON and match the ground truth
	truth := map[string]Meeting{}
	for _, m := range e.fake.Meetings(u.ID, day("2026-11-01"), day("2026-11-24"), "past") {
		truth[m.UUID] = m
	}
	slashes := 0
	for _, m := range byID {
		if strings.Contains(m.UUID, "/") {
			slashes++
			if _, ok := truth[m.UUID]; !ok {
				t.Errorf("uuid %q not in ground truth", m.UUID)
			}
		}
	}
	if slashes == 0 {
		t.Error("no uuid with '/'")
	}
}

func TestHostsReport(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token()
	from, to := day("2026-11-01"), day("2026-11-24")
	q := monthQuery("2026-11-01", "2026-11-24", "page_size", "10")
	var rows []hostRow
	var totals hostsPage
	for i := 0; ; i++ {
		var p hostsPage
		e.getJSON(tok, "/report/users?"+q.Encode(), 200, &p)
		if i == 0 {
			totals = p
		}
		rows = append(rows, p.Users...)
		if p.NextPageToken == "" {
			break
		}
		q.Set("next_page_token", p.NextPageToken)
	}
	if len(rows) != totals.TotalRecords || len(rows) == 0 {
		t.Fatalf("%d rows, total_records %d", len(rows), totals.TotalRecords)
	}
	var sumM, sumP, sumMin int
	listed := map[string]bool{}
	for _, r := range rows {
		listed[r.ID] = true
		hosted := append(e.fake.Meetings(r.ID, from, to, "past"), e.fake.Meetings(r.ID, from, to, "pastOne")...)
		var p, mins int
		for _, m := range hosted {
			p += m.Participants
			mins += m.DurationMinutes
		}
		if r.Meetings != len(hosted) || r.Participants != p || r.MeetingMinutes != mins || r.Meetings == 0 {
			t.Errorf("%s: row %+v, truth %d meetings %d participants %d minutes", r.Email, r, len(hosted), p, mins)
		}
		if ht := e.fake.HostTotals(r.Email, from, to); ht != (HostTotals{r.Meetings, r.Participants, r.MeetingMinutes}) {
			t.Errorf("HostTotals %+v vs row %+v", ht, r)
		}
		sumM, sumP, sumMin = sumM+r.Meetings, sumP+r.Participants, sumMin+r.MeetingMinutes
	}
	if totals.TotalMeetings != sumM || totals.TotalParticipants != sumP || totals.TotalMeetingMinutes != sumMin {
		t.Errorf("totals %+v vs sums %d %d %d", totals, sumM, sumP, sumMin)
	}

	var inactive hostsPage
	e.getJSON(tok, "/report/users?"+monthQuery("2026-11-01", "2026-11-24", "type", "inactive", "page_size", "300").Encode(), 200, &inactive)
	if len(inactive.Users) == 0 {
		t.Fatal("no inactive hosts this month")
	}
	for _, r := range inactive.Users {
		if listed[r.ID] || r.Meetings != 0 {
			t.Errorf("inactive row %+v", r)
		}
	}
	if len(inactive.Users)+len(rows) != len(e.fake.Users()) {
		t.Errorf("active %d + inactive %d != %d users", len(rows), len(inactive.Users), len(e.fake.Users()))
	}
	e.wantError(tok, "/report/users?"+monthQuery("2026-11-01", "2026-11-24", "type", "all").Encode(), 400, 300, "type")
}

func TestMutations(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token()
	users := e.fake.Users()
	host, guest := users[1], users[2]
	q := monthQuery("2026-11-01", "2026-11-24", "page_size", "300")
	count := func(user, typ string) int {
		qq := cloneValues(q)
		qq.Set("type", typ)
		var p meetingsPage
		e.getJSON(tok, meetingsPath(user, qq), 200, &p)
		return p.TotalRecords
	}
	before, beforeJoined := count(host.ID, "past"), count(guest.ID, "pastJoined")
	start := testNow.Add(-2 * time.Hour)
	e.fake.AddMeeting(Meeting{UUID: "new/meeting+uuid==", Start: start, DurationMinutes: 30, Participants: 4,
		HostID: host.Email, Joined: []string{guest.ID}})
	if count(host.ID, "past") != before+1 || count(guest.ID, "pastJoined") != beforeJoined+1 {
		t.Fatal("added meeting not in the reports")
	}
	m, ok := e.fake.MeetingByUUID("new/meeting+uuid==")
	if !ok || m.HostID != host.ID || !m.End.Equal(start.Add(30*time.Minute)) || m.TotalMinutes != 120 || m.ParticipantsMyAccount != 2 || m.ID <= 1<<32 {
		t.Fatalf("normalised meeting %+v", m)
	}

	if !e.fake.UpdateMeeting("new/meeting+uuid==", func(m *Meeting) { m.Participants, m.TotalMinutes = 9, 250 }) {
		t.Fatal("UpdateMeeting: not found")
	}
	var p meetingsPage
	e.getJSON(tok, meetingsPath(host.ID, q), 200, &p)
	found := false
	for _, rm := range p.Meetings {
		if rm.UUID == "new/meeting+uuid==" {
			found = rm.ParticipantsCount == 9 && rm.TotalMinutes == 250
		}
	}
	if !found {
		t.Error("update not visible")
	}
	if e.fake.UpdateMeeting("no-such-uuid", func(*Meeting) {}) {
		t.Error("UpdateMeeting of unknown uuid")
	}

	later := testNow.Add(time.Hour)
	added := e.fake.AddRandomMeetings(later, 20)
	if len(added) != 20 {
		t.Fatalf("AddRandomMeetings: %d", len(added))
	}
	for _, m := range added {
		if m.End.After(later) || !m.End.After(m.Start) {
			t.Errorf("random meeting %+v ends after now", m)
		}
		if _, ok := e.fake.MeetingByUUID(m.UUID); !ok {
			t.Error("random meeting not stored")
		}
	}
}

func TestReportErrorsAndOddInput(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token()
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/report/users//meetings", 404},
		{"/report/users/a%2Fb/meetings?from=2026-11-01&to=2026-11-02", 404},
		{"/report/users/x/meetings/extra", 404},
		{"/nothing", 404},
		{"/report/users?from=9999-99-99&to=2026-11-01", 400},
		{"/report/users?from=2026-11-01&to=2026-11-02&page_size=99999999999999999999", 200},
		{"/users?page_size=%00", 200},
		{"/users?next_page_token=%FF%FE", 400},
	} {
		resp, body := e.get(tok, tc.path)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %d %s", tc.path, resp.StatusCode, body)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/v2/users", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	if resp, _ := e.do(req); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /v2/users: %d", resp.StatusCode)
	}
	// a path net/http itself would refuse, handed straight to the handler
	rec := httptest.NewRecorder()
	bad := &http.Request{Method: http.MethodGet, Header: http.Header{"Authorization": {"Bearer " + tok}},
		URL: &url.URL{Path: "/v2/report/users/%ZZ/meetings", RawPath: "/v2/report/users/%ZZ/meetings", RawQuery: "from=2026-11-01&to=2026-11-02"}}
	e.fake.ServeHTTP(rec, bad.WithContext(context.Background()))
	if rec.Code != 404 || rec.Header().Get("x-zm-trackingid") == "" {
		t.Errorf("%%ZZ: %d %s", rec.Code, rec.Body)
	}
	resp, _ := e.do(mustRequest(t, http.MethodGet, e.srv.URL+"/elsewhere"))
	if resp.StatusCode != 404 {
		t.Errorf("/elsewhere: %d", resp.StatusCode)
	}
}

func mustRequest(t *testing.T, method, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}
