package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
)

// Zoom's 429 bodies (zoom-api.md section 4), word for word.
const (
	zoomQPSMessage   = "You have reached the maximum per-second rate limit for this API. Try again later."
	zoomDailyMessage = "You have reached the maximum daily rate limit for this API. Refer to the response header for details on when you can make another request."
)

// zoomProxy stands in front of the fake Zoom. It answers bursts of
// per-second 429s and windows of daily 429s that the fake cannot be told to
// give (the exporter paces itself under the plan's per-second limits, and
// the fake's daily limit is fixed at its start), and it records every access
// token the fake issues.
type zoomProxy struct {
	fake *zoomfake.Server
	now  func() time.Time // the fake's clock, which the exporter shares

	mu          sync.Mutex
	qpsBurst    int           // the next qpsBurst per-user report requests get a per-second 429
	qpsServed   int           // per-second 429s sent
	dailyFor    time.Duration // armed: the next Heavy request starts a daily-limit window this long
	dailyUntil  time.Time     // before this, Heavy requests get a daily 429 saying Retry-After dailyUntil
	dailyServed int           // daily 429s sent
	heavySeen   int           // Heavy requests received (/v2/report/...)
	tokens      []string      // access tokens of the fake's 200 answers
	tokenErrors int           // token requests the fake refused
}

