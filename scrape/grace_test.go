package scrape

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zoomexporter/zoom_exporter/internal/testenv"
	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
	"github.com/zoomexporter/zoom_exporter/zoom"
)

// Within the grace period after a month turns, both months are refreshed;
// a change in one of them costs a fetch of that month only.

// graceNow is noon on the 1st: within the 48h grace period, so November
// and December are both refreshed.
var graceNow = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

var (
	graceCur  = monthStart(graceNow)
	gracePrev = graceCur.AddDate(0, -1, 0)
)

// reportCall is one per-user report request as it reached the server.
type reportCall struct{ user, from, to string }

func (c reportCall) String() string { return c.user + " " + c.from + ".." + c.to }

// reportRecorder sits in front of the fake: it records per-user report
// requests and fails those fail picks (with a 500, after the client's retries
// too).
type reportRecorder struct {
	next  http.Handler
	mu    sync.Mutex
	calls []reportCall
	fail  func(reportCall) bool
}

func (rr *reportRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/v2/report/users/"); ok {
		if seg, ok := strings.CutSuffix(rest, "/meetings"); ok {
			user, _ := url.PathUnescape(seg)
			c := reportCall{user, r.URL.Query().Get("from"), r.URL.Query().Get("to")}
			rr.mu.Lock()
			rr.calls = append(rr.calls, c)
			fail := rr.fail != nil && rr.fail(c)
			rr.mu.Unlock()
			if fail {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusInternalServerError)
				w.Write([]byte(`{"code":500,"message":"Internal error."}`))
				return
			}
		}
	}
	rr.next.ServeHTTP(w, r)
}

// take returns the calls recorded since the last take, sorted.
func (rr *reportRecorder) take() []reportCall {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	out := rr.calls
	rr.calls = nil
	slices.SortFunc(out, func(a, b reportCall) int { return strings.Compare(a.String(), b.String()) })
	return out
}

func (rr *reportRecorder) setFail(f func(reportCall) bool) {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	rr.fail = f
}

func newGraceEnv(t *testing.T, seed int64, users int) (*testEnv, *reportRecorder) {
	t.Helper()
	clock := testenv.NewClock(graceNow)
	fake := zoomfake.New(zoomfake.Options{Seed: seed, Users: users, HeavyUserMeetings: 20, Now: clock.Now})
	rec := &reportRecorder{next: fake}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	return newTestEnvFor(t, fake, srv, clock, nil), rec
}

// curCall and prevCall are the report requests of user's current and
// previous month on graceNow's day.
func curCall(user string) reportCall {
	return reportCall{user, graceCur.Format(time.DateOnly), graceNow.Format(time.DateOnly)}
}

func prevCall(user string) reportCall {
	return reportCall{user, gracePrev.Format(time.DateOnly), graceCur.AddDate(0, 0, -1).Format(time.DateOnly)}
}

// addCurMeeting adds a meeting of today; addLateMeeting one that ended just
// before midnight and reaches the report late, after the month turned.
func addCurMeeting(fake *zoomfake.Server, host zoomfake.User, uuid string) {
	fake.AddMeeting(zoomfake.Meeting{
		UUID: uuid, ID: 91000000000, Type: 2, HostID: host.ID,
		Start: graceNow.Add(-2 * time.Hour), End: graceNow.Add(-time.Hour), DurationMinutes: 60, TotalMinutes: 180, Participants: 3,
	})
}

func addLateMeeting(fake *zoomfake.Server, host zoomfake.User, uuid string) {
	fake.AddMeeting(zoomfake.Meeting{
		UUID: uuid, ID: 92000000000, Type: 8, HostID: host.ID,
		Start: graceCur.Add(-50 * time.Minute), End: graceCur.Add(-10 * time.Minute), DurationMinutes: 40, TotalMinutes: 160, Participants: 4,
		HasRecording: true,
	})
}

