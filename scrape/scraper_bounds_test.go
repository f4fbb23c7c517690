package scrape

import (
	"context"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/zoomexporter/zoom_exporter/internal/testenv"
	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
	"github.com/zoomexporter/zoom_exporter/zoom"
)

// Absurd figures are clamped, in the counters and the histograms alike,
// and counted once.
func TestAbsurdFiguresAreClamped(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name                             string
		duration, totalMinutes, particip int
		wantClamped                      uint64
		want                             Totals
	}{
		{name: "2^63 minutes", duration: math.MaxInt64, totalMinutes: 120, particip: 2, wantClamped: 1,
			want: Totals{Meetings: 1, DurationSeconds: MaxMeetingMinutes * 60, ParticipantSeconds: 120 * 60, Participants: 2}},
		{name: "everything absurd", duration: math.MaxInt64, totalMinutes: math.MaxInt64, particip: math.MaxInt32 + 5, wantClamped: 3,
			want: Totals{Meetings: 1, DurationSeconds: MaxMeetingMinutes * 60, ParticipantSeconds: MaxParticipantMinutes * 60, Participants: MaxParticipants}},
		{name: "negative", duration: -40, totalMinutes: -1, particip: -3, wantClamped: 3,
			want: Totals{Meetings: 1}},
		{name: "sane", duration: 45, totalMinutes: 90, particip: 2,
			want: Totals{Meetings: 1, DurationSeconds: 45 * 60, ParticipantSeconds: 90 * 60, Participants: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := testenv.NewClock(testNow)
			env, z := newRewritingEnv(t, clock, zoomfake.Options{Seed: 81, Users: 3, HeavyUserMeetings: 10}, nil)
			host := env.fake.Users()[1]
			z.set(func(r *http.Request, body map[string]any) {
				if reportUser(r) != host.ID {
					return
				}
				addRow(body, "meetings", map[string]any{
					"uuid": "absurd==", "id": 95000000000, "type": 5, "duration": tc.duration,
					"total_minutes": tc.totalMinutes, "participants_count": tc.particip,
				})
			})
			s := newTestScraper(t, env, func(c *ScraperConfig) {
				c.Store = openStore(t, t.TempDir())
				c.FullInterval = time.Hour
			})
			ctx := context.Background()
			for range 3 { // fetched again: nothing more is added or counted
				s.Refresh(ctx)
				clock.Advance(time.Hour)
			}
			snap := s.Snapshot()
			if got := userByKey(t, snap, host.ID).Counters["webinar"]; got != tc.want {
				t.Errorf("webinar counters %+v, want %+v", got, tc.want)
			}
			if snap.ClampedFigures != tc.wantClamped {
				t.Errorf("clamped figures %d, want %d", snap.ClampedFigures, tc.wantClamped)
			}
			// The histograms hold the account's other webinars, and this one once.
			count, durations, participants := uint64(1), float64(tc.want.DurationSeconds), float64(tc.want.Participants)
			for _, u := range env.fake.Users() {
				for _, m := range env.fake.Meetings(u.ID, monthStart(testNow), testNow, zoom.ReportPast) {
					if TypeName(m.Type) == "webinar" {
						count++
						durations += float64(m.DurationMinutes * 60)
						participants += float64(m.Participants)
					}
				}
			}
			if d := snap.Durations["webinar"]; d.Count != count || d.Sum != durations {
				t.Errorf("duration histogram: count %d, sum %v; want %d and %v", d.Count, d.Sum, count, durations)
			}
			if p := snap.Participants["webinar"]; p.Count != count || p.Sum != participants {
				t.Errorf("participants histogram: count %d, sum %v; want %d and %v", p.Count, p.Sum, count, participants)
			}
		})
	}
}