func (z *zoomProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	heavy := strings.HasPrefix(r.URL.Path, "/v2/report/")
	perUser := strings.HasPrefix(r.URL.Path, "/v2/report/users/")
	z.mu.Lock()
	if heavy {
		z.heavySeen++
		if z.dailyFor > 0 {
			// Retry-After has whole seconds: the window ends on one.
			z.dailyUntil = z.now().Add(z.dailyFor).Truncate(time.Second).Add(time.Second)
			z.dailyFor = 0
		}
	}
	switch {
	case perUser && z.qpsBurst > 0:
		z.qpsBurst--
		z.qpsServed++
		z.mu.Unlock()
		writeZoom429(w, "QPS", 10, "", zoomQPSMessage)
		return
	case heavy && z.now().Before(z.dailyUntil):
		z.dailyServed++
		until := z.dailyUntil
		z.mu.Unlock()
		writeZoom429(w, "Daily-limit", 30000, until.UTC().Format(time.RFC3339), zoomDailyMessage)
		return
	}
	z.mu.Unlock()

	if r.URL.Path != "/oauth/token" {
		z.fake.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	z.fake.ServeHTTP(rec, r)
	var answer struct {
		AccessToken string `json:"access_token"`
	}
	z.mu.Lock()
	if rec.Code == http.StatusOK && json.Unmarshal(rec.Body.Bytes(), &answer) == nil && answer.AccessToken != "" {
		z.tokens = append(z.tokens, answer.AccessToken)
	} else {
		z.tokenErrors++
	}
	z.mu.Unlock()
	maps.Copy(w.Header(), rec.Header())
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

func writeZoom429(w http.ResponseWriter, typ string, limit int, retryAfter, message string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("x-zm-trackingid", "v=2.0;clid=proxy;rid=WEB_429")
	h.Set("X-RateLimit-Category", "Heavy")
	h.Set("X-RateLimit-Type", typ)
	h.Set("X-RateLimit-Limit", strconv.Itoa(limit))
	h.Set("X-RateLimit-Remaining", "0")
	if retryAfter != "" {
		h.Set("Retry-After", retryAfter)
	}
	w.WriteHeader(http.StatusTooManyRequests)
	fmt.Fprintf(w, `{"code":429,"message":%q}`, message)
}

func (z *zoomProxy) burstQPS(n int) {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.qpsBurst = n
}

// dailyLimitFor makes the next Heavy request start a window of d in which
// every Heavy request gets Zoom's daily 429 with Retry-After its end.
func (z *zoomProxy) dailyLimitFor(d time.Duration) {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.dailyFor = d
}

func (z *zoomProxy) dailyWindowEnd() time.Time {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.dailyUntil
}

func (z *zoomProxy) counts() (qps, daily, heavy int) {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.qpsServed, z.dailyServed, z.heavySeen
}

func (z *zoomProxy) issuedTokens() []string {
	z.mu.Lock()
	defer z.mu.Unlock()
	return slices.Clone(z.tokens)
}

// fakeArgs are the flags that point the exporter at a fake behind srv, with
// one retry and a short request timeout to keep fault tests fast.
func fakeArgs(srv *httptest.Server, extra ...string) []string {
	return append(append(zoomArgs(srv.URL),
		"--scrape.interval=10s",
		"--scrape.concurrency=4",
		"--zoom.max-retries=1",
		"--zoom.request-timeout=500ms",
		// The whole plan quota: the hosts report is swept every cycle.
		"--zoom.daily-budget=30000",
	), extra...)
}

// refreshes counts the refreshes the exporter has finished, from its log.
func refreshes(p *exporterProcess) int {
	return strings.Count(p.output.String(), `msg="Refresh finished"`)
}

// watcher scrapes an exporter and checks, at every scrape, what must hold
// whatever Zoom does: the families served at the start stay served, no
// counter (or histogram count) decreases or disappears, and memory stays
// bounded.
type watcher struct {
	t        *testing.T
	p        *exporterProcess
	required []string
	last     map[string]*dto.MetricFamily
	scrapes  int
	maxRSS   float64
}

// rssBound is the resident memory the exporter must stay under: a dozen
// users take a few tens of MiB.
const rssBound = 256 << 20

func newWatcher(t *testing.T, p *exporterProcess) *watcher {
	w := &watcher{t: t, p: p}
	first := w.scrape()
	for name := range first {
		w.required = append(w.required, name)
	}
	slices.Sort(w.required)
	return w
}

func (w *watcher) scrape() map[string]*dto.MetricFamily {
	w.t.Helper()
	fams := scrapeMetrics(w.t, w.p.base)
	w.scrapes++
	for _, name := range w.required {
		if fams[name] == nil {
			w.t.Errorf("scrape %d: family %s is no longer served", w.scrapes, name)
		}
	}
	for name, before := range w.last {
		if before.GetType() != dto.MetricType_COUNTER && before.GetType() != dto.MetricType_HISTOGRAM {
			continue
		}
		now := series(fams[name])
		for key, v := range series(before) {
			got, ok := now[key]
			switch {
			case !ok:
				w.t.Errorf("scrape %d: counter %s{%s} disappeared (was %v)", w.scrapes, name, key, v)
			case got < v:
				w.t.Errorf("scrape %d: counter %s{%s} decreased from %v to %v", w.scrapes, name, key, v, got)
			}
		}
	}
	if rss := series(fams["process_resident_memory_bytes"])[""]; rss > w.maxRSS {
		w.maxRSS = rss
		if rss > rssBound {
			w.t.Errorf("scrape %d: resident memory %.0f MiB, over the %d MiB bound", w.scrapes, rss/(1<<20), rssBound>>20)
		}
	}
	w.last = fams
	return fams
}

// waitRefreshes waits for n more finished refreshes, scraping (and so
// checking) about once a second meanwhile; it returns the last scrape.
func (w *watcher) waitRefreshes(n int, timeout time.Duration) map[string]*dto.MetricFamily {
	w.t.Helper()
	target := refreshes(w.p) + n
	next := time.Now()
	waitFor(w.t, timeout, fmt.Sprintf("%d more refreshes", n), func() bool {
		if time.Now().After(next) {
			w.scrape()
			next = time.Now().Add(time.Second)
		}
		return refreshes(w.p) >= target
	})
	return w.scrape()
}

// until scrapes about once a second until cond holds for a scrape.
func (w *watcher) until(timeout time.Duration, what string, cond func(map[string]*dto.MetricFamily) bool) map[string]*dto.MetricFamily {
	w.t.Helper()
	var fams map[string]*dto.MetricFamily
	next := time.Now()
	waitFor(w.t, timeout, what, func() bool {
		if time.Now().Before(next) {
			return false
		}
		next = time.Now().Add(time.Second)
		fams = w.scrape()
		return cond(fams)
	})
	return fams
}

func up(fams map[string]*dto.MetricFamily) float64 { return series(fams["zoom_up"])[""] }

// userTimestamps is zoom_user_last_refresh_timestamp_seconds by e-mail.
func userTimestamps(fams map[string]*dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	for key, v := range series(fams["zoom_user_last_refresh_timestamp_seconds"]) {
		out[strings.TrimPrefix(key, "user=")] = v
	}
	return out
}

func counterSum(fams map[string]*dto.MetricFamily, name string, match func(key string) bool) float64 {
	var sum float64
	for key, v := range series(fams[name]) {
		if match == nil || match(key) {
			sum += v
		}
	}
	return sum
}

// resources are the exporter's goroutines and open files.
type resources struct{ goroutines, fds float64 }

func resourcesOf(t *testing.T, p *exporterProcess, fams map[string]*dto.MetricFamily) resources {
	t.Helper()
	r := resources{goroutines: series(fams["go_goroutines"])[""], fds: series(fams["process_open_fds"])[""]}
	// Cross-check process_open_fds with the kernel's own count.
	if entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.cmd.Process.Pid)); err == nil {
		r.fds = max(r.fds, float64(len(entries)))
	}
	return r
}

