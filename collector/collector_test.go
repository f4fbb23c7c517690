package collector

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/zoomexporter/zoom_exporter/scrape"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

type fixedSource struct{ snap *scrape.Snapshot }

func (f fixedSource) Snapshot() *scrape.Snapshot { return f.snap }

func testSnapshot() *scrape.Snapshot {
	refreshed := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	hist := func(count uint64, sum float64, buckets map[float64]uint64) scrape.Histogram {
		return scrape.Histogram{Count: count, Sum: sum, Buckets: buckets}
	}
	return &scrape.Snapshot{
		Published:         refreshed,
		Month:             time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
		Up:                true,
		LastSuccess:       refreshed,
		RefreshDuration:   1500 * time.Millisecond,
		EffectiveInterval: 5 * time.Minute,
		PendingUsers:      2,
		Users: []scrape.UserSnapshot{
			{
				Key: "AbCdEfGhIjKlMnOpQrStUv", ID: "AbCdEfGhIjKlMnOpQrStUv", Email: "alice@example.com", Listed: true,
				License: "licensed", Dept: "Sales", LastRefresh: refreshed,
				Month: map[string]scrape.Totals{
					"scheduled": {Meetings: 2, DurationSeconds: 5400, ParticipantSeconds: 21600, Participants: 9, WithRecording: 1, WithScreenShare: 2, WithChat: 1},
					"pmi":       {Meetings: 1, DurationSeconds: 1800, ParticipantSeconds: 3600, Participants: 2},
				},
				Counters: map[string]scrape.Totals{
					"scheduled": {Meetings: 5, DurationSeconds: 12600, ParticipantSeconds: 50400, Participants: 20, WithRecording: 2, WithScreenShare: 4, WithChat: 3},
					"pmi":       {Meetings: 1, DurationSeconds: 1800, ParticipantSeconds: 3600, Participants: 2},
				},
			},
			{
				Key: "bob@example.com", Email: "bob@example.com", LastRefresh: time.Time{}, LastError: "zoom API ...: HTTP 500",
				Counters: map[string]scrape.Totals{},
			},
			{
				Key: "ZyXwVuTsRqPoNmLkJiHgFe", ID: "ZyXwVuTsRqPoNmLkJiHgFe", Email: "carol@example.com", Listed: true,
				License: "basic", Dept: "", LastRefresh: refreshed.Add(-time.Minute),
				Month: map[string]scrape.Totals{
					"scheduled": {Meetings: 1, DurationSeconds: 600, ParticipantSeconds: 1200, Participants: 2, WithChat: 1},
				},
				Counters: map[string]scrape.Totals{
					"scheduled": {Meetings: 1, DurationSeconds: 600, ParticipantSeconds: 1200, Participants: 2, WithChat: 1},
					"webinar":   {Meetings: 1, DurationSeconds: 3600, ParticipantSeconds: 360000, Participants: 150, WithRecording: 1},
				},
			},
		},
		Durations: map[string]scrape.Histogram{
			"scheduled": hist(6, 13200, map[float64]uint64{300: 0, 900: 1, 1800: 2, 2700: 4, 3600: 6, 5400: 6, 7200: 6, 10800: 6, 14400: 6, 28800: 6}),
		},
		Participants: map[string]scrape.Histogram{
			"scheduled": hist(6, 22, map[float64]uint64{2: 2, 3: 3, 5: 5, 10: 6, 25: 6, 50: 6, 100: 6, 250: 6, 500: 6, 1000: 6}),
		},
	}
}

func TestGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
	}{
		{"email", nil},
		{"id", []string{"--collector.user-label=id"}},
		{"hash", []string{"--collector.user-label=hash"}},
		{"none", []string{"--collector.user-label=none"}},
		{"only_month", []string{"--no-collector.meetings", "--no-collector.distribution", "--no-collector.user_info"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			app := kingpin.New("test", "")
			opts := AddFlags(app)
			if _, err := app.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			opts.HashSalt = "test-salt"
			e, err := New(fixedSource{testSnapshot()}, *opts)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", tt.name+".prom")
			if *update {
				reg := prometheus.NewPedanticRegistry()
				reg.MustRegister(e)
				writeGolden(t, reg, golden)
			}
			f, err := os.Open(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./collector -update to create it)", err)
			}
			defer f.Close()
			if err := testutil.CollectAndCompare(e, f); err != nil {
				t.Error(err)
			}
			problems, err := testutil.CollectAndLint(e)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range problems {
				t.Errorf("promlint: %s: %s", p.Metric, p.Text)
			}
		})
	}
}

// writeGolden writes what reg gathers in the text exposition format.
func writeGolden(t *testing.T, reg prometheus.Gatherer, path string) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for _, mf := range families {
		if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestHashIsStableAndSalted(t *testing.T) {
	t.Parallel()
	u := scrape.UserSnapshot{Email: "Alice@Example.com"}
	a := &Exporter{userLabel: UserLabelHash, salt: "one"}
	b := &Exporter{userLabel: UserLabelHash, salt: "two"}
	if a.userValue(u) != a.userValue(scrape.UserSnapshot{Email: "alice@example.com"}) {
		t.Error("hash depends on e-mail case")
	}
	if a.userValue(u) == b.userValue(u) {
		t.Error("hash does not depend on the salt")
	}
	if strings.Contains(a.userValue(u), "alice") || len(a.userValue(u)) != 16 {
		t.Errorf("hash = %q, want 16 hex digits", a.userValue(u))
	}
}

func TestUnknownUserLabelRejected(t *testing.T) {
	t.Parallel()
	_, err := New(fixedSource{testSnapshot()}, Options{UserLabel: "name"})
	if err == nil || !strings.Contains(err.Error(), "--collector.user-label") {
		t.Fatalf("want an error naming --collector.user-label, got %v", err)
	}
}

// swappableSource publishes snapshots like the scraper does.
type swappableSource struct {
	mu   sync.Mutex
	snap *scrape.Snapshot
}

func (s *swappableSource) Snapshot() *scrape.Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snap
}

func (s *swappableSource) publish(snap *scrape.Snapshot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.snap = snap
}

func TestSnapshotGathererGathersOncePerSnapshot(t *testing.T) {
	t.Parallel()
	src := &swappableSource{snap: testSnapshot()}
	e, err := New(src, Options{UserLabel: UserLabelEmail})
	if err != nil {
		t.Fatal(err)
	}
	g, err := NewSnapshotGatherer(e, src)
	if err != nil {
		t.Fatal(err)
	}
	first, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	again, _ := g.Gather()
	if &first[0] != &again[0] {
		t.Error("the same snapshot was gathered twice")
	}
	next := testSnapshot()
	next.Users = next.Users[:1]
	src.publish(next)
	after, _ := g.Gather()
	if &after[0] == &first[0] {
		t.Fatal("a new snapshot was not gathered")
	}
	count := func(mfs []*dto.MetricFamily, name string) int {
		for _, mf := range mfs {
			if mf.GetName() == name {
				return len(mf.GetMetric())
			}
		}
		return 0
	}
	if count(first, "zoom_user_info") != 3 || count(after, "zoom_user_info") != 1 {
		t.Errorf("zoom_user_info series: %d then %d, want 3 then 1", count(first, "zoom_user_info"), count(after, "zoom_user_info"))
	}
}
