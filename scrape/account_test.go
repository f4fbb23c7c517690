package scrape

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zoomexporter/zoom_exporter/internal/testenv"
	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
	"github.com/zoomexporter/zoom_exporter/zoom"
)

// allAccount turns every account collector on, as shard 0.
func allAccount(c *ScraperConfig) {
	c.Interval = 5 * time.Minute
	c.Account = AccountConfig{Licenses: true, CloudRecording: true, Daily: true, AccountWide: true}
}

// licenseTruth counts the fake's users by license and status.
func licenseTruth(fake *zoomfake.Server) []LicenseCount {
	type key struct{ license, status string }
	n := map[key]int{}
	for _, u := range fake.AllUsers() {
		n[key{LicenseName(u.Type), u.Status}]++
	}
	var out []LicenseCount
	for k, v := range n {
		out = append(out, LicenseCount{License: k.license, Status: k.status, Users: v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].License != out[j].License {
			return out[i].License < out[j].License
		}
		return out[i].Status < out[j].Status
	})
	return out
}

// dayTruth is the fake's daily report row of day, nil when it lists none.
func dayTruth(fake *zoomfake.Server, day time.Time) *DayFigures {
	for _, r := range fake.DailyUsage(day.Year(), day.Month()) {
		if r.Date.Equal(day) {
			return &DayFigures{NewUsers: int64(r.NewUsers), Meetings: int64(r.Meetings), Participants: int64(r.Participants), MeetingMinutes: int64(r.MeetingMinutes)}
		}
	}
	return nil
}

func monthTruth(fake *zoomfake.Server, month time.Time) DayFigures {
	var sum DayFigures
	for _, r := range fake.DailyUsage(month.Year(), month.Month()) {
		sum.add(DayFigures{NewUsers: int64(r.NewUsers), Meetings: int64(r.Meetings), Participants: int64(r.Participants), MeetingMinutes: int64(r.MeetingMinutes)})
	}
	return sum
}

func sameDay(t *testing.T, what string, got, want *DayFigures) {
	t.Helper()
	switch {
	case (got == nil) != (want == nil):
		t.Errorf("%s = %v, want %v", what, got, want)
	case got != nil && *got != *want:
		t.Errorf("%s = %+v, want %+v", what, *got, *want)
	}
}

// collectorStatus is the state of a collector as /status reads it, checked
// against what the snapshot says of it (zoom_collector_up).
func collectorStatus(t *testing.T, s *Scraper, name string) CollectorStatus {
	t.Helper()
	snap := s.Snapshot()
	if snap.Account == nil {
		t.Fatal("no account snapshot")
	}
	for _, c := range s.AccountCollectors() {
		if c.Name == name {
			if !slices.Contains(snap.Account.Collectors, CollectorUp{Name: name, Up: c.Up}) {
				t.Errorf("collector %s: the snapshot says %+v, /status %+v", name, snap.Account.Collectors, c)
			}
			return c
		}
	}
	t.Fatalf("collector %s not in %+v", name, s.AccountCollectors())
	return CollectorStatus{}
}

