package scrape

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
	"github.com/zoomexporter/zoom_exporter/store"
	"github.com/zoomexporter/zoom_exporter/zoom"

	"github.com/zoomexporter/zoom_exporter/internal/testenv"
)

func activeHosts(fake *zoomfake.Server, from, to time.Time) int {
	n := 0
	for _, u := range fake.Users() {
		if fake.HostTotals(u.ID, from, to).Meetings > 0 {
			n++
		}
	}
	return n
}

func addTestMeeting(fake *zoomfake.Server, host zoomfake.User, uuid string, at time.Time) {
	fake.AddMeeting(zoomfake.Meeting{
		UUID: uuid, ID: 90000000000 + int64(len(uuid)), Type: 2, HostID: host.ID,
		Start: at.Add(-2 * time.Hour), End: at.Add(-time.Hour), DurationMinutes: 60, TotalMinutes: 180, Participants: 3,
	})
}

func checkAllTruth(t *testing.T, env *testEnv, s *Scraper) {
	t.Helper()
	from, to := monthWindow(env.clock.Now())
	for _, u := range env.fake.Users() {
		want := truth(env.fake.Meetings(u.ID, from, to, zoom.ReportPast))
		got := userByKey(t, s.Snapshot(), u.ID)
		sameTotals(t, "month "+u.Email, got.Month, want)
	}
}

func TestChangeDetectionFetchesOnlyWhatChanged(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, zoomfake.Options{Seed: 31, Users: 30}, nil)
	s := newTestScraper(t, env, func(c *ScraperConfig) { c.Interval = 5 * time.Minute })
	ctx := context.Background()
	from, to := monthWindow(testNow)

	s.Refresh(ctx)
	hosts := activeHosts(env.fake, from, to)
	if got := env.fake.CallCount(zoomfake.EndpointUserMeetings); got != hosts+2 { // user 0 has 3 pages
		t.Errorf("cold start made %d report calls, want one per active host (%d) plus the heavy user's 2 extra pages", got, hosts)
	}
	if hosts == len(env.fake.Users()) {
		t.Fatal("every user hosted something: the test cannot show that idle users cost nothing")
	}
	checkAllTruth(t, env, s)
	if !s.Snapshot().Up {
		t.Fatal("cold start not up")
	}

	// Three users get new meetings: the next cycle sweeps once and fetches those three.
	users := env.fake.Users()
	for i, u := range []zoomfake.User{users[2], users[4], users[11]} {
		addTestMeeting(env.fake, u, "changed/"+strings.Repeat("x", i+1), testNow)
	}
	reportsBefore := env.fake.CallCount(zoomfake.EndpointUserMeetings)
	sweepsBefore := env.fake.CallCount(zoomfake.EndpointHostsReport)
	env.clock.Advance(5 * time.Minute)
	s.Refresh(ctx)
	if got := env.fake.CallCount(zoomfake.EndpointUserMeetings) - reportsBefore; got != 3 {
		t.Errorf("a cycle with 3 changed users made %d report calls, want 3", got)
	}
	if got := env.fake.CallCount(zoomfake.EndpointHostsReport) - sweepsBefore; got != 1 {
		t.Errorf("the cycle swept %d pages of the hosts report, want 1", got)
	}
	checkAllTruth(t, env, s)
	snap := s.Snapshot()
	for _, u := range snap.Users {
		if !u.LastRefresh.Equal(env.clock.Now()) {
			t.Errorf("user %s: last refresh %v, want now: an unchanged user is current too", u.Key, u.LastRefresh)
		}
	}
	if snap.PendingUsers != 0 || snap.EffectiveInterval != 5*time.Minute {
		t.Errorf("pending %d, effective interval %v; want 0 and the 5m interval", snap.PendingUsers, snap.EffectiveInterval)
	}
}

