package main

import (
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
)

// blockingZoom wraps the fake so that a test can hold report calls for one
// user in flight.
type blockingZoom struct {
	fake    *zoomfake.Server
	mu      sync.Mutex
	user    string        // path fragment to hold; "" holds nothing
	release chan struct{} // closed to let held calls go on
	held    chan struct{} // receives once per held call
}

func (b *blockingZoom) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	user, release, held := b.user, b.release, b.held
	b.mu.Unlock()
	if user != "" && strings.Contains(r.URL.Path, "/report/users/"+user+"/meetings") {
		select {
		case held <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
	}
	b.fake.ServeHTTP(w, r)
}

func (b *blockingZoom) hold(user string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.user, b.release, b.held = user, make(chan struct{}), make(chan struct{}, 1)
}

func (b *blockingZoom) releaseAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.release != nil {
		close(b.release)
	}
	b.user = ""
}

// TestRestartNothingLostNothingTwice kills the exporter with SIGKILL while a
// refresh is in flight, starts it again on the same store, and checks every
// counter against the fake's ground truth; then meetings arrive while it is
// stopped and are counted exactly once after the next start.
func TestRestartNothingLostNothingTwice(t *testing.T) {
	fake, clock := pinnedFake(zoomfake.Options{Seed: 77, Users: 20, HeavyUserMeetings: 650})
	zoom := &blockingZoom{fake: fake}
	srv := httptest.NewServer(zoom)
	t.Cleanup(srv.Close)
	storage := t.TempDir()
	args := append(zoomArgs(srv.URL),
		"--scrape.interval=10s",
		"--scrape.concurrency=2",
		"--zoom.max-retries=0",
		"--storage.path="+storage,
	)
	env := func() []string { return fakeEnv(clock, zoomfake.DefaultClientSecret) }
	users := fake.Users()
	now := clock.Now()
	addMeeting := func(host zoomfake.User, uuid string, typ int) {
		fake.AddMeeting(zoomfake.Meeting{
			UUID: uuid, ID: 81234567890, Type: typ, HostID: host.ID,
			Start: now.Add(-2 * time.Hour), End: now.Add(-time.Hour),
			DurationMinutes: 60, TotalMinutes: 180, Participants: 3, HasScreenShare: true,
		})
	}
	checkTruth := func(p *exporterProcess, when string) {
		t.Helper()
		if n := compareFamilies(t, scrapeMetrics(t, p.base), groundTruth(fake, clock.Now())); n > 0 {
			t.Fatalf("%s: %d series differ from the fake's ground truth", when, n)
		}
	}

	first := startExporter(t, env(), args...)
	checkTruth(first, "first run")
	before := counterFamilies(groundTruth(fake, now))

	// New meetings for several users; the next refresh is held inside the
	// report call of the last user, so others may have committed and it
	// has not: SIGKILL then.
	for i, u := range users[:6] {
		addMeeting(u, "crash/"+u.ID+"==", 1+i%3)
	}
	zoom.hold(users[5].ID)
	select {
	case <-zoom.held:
	case <-time.After(60 * time.Second):
		t.Fatal("the next refresh never reached the held user")
	}
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-first.done
	first.done <- nil
	zoom.releaseAll()

	// Restart while Zoom's reports fail: what is served can only come from
	// the store, and must already be the whole truth.
	fake.InjectFault(zoomfake.Fault{Kind: zoomfake.FaultServerError, Status: 503, Path: "/v2/report/"})
	second := startExporter(t, env(), args...)
	restored := scrapeMetrics(t, second.base)
	if got := series(restored["zoom_up"])[""]; got != 0 {
		t.Errorf("zoom_up = %v while every report fails", got)
	}
	// Each user's refresh commits in one transaction: every per-user
	// series is restored either as before the killed refresh or as after
	// it, never in between, never doubled; the held user is as before.
	after := counterFamilies(groundTruth(fake, clock.Now()))
	for family, want := range after {
		got := series(restored[family])
		for key, v := range want {
			was := before[family][key]
			switch {
			case family == "zoom_meeting_duration_distribution_seconds" || family == "zoom_meeting_size_participants":
				if got[key] < was || got[key] > v {
					t.Errorf("restored %s{%s} = %v, want between %v and %v", family, key, got[key], was, v)
				}
			case strings.Contains(key, "user="+users[5].Email) && got[key] != was:
				t.Errorf("restored %s{%s} = %v, want %v: the killed refresh of this user never committed", family, key, got[key], was)
			case got[key] != was && got[key] != v:
				t.Errorf("restored %s{%s} = %v, want %v (before the killed refresh) or %v (after)", family, key, got[key], was, v)
			}
		}
		if len(got) < len(before[family]) {
			t.Errorf("restored %s has %d series, had %d", family, len(got), len(before[family]))
		}
	}
	// Zoom answers again: the next refresh adds nothing twice.
	fake.ClearFaults()
	waitFor(t, 60*time.Second, "a successful refresh after the restart", func() bool {
		return series(scrapeMetrics(t, second.base)["zoom_up"])[""] == 1
	})
	checkTruth(second, "after SIGKILL mid-refresh")

	// Stopped: meetings arrive and an old one grows. After the restart they
	// count exactly once.
	if err := second.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-second.done; err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	second.done <- nil
	addMeeting(users[7], "while/down==", 2)
	cur := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	grown := firstMeeting(t, fake, users[8], cur, now)
	fake.UpdateMeeting(grown.UUID, func(m *zoomfake.Meeting) { m.TotalMinutes += 100 })

	third := startExporter(t, env(), args...)
	checkTruth(third, "after meetings arrived while stopped")

	// A second exporter on the same store fails fast with a clear message.
	cmd := exec.Command(binary, append(args, "--web.listen-address="+freeAddress(t))...)
	cmd.Env = append(cmd.Environ(), env()...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatal("a second exporter on the same --storage.path started")
	}
	if !strings.Contains(string(out), "locked by another process") {
		t.Errorf("second exporter's message: %s", out)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("second exporter took %v to fail", took)
	}
}

// counterFamilies keeps the cumulative families of a ground truth: what the
// store restores (month gauges come back only with a refresh).
func counterFamilies(want expected) expected {
	out := expected{}
	for family, values := range want {
		if strings.HasSuffix(family, "_total") || family == "zoom_meeting_duration_distribution_seconds" || family == "zoom_meeting_size_participants" {
			out[family] = values
		}
	}
	return out
}