// TestAccountCollectorsMatchTruth: at the instants where dates are tricky,
// one refresh serves exactly what the fake's account holds: users by license
// and status, each tracked user's last sign-in, the storage of yesterday's
// row, the month to date, today and yesterday; and asks the daily report
// for the previous month only on the 1st within the grace period.
func TestAccountCollectorsMatchTruth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		now        time.Time
		grace      time.Duration
		wantMonths int  // daily reports asked for
		noYest     bool // yesterday cannot be known
	}{
		{"mid-month", time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC), 48 * time.Hour, 1, false},
		{"the 1st at 00:05, in the grace period", time.Date(2026, 12, 1, 0, 5, 0, 0, time.UTC), 48 * time.Hour, 2, false},
		{"the 1st at 13:00", time.Date(2026, 12, 1, 13, 0, 0, 0, time.UTC), 48 * time.Hour, 2, false},
		{"the 1st without a grace period", time.Date(2026, 12, 1, 0, 5, 0, 0, time.UTC), 0, 1, true},
		{"the 2nd: yesterday is this month's", time.Date(2026, 12, 2, 0, 30, 0, 0, time.UTC), 48 * time.Hour, 1, false},
		{"new year's day", time.Date(2027, 1, 1, 0, 5, 0, 0, time.UTC), 48 * time.Hour, 2, false},
		{"after the leap day", time.Date(2028, 3, 1, 9, 0, 0, 0, time.UTC), 48 * time.Hour, 2, false},
		{"the 31st at 23:59:50", time.Date(2026, 12, 31, 23, 59, 50, 0, time.UTC), 48 * time.Hour, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := testenv.NewClock(tt.now)
			fake := zoomfake.New(zoomfake.Options{Seed: 14, Users: 12, HeavyUserMeetings: 40, Now: clock.Now})
			// A user created today, so that new_users is not always 0.
			fake.AddUser(zoomfake.User{Email: "new@example.com", Type: 1}, tt.now.Add(-time.Minute), tt.now.Add(-time.Minute))
			env := newTestEnvFor(t, fake, newFakeServer(t, fake), clock, nil)
			s := newTestScraper(t, env, func(c *ScraperConfig) { allAccount(c); c.GracePeriod = tt.grace })
			s.Refresh(context.Background())
			snap := s.Snapshot()
			if !snap.Up {
				t.Errorf("zoom_up false: %+v", snap.Users)
			}
			for _, c := range s.AccountCollectors() {
				if !c.Up || c.State != CollectorOK {
					t.Errorf("collector %s: up %v, state %s, error %q", c.Name, c.Up, c.State, c.LastError)
				}
			}

			if got, want := snap.Account.Licenses, licenseTruth(fake); !reflect.DeepEqual(got, want) {
				t.Errorf("licenses = %+v, want %+v", got, want)
			}
			logins := 0
			for _, u := range snap.Users {
				_, want, _ := fake.UserDetails(u.ID)
				if !u.LastLogin.Equal(want) {
					t.Errorf("user %s: last login %v, want %v", u.Email, u.LastLogin, want)
				}
				if !u.LastLogin.IsZero() {
					logins++
				}
			}
			if logins != len(fake.Users()) {
				t.Errorf("%d users with a last sign-in, want every active user (%d)", logins, len(fake.Users()))
			}

			today := time.Date(tt.now.Year(), tt.now.Month(), tt.now.Day(), 0, 0, 0, 0, time.UTC)
			yesterday := today.AddDate(0, 0, -1)
			want := fake.CloudRecordingStorage(yesterday)
			st := snap.Account.Storage
			if st == nil {
				t.Fatal("no storage")
			}
			for _, f := range []struct {
				name string
				got  StorageFigure
				want int64
			}{{"used", st.Used, want.UsedBytes}, {"plan", st.Plan, want.PlanBytes}, {"free", st.Free, want.FreeBytes}} {
				if !f.got.Known || f.got.Bytes != float64(f.want) || !f.got.Date.Equal(yesterday) {
					t.Errorf("storage %s = %+v, want %d bytes of %s (%q %q %q)", f.name, f.got, f.want, yesterday.Format(time.DateOnly), want.Usage, want.Plan, want.Free)
				}
			}

			d := snap.Account.Daily
			if d == nil || d.MonthToDate == nil {
				t.Fatalf("daily = %+v", d)
			}
			if m := monthTruth(fake, today); *d.MonthToDate != m {
				t.Errorf("month to date = %+v, want %+v", *d.MonthToDate, m)
			}
			if d.MonthToDate.NewUsers < 1 {
				t.Errorf("month to date counts %d new users; one was created today", d.MonthToDate.NewUsers)
			}
			sameDay(t, "today", d.Today, dayTruth(fake, today))
			wantYesterday := dayTruth(fake, yesterday)
			if tt.noYest {
				wantYesterday = nil
			}
			sameDay(t, "yesterday", d.Yesterday, wantYesterday)
			if got := fake.CallCount(zoomfake.EndpointDailyReport); got != tt.wantMonths {
				t.Errorf("%d daily report calls, want %d", got, tt.wantMonths)
			}
			if got := fake.CallCount(zoomfake.EndpointCloudRecording); got != 1 {
				t.Errorf("%d cloud recording calls, want 1", got)
			}
		})
	}
}

