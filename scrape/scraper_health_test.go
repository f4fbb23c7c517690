package scrape

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/zoomexporter/zoom_exporter/internal/testenv"
	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
	"github.com/zoomexporter/zoom_exporter/store"
	"github.com/zoomexporter/zoom_exporter/zoom"
)

// zoom_up is 1 only when the cycle had no failure and every tracked user
// has data from Zoom that is not overdue; a budget that stretches the
// interval, with every user getting its turn, keeps it at 1.
func TestUpMeansEveryUserIsFresh(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		budget int // --zoom.daily-budget; 0: the default
		users  int
		// run drives the scraper and returns the zoom_up of each cycle it
		// checks, with the last snapshot.
		run    func(t *testing.T, env *testEnv, s *Scraper) []bool
		wantUp bool
		// wantStretched: the effective interval is beyond the interval at the end.
		wantStretched bool
	}{
		{
			name: "a budget that allows nothing: nobody refreshed", budget: 5, users: 6, // a bucket of 0.6 calls
			run: func(t *testing.T, env *testEnv, s *Scraper) []bool {
				var ups []bool
				for range 3 {
					s.Refresh(context.Background())
					ups = append(ups, s.Snapshot().Up)
					env.clock.Advance(time.Minute)
				}
				for _, u := range s.Snapshot().Users {
					if !u.LastRefresh.IsZero() {
						t.Errorf("user %s refreshed with a budget of 0 calls", u.Key)
					}
				}
				return ups
			},
		},
		{
			name: "stretched by the budget, every user within the effective interval", budget: 96, users: 20, wantUp: true, wantStretched: true,
			run: func(t *testing.T, env *testEnv, s *Scraper) []bool {
				ctx := context.Background()
				users := env.fake.Users()
				// Cold start and catch-up: 8 hours of 5-minute cycles, a new
				// meeting now and then.
				for i := range 12 * 8 {
					if i%12 == 6 {
						addTestMeeting(env.fake, users[i%len(users)], fmt.Sprintf("stretch/%d", i), env.clock.Now())
					}
					s.Refresh(ctx)
					env.clock.Advance(5 * time.Minute)
				}
				if p := s.Snapshot().PendingUsers; p != 0 {
					t.Fatalf("%d users still wait after 8 hours", p)
				}
				// Then 4 hours: zoom_up must hold at 1 in every cycle, not flap.
				var ups []bool
				for i := range 12 * 4 {
					if i%12 == 6 {
						addTestMeeting(env.fake, users[(i+3)%len(users)], fmt.Sprintf("stretch/late/%d", i), env.clock.Now())
					}
					s.Refresh(ctx)
					ups = append(ups, s.Snapshot().Up)
					env.clock.Advance(5 * time.Minute)
				}
				return ups
			},
		},
		{
			name: "one failing user", users: 6,
			run: func(t *testing.T, env *testEnv, s *Scraper) []bool {
				ctx := context.Background()
				s.Refresh(ctx)
				if !s.Snapshot().Up {
					t.Fatal("the cold start is not up")
				}
				victim := env.fake.Users()[2]
				env.fake.InjectFault(zoomfake.Fault{Kind: zoomfake.FaultServerError, Status: 500, Path: "/v2/report/users/" + victim.ID})
				addTestMeeting(env.fake, victim, "failing/new==", env.clock.Now())
				var ups []bool
				for range 3 {
					env.clock.Advance(5 * time.Minute)
					s.Refresh(ctx)
					ups = append(ups, s.Snapshot().Up)
				}
				return ups
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := newTestEnv(t, zoomfake.Options{Seed: 51, Users: tc.users, HeavyUserMeetings: 40}, func(c *zoom.ClientConfig) { c.DailyBudget = tc.budget })
			s := newTestScraper(t, env, func(c *ScraperConfig) {
				c.Interval = 5 * time.Minute
				c.FullInterval = 24 * time.Hour
			})
			for i, up := range tc.run(t, env, s) {
				if up != tc.wantUp {
					t.Errorf("cycle %d: up = %v, want %v; snapshot users %v", i, up, tc.wantUp, s.Snapshot().Users)
				}
			}
			snap := s.Snapshot()
			if stretched := snap.EffectiveInterval > 5*time.Minute; stretched != tc.wantStretched {
				t.Errorf("effective interval %v: stretched %v, want %v", snap.EffectiveInterval, stretched, tc.wantStretched)
			}
			for _, u := range snap.Users {
				if tc.wantUp && u.Overdue {
					t.Errorf("user %s overdue since %v (last refresh %v)", u.Key, u.OverdueSince, u.LastRefresh)
				}
			}
		})
	}
}