// checkGraceTruth compares every user with the fake: the month-to-date
// figures with December's report, the counters (the scraper started within
// the grace period, so it counted both months) with November's and
// December's together.
func checkGraceTruth(t *testing.T, env *testEnv, s *Scraper) {
	t.Helper()
	snap := s.Snapshot()
	if !snap.Month.Equal(graceCur) {
		t.Fatalf("snapshot month %v, want %v", snap.Month, graceCur)
	}
	_, today := monthWindow(env.clock.Now())
	for _, u := range env.fake.Users() {
		cur := env.fake.Meetings(u.ID, graceCur, today, zoom.ReportPast)
		prev := env.fake.Meetings(u.ID, gracePrev, graceCur.AddDate(0, 0, -1), zoom.ReportPast)
		got := userByKey(t, snap, u.ID)
		sameTotals(t, "month "+u.Email, got.Month, truth(cur))
		sameTotals(t, "counters "+u.Email, got.Counters, truth(append(prev, cur...)))
	}
}

func sameCalls(t *testing.T, what string, got, want []reportCall) {
	t.Helper()
	slices.SortFunc(want, func(a, b reportCall) int { return strings.Compare(a.String(), b.String()) })
	if !slices.Equal(got, want) {
		t.Errorf("%s: %d report calls %v\nwant %d: %v", what, len(got), got, len(want), want)
	}
}

func TestGracePeriodFetchesOnlyTheMonthsThatChanged(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		cur, prev []int // users (by index) with a new meeting in the current, previous month
	}{
		// zoom.User 4 is quiet: it hosted nothing in December before.
		{name: "current month only", cur: []int{1, 2, 4, 7, 11}},
		{name: "previous month only", prev: []int{1, 3, 8}},
		{name: "both months", cur: []int{2, 5, 9}, prev: []int{3, 5, 10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env, rec := newGraceEnv(t, 41, 14)
			s := newTestScraper(t, env, func(c *ScraperConfig) { c.Interval = 5 * time.Minute })
			ctx := context.Background()
			if w := s.monthsToRefresh(graceNow); len(w) != 2 {
				t.Fatalf("%d windows refreshed at %v, want 2: the test needs the grace period", len(w), graceNow)
			}
			s.Refresh(ctx)
			if !s.Snapshot().Up {
				t.Fatal("cold start not up")
			}
			checkGraceTruth(t, env, s)
			rec.take()

			users := env.fake.Users()
			var want []reportCall
			for _, i := range tc.cur {
				addCurMeeting(env.fake, users[i], fmt.Sprintf("grace/cur/%d", i))
				want = append(want, curCall(users[i].ID))
			}
			for _, i := range tc.prev {
				addLateMeeting(env.fake, users[i], fmt.Sprintf("grace/prev/%d", i))
				want = append(want, prevCall(users[i].ID))
			}
			env.clock.Advance(5 * time.Minute)
			s.Refresh(ctx)
			sameCalls(t, "the cycle after the changes", rec.take(), want)
			if snap := s.Snapshot(); !snap.Up || snap.PendingUsers != 0 {
				t.Errorf("up %v, pending %d; want up and none pending", snap.Up, snap.PendingUsers)
			}
			checkGraceTruth(t, env, s)

			// Nothing changed since: nothing is fetched, nothing counted twice.
			env.clock.Advance(5 * time.Minute)
			s.Refresh(ctx)
			sameCalls(t, "an idle cycle", rec.take(), nil)
			checkGraceTruth(t, env, s)
		})
	}
}