// TestAccountMonthTurn: across the 1st, the month-to-date figures are never
// last month's served as this month's: when the new month's report cannot
// be read, they are absent, while yesterday (the month's last day, read
// before midnight) is still served; they come back with the next read.
func TestAccountMonthTurn(t *testing.T) {
	t.Parallel()
	clock := testenv.NewClock(time.Date(2026, 11, 30, 23, 50, 0, 0, time.UTC))
	fake := zoomfake.New(zoomfake.Options{Seed: 15, Users: 8, HeavyUserMeetings: 30, Now: clock.Now})
	env := newTestEnvFor(t, fake, newFakeServer(t, fake), clock, nil)
	s := newTestScraper(t, env, func(c *ScraperConfig) { allAccount(c); c.GracePeriod = 0 })
	ctx := context.Background()
	s.Refresh(ctx)
	nov30 := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	before := s.Snapshot().Account.Daily
	if before == nil || before.Today == nil || before.MonthToDate == nil {
		t.Fatalf("before midnight: %+v", before)
	}
	sameDay(t, "Nov 30 before midnight", before.Today, dayTruth(env.fake, nov30))

	clock.Set(time.Date(2026, 12, 1, 0, 5, 0, 0, time.UTC))
	env.fake.InjectFault(zoomfake.Fault{Kind: zoomfake.FaultServerError, Path: "/v2/report/daily", Status: 503})
	s.Refresh(ctx)
	snap := s.Snapshot()
	d := snap.Account.Daily
	if d.MonthToDate != nil {
		t.Errorf("month to date %+v served on Dec 1 before December's report was read", *d.MonthToDate)
	}
	if d.Today != nil {
		t.Errorf("today %+v served before it was read", *d.Today)
	}
	sameDay(t, "yesterday (Nov 30, read at 23:50)", d.Yesterday, before.Today)
	if c := collectorStatus(t, s, CollectorDaily); c.Up || c.State != CollectorFailing || !strings.Contains(c.LastError, "503") {
		t.Errorf("daily collector after a 503: %+v", c)
	}
	if !snap.Up {
		t.Error("zoom_up fell with the daily report alone")
	}

	env.fake.ClearFaults()
	clock.Advance(15 * time.Minute)
	s.Refresh(ctx)
	d = s.Snapshot().Account.Daily
	dec := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	if d.MonthToDate == nil || *d.MonthToDate != monthTruth(env.fake, dec) {
		t.Errorf("month to date after December's report: %+v, want %+v", d.MonthToDate, monthTruth(env.fake, dec))
	}
	if c := collectorStatus(t, s, CollectorDaily); !c.Up {
		t.Errorf("daily collector not up again: %+v", c)
	}
}

