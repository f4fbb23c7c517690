package scrape

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/zoomexporter/zoom_exporter/internal/testenv"
	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
	"github.com/zoomexporter/zoom_exporter/store"
	"github.com/zoomexporter/zoom_exporter/zoom"
)

// openStore opens a store in dir, closed at the end of the test.
func openStore(t *testing.T, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// A clock stepped back across midnight of the 1st, with no grace period and
// a report type the hosts report cannot see, makes the previous month's
// reports fetched again after its meetings were dropped from memory: they
// are read back from the store (or were never dropped, without one), and
// nothing is counted twice.
func TestClockSteppedBackAcrossTheFirstCountsNothingTwice(t *testing.T) {
	t.Parallel()
	for _, reportType := range []string{zoom.ReportPastOne, zoom.ReportPastJoined} {
		for _, withStore := range []bool{true, false} {
			name := reportType + "/memory only"
			if withStore {
				name = reportType + "/store"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				lastOfNov := time.Date(2026, 11, 30, 23, 40, 0, 0, time.UTC)
				clock := testenv.NewClock(lastOfNov)
				fake := zoomfake.New(zoomfake.Options{Seed: 71, Users: 4, HeavyUserMeetings: 30, Now: clock.Now})
				env := newTestEnvFor(t, fake, newFakeServer(t, fake), clock, nil)
				var st *store.Store
				if withStore {
					st = openStore(t, t.TempDir())
				}
				s := newTestScraper(t, env, func(c *ScraperConfig) {
					c.GracePeriod = 0
					c.ReportType = reportType
					c.Store = st
				})
				nov := monthStart(lastOfNov)
				victim, n := mostMeetings(fake, nov, lastOfNov, reportType)
				if n == 0 {
					t.Fatalf("no user has a %s meeting in November", reportType)
				}
				want := truth(fake.Meetings(victim.ID, nov, lastOfNov, reportType))
				ctx := context.Background()
				check := func(when string) {
					t.Helper()
					sameTotals(t, when, userByKey(t, s.Snapshot(), victim.ID).Counters, want)
				}

				s.Refresh(ctx)
				check("November")
				clock.Set(time.Date(2026, 11, 30, 23, 55, 0, 0, time.UTC))
				s.Refresh(ctx) // a new round-robin round
				check("November, the next round")

				// The month turns; the victim's report fails, so its round
				// is not over when the clock steps back.
				clock.Set(time.Date(2026, 12, 1, 0, 0, 30, 0, time.UTC))
				fake.InjectFault(zoomfake.Fault{Kind: zoomfake.FaultServerError, Status: 500, Path: "/v2/report/users/" + victim.ID})
				s.Refresh(ctx)
				check("December, the victim failing")

				clock.Set(time.Date(2026, 11, 30, 23, 59, 30, 0, time.UTC))
				fake.ClearFaults()
				s.Refresh(ctx)
				if u := userByKey(t, s.Snapshot(), victim.ID); u.LastError != "" || !u.LastRefresh.Equal(clock.Now()) {
					t.Fatalf("the victim was not refreshed after the clock stepped back: %+v", u)
				}
				check("November again, the clock stepped back")

				clock.Set(time.Date(2026, 12, 1, 0, 5, 0, 0, time.UTC))
				s.Refresh(ctx)
				check("December again")
			})
		}
	}
}

// A meeting listed in both months' reports (it spanned midnight of the 1st)
// is counted once, at its largest figures, also after the grace period and
// after a restart.
func TestMeetingInTwoMonthsCountsOnce(t *testing.T) {
	t.Parallel()
	clock := testenv.NewClock(graceNow) // the 1st at noon: both months refreshed
	env, z := newRewritingEnv(t, clock, zoomfake.Options{Seed: 72, Users: 4, HeavyUserMeetings: 20}, nil)
	host := env.fake.Users()[2]
	addCurMeeting(env.fake, host, "december/own==") // the hosts report shows activity in both months
	// The same meeting, in November's report, then also in December's with
	// a few more minutes.
	var mu sync.Mutex
	inDecember := false
	z.set(func(r *http.Request, body map[string]any) {
		if reportUser(r) != host.ID {
			return
		}
		minutes := 50
		if r.URL.Query().Get("from") == graceCur.Format(time.DateOnly) {
			mu.Lock()
			later := inDecember
			mu.Unlock()
			if !later {
				return
			}
			minutes = 70
		}
		addRow(body, "meetings", map[string]any{
			"uuid": "span/midnight==", "id": 93000000000, "type": 2, "duration": minutes,
			"total_minutes": 2 * minutes, "participants_count": 2, "user_email": host.Email,
		})
	})
	dir := t.TempDir()
	st := openStore(t, dir)
	s := newTestScraper(t, env, func(c *ScraperConfig) {
		c.Store = st
		c.FullInterval = time.Hour // every user is fetched again within the test
	})
	ctx := context.Background()
	_, today := monthWindow(graceNow)
	meetings := append(env.fake.Meetings(host.ID, gracePrev, graceCur.AddDate(0, 0, -1), zoom.ReportPast), env.fake.Meetings(host.ID, graceCur, today, zoom.ReportPast)...)
	want := truth(meetings)
	w := want["scheduled"]
	w.Add(Totals{Meetings: 1, DurationSeconds: 70 * 60, ParticipantSeconds: 140 * 60, Participants: 2})
	want["scheduled"] = w
	check := func(when string) {
		t.Helper()
		sameTotals(t, when, userByKey(t, s.Snapshot(), host.ID).Counters, want)
	}

	w = want["scheduled"]
	w.DurationSeconds -= 20 * 60
	w.ParticipantSeconds -= 40 * 60
	want["scheduled"] = w
	s.Refresh(ctx)
	check("November's report lists it")
	mu.Lock()
	inDecember = true
	mu.Unlock()
	w.DurationSeconds += 20 * 60
	w.ParticipantSeconds += 40 * 60
	want["scheduled"] = w
	clock.Advance(2 * time.Hour)
	s.Refresh(ctx)
	check("both months list it")
	clock.Set(graceCur.Add(42 * time.Hour)) // late in the grace period: no catch-up after the restart
	s.Refresh(ctx)
	check("late in the grace period")
	// After the grace period only December is read, and it still lists the meeting.
	clock.Set(graceCur.Add(72 * time.Hour))
	s.Refresh(ctx)
	check("after the grace period")
	st.Close()

	// A restart after the grace period: November's meetings stay in the store only.
	clock.Advance(2 * time.Hour)
	again := newTestEnvFor(t, env.fake, env.server, clock, nil)
	s = newTestScraper(t, again, func(c *ScraperConfig) { c.Store = openStore(t, dir) })
	s.Refresh(ctx)
	if u := userByKey(t, s.Snapshot(), host.ID); !u.LastRefresh.Equal(clock.Now()) {
		t.Fatalf("the host was not refreshed after the restart: %+v", u)
	}
	check("after a restart")
}