// A user id or meeting uuid over MaxIDBytes is refused, counted and logged
// in one bounded line an interval, and never reaches the store; the rest
// is refreshed as usual.
func TestOversizeIDsAreRefused(t *testing.T) {
	t.Parallel()
	huge := strings.Repeat("A", 40<<10) // bbolt refuses keys over 32 KiB
	for _, tc := range []struct {
		name                    string
		userRows, meetingRows   bool
		wantUsers, wantMeetings bool
	}{
		{name: "meeting uuid", meetingRows: true, wantMeetings: true},
		{name: "user id", userRows: true, wantUsers: true},
		{name: "just over the bound", meetingRows: true, wantMeetings: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			id := huge
			if strings.HasPrefix(tc.name, "just") {
				id = strings.Repeat("B", MaxIDBytes+1)
			}
			clock := testenv.NewClock(testNow)
			env, z := newRewritingEnv(t, clock, zoomfake.Options{Seed: 82, Users: 4, HeavyUserMeetings: 10}, nil)
			host := env.fake.Users()[1]
			z.set(func(r *http.Request, body map[string]any) {
				switch {
				case tc.userRows && r.URL.Path == "/v2/users":
					addRow(body, "users", map[string]any{"id": id, "email": "long@example.com", "type": 1, "status": "active"})
				case tc.meetingRows && reportUser(r) == host.ID:
					addRow(body, "meetings", map[string]any{"uuid": id, "id": 96000000000, "type": 2, "duration": 30, "total_minutes": 60, "participants_count": 2})
				}
			})
			logs, logger := logLines()
			dir := t.TempDir()
			st := openStore(t, dir)
			s := newTestScraper(t, env, func(c *ScraperConfig) {
				c.Store = st
				c.Interval = time.Minute
				c.FullInterval = time.Hour
				c.Logger = logger
			})
			ctx := context.Background()
			const cycles = 12 // every 20 s: 4 minutes
			for range cycles {
				s.Refresh(ctx)
				clock.Advance(20 * time.Second)
			}
			snap := s.Snapshot()
			if !snap.Up {
				t.Errorf("not up: %v", snap.Users)
			}
			if (snap.RefusedUsers > 0) != tc.wantUsers || (snap.RefusedMeetings > 0) != tc.wantMeetings {
				t.Errorf("refused users %d, meetings %d", snap.RefusedUsers, snap.RefusedMeetings)
			}
			for _, u := range snap.Users {
				if len(u.Key) > MaxIDBytes {
					t.Errorf("a user of %d bytes is tracked", len(u.Key))
				}
			}
			sameTotals(t, "the host's counters", userByKey(t, snap, host.ID).Counters, truth(env.fake.Meetings(host.ID, monthStart(testNow), testNow, zoom.ReportPast)))
			// One line a minute at most, each short.
			if n := countLines(logs, "Refused users or meetings"); n < 1 || n > 4 {
				t.Errorf("the refusal was logged %d times in 4 minutes of 1-minute intervals, want 1 to 4", n)
			}
			for _, line := range strings.Split(logs.String(), "\n") {
				if len(line) > 2048 {
					t.Errorf("a log line of %d bytes: %.200s", len(line), line)
				}
			}
			stored, _, err := st.Load(func(string) bool { return true })
			if err != nil {
				t.Fatal(err)
			}
			for user, data := range stored {
				if len(user) > MaxIDBytes {
					t.Errorf("a user key of %d bytes is in the store", len(user))
				}
				for month, recs := range data.Meetings {
					for uuid := range recs {
						if len(uuid) > MaxIDBytes {
							t.Errorf("a uuid of %d bytes is in the store (month %s)", len(uuid), month)
						}
					}
				}
			}
		})
	}
}

// A failing user is logged once, then again only after an interval or when
// the kind of failure changes, however often cycles run.
func TestRepeatedFailuresAreLoggedOncePerInterval(t *testing.T) {
	t.Parallel()
	clock := testenv.NewClock(testNow)
	fake := zoomfake.New(zoomfake.Options{Seed: 83, Users: 5, HeavyUserMeetings: 10, Now: clock.Now})
	env := newTestEnvFor(t, fake, newFakeServer(t, fake), clock, nil)
	logs, logger := logLines()
	s := newTestScraper(t, env, func(c *ScraperConfig) {
		c.Interval = time.Minute
		c.Logger = logger
	})
	ctx := context.Background()
	s.Refresh(ctx)
	victim := fake.Users()[2]
	addTestMeeting(fake, victim, "logged/new==", testNow) // the victim is fetched every cycle until it succeeds
	failing := func(status int) {
		fake.ClearFaults()
		fake.InjectFault(zoomfake.Fault{Kind: zoomfake.FaultServerError, Status: status, Path: "/v2/report/users/" + victim.ID})
	}
	lines := func() int { return countLines(logs, "Refreshing user failed", "user="+victim.ID) }
	run := func(n int, step time.Duration) {
		for range n {
			clock.Advance(step)
			s.Refresh(ctx)
		}
	}

	failing(500)
	run(30, 20*time.Second) // 10 minutes, 3 cycles a minute
	if n := lines(); n != 10 {
		t.Errorf("a user failing for 10 minutes of 1-minute intervals was logged %d times, want 10", n)
	}
	failing(503) // another kind: logged at once
	run(1, 20*time.Second)
	if n := lines(); n != 11 {
		t.Errorf("a new kind of failure was not logged at once: %d lines, want 11", n)
	}
	fake.ClearFaults() // a success ends the episode: the next failure is logged at once
	run(1, 20*time.Second)
	addTestMeeting(fake, victim, "logged/again==", clock.Now())
	failing(503)
	run(1, 20*time.Second) // within the interval of the last line
	if n := lines(); n != 12 {
		t.Errorf("a failure after a success: %d lines, want 12", n)
	}
	if strings.Count(logs.String(), "\n") > 80 {
		t.Errorf("%d log lines for 33 cycles:\n%s", strings.Count(logs.String(), "\n"), logs)
	}
}