// TestAccountCadence: over a simulated day of 5-minute cycles the account
// collectors call Zoom as documented: the daily report every 15 minutes, the
// cloud recording report every 6 hours, the inactive and pending listings
// hourly; the active listing is the one every refresh reads anyway.
func TestAccountCadence(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, zoomfake.Options{Seed: 16, Users: 6, HeavyUserMeetings: 30}, nil)
	s := newTestScraper(t, env, allAccount)
	ctx := context.Background()
	listings := func() int { return env.fake.CallCount(zoomfake.EndpointUsers) }
	const cycles = 280 // 23h20m and a little
	for i := range cycles {
		if i > 0 {
			// Cycles start a little late, as after a refresh that took a while.
			env.clock.Advance(5*time.Minute + time.Duration(i%3)*time.Second)
		}
		s.Refresh(ctx)
	}
	span := env.clock.Now().Sub(testNow)
	within := func(what string, got int, every time.Duration) {
		t.Helper()
		want := int(span/every) + 1 // the first cycle's included
		if got < want-1 || got > want {
			t.Errorf("%d %s in %v, want %d (one each %v)", got, what, span, want, every)
		}
	}
	within("daily report calls", env.fake.CallCount(zoomfake.EndpointDailyReport), dailyEvery)
	within("cloud recording calls", env.fake.CallCount(zoomfake.EndpointCloudRecording), cloudRecordingEvery)
	within("inactive and pending listings (pairs)", (listings()-cycles)/2, statusListingEvery)
	for _, c := range s.AccountCollectors() {
		if !c.Up {
			t.Errorf("collector %s down: %+v", c.Name, c)
		}
	}
}

// scopeRefusing answers 4711 for the /users listings of one status, as
// Zoom would a token without the scope.
type scopeRefusing struct {
	next   http.Handler
	mu     sync.Mutex
	status string // "": none refused
}

func (z *scopeRefusing) refuse(status string) {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.status = status
}

func (z *scopeRefusing) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	z.mu.Lock()
	status := z.status
	z.mu.Unlock()
	if status != "" && r.URL.Path == "/v2/users" && r.URL.Query().Get("status") == status {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]any{"code": 4711, "message": "Invalid access token, does not contain scopes:[user:read:list_users:admin]."})
		return
	}
	z.next.ServeHTTP(w, r)
}

// TestAccountMissingScope: a collector whose call Zoom refuses for a missing
// scope is disabled with one log line, tries again every 6 hours without a
// line each time, and leaves the others and zoom_up alone; once the app has
// the scope it comes back by itself.
func TestAccountMissingScope(t *testing.T) {
	t.Parallel()
	core := []string{"user:read:admin", "report:read:user:admin", "report:read:list_users:admin"}
	tests := []struct {
		collector string
		scopes    []string // the app's scopes; nil: all
		refuse    string   // a /users status answered 4711
		endpoint  string   // the fake's endpoint it calls
		wantScope string
	}{
		{CollectorDaily, append(core, "report:read:cloud_recording:admin"), "", zoomfake.EndpointDailyReport, "report:read:admin"},
		{CollectorCloudRecording, append(core, "report:read:daily_usage:admin"), "", zoomfake.EndpointCloudRecording, "report:read:admin"},
		{CollectorLicenses, nil, zoom.StatusInactive, "", "user:read:list_users:admin"},
	}
	for _, tt := range tests {
		t.Run(tt.collector, func(t *testing.T) {
			t.Parallel()
			clock := testenv.NewClock(testNow)
			fake := zoomfake.New(zoomfake.Options{Seed: 17, Users: 6, HeavyUserMeetings: 30, Now: clock.Now})
			if tt.scopes != nil {
				fake.SetScopes(tt.scopes)
			}
			proxy := &scopeRefusing{next: fake, status: tt.refuse}
			srv := httptest.NewServer(proxy)
			t.Cleanup(srv.Close)
			env := newTestEnvFor(t, fake, srv, clock, nil)
			logs, logger := logLines()
			s := newTestScraper(t, env, func(c *ScraperConfig) { allAccount(c); c.Logger = logger })
			ctx := context.Background()
			for range 12 { // an hour
				s.Refresh(ctx)
				clock.Advance(5 * time.Minute)
			}
			snap := s.Snapshot()
			if !snap.Up {
				t.Error("zoom_up is 0: a collector's missing scope must not touch the users' reports")
			}
			for _, c := range s.AccountCollectors() {
				if c.Name == tt.collector {
					if c.Up || c.State != CollectorDisabled || c.MissingScope != tt.wantScope {
						t.Errorf("disabled collector: %+v", c)
					}
					continue
				}
				if !c.Up {
					t.Errorf("collector %s went down with %s: %+v", c.Name, tt.collector, c)
				}
			}
			if n := countLines(logs, "Collector disabled", "collector="+tt.collector, tt.wantScope); n != 1 {
				t.Errorf("%d log lines saying %s is disabled, want 1:\n%s", n, tt.collector, logs.String())
			}
			if tt.endpoint != "" {
				if got := fake.CallCount(tt.endpoint); got != 1 {
					t.Errorf("%d calls within the hour after the refusal, want 1 (next try in 6 hours)", got)
				}
			}
			if tt.endpoint != "" {
				// /status's last failure, until the endpoint works again (a
				// /users listing that works clears it for the licenses).
				_, api := env.client.LastFailures()
				if api == nil || !strings.Contains(api.Hint, tt.wantScope) {
					t.Errorf("last API failure %+v: want a hint naming %s", api, tt.wantScope)
				}
			}

			// Six hours on: one more try, still no new line.
			clock.Advance(6 * time.Hour)
			s.Refresh(ctx)
			if tt.endpoint != "" {
				if got := fake.CallCount(tt.endpoint); got != 2 {
					t.Errorf("%d calls after 7 hours, want 2", got)
				}
			}
			if n := countLines(logs, "Collector disabled"); n != 1 {
				t.Errorf("%d 'Collector disabled' lines after the retry, want 1", n)
			}

			// The scope added: back at the next try.
			fake.SetScopes(append(core, "report:read:admin"))
			proxy.refuse("")
			clock.Advance(6 * time.Hour)
			s.Refresh(ctx)
			if c := collectorStatus(t, s, tt.collector); !c.Up || c.MissingScope != "" {
				t.Errorf("collector not back with the scope: %+v", c)
			}
			if n := countLines(logs, "Collector enabled again", "collector="+tt.collector); n != 1 {
				t.Errorf("%d 'enabled again' lines, want 1", n)
			}
		})
	}
}