// expectOutage checks that, with Zoom failing for every user, zoom_up is 0
// and no user's last-refresh timestamp moves over a whole refresh, while
// the data stays served. happened, when set, tells that the fault has been
// met (from the log), before which the check would prove nothing.
func expectOutage(t *testing.T, w *watcher, phase string, happened func() bool) {
	t.Helper()
	// The refresh in flight when the fault came may have succeeded in part.
	w.waitRefreshes(1, 60*time.Second)
	if happened != nil {
		w.until(60*time.Second, phase+" to happen", func(map[string]*dto.MetricFamily) bool { return happened() })
	}
	fams := w.scrape()
	before, lastOK := userTimestamps(fams), series(fams["zoom_last_refresh_success_timestamp_seconds"])[""]
	fams = w.waitRefreshes(1, 60*time.Second)
	if got := up(fams); got != 0 {
		t.Errorf("%s: zoom_up = %v during the outage, want 0", phase, got)
	}
	if after := userTimestamps(fams); !maps.Equal(after, before) {
		t.Errorf("%s: last-refresh timestamps moved while every refresh fails: %v -> %v", phase, before, after)
	}
	if got := series(fams["zoom_last_refresh_success_timestamp_seconds"])[""]; got != lastOK {
		t.Errorf("%s: zoom_last_refresh_success_timestamp_seconds moved from %v to %v during the outage", phase, lastOK, got)
	}
}

// statusPage returns the exporter's /status page, once main.go serves it
// (the landing page then links it); ok is false before.
func statusPage(t *testing.T, p *exporterProcess) (page string, ok bool) {
	t.Helper()
	if _, landing := fetch(t, p.base+"/"); !strings.Contains(landing, `status">Status</a>`) {
		t.Log("the status page is not wired in main.go yet")
		return "", false
	}
	code, page := fetch(t, p.base+"/status")
	if code != http.StatusOK {
		t.Errorf("/status: HTTP %d", code)
	}
	return page, true
}

// logSince tells whether the exporter logged all of want after offset.
func logSince(p *exporterProcess, offset int, want ...string) bool {
	logs := p.output.String()[offset:]
	for _, w := range want {
		if !strings.Contains(logs, w) {
			return false
		}
	}
	return true
}

