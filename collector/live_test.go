package collector

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/zoomexporter/zoom_exporter/scrape"
)

var liveNames = []string{"zoom_events_live_known", "zoom_meetings_in_progress", "zoom_meeting_participants_in_progress"}

// The live gauges are served only while the live state is known, and
// zoom_events_live_known only when an event transport is configured.
func TestLiveGauges(t *testing.T) {
	t.Parallel()
	since := time.Date(2026, 11, 20, 11, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		live scrape.LiveSnapshot
		want string // golden file; "" for no live series at all
	}{
		{"no transport", scrape.LiveSnapshot{}, ""},
		{"unknown", scrape.LiveSnapshot{Enabled: true, Since: since,
			// Stale numbers a snapshot might carry are never served.
			Meetings: map[string]int{"scheduled": 4}, Participants: map[string]int{"scheduled": 9}}, "live_unknown.prom"},
		{"known", scrape.LiveSnapshot{Enabled: true, Known: true, Since: since,
			Meetings:     map[string]int{"scheduled": 3, "webinar": 1, "pmi": 0},
			Participants: map[string]int{"scheduled": 11, "webinar": 250, "pmi": 0}}, "live_known.prom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			snap := testSnapshot()
			snap.Live = tt.live
			e, err := New(fixedSource{snap}, Options{UserLabel: UserLabelEmail})
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == "" {
				if n := testutil.CollectAndCount(e, liveNames...) + testutil.CollectAndCount(NewLiveCollector(fixedSource{snap})); n != 0 {
					t.Errorf("%d live series served without an event transport", n)
				}
				return
			}
			golden := filepath.Join("testdata", tt.want)
			if *update {
				reg := prometheus.NewPedanticRegistry()
				reg.MustRegister(e)
				writeGolden(t, onlyFamilies{reg, liveNames}, golden)
			}
			f, err := os.Open(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./collector -update to create it)", err)
			}
			defer f.Close()
			if err := testutil.CollectAndCompare(e, f, liveNames...); err != nil {
				t.Error(err)
			}
			problems, err := testutil.CollectAndLint(e, liveNames...)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range problems {
				t.Errorf("promlint: %s: %s", p.Metric, p.Text)
			}
			if n := testutil.CollectAndCount(e, liveNames[1:]...); !tt.live.Known && n != 0 {
				t.Errorf("%d live gauges served while unknown", n)
			}

			// Served apart, for a cache of the usage metrics: the same.
			apart, err := New(fixedSource{snap}, Options{UserLabel: UserLabelEmail, SeparateLive: true})
			if err != nil {
				t.Fatal(err)
			}
			if n := testutil.CollectAndCount(apart, liveNames...); n != 0 {
				t.Errorf("the Exporter serves %d live series with SeparateLive", n)
			}
			f2, err := os.Open(golden)
			if err != nil {
				t.Fatal(err)
			}
			defer f2.Close()
			if err := testutil.CollectAndCompare(NewLiveCollector(fixedSource{snap}), f2, liveNames...); err != nil {
				t.Errorf("LiveCollector: %v", err)
			}
		})
	}
}

// onlyFamilies gathers the named families of g.
type onlyFamilies struct {
	g     prometheus.Gatherer
	names []string
}

func (o onlyFamilies) Gather() ([]*dto.MetricFamily, error) {
	mfs, err := o.g.Gather()
	var out []*dto.MetricFamily
	for _, mf := range mfs {
		if slices.Contains(o.names, mf.GetName()) {
			out = append(out, mf)
		}
	}
	return out, err
}
