package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/zoomexporter/zoom_exporter/internal/testenv"
	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
	"github.com/zoomexporter/zoom_exporter/scrape"
	"github.com/zoomexporter/zoom_exporter/zoom"
)

// binary is the zoom_exporter built once for the end-to-end tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "zoom_exporter_e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "zoom_exporter")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building zoom_exporter:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type exporterProcess struct {
	cmd    *exec.Cmd
	base   string
	output *testenv.SyncBuffer
	done   chan error
}

var freeAddress = testenv.FreeAddress

// launchExporter runs the binary with args on a free loopback address,
// killed when the test ends. Without a --storage.path in args, it gets a
// fresh temporary one. scheme is http or https.
func launchExporter(t *testing.T, scheme string, env []string, args ...string) *exporterProcess {
	t.Helper()
	addr := freeAddress(t)
	args = append([]string{"--web.listen-address=" + addr}, args...)
	if !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--storage.path") }) && !slices.Contains(args, "--demo") {
		args = append(args, "--storage.path="+t.TempDir())
	}
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	out := &testenv.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &exporterProcess{cmd: cmd, base: scheme + "://" + addr, output: out, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("exporter output:\n%s", out.String())
		}
	})
	return p
}

// startExporter runs the binary with args and waits until /-/ready answers 200.
func startExporter(t *testing.T, env []string, args ...string) *exporterProcess {
	t.Helper()
	p := launchExporter(t, "http", env, args...)
	waitFor(t, 60*time.Second, "the exporter to be ready", func() bool {
		resp, err := http.Get(p.base + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p
}

// zoomArgs are the flags that point the exporter at a fake Zoom server at
// base with the fake's credentials (the secret goes by environment).
func zoomArgs(base string) []string {
	return []string{
		"--zoom.api-url=" + base + "/v2",
		"--zoom.token-url=" + base + "/oauth/token",
		"--zoom.account-id=" + zoomfake.DefaultAccountID,
		"--zoom.client-id=" + zoomfake.DefaultClientID,
	}
}

// pinnedFake builds a fake Zoom account whose clock starts at
// testenv.MidMonth and runs on: the test holds whatever today's date is.
func pinnedFake(opts zoomfake.Options) (*zoomfake.Server, *testenv.RunningClock) {
	clock := testenv.NewRunningClock(testenv.MidMonth)
	opts.Now = clock.Now
	return zoomfake.New(opts), clock
}

// fakeEnv is the environment of an exporter run against a pinned fake: the
// client secret, and the fake's clock (read now, just before the launch).
func fakeEnv(clock *testenv.RunningClock, secret string) []string {
	return []string{"ZOOM_CLIENT_SECRET=" + secret, testenv.FakeNowEnv(clock)}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond) // polling interval, not a wait for an event
	}
}

func scrapeMetrics(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: HTTP %d", resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return families
}

// series maps "label=value,..." (sorted) to the sample value of a family.
func series(mf *dto.MetricFamily) map[string]float64 {
	out := make(map[string]float64)
	if mf == nil {
		return out
	}
	for _, m := range mf.GetMetric() {
		var parts []string
		for _, l := range m.GetLabel() {
			parts = append(parts, l.GetName()+"="+l.GetValue())
		}
		key := strings.Join(parts, ",")
		switch {
		case m.Gauge != nil:
			out[key] = m.GetGauge().GetValue()
		case m.Counter != nil:
			out[key] = m.GetCounter().GetValue()
		case m.Histogram != nil:
			out[key] = float64(m.GetHistogram().GetSampleCount())
		}
	}
	return out
}

// expected is the ground truth of every usage family, keyed like series().
type expected map[string]map[string]float64

func (e expected) add(family, key string, v float64) {
	if e[family] == nil {
		e[family] = make(map[string]float64)
	}
	e[family][key] += v
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// defaultGracePeriod is --scrape.grace-period's default.
const defaultGracePeriod = 48 * time.Hour

// groundTruth computes, from the fake's own data, what a correct exporter
// must serve for the past report type at time now with the default grace
// period.
func groundTruth(fake *zoomfake.Server, now time.Time) expected {
	want := expected{}
	windows := reportWindows(now, defaultGracePeriod)
	for _, u := range fake.Users() {
		want.add("zoom_user_info", fmt.Sprintf("dept=%s,license=%s,user=%s", u.Dept, scrape.LicenseName(u.Type), u.Email), 1)
		for i, w := range windows {
			for _, m := range fake.Meetings(u.ID, w[0], w[1], zoom.ReportPast) {
				key := "type=" + scrape.TypeName(m.Type) + ",user=" + u.Email
				figures := map[string]float64{
					"meetings":                   1,
					"meeting_duration_seconds":   float64(m.DurationMinutes * 60),
					"participant_seconds":        float64(m.TotalMinutes * 60),
					"participants":               float64(m.Participants),
					"meetings_with_recording":    b2f(m.HasRecording),
					"meetings_with_screen_share": b2f(m.HasScreenShare),
					"meetings_with_chat":         b2f(m.HasChat),
				}
				counterName := map[string]string{
					"meetings":                   "zoom_meetings_total",
					"meeting_duration_seconds":   "zoom_meeting_duration_seconds_total",
					"participant_seconds":        "zoom_meeting_participant_seconds_total",
					"participants":               "zoom_meeting_participants_total",
					"meetings_with_recording":    "zoom_meetings_with_recording_total",
					"meetings_with_screen_share": "zoom_meetings_with_screen_share_total",
					"meetings_with_chat":         "zoom_meetings_with_chat_total",
				}
				for name, v := range figures {
					if i == 0 {
						want.add("zoom_month_"+name, key, v)
					}
					want.add(counterName[name], key, v)
				}
				want.add("zoom_meeting_duration_distribution_seconds", "type="+scrape.TypeName(m.Type), 1)
				want.add("zoom_meeting_size_participants", "type="+scrape.TypeName(m.Type), 1)
			}
		}
	}
	return want
}

// reportWindows are the report date ranges, [from, to] inclusive, that an
// exporter refreshes at now: this month up to today, and the previous month
// whole while the grace period after the 1st lasts. The current month first.
func reportWindows(now time.Time, grace time.Duration) [][2]time.Time {
	now = now.UTC()
	cur := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	windows := [][2]time.Time{{cur, today}}
	if now.Sub(cur) < grace {
		windows = append(windows, [2]time.Time{cur.AddDate(0, -1, 0), cur.AddDate(0, 0, -1)})
	}
	return windows
}

func compareFamilies(t *testing.T, families map[string]*dto.MetricFamily, want expected) (mismatches int) {
	t.Helper()
	for family, wantSeries := range want {
		got := series(families[family])
		for key, v := range wantSeries {
			if got[key] != v {
				mismatches++
				if mismatches <= 20 {
					t.Errorf("%s{%s} = %v, want %v", family, key, got[key], v)
				}
			}
		}
		for key := range got {
			if _, ok := wantSeries[key]; !ok {
				mismatches++
				if mismatches <= 20 {
					t.Errorf("%s{%s} is served but not in the ground truth", family, key)
				}
			}
		}
	}
	return mismatches
}

func TestEndToEndAgainstFakeZoom(t *testing.T) {
	fake, clock := pinnedFake(zoomfake.Options{Seed: 42, Users: 22, HeavyUserMeetings: 700})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	p := startExporter(t, fakeEnv(clock, zoomfake.DefaultClientSecret),
		append(zoomArgs(srv.URL), "--scrape.interval=10s", "--log.level=debug")...)

	families := scrapeMetrics(t, p.base)
	now := clock.Now()
	want := groundTruth(fake, now)
	if len(want["zoom_month_meetings"]) < 40 || len(want["zoom_user_info"]) != 22 {
		t.Fatalf("ground truth too thin to prove anything: %d month series, %d users", len(want["zoom_month_meetings"]), len(want["zoom_user_info"]))
	}
	if n := compareFamilies(t, families, want); n > 0 {
		t.Fatalf("%d series differ from the fake's ground truth", n)
	}
	checkHealth(t, families, len(fake.Users()))

	// Every meeting type of the contract shows up, and one-person meetings
	// exist in the account but stay out of the past report.
	types := map[string]bool{}
	for key := range want["zoom_meetings_total"] {
		types[strings.SplitN(strings.TrimPrefix(key, "type="), ",", 2)[0]] = true
	}
	for _, typ := range []string{"instant", "scheduled", "recurring_no_fixed_time", "pmi", "webinar", "recurring_webinar_no_fixed_time", "personal_audio_conference", "recurring_fixed_time", "recurring_webinar_fixed_time", "unknown"} {
		if !types[typ] {
			t.Errorf("type %s is missing from the served data", typ)
		}
	}
	cur := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	var onePerson int
	for _, u := range fake.Users() {
		onePerson += len(fake.Meetings(u.ID, cur, now, zoom.ReportPastOne))
	}
	if onePerson == 0 {
		t.Error("the seeded account has no one-person meeting this month")
	}

	// New meetings arrive and an existing one grows: each counter grows by
	// exactly the right amount.
	host := fake.Users()[5]
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	existing := firstMeeting(t, fake, host, cur, today)
	before := series(families["zoom_meeting_participant_seconds_total"])
	fake.AddMeeting(zoomfake.Meeting{
		UUID: "e2e/new+meeting==", ID: 87654321012, Type: 8, HostID: host.ID,
		Start: now.Add(-90 * time.Minute), End: now.Add(-30 * time.Minute),
		DurationMinutes: 60, TotalMinutes: 300, Participants: 5, HasRecording: true, HasChat: true,
	})
	fake.UpdateMeeting(existing.UUID, func(m *zoomfake.Meeting) {
		m.TotalMinutes += 45
		m.Participants += 3
	})
	newKey := "type=recurring_fixed_time,user=" + host.Email
	waitFor(t, 60*time.Second, "the next refresh to count the new meeting", func() bool {
		return series(scrapeMetrics(t, p.base)["zoom_meetings_total"])[newKey] > series(families["zoom_meetings_total"])[newKey]
	})
	after := scrapeMetrics(t, p.base)
	if n := compareFamilies(t, after, groundTruth(fake, clock.Now())); n > 0 {
		t.Errorf("%d series differ from the ground truth after the changes", n)
	}
	existingKey := "type=" + scrape.TypeName(existing.Type) + ",user=" + host.Email
	grew := series(after["zoom_meeting_participant_seconds_total"])[existingKey] - before[existingKey]
	wantGrowth := 45 * 60.0
	if existing.Type == 8 {
		wantGrowth += 300 * 60
	}
	if grew != wantGrowth {
		t.Errorf("participant seconds of %s grew by %v, want %v", existingKey, grew, wantGrowth)
	}

	// Graceful shutdown on SIGTERM.
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v", err)
		}
		p.done <- err
	case <-time.After(20 * time.Second):
		t.Error("no exit within 20s of SIGTERM")
	}
	if strings.Contains(p.output.String(), zoomfake.DefaultClientSecret) {
		t.Error("the client secret appears in the logs")
	}
}