// TestAccountRefusesWhatItCannotRead: storage values in units nobody knows,
// dates that are not dates and negative counts are refused and counted, the
// last good value (here: the day before's, in the same answer) served, each
// said once in the log per interval; a sign-in time that is not one is
// refused once, not every refresh.
func TestAccountRefusesWhatItCannotRead(t *testing.T) {
	t.Parallel()
	clock := testenv.NewClock(testNow)
	env, z := newRewritingEnv(t, clock, zoomfake.Options{Seed: 18, Users: 6, HeavyUserMeetings: 30}, nil)
	yesterday := time.Date(testNow.Year(), testNow.Month(), testNow.Day()-1, 0, 0, 0, 0, time.UTC)
	env.fake.SetCloudRecordingStorage(func(d time.Time) (string, string, string) {
		if d.Equal(yesterday) {
			return "12 XB", "lots", "Unlimited"
		}
		return "1.5 GB", "1,024.5 MB", "0"
	})
	var badUser string
	z.set(func(r *http.Request, body map[string]any) {
		switch r.URL.Path {
		case "/v2/users":
			if users, _ := body["users"].([]any); len(users) > 0 && r.URL.Query().Get("status") == zoom.StatusActive {
				u := users[0].(map[string]any)
				u["last_login_time"], badUser = "last Tuesday", u["id"].(string)
			}
		case "/v2/report/daily":
			dates := body["dates"].([]any)
			dates[0].(map[string]any)["meetings"] = json.Number("-5")
			dates = append(dates, map[string]any{"date": "2026-13-01", "meetings": json.Number("1")})
			body["dates"] = dates
		}
	})
	logs, logger := logLines()
	s := newTestScraper(t, env, func(c *ScraperConfig) { allAccount(c); c.Logger = logger })
	ctx := context.Background()
	s.Refresh(ctx)
	clock.Advance(5 * time.Minute)
	s.Refresh(ctx) // the same bad sign-in time again: not counted twice
	snap := s.Snapshot()

	st := snap.Account.Storage
	dayBefore := yesterday.AddDate(0, 0, -1)
	if st.Used.Bytes != 1.5*(1<<30) || !st.Used.Date.Equal(dayBefore) {
		t.Errorf("used = %+v, want 1.5 GiB of %s (yesterday's value refused)", st.Used, dayBefore)
	}
	if want := float64(1024*(1<<20) + (1 << 19)); st.Plan.Bytes != want || !st.Plan.Date.Equal(dayBefore) {
		t.Errorf("plan = %+v, want %v of %s", st.Plan, want, dayBefore)
	}
	if !math.IsInf(st.Free.Bytes, 1) || !st.Free.Date.Equal(yesterday) {
		t.Errorf("free = %+v, want +Inf (Unlimited) of %s", st.Free, yesterday)
	}
	d := snap.Account.Daily
	first := monthStart(testNow)
	want := monthTruth(env.fake, first)
	want.Meetings -= dayTruth(env.fake, first).Meetings // the 1st's meetings were refused, none kept before
	if d.MonthToDate == nil || *d.MonthToDate != want {
		t.Errorf("month to date = %+v, want %+v (the 1st's negative meetings refused)", d.MonthToDate, want)
	}
	wantRefused := map[string]uint64{"usage": 1, "plan_usage": 1, "meetings": 1, "date": 1, "last_login_time": 1}
	for field, n := range snap.Account.Refused {
		if n != wantRefused[field] {
			t.Errorf("refused %s = %d, want %d", field, n, wantRefused[field])
		}
	}
	for _, u := range snap.Users {
		if u.ID == badUser && !u.LastLogin.IsZero() {
			t.Errorf("user with an unreadable last_login_time has last login %v", u.LastLogin)
		}
	}
	for _, field := range []string{"usage", "plan_usage", "meetings", "date", "last_login_time"} {
		if n := countLines(logs, "Refused a value", "field="+field); n != 1 {
			t.Errorf("%d log lines refusing %s, want 1", n, field)
		}
	}
	if !strings.Contains(logs.String(), `value="12 XB"`) || !strings.Contains(logs.String(), "unknown unit") {
		t.Errorf("the log does not name the value and what is wrong:\n%s", logs.String())
	}
	if c := collectorStatus(t, s, CollectorCloudRecording); !c.Up {
		t.Errorf("a refused value made the collector fail: %+v", c)
	}
}

