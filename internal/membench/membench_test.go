package membench

import (
	"flag"
	"fmt"
	"testing"
)

var (
	benchUsers    = flag.Int("membench.users", 10000, "users of BenchmarkRefreshRSS")
	benchMeetings = flag.Int("membench.meetings", 50, "meetings per user of BenchmarkRefreshRSS")
	benchCycles   = flag.Int("membench.cycles", 12, "cycles after the first refresh, 5 minutes apart")
	benchStore    = flag.Bool("membench.store", true, "the scraper keeps a store, as the exporter does")
	benchScrapes  = flag.Int("membench.scrapes", 2, "scrapes per cycle (the usage metrics gathered from the latest snapshot, uncached)")
)

// TestMeasureCounts runs the measure on a small account: the child counts
// exactly the meetings the fake holds, and every sample is read.
func TestMeasureCounts(t *testing.T) {
	for _, tc := range []struct {
		name            string
		users, meetings int
		store           bool
	}{
		{"no store", 30, 7, false},
		{"store", 20, 12, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Measure(Options{Users: tc.users, Meetings: tc.meetings, Cycles: 2, Scrapes: 1, Store: tc.store})
			if err != nil {
				t.Fatal(err)
			}
			// Users may hold more than asked (the fake's own meetings).
			if r.Truth < int64(tc.users*tc.meetings) || r.Counted != r.Truth {
				t.Errorf("first refresh counted %d meetings, the fake holds %d (at least %d asked)", r.Counted, r.Truth, tc.users*tc.meetings)
			}
			if len(r.Cycles) != 2 {
				t.Fatalf("%d cycles measured, want 2", len(r.Cycles))
			}
			// Each cycle adds one meeting to 5% of users (at least one).
			step := int64(max(tc.users/20, 1))
			for i, c := range r.Cycles {
				if want := r.Counted + int64(i+1)*step; c.Counted != want {
					t.Errorf("cycle %d: %d meetings counted, want %d", i+1, c.Counted, want)
				}
			}
			for name, v := range map[string]uint64{"baseline": r.Baseline.RSS, "first": r.First.RSS, "last": r.Cycles[1].RSS, "peak": r.Peak} {
				if v == 0 {
					t.Errorf("%s VmRSS not read", name)
				}
			}
			if tc.store && r.First.RSSFile <= r.Baseline.RSSFile {
				t.Errorf("with a store, file-backed memory %d did not grow from %d", r.First.RSSFile, r.Baseline.RSSFile)
			}
		})
	}
}

// BenchmarkRefreshRSS prints the scraper's resident memory per counted
// meeting after a full refresh and its growth over an hour of cycles:
//
//	go test -run XXX -bench RefreshRSS -benchtime 1x ./internal/membench
func BenchmarkRefreshRSS(b *testing.B) {
	for range b.N {
		r, err := Measure(Options{Users: *benchUsers, Meetings: *benchMeetings, Cycles: *benchCycles, Scrapes: *benchScrapes, Store: *benchStore})
		if err != nil {
			b.Fatal(err)
		}
		fmt.Print(r) // b.Log would cut it short
		b.ReportMetric(r.PerMeeting(), "rss-bytes/meeting")
		b.ReportMetric(100*r.Growth(), "growth-%")
		b.ReportMetric(100*r.SettledGrowth(), "settled-growth-%")
	}
}