// Ready is true once this process has data worth serving, and stays true.
func TestReadiness(t *testing.T) {
	t.Parallel()
	zoomDown := zoomfake.Fault{Kind: zoomfake.FaultServerError, Status: 503} // every API call; the token endpoint works
	for _, tc := range []struct {
		name      string
		withStore bool // counters of an earlier run are in the store
		users     []string
		budget    int
		down      bool // Zoom's API fails in the first refresh
		want      bool // after the first refresh
	}{
		{name: "first refresh succeeded", want: true},
		{name: "first refresh failed, nothing stored", down: true, want: false},
		{name: "first refresh failed, counters restored", withStore: true, down: true, want: true},
		{name: "first refresh brought nothing (no budget), nothing stored", budget: 5, want: false},
		{name: "one configured user unknown to Zoom, the others refreshed", users: []string{"ghost@example.com"}, want: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := newTestEnv(t, zoomfake.Options{Seed: 52, Users: 5, HeavyUserMeetings: 20}, func(c *zoom.ClientConfig) { c.DailyBudget = tc.budget })
			var st *store.Store
			if tc.withStore {
				dir := t.TempDir()
				var err error
				if st, err = store.Open(dir, nil); err != nil {
					t.Fatal(err)
				}
				earlier := newTestScraper(t, env, func(c *ScraperConfig) { c.Store = st })
				earlier.Refresh(context.Background())
				st.Close()
				if st, err = store.Open(dir, nil); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
			}
			users := tc.users
			if users != nil {
				for _, u := range env.fake.Users() {
					users = append(users, u.ID)
				}
			}
			s := newTestScraper(t, env, func(c *ScraperConfig) {
				c.Store = st
				c.Users = users
			})
			if s.Ready() {
				t.Fatal("ready before the first refresh")
			}
			if tc.down {
				env.fake.InjectFault(zoomDown)
			}
			s.Refresh(context.Background())
			if got := s.Ready(); got != tc.want {
				t.Fatalf("after the first refresh: ready %v, want %v (up %v)", got, tc.want, s.Snapshot().Up)
			}
			// Zoom recovers: ready (a later success counts as the first).
			env.fake.ClearFaults()
			env.clock.Advance(5 * time.Minute)
			if tc.budget == 0 {
				s.Refresh(context.Background())
				if !s.Ready() {
					t.Fatal("not ready after a successful refresh")
				}
			}
			// Zoom goes down: ready stays, a restart would not fix Zoom.
			env.fake.InjectFault(zoomDown)
			for range 3 {
				env.clock.Advance(5 * time.Minute)
				s.Refresh(context.Background())
			}
			if s.Ready() != (tc.want || tc.budget == 0) {
				t.Errorf("ready %v after an outage, want it unchanged", s.Ready())
			}
		})
	}
}

// The snapshot says when the next cycle starts, and which users are
// overdue, since when.
func TestNextRefreshAndOverdueUsers(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, zoomfake.Options{Seed: 53, Users: 5, HeavyUserMeetings: 20}, nil)
	s := newTestScraper(t, env, func(c *ScraperConfig) { c.Interval = time.Minute })
	if next := s.Snapshot().NextRefresh; !next.Equal(testNow) {
		t.Errorf("before the first refresh: next refresh %v, want now (%v)", next, testNow)
	}
	ctx := context.Background()
	s.Refresh(ctx)
	snap := s.Snapshot()
	if !snap.NextRefresh.Equal(testNow.Add(time.Minute)) {
		t.Errorf("next refresh %v, want %v", snap.NextRefresh, testNow.Add(time.Minute))
	}
	if snap.OverdueAfter != 3*time.Minute {
		t.Errorf("overdue after %v, want 3m (twice the effective interval and one interval)", snap.OverdueAfter)
	}
	for _, u := range snap.Users {
		if u.Overdue {
			t.Errorf("user %s overdue right after its refresh", u.Key)
		}
	}

	victim := env.fake.Users()[1]
	addTestMeeting(env.fake, victim, "overdue/new==", testNow)
	env.fake.InjectFault(zoomfake.Fault{Kind: zoomfake.FaultServerError, Status: 500, Path: "/v2/report/users/" + victim.ID})
	var wasOverdue bool
	for i := 1; i <= 5; i++ {
		env.clock.Advance(time.Minute)
		s.Refresh(ctx)
		u := userByKey(t, s.Snapshot(), victim.ID)
		wantOverdue := i > 3 // its last refresh was at testNow; 3 minutes allowed
		if u.Overdue != wantOverdue {
			t.Errorf("%d minutes after its last refresh: overdue %v, want %v", i, u.Overdue, wantOverdue)
		}
		if u.Overdue && !u.OverdueSince.Equal(testNow.Add(3*time.Minute)) {
			t.Errorf("overdue since %v, want %v", u.OverdueSince, testNow.Add(3*time.Minute))
		}
		wasOverdue = wasOverdue || u.Overdue
		for _, other := range s.Snapshot().Users {
			if other.Key != victim.ID && other.Overdue {
				t.Errorf("healthy user %s overdue", other.Key)
			}
		}
	}
	if !wasOverdue {
		t.Error("the failing user never became overdue")
	}
}