// firstMeeting returns host's first past meeting between from and to, and
// fails the test (rather than panic) when the fake has none.
func firstMeeting(t *testing.T, fake *zoomfake.Server, host zoomfake.User, from, to time.Time) zoomfake.Meeting {
	t.Helper()
	ms := fake.Meetings(host.ID, from, to, zoom.ReportPast)
	if len(ms) == 0 {
		t.Fatalf("the fake has no past meeting of %s from %s to %s: the test needs one", host.Email, from.Format(time.DateOnly), to.Format(time.DateOnly))
	}
	return ms[0]
}

func checkHealth(t *testing.T, families map[string]*dto.MetricFamily, users int) {
	t.Helper()
	if got := series(families["zoom_up"])[""]; got != 1 {
		t.Errorf("zoom_up = %v, want 1", got)
	}
	if got := series(families["zoom_users_tracked"])[""]; got != float64(users) {
		t.Errorf("zoom_users_tracked = %v, want %d", got, users)
	}
	if got := len(series(families["zoom_user_last_refresh_timestamp_seconds"])); got != users {
		t.Errorf("%d users have a last-refresh timestamp, want %d", got, users)
	}
	for _, name := range []string{"zoom_last_refresh_success_timestamp_seconds", "zoom_refresh_duration_seconds", "zoom_exporter_build_info", "zoom_api_requests_total", "zoom_oauth_token_requests_total", "go_goroutines"} {
		if families[name] == nil {
			t.Errorf("%s is not served", name)
		}
	}
}

func TestCommandLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yml")
	bad := filepath.Join(dir, "bad.yml")
	os.WriteFile(good, []byte("zoom:\n  account_id: a\n  client_id: b\n  client_secret: c\n"), 0o600)
	os.WriteFile(bad, []byte("zoom:\n  account_id: a\n  colour: blue\nscrape:\n  interval: soon\n"), 0o600)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     []string
	}{
		{"version", []string{"--version"}, 0, []string{"zoom_exporter, version"}},
		{"check good", []string{"--config.check", "--config.file=" + good}, 0, []string{"Configuration OK"}},
		{"check bad lists every problem", []string{"--config.check", "--config.file=" + bad}, 1,
			[]string{`unknown key "colour"`, "scrape.interval", "soon"}},
		{"check missing credentials", []string{"--config.check"}, 1, []string{"zoom.account_id", "zoom.client_id", "client_secret"}},
		{"bad config exits 1", []string{"--config.file=" + bad}, 1, []string{"Invalid configuration", "colour"}},
		{"bad web config", []string{"--config.check", "--config.file=" + good, "--web.config.file=/does/not/exist.yml"}, 1, []string{"--web.config.file"}},
		{"bad flag value", []string{"--log.level=loud"}, 1, []string{"--log.level"}},
		{"check shard out of range", []string{"--config.check", "--config.file=" + good, "--shard=3", "--total-shards=2"}, 1, []string{"--shard=3"}},
		{"check budget too small to shard", []string{"--config.check", "--config.file=" + good, "--zoom.daily-budget=3", "--total-shards=4", "--shard=3"}, 1,
			[]string{"--zoom.daily-budget", "4 shards"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, binary, tt.args...)
			cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
			out, _ := cmd.CombinedOutput()
			if code := cmd.ProcessState.ExitCode(); code != tt.wantCode {
				t.Errorf("exit code %d, want %d; output:\n%s", code, tt.wantCode, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestDemoServesLiveData(t *testing.T) {
	t.Parallel()
	p := startExporter(t, nil, "--demo")
	families := scrapeMetrics(t, p.base)
	if got := series(families["zoom_up"])[""]; got != 1 {
		t.Errorf("demo zoom_up = %v", got)
	}
	if len(series(families["zoom_meetings_total"])) == 0 {
		t.Error("demo serves no meetings")
	}
	if !strings.Contains(p.output.String(), "SIMULATED") {
		t.Error("demo mode does not say loudly that the data is simulated")
	}
	resp, err := http.Get(p.base + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "/metrics") {
		t.Errorf("landing page lacks a link to /metrics:\n%s", body)
	}
}