// After a downtime longer than the grace period across a month turn, the
// previous month is refreshed once more (its late meetings are counted),
// unless it was seen to the second half of its grace period, or there is no
// grace period.
func TestDowntimeAcrossTheMonthTurnCatchesUp(t *testing.T) {
	t.Parallel()
	novLate := time.Date(2026, 11, 30, 22, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		grace   time.Duration
		lastRun []time.Time // refreshes before the downtime
		restart time.Time
		catchUp bool
	}{
		{name: "down from the evening of the 30th to the 4th", grace: 48 * time.Hour, lastRun: []time.Time{novLate}, restart: time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC), catchUp: true},
		{name: "down from the 1st to the 20th", grace: 48 * time.Hour, lastRun: []time.Time{novLate, time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}, restart: time.Date(2026, 12, 20, 8, 0, 0, 0, time.UTC), catchUp: true},
		{name: "seen in the second half of the grace period", grace: 48 * time.Hour, lastRun: []time.Time{novLate, time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)}, restart: time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)},
		{name: "no grace period", lastRun: []time.Time{novLate}, restart: time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := testenv.NewClock(tc.lastRun[0])
			fake := zoomfake.New(zoomfake.Options{Seed: 73, Users: 6, HeavyUserMeetings: 20, Now: clock.Now})
			rec := &reportRecorder{next: fake}
			srv := httptest.NewServer(rec)
			t.Cleanup(srv.Close)
			env := newTestEnvFor(t, fake, srv, clock, nil)
			dir := t.TempDir()
			st, err := store.Open(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			conf := func(st *store.Store) func(*ScraperConfig) {
				return func(c *ScraperConfig) {
					c.Store = st
					c.GracePeriod = tc.grace
					c.Interval = 5 * time.Minute
				}
			}
			s := newTestScraper(t, env, conf(st))
			ctx := context.Background()
			for _, at := range tc.lastRun {
				clock.Set(at)
				s.Refresh(ctx)
			}
			st.Close()
			nov := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
			novEnd := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
			counted := truth(fake.Meetings(fake.Users()[1].ID, nov, novEnd, zoom.ReportPast))

			// While it is down, a meeting of the 30th reaches November's report.
			host := fake.Users()[1]
			fake.AddMeeting(zoomfake.Meeting{
				UUID: "late/november==", ID: 94000000000, Type: 2, HostID: host.ID,
				Start: time.Date(2026, 11, 30, 23, 0, 0, 0, time.UTC), End: time.Date(2026, 11, 30, 23, 50, 0, 0, time.UTC),
				DurationMinutes: 50, TotalMinutes: 100, Participants: 2,
			})
			clock.Set(tc.restart)
			rec.take()
			again := newTestEnvFor(t, fake, srv, clock, nil)
			s = newTestScraper(t, again, conf(openStore(t, dir)))
			s.Refresh(ctx)
			novCalls := 0
			for _, c := range rec.take() {
				if c.from == "2026-11-01" {
					novCalls++
				}
			}
			if (novCalls > 0) != tc.catchUp {
				t.Errorf("November's reports were read %d times after the restart; catch-up wanted: %v", novCalls, tc.catchUp)
			}
			want := truth(fake.Meetings(host.ID, nov, novEnd, zoom.ReportPast))
			if !tc.catchUp {
				want = counted
			}
			// December's meetings (the fake's data ends at its first Now) are none.
			sameTotals(t, "the late meeting's host", userByKey(t, s.Snapshot(), host.ID).Counters, want)
			for _, u := range fake.Users() {
				if u.ID == host.ID {
					continue
				}
				// Nothing counted twice: every other user's counters are November's.
				sameTotals(t, "user "+u.Email, userByKey(t, s.Snapshot(), u.ID).Counters, truth(fake.Meetings(u.ID, nov, novEnd, zoom.ReportPast)))
			}
			if !s.Snapshot().Up {
				t.Errorf("not up after the restart: %v", s.Snapshot().Users)
			}

			// Caught up: the next cycles read December only.
			for range 2 {
				clock.Advance(5 * time.Minute)
				s.Refresh(ctx)
			}
			for _, c := range rec.take() {
				if c.from == "2026-11-01" {
					t.Errorf("November read again after the catch-up: %v", c)
				}
			}
			if s.catchUp != nil {
				t.Errorf("the catch-up of %v did not end", s.catchUp.month)
			}
		})
	}
}