// A healthy run logs no warning, and its effective interval is the
// interval: cycles whose sweep was held back by a budget that does cover
// it, clock jitter, or a round-robin round that needed a second cycle
// stretched it before (issue 12: "stretched to 15s" for an interval of 15s).
func TestHealthyRunIsNotStretched(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		start      time.Time
		users      int
		heavy      int // the heavy user's meetings
		reportType string
		steps      []time.Duration // between cycles, in turn
	}{
		{name: "mid-month, cycles a few ms late", start: testNow, users: 25, heavy: 200, reportType: zoom.ReportPast, steps: []time.Duration{15*time.Second + 7*time.Millisecond}},
		// A refresh that outlasts the interval delays one cycle; the next comes on time.
		{name: "mid-month, every other cycle 2 s late", start: testNow, users: 25, heavy: 200, reportType: zoom.ReportPast, steps: []time.Duration{17 * time.Second, 13 * time.Second}},
		{name: "the 1st: both months refreshed", start: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC), users: 25, heavy: 200, reportType: zoom.ReportPast, steps: []time.Duration{15 * time.Second}},
		{name: "round-robin (pastJoined)", start: testNow, users: 2, heavy: 20, reportType: zoom.ReportPastJoined, steps: []time.Duration{15 * time.Second}},
		{name: "round-robin, every other cycle 2 s late", start: testNow, users: 2, heavy: 20, reportType: zoom.ReportPastJoined, steps: []time.Duration{17 * time.Second, 13 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := testenv.NewClock(tc.start)
			fake := zoomfake.New(zoomfake.Options{Seed: 54, Users: tc.users, HeavyUserMeetings: tc.heavy, Now: clock.Now})
			srv := newFakeServer(t, fake)
			env := newTestEnvFor(t, fake, srv, clock, nil) // the default budget: half of Pro's quota
			logs, logger := logLines()
			s := newTestScraper(t, env, func(c *ScraperConfig) {
				c.Interval = 15 * time.Second
				c.ReportType = tc.reportType
				c.Logger = logger
			})
			ctx := context.Background()
			for i := range 4 * 60 { // an hour
				if i%2 == 1 {
					fake.AddRandomMeetings(clock.Now(), 1) // a meeting every 30 s
				}
				s.Refresh(ctx)
				snap := s.Snapshot()
				if snap.EffectiveInterval != 15*time.Second || snap.PendingUsers != 0 || !snap.Up {
					t.Fatalf("cycle %d: effective interval %v, pending %d, up %v; want 15s, 0, up\n%s",
						i, snap.EffectiveInterval, snap.PendingUsers, snap.Up, logs)
				}
				clock.Advance(tc.steps[i%len(tc.steps)])
			}
			if n := countLines(logs, "level=warn"); n != 0 {
				t.Errorf("a healthy run logged %d warnings:\n%s", n, logs)
			}
			if used, budget := env.client.Budget().UsedToday, env.client.Budget().Budget; used > budget/24+budget*bucketHours/24 {
				t.Errorf("an hour spent %d Heavy calls, more than an hour's share of %d and the bucket", used, budget)
			}
			if strings.Contains(logs.String(), "stretching") {
				t.Error("the stretch was logged")
			}
		})
	}
}