func TestGracePeriodFailedMonthIsFetchedAgainAlone(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		fail func(user string) reportCall // the call that fails in the first cycle
		want func(user string) reportCall // and is made again in the next
	}{
		{name: "previous month fails", fail: prevCall, want: prevCall},
		{name: "current month fails", fail: curCall, want: curCall},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env, rec := newGraceEnv(t, 42, 10)
			s := newTestScraper(t, env, func(c *ScraperConfig) { c.Interval = 5 * time.Minute })
			ctx := context.Background()
			s.Refresh(ctx)
			checkGraceTruth(t, env, s)
			rec.take()

			// Users 2 and 3 change in both months; user 2's fetch of one month fails.
			users := env.fake.Users()
			for _, i := range []int{2, 3} {
				addCurMeeting(env.fake, users[i], fmt.Sprintf("grace/cur/%d", i))
				addLateMeeting(env.fake, users[i], fmt.Sprintf("grace/prev/%d", i))
			}
			failing := tc.fail(users[2].ID)
			rec.setFail(func(c reportCall) bool { return c == failing })
			env.clock.Advance(5 * time.Minute)
			s.Refresh(ctx)
			calls := rec.take()
			for _, c := range []reportCall{curCall(users[2].ID), prevCall(users[2].ID), curCall(users[3].ID), prevCall(users[3].ID)} {
				if !slices.Contains(calls, c) {
					t.Errorf("the cycle after the changes did not ask for %v: %v", c, calls)
				}
			}
			if s.Snapshot().Up {
				t.Error("up although a report failed")
			}
			if u := userByKey(t, s.Snapshot(), users[2].ID); u.LastError == "" {
				t.Error("the failed user shows no error")
			}

			// The next cycle fetches the failed month of the failed user, and nothing else.
			rec.setFail(nil)
			env.clock.Advance(5 * time.Minute)
			s.Refresh(ctx)
			sameCalls(t, "the cycle after the failure", rec.take(), []reportCall{tc.want(users[2].ID)})
			snap := s.Snapshot()
			if !snap.Up {
				t.Error("not up after the failed month was fetched")
			}
			if u := userByKey(t, snap, users[2].ID); u.LastError != "" || !u.LastRefresh.Equal(env.clock.Now()) {
				t.Errorf("the failed user: error %q, last refresh %v", u.LastError, u.LastRefresh)
			}
			checkGraceTruth(t, env, s)

			env.clock.Advance(5 * time.Minute)
			s.Refresh(ctx)
			sameCalls(t, "an idle cycle", rec.take(), nil)
			checkGraceTruth(t, env, s)
		})
	}
}

// The budget is charged for the months fetched, not for every window: a
// bucket holding the sweep and one call per changed user fetches them all.
func TestGracePeriodBudgetCountsOnlyTheMonthsFetched(t *testing.T) {
	t.Parallel()
	env, rec := newGraceEnv(t, 43, 20)
	s := newTestScraper(t, env, func(c *ScraperConfig) { c.Interval = 5 * time.Minute })
	ctx := context.Background()
	s.Refresh(ctx)
	rec.take()

	users := env.fake.Users()
	changed := []int{1, 2, 3, 5, 6, 7, 8, 10}
	var want []reportCall
	for _, i := range changed {
		addCurMeeting(env.fake, users[i], fmt.Sprintf("grace/cur/%d", i))
		want = append(want, curCall(users[i].ID))
	}
	env.clock.Advance(5 * time.Minute)
	const sweep = 2 // one hosts-report page for each month
	s.bucket = heavyBucket{tokens: sweep + float64(len(changed)), last: env.clock.Now()}
	s.Refresh(ctx)
	sameCalls(t, "a cycle with a budget for exactly the changes", rec.take(), want)
	if p := s.Snapshot().PendingUsers; p != 0 {
		t.Errorf("%d users wait although the budget covered one call each", p)
	}
	checkGraceTruth(t, env, s)
}

// Full reconciliation still reads every month, also of a user whose last
// fetches read one.
func TestGracePeriodReconciliationFetchesEveryMonth(t *testing.T) {
	t.Parallel()
	env, rec := newGraceEnv(t, 44, 8)
	s := newTestScraper(t, env, func(c *ScraperConfig) {
		c.Interval = 5 * time.Minute
		c.FullInterval = time.Hour
	})
	ctx := context.Background()
	s.Refresh(ctx)
	cold := rec.take()
	users := env.fake.Users()

	env.clock.Advance(30 * time.Minute)
	addCurMeeting(env.fake, users[1], "grace/cur/1")
	s.Refresh(ctx)
	sameCalls(t, "a change in the current month", rec.take(), []reportCall{curCall(users[1].ID)})

	// An hour after the cold start, every user fetched then is due, user 1
	// too although its current month was fetched 30 minutes ago.
	env.clock.Advance(30 * time.Minute)
	s.Refresh(ctx)
	got := rec.take()
	fetched := make(map[string]bool)
	for _, c := range cold {
		fetched[c.user] = true
	}
	var want []reportCall
	for u := range fetched {
		want = append(want, curCall(u), prevCall(u))
	}
	if !fetched[users[1].ID] {
		t.Fatal("user 1 was not fetched at the cold start")
	}
	sameCalls(t, "the reconciliation", got, want)
	checkGraceTruth(t, env, s)
}

