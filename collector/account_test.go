package collector

import (
	"bufio"
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/zoomexporter/zoom_exporter/scrape"
)

// accountSnapshot is testSnapshot with what the account collectors fetched:
// the daily collector disabled for a missing scope after it had read the
// month once, storage with an unlimited free allowance, a value refused.
func accountSnapshot() *scrape.Snapshot {
	snap := testSnapshot()
	at := snap.Published
	yesterday := time.Date(2026, 11, 19, 0, 0, 0, 0, time.UTC)
	snap.Users[0].LastLogin = time.Date(2026, 11, 18, 7, 30, 0, 0, time.UTC)
	snap.Users[2].LastLogin = time.Date(2026, 9, 2, 16, 0, 0, 0, time.UTC)
	snap.Users = append(snap.Users, scrape.UserSnapshot{Key: "gone", Email: "gone@example.com", Retired: true, LastLogin: at})
	snap.Account = &scrape.AccountSnapshot{
		Collectors: []scrape.CollectorUp{
			{Name: scrape.CollectorLicenses, Up: true},
			{Name: scrape.CollectorCloudRecording, Up: true},
			{Name: scrape.CollectorDaily, Up: false}, // disabled for a missing scope, its last figures kept
		},
		Licenses: []scrape.LicenseCount{
			{License: "basic", Status: "active", Users: 4},
			{License: "licensed", Status: "active", Users: 18},
			{License: "licensed", Status: "inactive", Users: 2},
			{License: "licensed", Status: "pending", Users: 1},
		},
		Storage: &scrape.StorageSnapshot{
			Used: scrape.StorageFigure{Bytes: 1.5 * (1 << 30), Date: yesterday, Known: true},
			Plan: scrape.StorageFigure{Bytes: 3 * (1 << 40), Date: yesterday, Known: true},
			Free: scrape.StorageFigure{Bytes: math.Inf(1), Date: yesterday, Known: true},
		},
		Daily: &scrape.DailySnapshot{
			Month:       snap.Month,
			MonthToDate: &scrape.DayFigures{NewUsers: 2, Meetings: 410, Participants: 3050, MeetingMinutes: 18240},
			Today:       &scrape.DayFigures{Meetings: 12, Participants: 80, MeetingMinutes: 505},
			Yesterday:   &scrape.DayFigures{NewUsers: 1, Meetings: 31, Participants: 240, MeetingMinutes: 1410},
		},
		Refused: map[string]uint64{"usage": 1, "plan_usage": 0, "free_usage": 0, "date": 0, "last_login_time": 0,
			"new_users": 0, "meetings": 0, "participants": 0, "meeting_minutes": 0},
	}
	return snap
}

// onlyAccount keeps the account collectors: the golden files hold theirs.
var onlyAccount = []string{"--no-collector.month", "--no-collector.meetings", "--no-collector.distribution", "--no-collector.user_info"}

// TestAccountGolden serves the account collectors' metrics: counts by
// license and status in every user label mode, the last sign-in only with a
// user label (never of a retired user), storage in bytes with Unlimited as
// +Inf, the daily figures in seconds, zoom_collector_up per collector.
func TestAccountGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
	}{
		{"account", onlyAccount},
		{"account_none", append([]string{"--collector.user-label=none"}, onlyAccount...)},
		{"account_no_daily", append([]string{"--no-collector.daily"}, onlyAccount...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			app := kingpin.New("test", "")
			opts := AddFlags(app)
			if _, err := app.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			e, err := New(fixedSource{accountSnapshot()}, *opts)
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

// TestAccountMetricsAbsentUntilFetched: before the first refresh, and for a
// shard that leaves the account-wide figures to shard 0, only what was
// fetched is served; no account collector serves nothing of them.
func TestAccountMetricsAbsentUntilFetched(t *testing.T) {
	t.Parallel()
	shard1 := accountSnapshot()
	shard1.Account = &scrape.AccountSnapshot{
		Collectors: []scrape.CollectorUp{{Name: scrape.CollectorLicenses, Up: true}},
		Refused:    map[string]uint64{"last_login_time": 0},
	}
	fresh := testSnapshot()
	tests := []struct {
		name string
		snap *scrape.Snapshot
		args []string
		want map[string]int // family -> series
	}{
		{"shard 1", shard1, nil, map[string]int{"zoom_collector_up": 1, "zoom_user_last_login_timestamp_seconds": 2, "zoom_account_users": 0,
			"zoom_cloud_recording_storage_used_bytes": 0, "zoom_account_month_meetings": 0, "zoom_account_values_refused_total": 1}},
		{"before the first refresh", fresh, nil, map[string]int{"zoom_collector_up": 0, "zoom_account_users": 0, "zoom_account_values_refused_total": 0}},
		{"every account collector off", accountSnapshot(), []string{"--no-collector.licenses", "--no-collector.cloud_recording", "--no-collector.daily"},
			map[string]int{"zoom_collector_up": 0, "zoom_account_users": 0, "zoom_user_last_login_timestamp_seconds": 0, "zoom_account_values_refused_total": 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			app := kingpin.New("test", "")
			opts := AddFlags(app)
			if _, err := app.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			e, err := New(fixedSource{tt.snap}, *opts)
			if err != nil {
				t.Fatal(err)
			}
			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(e)
			families, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int{}
			for _, mf := range families {
				got[mf.GetName()] = len(mf.GetMetric())
			}
			for family, n := range tt.want {
				if got[family] != n {
					t.Errorf("%s: %d series, want %d", family, got[family], n)
				}
			}
		})
	}
}

// TestAccountOpenMetricsNames: the account families keep names of their own
// in OpenMetrics, as TestOpenMetricsFamilyNamesUnique checks the others.
func TestAccountOpenMetricsNames(t *testing.T) {
	t.Parallel()
	e, err := New(fixedSource{accountSnapshot()}, Options{UserLabel: UserLabelEmail})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(e)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeOpenMetrics))
	for _, mf := range families {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	seen, familyOf, family := map[string]bool{}, map[string]string{}, ""
	sc := bufio.NewScanner(&buf)
	sc.Buffer(nil, 1<<20)
	accountFamilies := 0
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			family, _, _ = strings.Cut(rest, " ")
			if seen[family] {
				t.Errorf("OpenMetrics family %s is exposed twice", family)
			}
			seen[family] = true
			if strings.HasPrefix(family, "zoom_account_") || strings.HasPrefix(family, "zoom_cloud_") || strings.HasPrefix(family, "zoom_collector_") {
				accountFamilies++
			}
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		sample := strings.FieldsFunc(line, func(r rune) bool { return r == '{' || r == ' ' })[0]
		if f, ok := familyOf[sample]; ok && f != family {
			t.Errorf("sample %s belongs to families %s and %s", sample, f, family)
		}
		familyOf[sample] = family
	}
	if accountFamilies != 15 {
		t.Errorf("%d account families in the exposition, want 15", accountFamilies)
	}
}

// TestOptionsOn: the scraper fetches what the flags enable, defaults
// included.
func TestOptionsOn(t *testing.T) {
	t.Parallel()
	app := kingpin.New("test", "")
	opts := AddFlags(app)
	if _, err := app.Parse([]string{"--no-collector.cloud_recording"}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{scrape.CollectorLicenses: true, scrape.CollectorCloudRecording: false, scrape.CollectorDaily: true, "nonsense": false} {
		if got := opts.On(name); got != want {
			t.Errorf("On(%q) = %v, want %v", name, got, want)
		}
	}
	if !(&Options{}).On(scrape.CollectorDaily) {
		t.Error("without flags, the daily collector is not on by default")
	}
}
