package zoomfake

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestDailyReport: GET /v2/report/daily lists the month's dates up to today,
// each with the account users' meetings that started that day (hosts
// report figures, summed) and the users created that day; Zoom's rules on
// the month apply.
func TestDailyReport(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{Users: 8, HeavyUserMeetings: 20})
	e.fake.AddUser(User{Email: "joined@example.com"}, testNow.Add(-2*time.Hour), time.Time{})
	tok := e.token()
	var rep dailyReport
	e.getJSON(tok, "/report/daily?year=2026&month=11", 200, &rep)
	if rep.Year != 2026 || rep.Month != 11 || len(rep.Dates) != testNow.Day() {
		t.Fatalf("report %d-%d with %d dates, want the 1st to the 24th", rep.Year, rep.Month, len(rep.Dates))
	}
	first := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	newUsers := 0
	for i, d := range rep.Dates {
		day := first.AddDate(0, 0, i)
		if d.Date != day.Format(time.DateOnly) {
			t.Fatalf("date %d is %s", i, d.Date)
		}
		var want HostTotals
		for _, u := range e.fake.AllUsers() {
			h := e.fake.HostTotals(u.ID, day, day)
			want.Meetings += h.Meetings
			want.Participants += h.Participants
			want.MeetingMinutes += h.MeetingMinutes
		}
		if d.Meetings != want.Meetings || d.Participants != want.Participants || d.MeetingMinutes != want.MeetingMinutes {
			t.Errorf("%s: %+v, want the hosts report's %+v", d.Date, d, want)
		}
		newUsers += d.NewUsers
	}
	if last := rep.Dates[len(rep.Dates)-1]; last.NewUsers != 1 || newUsers != 1 {
		t.Errorf("new users: %d today, %d in the month; want the one created today", last.NewUsers, newUsers)
	}
	var def dailyReport
	e.getJSON(tok, "/report/daily", 200, &def)
	if def.Year != 2026 || def.Month != 11 || len(def.Dates) != len(rep.Dates) {
		t.Errorf("without year and month: %d-%d, %d dates; want the current month", def.Year, def.Month, len(def.Dates))
	}
	var prev dailyReport
	e.getJSON(tok, "/report/daily?year=2026&month=10", 200, &prev)
	if len(prev.Dates) != 31 {
		t.Errorf("October: %d dates, want 31", len(prev.Dates))
	}
	for _, q := range []string{"year=2026&month=4", "year=2026&month=12", "year=2027&month=1"} {
		e.wantError(tok, "/report/daily?"+q, 400, 300, "within the recent 6 months")
	}
	e.wantError(tok, "/report/daily?year=2026&month=13", 400, 300, "month")
	e.wantError(tok, "/report/daily?year=twenty&month=1", 400, 300, "year")
}

// TestCloudRecordingReport: GET /v2/report/cloud_recording lists one row
// per date up to yesterday, the storage growing with the recorded meetings,
// written in Zoom's units; its date rules; and what a test sets instead.
func TestCloudRecordingReport(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{Users: 10, HeavyUserMeetings: 20})
	tok := e.token()
	var rep cloudRecordingReport
	e.getJSON(tok, "/report/cloud_recording?from=2026-11-01&to=2026-11-30", 200, &rep)
	if len(rep.Storage) != 23 || rep.Storage[22].Date != "2026-11-23" {
		t.Fatalf("%d rows, last %+v: want the 1st to yesterday (the 23rd)", len(rep.Storage), rep.Storage[len(rep.Storage)-1])
	}
	var used int64
	for _, r := range rep.Storage {
		day, _ := time.Parse(time.DateOnly, r.Date)
		truth := e.fake.CloudRecordingStorage(day)
		if r.Usage != truth.Usage || r.PlanUsage != truth.Plan || r.FreeUsage != truth.Free {
			t.Errorf("%s: %+v, want %+v", r.Date, r, truth)
		}
		if truth.UsedBytes < used {
			t.Errorf("%s: storage shrank to %d from %d", r.Date, truth.UsedBytes, used)
		}
		used = truth.UsedBytes
		if r.PlanUsage != "0" || !strings.HasSuffix(r.FreeUsage, " GB") {
			t.Errorf("%s: plan %q, free %q: want no paid storage and 5 GB a licence", r.Date, r.PlanUsage, r.FreeUsage)
		}
	}
	var none cloudRecordingReport
	e.getJSON(tok, "/report/cloud_recording?from=2026-11-24&to=2026-11-24", 200, &none)
	if len(none.Storage) != 0 {
		t.Errorf("today listed: %+v", none.Storage)
	}
	e.wantError(tok, "/report/cloud_recording?from=2026-10-01&to=2026-11-05", 400, 300, "30 days")
	e.wantError(tok, "/report/cloud_recording?from=2026-05-01&to=2026-05-02", 400, 300, "6 months")
	e.wantError(tok, "/report/cloud_recording?from=2026-11-01", 400, 300, "to")
	e.wantError(tok, "/report/cloud_recording?from=2026-11-05&to=2026-11-01", 400, 300, "before")

	e.fake.SetCloudRecordingStorage(func(d time.Time) (string, string, string) { return "1.5 GB", "3 TB", "Unlimited" })
	e.getJSON(tok, "/report/cloud_recording?from=2026-11-20&to=2026-11-20", 200, &rep)
	if len(rep.Storage) != 1 || rep.Storage[0] != (cloudStorageRow{Date: "2026-11-20", Usage: "1.5 GB", PlanUsage: "3 TB", FreeUsage: "Unlimited"}) {
		t.Errorf("overridden: %+v", rep.Storage)
	}
	if !e.fake.CloudRecordingStorage(testNow).Overridden {
		t.Error("the ground truth does not say its figures were set by the test")
	}
}

