package membench

import (
	"flag"
	"fmt"
	"os"
	"testing"
)

var (
	benchUsers     = flag.Int("membench.users", 10000, "users of BenchmarkRefreshRSS")
	benchMeetings  = flag.Int("membench.meetings", 50, "meetings per user of BenchmarkRefreshRSS")
	benchCycles    = flag.Int("membench.cycles", 12, "cycles after the first refresh, 5 minutes apart")
	benchStore     = flag.Bool("membench.store", true, "the exporter keeps a store, as it does by default")
	benchScrapes   = flag.Int("membench.scrapes", 2, "gzip scrapes of /metrics after each cycle")
	benchScrapers  = flag.Int("membench.scrapers", 0, "concurrent scrapers of the last two phases (0: none)")
	benchPublishes = flag.Int("membench.publishes", 3, "refreshes of each phase of the scrapers' rounds")
	benchRounds    = flag.Int("membench.rounds", 3, "rounds of the scrapers' phases, alone and scraped")
)

// TestMeasureCounts runs the measure on a small account: the child counts
// exactly the meetings the fake holds, its /metrics answers, and every
// sample is read.
func TestMeasureCounts(t *testing.T) {
	for _, tc := range []struct {
		name            string
		users, meetings int
		store           bool
		scrapers        int
	}{
		{"no store", 30, 7, false, 0},
		{"store and scrapers", 20, 12, true, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Measure(Options{Users: tc.users, Meetings: tc.meetings, Cycles: 2, Scrapes: 1, Store: tc.store, Scrapers: tc.scrapers, Publishes: 1, Rounds: 2})
			if err != nil {
				t.Fatal(err)
			}
			// Users may hold more than asked (the fake's own meetings).
			if r.Truth < int64(tc.users*tc.meetings) || r.First.Counted != r.Truth {
				t.Errorf("first refresh counted %d meetings, the fake holds %d (at least %d asked)", r.First.Counted, r.Truth, tc.users*tc.meetings)
			}
			if len(r.Cycles) != 2 {
				t.Fatalf("%d cycles measured, want 2", len(r.Cycles))
			}
			// Each cycle adds one meeting to 5% of users (at least one).
			step := int64(max(tc.users/20, 1))
			for i, c := range r.Cycles {
				if want := r.First.Counted + int64(i+1)*step; c.Counted != want {
					t.Errorf("cycle %d: %d meetings counted, want %d", i+1, c.Counted, want)
				}
				// The cycle's scrape encoded the usage metrics: kept.
				if c.CacheBytes <= 0 {
					t.Errorf("cycle %d: cached encodings %d bytes after a scrape", i+1, c.CacheBytes)
				}
			}
			for name, v := range map[string]uint64{"baseline": r.Baseline.RSS, "first": r.First.RSS, "last": r.Cycles[1].RSS, "peak": r.Peak} {
				if v == 0 {
					t.Errorf("%s VmRSS not read", name)
				}
			}
			if tc.store != (r.First.StoreBytes > 0) {
				t.Errorf("store %v, but the store file has %d bytes", tc.store, r.First.StoreBytes)
			}
			if tc.scrapers == 0 {
				if len(r.Scraped) != 0 || len(r.Alone) != 0 {
					t.Errorf("no scrapers asked, but the phases ran: %+v %+v", r.Alone, r.Scraped)
				}
				return
			}
			if len(r.Alone) != 2 || len(r.Scraped) != 2 {
				t.Fatalf("2 rounds asked: %d phases alone, %d scraped", len(r.Alone), len(r.Scraped))
			}
			for i := range 2 {
				a, s := r.Alone[i], r.Scraped[i]
				if s.Scrapes < 4*tc.scrapers || s.Failed != 0 || a.Scrapes != 0 {
					t.Errorf("round %d, %d concurrent scrapers: %d scrapes, %d failed (alone: %d); want at least %d, none failed", i+1, tc.scrapers, s.Scrapes, s.Failed, a.Scrapes, 4*tc.scrapers)
				}
				if a.Peak == 0 || s.Peak == 0 || a.Settled.RSS == 0 || s.Settled.RSS == 0 {
					t.Errorf("round %d: a phase's VmRSS not read: %+v %+v", i+1, a, s)
				}
			}
			// Each phase refreshes once: the second round ran the scraped
			// phase first, so the last phase is the one alone.
			if want := r.Cycles[1].Counted + 4*step; r.Alone[1].Settled.Counted != want {
				t.Errorf("after both rounds %d meetings counted, want %d", r.Alone[1].Settled.Counted, want)
			}
			if want := r.Cycles[1].Counted + 3*step; r.Scraped[1].Settled.Counted != want {
				t.Errorf("after the second round's scraped phase %d meetings counted, want %d", r.Scraped[1].Settled.Counted, want)
			}
			if peak, settled := r.ScrapersAdd(); peak == [3]float64{} && settled == [3]float64{} {
				t.Error("ScrapersAdd gave nothing for two rounds")
			}
		})
	}
}

// BenchmarkRefreshRSS prints the exporter's resident memory per counted
// meeting after a full refresh and its growth over an hour of cycles and
// scrapes (go run ./internal/metricsbench prints the same, with the
// concurrent scrapers' part):
//
//	go test -run XXX -bench RefreshRSS -benchtime 1x ./internal/membench
func BenchmarkRefreshRSS(b *testing.B) {
	for range b.N {
		r, err := Measure(Options{Users: *benchUsers, Meetings: *benchMeetings, Cycles: *benchCycles, Scrapes: *benchScrapes,
			Scrapers: *benchScrapers, Publishes: *benchPublishes, Rounds: *benchRounds, Store: *benchStore,
			Log: func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }})
		if err != nil {
			b.Fatal(err)
		}
		fmt.Print(r) // b.Log would cut it short
		b.ReportMetric(r.PerMeeting(), "rss-bytes/meeting")
		b.ReportMetric(100*r.Growth(), "growth-%")
		b.ReportMetric(100*r.MaxGrowth(), "max-growth-%")
	}
}