// TestAccountBudget: the account reports take their calls from the same
// daily budget, spread by the same bucket: with a bucket that holds one
// call, the cloud recording report gets it and the daily report waits
// (and says so) until the bucket has refilled; the budget is never
// exceeded.
func TestAccountBudget(t *testing.T) {
	t.Parallel()
	// 8 calls a day: the bucket holds 8 x 3 / 24 = 1 and gains one in 3 hours.
	env := newTestEnv(t, zoomfake.Options{Seed: 19, Users: 4, HeavyUserMeetings: 30}, func(c *zoom.ClientConfig) { c.DailyBudget = 8 })
	s := newTestScraper(t, env, func(c *ScraperConfig) {
		allAccount(c)
		c.Account.Licenses = false
	})
	ctx := context.Background()
	s.Refresh(ctx)
	if c := collectorStatus(t, s, CollectorCloudRecording); !c.Up {
		t.Errorf("cloud recording: %+v", c)
	}
	if c := collectorStatus(t, s, CollectorDaily); c.State != CollectorWaiting || c.Up {
		t.Errorf("daily with no budget left: %+v, want waiting", c)
	}
	if got := env.fake.CallCount(zoomfake.EndpointDailyReport); got != 0 {
		t.Errorf("%d daily report calls beyond the bucket", got)
	}
	for range 36 { // 3 hours
		env.clock.Advance(5 * time.Minute)
		s.Refresh(ctx)
	}
	if got := env.fake.CallCount(zoomfake.EndpointDailyReport); got < 1 {
		t.Error("the daily report never got its turn once the bucket refilled")
	}
	if used := env.fake.HeavyCallsToday(); used > 8 {
		t.Errorf("%d Heavy calls, beyond the budget of 8", used)
	}
}