// TestZoomSize: sizes as the fake writes them, and the bytes they stand for.
func TestZoomSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		bytes int64
		text  string
		means int64
	}{
		{0, "0 MB", 0},
		{3 << 20, "3 MB", 3 << 20},
		{3<<20 + 5, "3 MB", 3 << 20},
		{1023 << 20, "1023 MB", 1023 << 20},
		{1 << 30, "1 GB", 1 << 30},
		{3 << 29, "1.5 GB", 3 << 29},
		{1500 << 20, "1.46 GB", (146<<30 + 50) / 100},
		{100 << 30, "100 GB", 100 << 30},
	}
	for _, tt := range tests {
		text, means := zoomSize(tt.bytes)
		if text != tt.text || means != tt.means {
			t.Errorf("zoomSize(%d) = %q, %d; want %q, %d", tt.bytes, text, means, tt.text, tt.means)
		}
	}
}

// TestAccountScopes: the account reports need report:read:admin or their
// own granular scope, and answer 4711 naming the classic one without.
func TestAccountScopes(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ path, granular string }{
		{"/report/daily", "report:read:daily_usage:admin"},
		{"/report/cloud_recording?from=2026-11-20&to=2026-11-20", "report:read:cloud_recording:admin"},
	} {
		e := newEnv(t, Options{Users: 3, HeavyUserMeetings: 10})
		tok := e.token()
		e.fake.SetScopes([]string{"report:read:user:admin", "user:read:admin"})
		e.wantError(tok, tt.path, 400, 4711, "does not contain scopes:[report:read:admin]")
		e.fake.SetScopes([]string{tt.granular})
		e.getJSON(tok, tt.path, 200, nil)
		if got := e.fake.CallCount("GET /v2" + strings.SplitN(tt.path, "?", 2)[0]); got != 2 {
			t.Errorf("%s: %d calls counted", tt.path, got)
		}
	}
}

// TestAddUserAndPendingUsers: an added user is listed with its status, after
// the others of that status; pending users come without an id, as Zoom
// sends them; UserDetails tells when each was created and signed in.
func TestAddUserAndPendingUsers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{Users: 3, HeavyUserMeetings: 10})
	created, login := testNow.Add(-48*time.Hour), testNow.Add(-time.Hour)
	added := e.fake.AddUser(User{Email: "late@example.com", Type: 1}, created, login)
	invited := e.fake.AddUser(User{Email: "invited@example.com", Status: "pending"}, created, time.Time{})
	tok := e.token()
	for status, want := range map[string][]string{
		"active":  {"user01@example.com", "user02@example.com", "user03@example.com", "late@example.com"},
		"pending": {"user06@example.com", "invited@example.com"},
	} {
		var p usersPage
		e.getJSON(tok, "/users?status="+status, 200, &p)
		var got []string
		for _, u := range p.Users {
			got = append(got, u.Email)
			if (status == "pending") != (u.ID == "") {
				t.Errorf("%s user %s: id %q", status, u.Email, u.ID)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s users %v, want %v", status, got, want)
		}
	}
	if c, l, ok := e.fake.UserDetails(added.ID); !ok || !c.Equal(created) || !l.Equal(login) || added.Type != 1 || added.Status != "active" {
		t.Errorf("added %+v: created %v, last login %v, %v", added, c, l, ok)
	}
	if _, l, ok := e.fake.UserDetails("invited@example.com"); !ok || !l.IsZero() || invited.ID == "" {
		t.Errorf("invited %+v: last login %v, %v; want never, and an id for the ground truth", invited, l, ok)
	}
}