func TestReconciliationCatchesWhatTheHostsReportCannotSee(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, zoomfake.Options{Seed: 32, Users: 6}, nil)
	s := newTestScraper(t, env, func(c *ScraperConfig) { c.FullInterval = time.Hour })
	ctx := context.Background()
	s.Refresh(ctx)
	from, to := monthWindow(testNow)
	var host zoomfake.User
	var m zoomfake.Meeting
	for _, u := range env.fake.Users()[1:] {
		if ms := env.fake.Meetings(u.ID, from, to, zoom.ReportPast); len(ms) > 0 {
			host, m = u, ms[0]
			break
		}
	}
	before := userByKey(t, s.Snapshot(), host.ID).Counters[TypeName(m.Type)]
	// Only total_minutes grows: the hosts report (meetings, participants,
	// meeting minutes) does not change.
	env.fake.UpdateMeeting(m.UUID, func(m *zoomfake.Meeting) { m.TotalMinutes += 50 })
	env.clock.Advance(5 * time.Minute)
	s.Refresh(ctx)
	if got := userByKey(t, s.Snapshot(), host.ID).Counters[TypeName(m.Type)]; got != before {
		t.Fatalf("counter changed without a change the hosts report shows: %+v", got)
	}
	env.clock.Advance(time.Hour)
	s.Refresh(ctx)
	want := before
	want.ParticipantSeconds += 50 * 60
	if got := userByKey(t, s.Snapshot(), host.ID).Counters[TypeName(m.Type)]; got != want {
		t.Errorf("after the full interval: %+v, want %+v", got, want)
	}
}

// logBuffer is a go-kit logger writing logfmt into a buffer tests can read.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func TestBudgetStretchesFairlyAndIsNeverExceeded(t *testing.T) {
	t.Parallel()
	const budget = 96 // a day: 4 an hour, a bucket of 12
	env := newTestEnv(t, zoomfake.Options{Seed: 33, Users: 20, HeavyUserMeetings: 40}, func(c *zoom.ClientConfig) { c.DailyBudget = budget })
	logs := &logBuffer{}
	s := newTestScraper(t, env, func(c *ScraperConfig) {
		c.Interval = 5 * time.Minute
		c.FullInterval = 24 * time.Hour // this test is about changes and cold start
		c.Logger = log.NewLogfmtLogger(logs)
	})
	ctx := context.Background()
	s.Refresh(ctx)
	snap := s.Snapshot()
	if snap.PendingUsers == 0 {
		t.Fatal("a budget of 12 calls refreshed every user of a cold start")
	}
	if used := env.fake.HeavyCallsToday(); used > budget*bucketHours/24 {
		t.Errorf("first cycle spent %d Heavy calls, more than the bucket's %d", used, budget*bucketHours/24)
	}
	// Cycles go on every 5 minutes: all users get their turn, the budget is
	// never exceeded, the stretch is logged once, sweeps take half the budget.
	for range 12 * 6 {
		env.clock.Advance(5 * time.Minute)
		s.Refresh(ctx)
	}
	if used := env.fake.HeavyCallsToday(); used > budget {
		t.Errorf("Zoom saw %d Heavy calls today, budget %d", used, budget)
	}
	snap = s.Snapshot()
	if snap.PendingUsers != 0 {
		t.Errorf("%d users still wait after 6 hours", snap.PendingUsers)
	}
	for _, u := range snap.Users {
		if u.LastRefresh.IsZero() {
			t.Errorf("user %s never refreshed", u.Key)
		}
	}
	if n := strings.Count(logs.String(), "stretching the per-user refresh interval"); n != 1 {
		t.Errorf("the stretch was logged %d times, want once:\n%s", n, logs.String())
	}
	// 48 sweeps a day fit half the budget: one every 30 minutes.
	if got := snap.EffectiveInterval; got < 30*time.Minute-time.Second || got > 35*time.Minute {
		t.Errorf("effective interval %v, want the 30m sweep period", got)
	}
}

