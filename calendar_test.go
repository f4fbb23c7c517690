package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/zoomexporter/zoom_exporter/collector"
	"github.com/zoomexporter/zoom_exporter/internal/testenv"
	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
	"github.com/zoomexporter/zoom_exporter/scrape"
	"github.com/zoomexporter/zoom_exporter/zoom"
)

// windowRecorder stands in front of the fake Zoom: it notes the date range
// of every report call, and may move the shared clock on by a step at every
// request, so that time passes during a refresh as it does against Zoom.
type windowRecorder struct {
	fake  *zoomfake.Server
	clock *testenv.Clock
	step  time.Duration

	mu       sync.Mutex
	perUser  map[string][][2]string // user path segment -> [from, to] of each call
	hostsRep [][2]string
}

func (w *windowRecorder) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if w.step > 0 {
		w.clock.Advance(w.step)
	}
	q := r.URL.Query()
	window := [2]string{q.Get("from"), q.Get("to")}
	w.mu.Lock()
	switch p := r.URL.Path; {
	case p == "/v2/report/users":
		w.hostsRep = append(w.hostsRep, window)
	case strings.HasPrefix(p, "/v2/report/users/") && strings.HasSuffix(p, "/meetings"):
		user := strings.TrimSuffix(strings.TrimPrefix(p, "/v2/report/users/"), "/meetings")
		w.perUser[user] = append(w.perUser[user], window)
	}
	w.mu.Unlock()
	w.fake.ServeHTTP(rw, r)
}

// fetched returns the distinct windows each user's report was asked for,
// and forgets them.
func (w *windowRecorder) fetched() (perUser map[string][][2]string, hosts [][2]string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	perUser = make(map[string][][2]string, len(w.perUser))
	for user, ws := range w.perUser {
		perUser[user] = distinctWindows(ws)
	}
	hosts = distinctWindows(w.hostsRep)
	w.perUser, w.hostsRep = map[string][][2]string{}, nil
	return perUser, hosts
}

func distinctWindows(ws [][2]string) [][2]string {
	out := slices.Clone(ws)
	slices.SortFunc(out, func(a, b [2]string) int { return strings.Compare(a[0]+a[1], b[0]+b[1]) })
	return slices.Compact(out)
}

func dateWindows(ws [][2]time.Time) [][2]string {
	out := make([][2]string, 0, len(ws))
	for _, w := range ws {
		out = append(out, [2]string{w[0].Format(time.DateOnly), w[1].Format(time.DateOnly)})
	}
	return distinctWindows(out)
}