// TestFaultsKeepTruth runs the exporter against a fake Zoom that fails in
// every way zoom-api.md knows, one after another: throughout, the last good
// data stays served, counters never decrease, and zoom_up and the per-user
// timestamps say what failed; once Zoom is well again every family equals
// the fake's ground truth (nothing lost, nothing counted twice), and
// goroutines and open files are back where they started.
func TestFaultsKeepTruth(t *testing.T) {
	t.Parallel()
	fake, clock := pinnedFake(zoomfake.Options{Seed: 808, Users: 12, HeavyUserMeetings: 400})
	zoom := &zoomProxy{fake: fake, now: clock.Now}
	srv := httptest.NewServer(zoom)
	t.Cleanup(srv.Close)
	p := startExporter(t, fakeEnv(clock, zoomfake.DefaultClientSecret), fakeArgs(srv)...)

	w := newWatcher(t, p)
	base := w.scrape()
	if n := compareFamilies(t, base, groundTruth(fake, clock.Now())); n > 0 {
		t.Fatalf("%d series differ from the ground truth before any fault", n)
	}
	checkHealth(t, base, 12)
	baseline := resourcesOf(t, p, base)
	t.Logf("baseline: %v goroutines, %v open files", baseline.goroutines, baseline.fds)

	users := fake.Users()
	now := clock.Now()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	month := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	seq := 0
	newMeeting := func(u zoomfake.User) {
		seq++
		fake.AddMeeting(zoomfake.Meeting{
			UUID: fmt.Sprintf("faults/%d+%s==", seq, u.ID), ID: 84000000000 + int64(seq), Type: 1 + seq%9, HostID: u.ID,
			Start: now.Add(-2 * time.Hour), End: now.Add(-time.Hour),
			DurationMinutes: 60, TotalMinutes: 150 + seq, Participants: 3, HasChat: seq%2 == 0,
		})
	}
	grow := func(u zoomfake.User) {
		m := firstMeeting(t, fake, u, month, today)
		fake.UpdateMeeting(m.UUID, func(m *zoomfake.Meeting) { m.TotalMinutes += 30; m.Participants++ })
	}

	t.Run("20% server errors, one user always failing", func(t *testing.T) {
		victim := users[3]
		fake.SetServerErrorRate(0.2)
		fake.InjectFault(zoomfake.Fault{Kind: zoomfake.FaultServerError, Status: 502, Path: "/v2/report/users/" + victim.ID + "/meetings"})
		// New meetings make the hosts report show changes, so these users'
		// reports are fetched.
		newMeeting(victim)
		newMeeting(users[4])
		grow(users[5])
		logBefore := len(p.output.String())
		w.waitRefreshes(1, 60*time.Second)
		w.until(60*time.Second, "the victim's report to fail", func(map[string]*dto.MetricFamily) bool {
			return logSince(p, logBefore, "Refreshing user failed; keeping its last data\" user="+victim.ID)
		})
		before := userTimestamps(w.scrape())[victim.Email]
		fams := w.waitRefreshes(1, 60*time.Second)
		if up(fams) != 0 {
			t.Errorf("zoom_up = %v while %s's report fails", up(fams), victim.Email)
		}
		// The others are not held back: some user's refresh goes on.
		w.until(60*time.Second, "another user's refresh while one fails", func(fams map[string]*dto.MetricFamily) bool {
			ts := userTimestamps(fams)
			if ts[victim.Email] != before {
				t.Fatalf("last refresh of %s moved from %v to %v while its report fails", victim.Email, before, ts[victim.Email])
			}
			for user, v := range ts {
				if user != victim.Email && v > before {
					return true
				}
			}
			return false
		})
		if got := counterSum(w.scrape(), "zoom_api_requests_total", func(k string) bool { return strings.Contains(k, "code=5") }); got == 0 {
			t.Error("no 5xx answer was counted in zoom_api_requests_total")
		}
		// The status page tells the operator who fails and what Zoom said.
		if page, ok := statusPage(t, p); ok {
			rows := strings.Split(page, "<tr")
			if len(rows) < 3 || !strings.Contains(rows[2], victim.Email) || !strings.Contains(rows[2], "failed") ||
				!strings.Contains(rows[2], "502") || !strings.Contains(rows[2], "rid=WEB_") {
				t.Errorf("the status page does not show %s first, failed with HTTP 502 and a tracking id:\n%s", victim.Email, page)
			}
		}
		fake.ClearFaults()
	})

	t.Run("slow, malformed and truncated answers", func(t *testing.T) {
		logBefore := len(p.output.String())
		// Every user's report is fetched (each has a new meeting) and each
		// fetch fails: first slower than --zoom.request-timeout, then
		// malformed JSON, then truncated bodies; the user listing is
		// truncated too.
		fake.InjectFault(zoomfake.Fault{Kind: zoomfake.FaultSlow, Delay: 2 * time.Second, Count: 6, Path: "/v2/report/users/"})
		fake.InjectFault(zoomfake.Fault{Kind: zoomfake.FaultMalformedJSON, Count: 6, Path: "/v2/report/users/"})
		fake.InjectFault(zoomfake.Fault{Kind: zoomfake.FaultTruncated, Path: "/v2/report/users/"})
		fake.InjectFault(zoomfake.Fault{Kind: zoomfake.FaultTruncated, Path: "/v2/users"})
		for _, u := range users {
			newMeeting(u)
		}
		expectOutage(t, w, "bad answers", func() bool {
			return logSince(p, logBefore, "context deadline exceeded", "does not decode", "unexpected EOF", "Listing Zoom users failed")
		})
		fake.ClearFaults()
	})

	t.Run("token endpoint down", func(t *testing.T) {
		failuresBefore := series(w.scrape()["zoom_oauth_token_failures_total"])[""]
		fake.InjectFault(zoomfake.Fault{Kind: zoomfake.FaultServerError, Status: 503, Path: "/oauth/token"})
		fake.RevokeTokens() // the cached token stops working: a new one is needed
		newMeeting(users[6])
		logBefore := len(p.output.String())
		expectOutage(t, w, "token endpoint down", func() bool { return logSince(p, logBefore, "zoom OAuth token request failed: HTTP 503") })
		if got := series(w.scrape()["zoom_oauth_token_failures_total"])[""]; got <= failuresBefore {
			t.Errorf("zoom_oauth_token_failures_total = %v, was %v: the token endpoint was never tried", got, failuresBefore)
		}
		fake.ClearFaults()
	})

	t.Run("credentials revoked", func(t *testing.T) {
		logBefore := len(p.output.String())
		fake.RevokeTokens()
		fake.SetCredentialsValid(false)
		expectOutage(t, w, "credentials revoked", func() bool { return logSince(p, logBefore, "invalid_client") })
		fake.SetCredentialsValid(true)
	})

	t.Run("recovery", func(t *testing.T) {
		fams := w.until(90*time.Second, "zoom_up 1 once Zoom is well", func(fams map[string]*dto.MetricFamily) bool { return up(fams) == 1 })
		if n := compareFamilies(t, fams, groundTruth(fake, clock.Now())); n > 0 {
			t.Errorf("%d series differ from the ground truth after the faults", n)
		}
	})

	t.Run("per-second 429 storm", func(t *testing.T) {
		before := w.scrape()
		isQPS := func(k string) bool { return strings.Contains(k, "limit=qps") }
		qpsBefore := counterSum(before, "zoom_api_rate_limited_total", isQPS)
		for _, u := range users[:6] {
			newMeeting(u)
		}
		const storm = 12
		zoom.burstQPS(storm)
		w.until(90*time.Second, "the storm to pass and a full refresh", func(fams map[string]*dto.MetricFamily) bool {
			qps, _, _ := zoom.counts()
			return qps == storm && up(fams) == 1 && refreshes(p) > 0
		})
		fams := w.waitRefreshes(1, 60*time.Second) // a refresh that started after the storm
		if got := counterSum(fams, "zoom_api_rate_limited_total", isQPS) - qpsBefore; got != storm {
			t.Errorf("zoom_api_rate_limited_total{limit=\"qps\"} grew by %v, want %d", got, storm)
		}
		if got := series(fams["zoom_api_heavy_paused_until_timestamp_seconds"])[""]; got != 0 {
			t.Errorf("a per-second 429 paused Heavy calls until %v", got)
		}
		if n := compareFamilies(t, fams, groundTruth(fake, clock.Now())); n > 0 {
			t.Errorf("%d series differ from the ground truth after the storm", n)
		}
	})

	// No goroutine or file left behind by hundreds of failed calls.
	var end resources
	waitFor(t, 30*time.Second, "goroutines and open files back near the baseline", func() bool {
		end = resourcesOf(t, p, w.scrape())
		return end.goroutines <= baseline.goroutines+10 && end.fds <= baseline.fds+10
	})
	t.Logf("end: %v goroutines, %v open files (baseline %v, %v); most resident memory %.1f MiB over %d scrapes",
		end.goroutines, end.fds, baseline.goroutines, baseline.fds, w.maxRSS/(1<<20), w.scrapes)
}

