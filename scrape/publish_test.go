package scrape

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
	"github.com/zoomexporter/zoom_exporter/zoom"
)

// checkTruth compares every user's month and counters with the fake's
// ground truth (mid-month: only the current month is refreshed).
func checkTruth(t *testing.T, env *testEnv, snap *Snapshot) {
	t.Helper()
	from, to := monthWindow(env.clock.Now())
	for _, u := range env.fake.Users() {
		want := truth(env.fake.Meetings(u.ID, from, to, zoom.ReportPast))
		got := userByKey(t, snap, u.ID)
		sameTotals(t, "month "+u.Email, got.Month, want)
		sameTotals(t, "counters "+u.Email, got.Counters, want)
	}
}

// Refreshes that change no usage data publish new health but keep the
// usage snapshot, so that caches keyed on Usage() stay valid; a new meeting
// makes a new one. Counters hold the ground truth throughout.
func TestUnchangedRefreshKeepsUsage(t *testing.T) {
	t.Parallel()
	for _, reportType := range []string{zoom.ReportPast, zoom.ReportPastJoined} {
		t.Run(reportType, func(t *testing.T) {
			t.Parallel()
			env := newTestEnv(t, zoomfake.Options{Seed: 161, Users: 12, HeavyUserMeetings: 40}, nil)
			s := newTestScraper(t, env, func(c *ScraperConfig) { c.ReportType = reportType })
			ctx := context.Background()
			s.Refresh(ctx)
			first := s.Snapshot()
			if first.Usage() != first || !first.Up {
				t.Fatalf("first refresh: usage %p of snapshot %p, up %v", first.Usage(), first, first.Up)
			}
			if reportType == zoom.ReportPast {
				checkTruth(t, env, first)
			}

			prev := first
			for i := range 4 {
				env.clock.Advance(time.Minute)
				s.Refresh(ctx)
				snap := s.Snapshot()
				if snap == prev {
					t.Fatalf("refresh %d published no new snapshot: its health (published, last refresh) must be served", i+2)
				}
				if snap.Usage() != first {
					t.Errorf("refresh %d changed no usage data but published new usage data", i+2)
				}
				if !snap.Published.Equal(env.clock.Now()) || !snap.Up || !snap.LastSuccess.Equal(env.clock.Now()) {
					t.Errorf("refresh %d: health not current: published %v, up %v, last success %v", i+2, snap.Published, snap.Up, snap.LastSuccess)
				}
				if u := userByKey(t, snap, env.fake.Users()[2].ID); !u.LastRefresh.Equal(env.clock.Now()) {
					t.Errorf("refresh %d: user's last refresh %v, want %v", i+2, u.LastRefresh, env.clock.Now())
				}
				prev = snap
			}
			// A targeted fetch's republish that counted nothing keeps it too.
			s.refreshing.Lock()
			s.republish()
			s.refreshing.Unlock()
			if s.Snapshot().Usage() != first {
				t.Error("a republish with no new usage data published new usage data")
			}

			// One new meeting: new usage data, exact.
			host := env.fake.Users()[4]
			env.fake.AddMeeting(zoomfake.Meeting{
				UUID: "issue16/new==", Type: 8, HostID: host.ID, Start: env.clock.Now().Add(-time.Hour),
				DurationMinutes: 45, TotalMinutes: 135, Participants: 3, HasChat: true,
			})
			env.clock.Advance(s.conf.FullInterval) // round-robin and hosts report alike fetch it
			s.Refresh(ctx)
			changed := s.Snapshot()
			if changed.Usage() == first || changed.Usage() != changed {
				t.Fatalf("a new meeting did not publish new usage data")
			}
			if reportType == zoom.ReportPast {
				checkTruth(t, env, changed)
			}
			before := userByKey(t, first, host.ID).Counters["recurring_fixed_time"]
			after := userByKey(t, changed, host.ID).Counters["recurring_fixed_time"]
			before.Add(Totals{Meetings: 1, DurationSeconds: 45 * 60, ParticipantSeconds: 135 * 60, Participants: 3, WithChat: 1})
			if after != before {
				t.Errorf("host's counters %+v, want %+v", after, before)
			}
			env.clock.Advance(time.Minute)
			s.Refresh(ctx)
			if s.Snapshot().Usage() != changed {
				t.Error("the refresh after the new meeting changed nothing but published new usage data")
			}
		})
	}
}