// TestCalendar runs a full refresh against the fake at each instant where
// dates are tricky, with the fake and the exporter on one pinned clock, and
// checks every usage family against the fake's ground truth and which
// months were fetched. Instants that end a month let the clock run during
// the refresh: the month or year turns while it is under way, and a second
// refresh after the turn must add the new month without counting anything
// twice.
func TestCalendar(t *testing.T) {
	t.Parallel()
	instants := []struct {
		at time.Time
		// step moves the clock at every request; turn is a second refresh
		// after the first, on the moved clock.
		step time.Duration
		turn bool
	}{
		{at: time.Date(2026, 12, 1, 0, 5, 0, 0, time.UTC)},                                    // the 1st, just after midnight: this month nearly empty
		{at: time.Date(2026, 12, 1, 13, 0, 0, 0, time.UTC)},                                   // the 1st, the day's middle
		{at: time.Date(2026, 12, 2, 23, 59, 0, 0, time.UTC)},                                  // the 2nd, the grace period's last minute
		{at: time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)},                                    // the 3rd: the grace period has just ended
		{at: time.Date(2026, 12, 15, 12, 0, 0, 0, time.UTC)},                                  // mid-month
		{at: time.Date(2028, 2, 28, 12, 0, 0, 0, time.UTC)},                                   // Feb 28 of a leap year
		{at: time.Date(2028, 2, 29, 12, 0, 0, 0, time.UTC)},                                   // the leap day
		{at: time.Date(2028, 3, 1, 6, 0, 0, 0, time.UTC)},                                     // March 1st: the previous month ends on the 29th
		{at: time.Date(2027, 2, 28, 23, 59, 50, 0, time.UTC), step: time.Second, turn: true},  // a short February turning during a refresh
		{at: time.Date(2026, 10, 31, 23, 59, 50, 0, time.UTC), step: time.Second, turn: true}, // the 31st, the month turning during a refresh
		{at: time.Date(2026, 12, 31, 23, 59, 50, 0, time.UTC), step: time.Second, turn: true}, // Dec 31 -> Jan 1, the year turning
		{at: time.Date(2027, 1, 1, 0, 5, 0, 0, time.UTC)},                                     // Jan 1st: December of the year before in its grace period
	}
	for _, tc := range instants {
		t.Run(tc.at.Format(time.RFC3339), func(t *testing.T) {
			t.Parallel()
			clock := testenv.NewClock(tc.at)
			fake := zoomfake.New(zoomfake.Options{Seed: 2026, Users: 12, HeavyUserMeetings: 40, Now: clock.Now})
			rec := &windowRecorder{fake: fake, clock: clock, step: tc.step, perUser: map[string][][2]string{}}
			srv := httptest.NewServer(rec)
			t.Cleanup(srv.Close)
			client, err := zoom.NewClient(zoom.ClientConfig{
				APIURL: srv.URL + "/v2", TokenURL: srv.URL + "/oauth/token",
				AccountID: zoomfake.DefaultAccountID, ClientID: zoomfake.DefaultClientID, ClientSecret: zoomfake.DefaultClientSecret,
				Limits:  zoom.Limits{HeavyPerSecond: 1000, MediumPerSecond: 1000, HeavyPerDay: 30000},
				Timeout: 10 * time.Second, Now: clock.Now,
			})
			if err != nil {
				t.Fatal(err)
			}
			scraper, err := scrape.NewScraper(scrape.ScraperConfig{
				Client: client, Interval: 5 * time.Minute, GracePeriod: defaultGracePeriod,
				ReportType: zoom.ReportPast, Concurrency: 1, Now: clock.Now,
			})
			if err != nil {
				t.Fatal(err)
			}
			exporter, err := collector.New(scraper, collector.Options{})
			if err != nil {
				t.Fatal(err)
			}
			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(exporter)

			refreshAndCheck := func(when string) (perUser map[string][][2]string) {
				t.Helper()
				start := clock.Now()
				scraper.Refresh(context.Background())
				if !scraper.Snapshot().Up {
					t.Fatalf("%s: the refresh at %s failed", when, start.Format(time.RFC3339))
				}
				want := groundTruth(fake, start)
				if n := len(want["zoom_meetings_total"]); n < 10 {
					t.Fatalf("%s: ground truth too thin to prove anything: %d counter series", when, n)
				}
				if n := compareFamilies(t, gatherFamilies(t, reg), want); n > 0 {
					t.Fatalf("%s: %d series differ from the fake's ground truth at %s", when, n, start.Format(time.RFC3339))
				}
				// The months fetched are exactly the windows of the instant
				// the refresh started at, whatever time it is when it ends.
				wantWindows := dateWindows(reportWindows(start, defaultGracePeriod))
				perUser, hosts := rec.fetched()
				for user, got := range perUser {
					for _, w := range got {
						if !slices.Contains(wantWindows, w) {
							t.Errorf("%s: %s's report was fetched for %v; the windows at %s are %v", when, user, w, start.Format(time.RFC3339), wantWindows)
						}
					}
				}
				for _, w := range hosts {
					if !slices.Contains(wantWindows, w) {
						t.Errorf("%s: the hosts report was swept for %v; the windows at %s are %v", when, w, start.Format(time.RFC3339), wantWindows)
					}
				}
				if snap := scraper.Snapshot(); !snap.Month.Equal(time.Date(start.Year(), start.Month(), 1, 0, 0, 0, 0, time.UTC)) {
					t.Errorf("%s: the snapshot's month is %s, want the month of %s", when, snap.Month.Format("2006-01"), start.Format(time.RFC3339))
				}
				return perUser
			}
			// A first refresh fetches every window of every user with
			// meetings in it (users the hosts report shows idle may be
			// skipped).
			perUser := refreshAndCheck("first refresh")
			for _, u := range fake.Users() {
				for _, w := range reportWindows(tc.at, defaultGracePeriod) {
					dates := dateWindows([][2]time.Time{w})[0]
					if len(fake.Meetings(u.ID, w[0], w[1], zoom.ReportPast)) > 0 && !slices.Contains(perUser[u.ID], dates) {
						t.Errorf("first refresh: %s hosted meetings from %s to %s, but its report was fetched only for %v", u.Email, dates[0], dates[1], perUser[u.ID])
					}
				}
			}
			if !tc.turn {
				return
			}
			if got := clock.Now(); got.Month() == tc.at.Month() {
				t.Fatalf("the clock is still in %s after the first refresh (%s): the refresh did not span the turn", tc.at.Month(), got.Format(time.RFC3339))
			}
			// Across midnight: one meeting began before it and ended after
			// (it belongs to the old month's report), one began after it.
			// The refresh after the turn fetches the old month for the
			// first host and the new month for the second, and counts
			// everything once.
			clock.Advance(10 * time.Minute)
			newMonth := time.Date(clock.Now().Year(), clock.Now().Month(), 1, 0, 0, 0, 0, time.UTC)
			users := fake.Users()
			if len(users) < 2 {
				t.Fatalf("the fake has %d users, the test needs 2", len(users))
			}
			oldHost, newHost := users[1], users[2%len(users)]
			fake.AddMeeting(zoomfake.Meeting{UUID: "turn/old+month==", Type: 2, HostID: oldHost.ID,
				Start: newMonth.Add(-20 * time.Minute), End: newMonth.Add(2 * time.Minute), Participants: 4, TotalMinutes: 80})
			fake.AddMeeting(zoomfake.Meeting{UUID: "turn/new+month==", Type: 1, HostID: newHost.ID,
				Start: newMonth.Add(time.Minute), End: newMonth.Add(6 * time.Minute), Participants: 2, TotalMinutes: 10})
			perUser = refreshAndCheck("refresh after the turn")
			windows := dateWindows(reportWindows(clock.Now(), defaultGracePeriod))
			if len(windows) != 2 {
				t.Fatalf("after the turn the windows are %v, want this month and the last", windows)
			}
			oldWindow := [2]string{newMonth.AddDate(0, -1, 0).Format(time.DateOnly), newMonth.AddDate(0, 0, -1).Format(time.DateOnly)}
			newWindow := [2]string{newMonth.Format(time.DateOnly), newMonth.Format(time.DateOnly)}
			if !slices.Contains(perUser[oldHost.ID], oldWindow) {
				t.Errorf("after the turn %s's report was fetched for %v, want the old month %v", oldHost.Email, perUser[oldHost.ID], oldWindow)
			}
			if !slices.Contains(perUser[newHost.ID], newWindow) {
				t.Errorf("after the turn %s's report was fetched for %v, want the new month %v", newHost.Email, perUser[newHost.ID], newWindow)
			}
		})
	}
}

// gatherFamilies gathers reg into families by name.
func gatherFamilies(t *testing.T, reg *prometheus.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]*dto.MetricFamily, len(mfs))
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}