// TestFaultsDailyQuota: Zoom's daily 429 pauses every Heavy call until its
// Retry-After, the exporter says so, spends no more calls meanwhile, keeps
// listing users (Medium), and goes on by itself when the pause ends.
func TestFaultsDailyQuota(t *testing.T) {
	t.Parallel()

	t.Run("quota spent until midnight", func(t *testing.T) {
		t.Parallel()
		// One Heavy call a day: the first refresh's hosts report gets it,
		// the per-user reports get the daily 429. The clock is pinned at
		// noon, far from 00:00 UTC when Zoom's daily counters reset.
		fake, clock := pinnedFake(zoomfake.Options{Seed: 909, Users: 6, HeavyUserMeetings: 30, DailyHeavyLimit: 1})
		now := clock.Now()
		midnight := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC)
		srv := httptest.NewServer(fake)
		t.Cleanup(srv.Close)
		p := startExporter(t, fakeEnv(clock, zoomfake.DefaultClientSecret), fakeArgs(srv)...)
		w := newWatcher(t, p)
		fams := w.scrape()
		if got := up(fams); got != 0 {
			t.Errorf("zoom_up = %v with the daily quota spent", got)
		}
		if got := series(fams["zoom_api_heavy_paused_until_timestamp_seconds"])[""]; got != float64(midnight.Unix()) {
			t.Errorf("zoom_api_heavy_paused_until_timestamp_seconds = %v, want %v (the fake's Retry-After, next 00:00 UTC)", got, midnight.Unix())
		}
		if got := counterSum(fams, "zoom_api_rate_limited_total", func(k string) bool { return strings.Contains(k, "limit=daily") }); got < 1 {
			t.Errorf("zoom_api_rate_limited_total{limit=\"daily\"} = %v", got)
		}
		_, daily := fake.RateLimited()
		if daily > 4 {
			t.Errorf("%d calls got the daily 429; the calls in flight at most (--scrape.concurrency=4) may", daily)
		}
		heavy, listings := fake.HeavyCallsToday(), fake.CallCount(zoomfake.EndpointUsers)
		ts := userTimestamps(fams)
		fams = w.waitRefreshes(2, 60*time.Second)
		if _, d := fake.RateLimited(); d != daily || fake.HeavyCallsToday() != heavy {
			t.Errorf("Heavy calls went on during the pause: daily 429s %d -> %d", daily, d)
		}
		if got := fake.CallCount(zoomfake.EndpointUsers); got <= listings {
			t.Errorf("GET /users (Medium) stopped with the Heavy pause: %d calls, were %d", got, listings)
		}
		if got := userTimestamps(fams); !maps.Equal(got, ts) {
			t.Errorf("last-refresh timestamps moved during the pause: %v -> %v", ts, got)
		}
		if got := up(fams); got != 0 {
			t.Errorf("zoom_up = %v during the pause", got)
		}
	})

	t.Run("pause ends at Retry-After", func(t *testing.T) {
		t.Parallel()
		fake, clock := pinnedFake(zoomfake.Options{Seed: 910, Users: 6, HeavyUserMeetings: 30})
		zoom := &zoomProxy{fake: fake, now: clock.Now}
		srv := httptest.NewServer(zoom)
		t.Cleanup(srv.Close)
		p := startExporter(t, fakeEnv(clock, zoomfake.DefaultClientSecret), fakeArgs(srv)...)
		w := newWatcher(t, p)
		for i, u := range fake.Users() {
			fake.AddMeeting(zoomfake.Meeting{
				UUID: fmt.Sprintf("daily/%d==", i), ID: 85000000000 + int64(i), Type: 2, HostID: u.ID,
				Start: clock.Now().Add(-2 * time.Hour), End: clock.Now().Add(-time.Hour),
				DurationMinutes: 45, TotalMinutes: 90, Participants: 2,
			})
		}
		zoom.dailyLimitFor(12 * time.Second)
		var until time.Time
		fams := w.until(60*time.Second, "the daily 429", func(fams map[string]*dto.MetricFamily) bool {
			until = zoom.dailyWindowEnd()
			return !until.IsZero() && series(fams["zoom_api_heavy_paused_until_timestamp_seconds"])[""] == float64(until.Unix())
		})
		_, daily, heavy := zoom.counts()
		if daily > 4 {
			t.Errorf("%d calls got the daily 429; the calls in flight at most (--scrape.concurrency=4) may", daily)
		}
		ts := userTimestamps(fams)
		fams = w.until(60*time.Second, "the pause to end and a full refresh", func(fams map[string]*dto.MetricFamily) bool {
			if clock.Now().Before(until) {
				if _, _, h := zoom.counts(); h != heavy {
					t.Errorf("a Heavy call left during the pause (%d, then %d)", heavy, h)
				}
				if got := up(fams); got != 0 {
					t.Errorf("zoom_up = %v during the pause", got)
				}
				if got := userTimestamps(fams); !maps.Equal(got, ts) {
					t.Errorf("last-refresh timestamps moved during the pause")
				}
			}
			return up(fams) == 1
		})
		if n := compareFamilies(t, fams, groundTruth(fake, clock.Now())); n > 0 {
			t.Errorf("%d series differ from the ground truth after the pause", n)
		}
	})
}