// TestAccountSharded: a shard other than 0 leaves the account-wide figures
// to shard 0 (no inactive or pending listing, no account report), and still
// serves its tracked users' sign-ins.
func TestAccountSharded(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, zoomfake.Options{Seed: 20, Users: 6, HeavyUserMeetings: 30}, nil)
	s := newTestScraper(t, env, func(c *ScraperConfig) {
		allAccount(c)
		c.Account.AccountWide = false
	})
	s.Refresh(context.Background())
	snap := s.Snapshot()
	if n := len(snap.Account.Collectors); n != 1 || snap.Account.Collectors[0].Name != CollectorLicenses || !snap.Account.Collectors[0].Up {
		t.Errorf("collectors on shard 1: %+v, want licenses alone, up", snap.Account.Collectors)
	}
	if snap.Account.Licenses != nil || snap.Account.Storage != nil || snap.Account.Daily != nil {
		t.Errorf("account-wide figures on a shard other than 0: %+v", snap.Account)
	}
	for _, ep := range []string{zoomfake.EndpointDailyReport, zoomfake.EndpointCloudRecording} {
		if n := env.fake.CallCount(ep); n != 0 {
			t.Errorf("%d calls to %s", n, ep)
		}
	}
	if n := env.fake.CallCount(zoomfake.EndpointUsers); n != 1 {
		t.Errorf("%d user listings, want the active one alone", n)
	}
	for _, u := range snap.Users {
		if u.LastLogin.IsZero() {
			t.Errorf("user %s without its last sign-in", u.Email)
		}
	}

	// No account collector at all: nothing fetched, nothing published.
	env2 := newTestEnv(t, zoomfake.Options{Seed: 20, Users: 6, HeavyUserMeetings: 30}, nil)
	s2 := newTestScraper(t, env2, nil)
	s2.Refresh(context.Background())
	if s2.Snapshot().Account != nil || env2.fake.CallCount(zoomfake.EndpointUsers) != 1 {
		t.Errorf("without account collectors: account %+v, %d listings", s2.Snapshot().Account, env2.fake.CallCount(zoomfake.EndpointUsers))
	}
}

// TestAccountKeepsUsageShared: refreshes that change none of what the
// account collectors serve (though they call Zoom again: the daily report
// each 15 minutes, the listings) leave the usage snapshot shared, so that
// /metrics is not encoded again; a change (a new sign-in) makes a new one.
func TestAccountKeepsUsageShared(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, zoomfake.Options{Seed: 21, Users: 5, HeavyUserMeetings: 30}, nil)
	s := newTestScraper(t, env, allAccount)
	ctx := context.Background()
	s.Refresh(ctx)
	first := s.Snapshot().Usage()
	daily := env.fake.CallCount(zoomfake.EndpointDailyReport)
	for range 4 {
		env.clock.Advance(5 * time.Minute)
		s.Refresh(ctx)
		if got := s.Snapshot().Usage(); got != first {
			t.Fatalf("a refresh that changed nothing served made a new usage snapshot (account %+v)", s.Snapshot().Account)
		}
	}
	if env.fake.CallCount(zoomfake.EndpointDailyReport) == daily {
		t.Fatal("the daily report was not read again: the test proves nothing")
	}
	env.fake.AddUser(zoomfake.User{Email: "signed-in@example.com"}, env.clock.Now(), env.clock.Now())
	env.clock.Advance(5 * time.Minute)
	s.Refresh(ctx)
	if s.Snapshot().Usage() == first {
		t.Error("a new user with a sign-in left the usage snapshot as it was")
	}
}