func TestRoundRobinWhenTheHostsReportCannotSee(t *testing.T) {
	t.Parallel()
	const budget = 48 // a bucket of 6 calls
	env := newTestEnv(t, zoomfake.Options{Seed: 34, Users: 12, HeavyUserMeetings: 40}, func(c *zoom.ClientConfig) { c.DailyBudget = budget })
	s := newTestScraper(t, env, func(c *ScraperConfig) {
		c.ReportType = zoom.ReportPastJoined
		c.Interval = 10 * time.Minute
	})
	ctx := context.Background()
	s.Refresh(ctx)
	if n := env.fake.CallCount(zoomfake.EndpointHostsReport); n != 0 {
		t.Errorf("swept the hosts report %d times for pastJoined, which it cannot see", n)
	}
	first := env.fake.CallCount(zoomfake.EndpointUserMeetings)
	if first == 0 || first > 6 {
		t.Fatalf("first cycle made %d report calls, want 1..6 (the bucket)", first)
	}
	// The user with the newest meeting goes first once the others have had a turn.
	for range 30 {
		env.clock.Advance(time.Hour)
		s.Refresh(ctx)
	}
	for _, u := range s.Snapshot().Users {
		if u.LastRefresh.IsZero() {
			t.Errorf("user %s never refreshed round-robin", u.Key)
		}
	}
	eff := s.Snapshot().EffectiveInterval
	if eff <= 10*time.Minute {
		t.Errorf("effective interval %v: round-robin under a small budget must stretch beyond the 10m interval", eff)
	}
}

func TestDailyQuota429PausesAndResumesAtMidnight(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, zoomfake.Options{Seed: 35, Users: 10, DailyHeavyLimit: 20}, nil)
	s := newTestScraper(t, env, nil)
	ctx := context.Background()
	// Other apps of the account spent most of today's quota.
	from, to := monthWindow(testNow)
	for range 17 {
		if _, err := env.client.ActiveHosts(ctx, from, to); err != nil {
			t.Fatal(err)
		}
	}
	s.Refresh(ctx)
	if s.Snapshot().Up {
		t.Fatal("up although Zoom's daily quota ran out mid-refresh")
	}
	env.clock.Set(time.Date(2026, 11, 21, 0, 1, 0, 0, time.UTC))
	s.Refresh(ctx)
	if !s.Snapshot().Up {
		t.Fatalf("not up after Zoom's quota reset: %+v", s.Snapshot().Users)
	}
	checkAllTruth(t, env, s)
}

func TestUsersAreFetchedWhileTheHostsReportFails(t *testing.T) {
	t.Parallel()
	clock := testenv.NewClock(testNow)
	fake := zoomfake.New(zoomfake.Options{Seed: 36, Users: 8, Now: clock.Now})
	// The app lacks the hosts report's scope: only GET /report/users fails.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/report/users" {
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"code":4711,"message":"Invalid access token, does not contain scopes:[report:read:list_users:admin]."}`))
			return
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	env := newTestEnvFor(t, fake, srv, clock, nil)
	s := newTestScraper(t, env, nil)
	s.Refresh(context.Background())
	if s.Snapshot().Up {
		t.Error("up although the hosts report fails")
	}
	checkAllTruth(t, env, s)
	for _, u := range s.Snapshot().Users {
		if u.LastRefresh.IsZero() {
			t.Errorf("user %s was never fetched", u.Key)
		}
	}
}

func TestRestartKeepsTodaysBudgetAndPause(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := newTestEnv(t, zoomfake.Options{Seed: 37, Users: 6}, nil)
	st, err := store.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := newTestScraper(t, env, func(c *ScraperConfig) { c.Store = st })
	s.Refresh(context.Background())
	spent := env.client.Budget().UsedToday
	if spent == 0 {
		t.Fatal("the refresh spent nothing")
	}
	until := testNow.Add(3 * time.Hour)
	env.client.RestoreBudget(zoom.BudgetRecord{PausedUntil: until})
	s.saveBudget()
	st.Close()

	// A new process: a new client, the same store.
	again := newTestEnvFor(t, env.fake, env.server, env.clock, nil)
	st2, err := store.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	newTestScraper(t, again, func(c *ScraperConfig) { c.Store = st2 })
	b := again.client.Budget()
	if b.UsedToday != spent || !b.PausedUntil.Equal(until) {
		t.Errorf("after a restart: used %d, paused until %v; want %d and %v", b.UsedToday, b.PausedUntil, spent, until)
	}
	// The next day starts afresh.
	again.clock.Set(time.Date(2026, 11, 21, 0, 0, 1, 0, time.UTC))
	if b := again.client.Budget(); b.UsedToday != 0 || !b.PausedUntil.IsZero() {
		t.Errorf("next day: used %d, paused until %v", b.UsedToday, b.PausedUntil)
	}
}