func TestFetchWindows(t *testing.T) {
	t.Parallel()
	now := graceNow.Add(time.Hour)
	cur, prev := graceCur, gracePrev
	ck, pk := monthKey(cur), monthKey(prev)
	for _, tc := range []struct {
		name       string
		reportType string
		listed     bool
		dirty      []string
		monthOf    time.Time            // whose month-to-date figures the user holds
		fetchedAt  map[string]time.Time // zero lastFetch when nil
		candidate  bool                 // planCycle's dirty flag
		want       []time.Time
	}{
		{name: "current month changed", listed: true, dirty: []string{ck}, monthOf: cur, candidate: true, want: []time.Time{cur}},
		{name: "previous month changed", listed: true, dirty: []string{pk}, monthOf: cur, candidate: true, want: []time.Time{prev}},
		{name: "both changed", listed: true, dirty: []string{ck, pk}, monthOf: cur, candidate: true, want: []time.Time{cur, prev}},
		{name: "previous month changed, month-to-date not known yet", listed: true, dirty: []string{pk}, monthOf: prev, candidate: true, want: []time.Time{cur, prev}},
		{name: "not listed by GET /users", dirty: []string{ck}, monthOf: cur, candidate: true, want: []time.Time{cur, prev}},
		{name: "due for reconciliation", listed: true, dirty: []string{ck}, monthOf: cur, candidate: true,
			fetchedAt: map[string]time.Time{ck: now.Add(-time.Minute), pk: now.Add(-7 * time.Hour)}, want: []time.Time{cur, prev}},
		{name: "changed, fetched lately", listed: true, dirty: []string{ck}, monthOf: cur, candidate: true,
			fetchedAt: map[string]time.Time{ck: now.Add(-5 * time.Hour), pk: now.Add(-5 * time.Hour)}, want: []time.Time{cur}},
		{name: "unknown or due (no change)", listed: true, monthOf: cur, want: []time.Time{cur, prev}},
		{name: "round-robin", reportType: zoom.ReportPastJoined, listed: true, dirty: []string{ck}, monthOf: cur, candidate: true, want: []time.Time{cur, prev}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := NewScraper(ScraperConfig{GracePeriod: 48 * time.Hour, ReportType: tc.reportType, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			u := s.stateFor("u1")
			if tc.listed {
				u.info.ID = "u1"
			}
			for _, mk := range tc.dirty {
				u.dirty[mk] = true
			}
			u.monthOf = tc.monthOf
			for mk, at := range tc.fetchedAt {
				u.fetchedAt[mk] = at
				if at.After(u.lastFetch) {
					u.lastFetch = at
				}
			}
			windows := s.monthsToRefresh(now)
			var got []time.Time
			for _, w := range s.fetchWindows(u, windows, tc.candidate, now) {
				got = append(got, w.month)
			}
			if !slices.EqualFunc(got, tc.want, time.Time.Equal) {
				t.Errorf("fetched months %v, want %v", got, tc.want)
			}
		})
	}
}

// While the hosts report fails, users nothing is known about are fetched
// whole: every month.
func TestGracePeriodHostsReportFailingFetchesEveryMonth(t *testing.T) {
	t.Parallel()
	clock := testenv.NewClock(graceNow)
	fake := zoomfake.New(zoomfake.Options{Seed: 45, Users: 6, HeavyUserMeetings: 20, Now: clock.Now})
	rec := &reportRecorder{next: fake}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/report/users" {
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"code":4711,"message":"Invalid access token, does not contain scopes:[report:read:list_users:admin]."}`))
			return
		}
		rec.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	env := newTestEnvFor(t, fake, srv, clock, nil)
	s := newTestScraper(t, env, nil)
	s.Refresh(context.Background())
	var want []reportCall
	for _, u := range fake.Users() {
		want = append(want, curCall(u.ID), prevCall(u.ID))
	}
	sameCalls(t, "a cold start without the hosts report", rec.take(), want)
	checkGraceTruth(t, env, s)
}
