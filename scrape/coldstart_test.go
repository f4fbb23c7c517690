package scrape

import (
	"context"
	"testing"
	"time"

	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
	"github.com/zoomexporter/zoom_exporter/zoom"
)

func heavyCallsOf(f *zoomfake.Server) int {
	return f.CallCount(zoomfake.EndpointUserMeetings) + f.CallCount(zoomfake.EndpointHostsReport)
}

// The first refresh of an account covers every user at once, borrowing
// from the rest of the day's budget beyond the bucket's three hours; the
// day's budget is never exceeded, and the bucket refills as usual after.
func TestColdStartCoversEveryUser(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		reportType string
	}{
		{"hosts report", zoom.ReportPast},
		{"round robin", zoom.ReportPastJoined},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const budget = 240 // a bucket of 30: a fraction of the 40 users
			env := newTestEnv(t, zoomfake.Options{Seed: 163, Users: 40, HeavyUserMeetings: 20},
				func(c *zoom.ClientConfig) { c.DailyBudget = budget })
			s := newTestScraper(t, env, func(c *ScraperConfig) { c.ReportType, c.ColdStart = tc.reportType, true })
			ctx := context.Background()
			s.Refresh(ctx)
			snap := s.Snapshot()
			for _, u := range snap.Users {
				if u.LastRefresh.IsZero() || u.LastError != "" {
					t.Errorf("user %s not covered by the first refresh: %q", u.Key, u.LastError)
				}
			}
			calls := heavyCallsOf(env.fake)
			if !snap.Up || snap.PendingUsers != 0 || calls <= budget*bucketHours/24 {
				t.Fatalf("first refresh: up %v, %d pending, %d Heavy calls (the bucket holds %d)", snap.Up, snap.PendingUsers, calls, budget*bucketHours/24)
			}
			if used := env.client.Budget().UsedToday; used != calls || used > budget {
				t.Errorf("budget used %d for %d calls, budget %d", used, calls, budget)
			}
			if qps, daily := env.fake.RateLimited(); qps+daily != 0 {
				t.Errorf("429s: %d per-second, %d daily", qps, daily)
			}
			if tc.reportType == zoom.ReportPast {
				checkTruth(t, env, snap)
			}
			if s.bucket.tokens != 0 {
				t.Errorf("the bucket holds %v after the cold start spent more than it held: want 0, refilling from there", s.bucket.tokens)
			}

			// Warm now: a new meeting waits for the bucket to refill, at the
			// budget's pace, as before.
			host := env.fake.Users()[3]
			env.fake.AddMeeting(zoomfake.Meeting{UUID: "cold/after==", Type: 2, HostID: host.ID,
				Start: env.clock.Now().Add(-time.Hour), DurationMinutes: 30, Participants: 2})
			before := heavyCallsOf(env.fake)
			env.clock.Advance(time.Minute) // 0.17 calls' worth
			s.Refresh(ctx)
			if got := heavyCallsOf(env.fake) - before; got != 0 {
				t.Errorf("a minute after the cold start, %d Heavy calls: the borrowing went on", got)
			}
			// Enough for the sweep (or one user of the round) and the fetch.
			env.clock.Advance(time.Duration(float64(24*time.Hour) * float64(len(snap.Users)+2) / budget))
			s.Refresh(ctx)
			after := userByKey(t, s.Snapshot(), host.ID).Counters["scheduled"]
			want := userByKey(t, snap, host.ID).Counters["scheduled"]
			want.Add(Totals{Meetings: 1, DurationSeconds: 30 * 60, ParticipantSeconds: 60 * 60, Participants: 2})
			if after != want {
				t.Errorf("the new meeting once the bucket refilled: %+v, want %+v", after, want)
			}
			if used := env.client.Budget().UsedToday; used > budget {
				t.Errorf("budget used %d of %d", used, budget)
			}
		})
	}
}

// A cold start needing more than what remains of the day's budget spends
// exactly what remains, and goes on borrowing the next day until every user
// was covered once.
func TestColdStartStopsAtTheDaysBudget(t *testing.T) {
	t.Parallel()
	const budget = 12
	env := newTestEnv(t, zoomfake.Options{Seed: 164, Users: 30, HeavyUserMeetings: 20},
		func(c *zoom.ClientConfig) { c.DailyBudget = budget })
	s := newTestScraper(t, env, func(c *ScraperConfig) { c.ReportType, c.ColdStart = zoom.ReportPastJoined, true })
	ctx := context.Background()
	covered := func() int {
		n := 0
		for _, u := range s.Snapshot().Users {
			if !u.LastRefresh.IsZero() {
				n++
			}
		}
		return n
	}
	s.Refresh(ctx)
	if used, calls := env.client.Budget().UsedToday, heavyCallsOf(env.fake); used != budget || calls != budget || covered() != budget {
		t.Fatalf("first refresh: budget used %d, %d Heavy calls, %d users covered; want the day's %d each", used, calls, covered(), budget)
	}
	env.clock.Advance(time.Minute)
	s.Refresh(ctx)
	if calls := heavyCallsOf(env.fake); calls != budget {
		t.Errorf("%d Heavy calls with the day's budget of %d spent", calls, budget)
	}
	// The next day: still cold (users never covered), it borrows again.
	env.clock.Advance(12 * time.Hour)
	s.Refresh(ctx)
	if used, n := env.client.Budget().UsedToday, covered(); used != budget || n != 2*budget {
		t.Errorf("the next day: budget used %d, %d users covered; want %d and %d", used, n, budget, 2*budget)
	}
	if qps, daily := env.fake.RateLimited(); qps+daily != 0 {
		t.Errorf("429s: %d per-second, %d daily", qps, daily)
	}
}