// sameUsage tells usage data from health field by field.
func TestSameUsage(t *testing.T) {
	t.Parallel()
	base := func() *Snapshot {
		return &Snapshot{
			Published: testNow, Month: monthStart(testNow), Up: true, LastSuccess: testNow,
			Users: []UserSnapshot{{
				Key: "k", ID: "id", Email: "a@example.com", Listed: true, License: "licensed", Dept: "R&D",
				Month:       map[string]Totals{"scheduled": {Meetings: 2}},
				Counters:    map[string]Totals{"scheduled": {Meetings: 5}},
				LastRefresh: testNow, LastAttempt: testNow,
			}},
			Durations:    map[string]Histogram{"scheduled": {Count: 5, Sum: 300, Buckets: map[float64]uint64{300: 5}}},
			Participants: map[string]Histogram{"scheduled": {Count: 5, Sum: 10, Buckets: map[float64]uint64{2: 5}}},
		}
	}
	for _, tc := range []struct {
		name   string
		change func(s *Snapshot)
		same   bool
	}{
		{"nothing", func(*Snapshot) {}, true},
		{"published", func(s *Snapshot) { s.Published = s.Published.Add(time.Minute) }, true},
		{"up", func(s *Snapshot) { s.Up = false }, true},
		{"last success", func(s *Snapshot) { s.LastSuccess = time.Time{} }, true},
		{"refresh duration", func(s *Snapshot) { s.RefreshDuration = time.Second }, true},
		{"next refresh", func(s *Snapshot) { s.NextRefresh = testNow }, true},
		{"pending", func(s *Snapshot) { s.PendingUsers = 3 }, true},
		{"clamped", func(s *Snapshot) { s.ClampedFigures = 1 }, true},
		{"user last refresh", func(s *Snapshot) { s.Users[0].LastRefresh = testNow.Add(time.Minute) }, true},
		{"user error", func(s *Snapshot) { s.Users[0].LastError = "boom"; s.Users[0].LastZoomErr = &zoom.APIError{Status: 500} }, true},
		{"user overdue", func(s *Snapshot) { s.Users[0].Overdue, s.Users[0].OverdueSince = true, testNow }, true},
		{"equal maps, not the same", func(s *Snapshot) {
			s.Users[0].Counters = map[string]Totals{"scheduled": {Meetings: 5}}
		}, true},

		{"month", func(s *Snapshot) { s.Month = s.Month.AddDate(0, 1, 0) }, false},
		{"one more user", func(s *Snapshot) { s.Users = append(s.Users, UserSnapshot{Key: "z"}) }, false},
		{"key", func(s *Snapshot) { s.Users[0].Key = "j" }, false},
		{"id", func(s *Snapshot) { s.Users[0].ID = "" }, false},
		{"email", func(s *Snapshot) { s.Users[0].Email = "b@example.com" }, false},
		{"listed", func(s *Snapshot) { s.Users[0].Listed = false }, false},
		{"retired", func(s *Snapshot) { s.Users[0].Retired = true }, false},
		{"license", func(s *Snapshot) { s.Users[0].License = "basic" }, false},
		{"dept", func(s *Snapshot) { s.Users[0].Dept = "" }, false},
		{"counter", func(s *Snapshot) { s.Users[0].Counters = map[string]Totals{"scheduled": {Meetings: 6}} }, false},
		{"month figure", func(s *Snapshot) { s.Users[0].Month = map[string]Totals{"scheduled": {Meetings: 3}} }, false},
		{"month unknown", func(s *Snapshot) { s.Users[0].Month = nil }, false},
		{"month known empty", func(s *Snapshot) { s.Users[0].Month = map[string]Totals{} }, false},
		{"duration histogram", func(s *Snapshot) {
			s.Durations = map[string]Histogram{"scheduled": {Count: 5, Sum: 300, Buckets: map[float64]uint64{300: 4}}}
		}, false},
		{"size histogram", func(s *Snapshot) { s.Participants = nil }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, b := base(), base()
			tc.change(b)
			if got := sameUsage(a, b); got != tc.same {
				t.Errorf("sameUsage = %v, want %v", got, tc.same)
			}
		})
	}
}

// A field no one listed as health is usage data: compared by reflection.
func TestOtherFieldsAreUsage(t *testing.T) {
	t.Parallel()
	type later struct {
		Up       bool
		Users    []int
		Added    *struct{ N int }
		AddedMap map[string]int
	}
	fields := otherFields(reflect.TypeFor[later](), map[string]bool{"Up": true}, map[string]bool{"Users": true})
	if len(fields) != 2 {
		t.Fatalf("other fields %v, want Added and AddedMap", fields)
	}
	for _, tc := range []struct {
		name string
		a, b later
		same bool
	}{
		{"equal", later{Added: &struct{ N int }{1}}, later{Added: &struct{ N int }{1}}, true},
		{"health", later{Up: true}, later{}, true},
		{"pointed-to value", later{Added: &struct{ N int }{1}}, later{Added: &struct{ N int }{2}}, false},
		{"map", later{AddedMap: map[string]int{"a": 1}}, later{AddedMap: map[string]int{"a": 2}}, false},
	} {
		if got := sameOthers(reflect.ValueOf(tc.a), reflect.ValueOf(tc.b), fields); got != tc.same {
			t.Errorf("%s: same = %v, want %v", tc.name, got, tc.same)
		}
	}
}
