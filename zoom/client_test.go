package zoom

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"

	"github.com/zoomexporter/zoom_exporter/internal/testenv"
)

// testNow is mid-month, so the current month has data and a previous month exists.
var testNow = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

type testEnv struct {
	fake   *zoomfake.Server
	server *httptest.Server
	clock  *testenv.Clock
	client *Client
	reg    *prometheus.Registry
}

// newTestEnv starts the fake Zoom on loopback and a client for it. tweak may
// change the client's config before it is built.
func newTestEnv(t *testing.T, opts zoomfake.Options, tweak func(*ClientConfig)) *testEnv {
	t.Helper()
	clock := testenv.NewClock(testNow)
	if opts.Now == nil {
		opts.Now = clock.Now
	}
	fake := zoomfake.New(opts)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	return newTestEnvFor(t, fake, srv, clock, tweak)
}

func newTestEnvFor(t *testing.T, fake *zoomfake.Server, srv *httptest.Server, clock *testenv.Clock, tweak func(*ClientConfig)) *testEnv {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	conf := ClientConfig{
		APIURL:         srv.URL + "/v2",
		TokenURL:       srv.URL + "/oauth/token",
		AccountID:      zoomfake.DefaultAccountID,
		ClientID:       zoomfake.DefaultClientID,
		ClientSecret:   zoomfake.DefaultClientSecret,
		Limits:         Limits{HeavyPerSecond: 1000, MediumPerSecond: 1000, HeavyPerDay: 30000},
		Timeout:        5 * time.Second,
		MaxRetries:     3,
		RetryBaseDelay: time.Millisecond,
		Now:            clock.Now,
		Registerer:     reg,
	}
	if tweak != nil {
		tweak(&conf)
	}
	client, err := NewClient(conf)
	if err != nil {
		t.Fatal(err)
	}
	return &testEnv{fake: fake, server: srv, clock: clock, client: client, reg: reg}
}

func monthWindow(now time.Time) (time.Time, time.Time) {
	return monthStart(now), time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
}

func counterValue(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	return testutil.ToFloat64(c)
}

func TestUserMeetingsPagesAndMatchesTruth(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, zoomfake.Options{Seed: 7, Users: 5, HeavyUserMeetings: 700}, nil)
	from, to := monthWindow(testNow)
	heavy := env.fake.Users()[0]

	for _, reportType := range []string{ReportPast, ReportPastOne, ReportPastJoined} {
		for _, id := range []string{heavy.ID, heavy.Email} {
			got, err := env.client.UserMeetings(context.Background(), id, from, to, reportType)
			if err != nil {
				t.Fatalf("%s %s: %v", reportType, id, err)
			}
			want := env.fake.Meetings(heavy.ID, from, to, reportType)
			if len(got) != len(want) {
				t.Fatalf("%s %s: %d meetings, want %d", reportType, id, len(got), len(want))
			}
			for i := range want {
				if got[i].UUID != want[i].UUID || got[i].TotalMinutes != want[i].TotalMinutes || got[i].Duration != want[i].DurationMinutes || got[i].Type != want[i].Type {
					t.Fatalf("%s meeting %d = %+v, want %+v", reportType, i, got[i], want[i])
				}
			}
		}
	}
	// 700 meetings of the past type need 3 pages of 300.
	pages := counterValue(t, env.client.metrics.requests.WithLabelValues(endpointUserMeetings, "200"))
	if pages < 3 {
		t.Errorf("report requests = %v, want at least 3 pages for the heavy user", pages)
	}
}

func TestUserMeetingsUUIDWithSlashAndEmail(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, zoomfake.Options{Seed: 3, Users: 8}, nil)
	from, to := monthWindow(testNow)
	var slashed int
	for _, u := range env.fake.Users() {
		got, err := env.client.UserMeetings(context.Background(), u.Email, from, to, ReportPast)
		if err != nil {
			t.Fatalf("user %s: %v", u.Email, err)
		}
		for _, m := range got {
			if strings.Contains(m.UUID, "/") {
				slashed++
			}
		}
	}
	if slashed == 0 {
		t.Error("no uuid containing / came through; the fake should produce some")
	}
}

func TestExpiredPageTokenRestartsListingOnce(t *testing.T) {
	t.Parallel()
	clock := testenv.NewClock(testNow)
	fake := zoomfake.New(zoomfake.Options{Seed: 11, Users: 3, HeavyUserMeetings: 700, Now: clock.Now})
	// After the first page of a report, 20 minutes pass: its page token
	// (15-minute life) is dead when the second page is asked for.
	var mu sync.Mutex
	firstPages := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fake.ServeHTTP(w, r)
		if strings.HasSuffix(r.URL.Path, "/meetings") && r.URL.Query().Get("next_page_token") == "" {
			mu.Lock()
			firstPages++
			if firstPages == 1 {
				clock.Advance(20 * time.Minute)
			}
			mu.Unlock()
		}
	}))
	t.Cleanup(srv.Close)
	env := newTestEnvFor(t, fake, srv, clock, nil)
	from, to := monthWindow(testNow)
	user := fake.Users()[0]
	got, err := env.client.UserMeetings(context.Background(), user.ID, from, to, ReportPast)
	if err != nil {
		t.Fatalf("listing did not recover from an expired page token: %v", err)
	}
	if want := fake.Meetings(user.ID, from, to, ReportPast); len(got) != len(want) {
		t.Fatalf("got %d meetings after the restart, want %d", len(got), len(want))
	}
	if firstPages != 2 {
		t.Errorf("first page fetched %d times, want 2 (one restart)", firstPages)
	}
	if n := counterValue(t, env.client.metrics.requests.WithLabelValues(endpointUserMeetings, "400")); n != 1 {
		t.Errorf("400 answers = %v, want exactly 1", n)
	}
}

func TestTokenRenewal(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, zoomfake.Options{Seed: 1, Users: 3, TokenLifetime: time.Hour}, nil)
	ctx := context.Background()
	list := func() {
		t.Helper()
		if _, err := env.client.ActiveUsers(ctx); err != nil {
			t.Fatal(err)
		}
	}
	list()
	list()
	if n := env.fake.TokenRequests(); n != 1 {
		t.Fatalf("token requests after two calls = %d, want 1 (cached)", n)
	}
	// 59m30s later the token has 30s left: renewed before it expires.
	env.clock.Advance(59*time.Minute + 30*time.Second)
	list()
	if n := env.fake.TokenRequests(); n != 2 {
		t.Fatalf("token requests near expiry = %d, want 2 (renewed a minute early)", n)
	}
	// Zoom revokes every token: 401/124, one new token, the call succeeds.
	env.fake.RevokeTokens()
	list()
	if n := env.fake.TokenRequests(); n != 3 {
		t.Fatalf("token requests after a 401 = %d, want 3", n)
	}
	if n := counterValue(t, env.client.metrics.requests.WithLabelValues(endpointUsers, "401")); n != 1 {
		t.Errorf("401 answers = %v, want 1", n)
	}
	if n := counterValue(t, env.client.metrics.tokenRequests); n != 3 {
		t.Errorf("zoom_oauth_token_requests_total = %v, want 3", n)
	}
}

func TestBadCredentials(t *testing.T) {
	t.Parallel()
	const secret = "s3cret-value-never-shown"
	env := newTestEnv(t, zoomfake.Options{Seed: 1, Users: 2}, func(c *ClientConfig) { c.ClientSecret = secret })
	_, err := env.client.ActiveUsers(context.Background())
	var te *TokenError
	if !errors.As(err, &te) {
		t.Fatalf("want a TokenError, got %v", err)
	}
	if te.Status != 400 || te.Code != "invalid_client" {
		t.Errorf("TokenError = %+v, want 400 invalid_client", te)
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error text holds the secret: %v", err)
	}
	if n := counterValue(t, env.client.metrics.tokenFailures); n != 1 {
		t.Errorf("token failures = %v, want 1 (4xx is not retried)", n)
	}
}

func TestSecondUnauthorizedIsAnError(t *testing.T) {
	t.Parallel()
	clock := testenv.NewClock(testNow)
	fake := zoomfake.New(zoomfake.Options{Seed: 1, Users: 2, Now: clock.Now})
	// Tokens are issued, but the API refuses every one with 401/124: one
	// renewal, then an authentication failure.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v2/") {
			w.Header().Set("x-zm-trackingid", "test-tracking")
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"code":124,"message":"Invalid access token."}`))
			return
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	env := newTestEnvFor(t, fake, srv, clock, nil)
	_, err := env.client.ActiveUsers(context.Background())
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 401 || apiErr.Code != 124 || apiErr.TrackingID != "test-tracking" {
		t.Fatalf("want a 401/124 APIError with its tracking id, got %v", err)
	}
	if n := fake.TokenRequests(); n != 2 {
		t.Errorf("token requests = %d, want 2 (the first and one renewal)", n)
	}
	if n := counterValue(t, env.client.metrics.requests.WithLabelValues(endpointUsers, "401")); n != 2 {
		t.Errorf("401 answers = %v, want 2 (one retry with a new token)", n)
	}
}

func TestDailyLimitPausesHeavyOnly(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, zoomfake.Options{Seed: 2, Users: 4, DailyHeavyLimit: 3}, nil)
	ctx := context.Background()
	from, to := monthWindow(testNow)
	users := env.fake.Users()
	for i := 0; i < 3; i++ {
		if _, err := env.client.UserMeetings(ctx, users[i+1].ID, from, to, ReportPast); err != nil {
			t.Fatalf("call %d within the quota: %v", i, err)
		}
	}
	_, err := env.client.UserMeetings(ctx, users[1].ID, from, to, ReportPast)
	var quota *DailyQuotaError
	if !errors.As(err, &quota) {
		t.Fatalf("want a DailyQuotaError, got %v", err)
	}
	midnight := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	if !quota.Until.Equal(midnight) {
		t.Errorf("paused until %v, want Retry-After %v", quota.Until, midnight)
	}
	sent := env.fake.CallCount(zoomfake.EndpointUserMeetings)
	// Heavy calls now fail without reaching Zoom...
	for range 5 {
		if _, err := env.client.UserMeetings(ctx, users[2].ID, from, to, ReportPast); !errors.As(err, &quota) {
			t.Fatalf("heavy call during the pause: %v", err)
		}
		if _, err := env.client.ActiveHosts(ctx, from, to); !errors.As(err, &quota) {
			t.Fatalf("hosts report during the pause: %v", err)
		}
	}
	if n := env.fake.CallCount(zoomfake.EndpointUserMeetings); n != sent {
		t.Errorf("%d heavy calls reached Zoom during the pause", n-sent)
	}
	// ...while Medium calls go on.
	if _, err := env.client.ActiveUsers(ctx); err != nil {
		t.Errorf("medium call during the heavy pause: %v", err)
	}
	if n := counterValue(t, env.client.metrics.rateLimited.WithLabelValues(endpointUserMeetings, "daily")); n != 1 {
		t.Errorf("daily 429s = %v, want 1", n)
	}
	if got := counterValue(t, env.client.metrics.heavyPaused); got != float64(midnight.Unix()) {
		t.Errorf("paused-until gauge = %v, want %v", got, midnight.Unix())
	}
	// After Retry-After (Zoom resets at 00:00 UTC) Heavy calls resume.
	env.clock.Set(midnight.Add(time.Second))
	newFrom, newTo := monthWindow(env.clock.Now())
	if _, err := env.client.UserMeetings(ctx, users[1].ID, newFrom, newTo, ReportPast); err != nil {
		t.Fatalf("heavy call after the reset: %v", err)
	}
}

func TestPerSecondLimitAbsorbed(t *testing.T) {
	t.Parallel()
	// A running clock: the fake counts calls per second as they pass. Our pacer is
	// set far above the plan so that Zoom's 429s do happen.
	clock := testenv.NewRunningClock(testNow)
	fake := zoomfake.New(zoomfake.Options{Seed: 5, Users: 30, RateLimits: true, Now: clock.Now})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	env := newTestEnvFor(t, fake, srv, testenv.NewClock(testNow), func(c *ClientConfig) {
		c.Now = clock.Now
		c.RetryBaseDelay = 200 * time.Millisecond
		c.MaxQPSRetries = 10
	})
	now := clock.Now()
	from, to := monthWindow(now)
	var wg sync.WaitGroup
	errs := make(chan error, 30)
	for _, u := range fake.Users()[:30] {
		wg.Add(1)
		go func(id string) {
			defer wg.Done()
			_, err := env.client.UserMeetings(context.Background(), id, from, to, ReportPast)
			errs <- err
		}(u.ID)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("call failed instead of absorbing per-second 429s: %v", err)
		}
	}
	if n := counterValue(t, env.client.metrics.rateLimited.WithLabelValues(endpointUserMeetings, "qps")); n == 0 {
		t.Error("no per-second 429 happened; the test did not exercise the backoff")
	}
	// The account's limit is shared: after 429s the pacer slows down.
	if got, plan := env.client.pacers[categoryHeavy].Limit(), env.client.planRate(categoryHeavy); got >= plan*pacingMargin {
		t.Errorf("heavy pacer at %v/s after 429s, want below %v/s", got, plan*pacingMargin)
	}
}

func TestPacerKeepsUnderPlanLimit(t *testing.T) {
	t.Parallel()
	clock := testenv.NewRunningClock(testNow)
	fake := zoomfake.New(zoomfake.Options{Seed: 5, Users: 25, RateLimits: true, Now: clock.Now})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	env := newTestEnvFor(t, fake, srv, testenv.NewClock(testNow), func(c *ClientConfig) {
		c.Now = clock.Now
		c.Limits, _ = PlanLimits("pro")
	})
	now := clock.Now()
	from, to := monthWindow(now)
	var wg sync.WaitGroup
	for _, u := range fake.Users()[:25] {
		wg.Add(1)
		go func(id string) {
			defer wg.Done()
			if _, err := env.client.UserMeetings(context.Background(), id, from, to, ReportPast); err != nil {
				t.Error(err)
			}
		}(u.ID)
	}
	wg.Wait()
	// Without pacing 25 concurrent calls at 10/s draw about 15 429s; a
	// paced client draws none, one at most when the machine stalls a call.
	if qps, _ := fake.RateLimited(); qps > 1 {
		t.Errorf("the fake sent %d per-second 429s although we paced under the plan's limit", qps)
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		fault     zoomfake.Fault
		timeout   time.Duration
		wantErr   []string // substrings; nil means the call must succeed
		wantCalls int      // answers the fake gave to the users endpoint
	}{
		{name: "5xx retried then succeeds", fault: zoomfake.Fault{Kind: zoomfake.FaultServerError, Count: 2, Status: 503}, wantCalls: 3},
		{name: "5xx gives up", fault: zoomfake.Fault{Kind: zoomfake.FaultServerError, Status: 500},
			wantErr: []string{"/users", "HTTP 500", "giving up after 4 attempts"}, wantCalls: 4},
		{name: "malformed once", fault: zoomfake.Fault{Kind: zoomfake.FaultMalformedJSON, Count: 1}, wantCalls: 2},
		{name: "malformed always", fault: zoomfake.Fault{Kind: zoomfake.FaultMalformedJSON},
			wantErr: []string{"/users", "does not decode"}, wantCalls: 4},
		{name: "truncated once", fault: zoomfake.Fault{Kind: zoomfake.FaultTruncated, Count: 1}, wantCalls: 2},
		{name: "truncated always", fault: zoomfake.Fault{Kind: zoomfake.FaultTruncated},
			wantErr: []string{"/users", "giving up after 4 attempts", "unexpected EOF"}, wantCalls: 4},
		{name: "slow beyond the timeout", fault: zoomfake.Fault{Kind: zoomfake.FaultSlow, Delay: 10 * time.Second}, timeout: 50 * time.Millisecond,
			wantErr: []string{"/users", "giving up after 4 attempts", "deadline exceeded"}, wantCalls: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := newTestEnv(t, zoomfake.Options{Seed: 4, Users: 3}, func(c *ClientConfig) {
				if tt.timeout > 0 {
					c.Timeout = tt.timeout
				}
			})
			fault := tt.fault
			fault.Path = "/v2/users"
			env.fake.InjectFault(fault)
			users, err := env.client.ActiveUsers(context.Background())
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("want recovery, got %v", err)
				}
				if len(users) != len(env.fake.Users()) {
					t.Errorf("got %d users, want %d", len(users), len(env.fake.Users()))
				}
			} else {
				if err == nil {
					t.Fatal("want an error, got none")
				}
				for _, s := range tt.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not mention %q", err, s)
					}
				}
			}
			if n := env.fake.CallCount(zoomfake.EndpointUsers); n != tt.wantCalls {
				t.Errorf("fake answered %d /users calls, want %d", n, tt.wantCalls)
			}
		})
	}
}

func TestAPIErrorsAreTyped(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, zoomfake.Options{Seed: 1, Users: 2}, nil)
	from, to := monthWindow(testNow)
	_, err := env.client.UserMeetings(context.Background(), "nobody@example.com", from, to, ReportPast)
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("want an APIError, got %v", err)
	}
	if apiErr.Status != 404 || apiErr.Code != 1001 || apiErr.TrackingID == "" || apiErr.Message == "" || apiErr.Endpoint != endpointUserMeetings {
		t.Errorf("APIError = %+v, want 404/1001 with message, tracking id and route template", apiErr)
	}
	if !IsUserNotFound(err) {
		t.Error("IsUserNotFound = false")
	}
	if !strings.Contains(err.Error(), "tracking id") {
		t.Errorf("error text lacks the tracking id: %v", err)
	}
	// A range Zoom refuses (over six months old) is a clear 400, not a page-token restart.
	old := testNow.AddDate(0, -8, 0)
	_, err = env.client.UserMeetings(context.Background(), env.fake.Users()[0].ID, monthStart(old), monthStart(old).AddDate(0, 0, 10), ReportPast)
	if !errors.As(err, &apiErr) || apiErr.Status != 400 {
		t.Fatalf("old range: want a 400 APIError, got %v", err)
	}
	if _, err := env.client.UserMeetings(context.Background(), "me", from, to, ReportPast); err == nil || !strings.Contains(err.Error(), "Server-to-Server") {
		t.Errorf("me: want a refusal naming Server-to-Server apps, got %v", err)
	}
}

func TestMetricsUseRouteTemplates(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, zoomfake.Options{Seed: 1, Users: 3}, nil)
	from, to := monthWindow(testNow)
	for _, u := range env.fake.Users() {
		if _, err := env.client.UserMeetings(context.Background(), u.Email, from, to, ReportPast); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := env.client.ActiveHosts(context.Background(), from, to); err != nil {
		t.Fatal(err)
	}
	families, err := env.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "endpoint" && strings.ContainsAny(l.GetValue(), "@?") {
					t.Errorf("%s has endpoint=%q: ids or queries leaked into a label", f.GetName(), l.GetValue())
				}
			}
		}
	}
	problems, err := testutil.GatherAndLint(env.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 24, 15, 4, 5, 0, time.UTC)
	midnight := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		value    string
		want     time.Time
		believed bool
	}{
		{"2026-11-25T00:00:00Z", midnight, true},
		{"Wed, 25 Nov 2026 00:00:00 GMT", midnight, true},
		{"120", now.Add(2 * time.Minute), true},
		{"", midnight, true}, // none given: Zoom's reset
		{"soon", midnight, false},
		{"0", midnight, false},                                         // already past: wait for Zoom's reset
		{"2026-11-24T15:00:00Z", midnight, false},                      // past by clock skew
		{"2026-11-25T00:05:00Z", midnight.Add(5 * time.Minute), true},  // within the slack
		{"2026-11-25T00:05:01Z", midnight, false},                      // past the slack
		{"2026-11-25T12:00:00Z", midnight, false},                      // beyond Zoom's reset
		{"172800", midnight, false},                                    // 48 h
		{"Thu, 26 Nov 2026 15:04:05 GMT", midnight, false},             // 48 h
		{"2027-01-01T00:00:00Z", midnight, false},                      // absurdly far
		{"32400", time.Date(2026, 11, 25, 0, 4, 5, 0, time.UTC), true}, // 9 h: within the slack
	}
	for _, tt := range tests {
		got, believed := retryAfter(tt.value, now)
		if !got.Equal(tt.want) || believed != tt.believed {
			t.Errorf("retryAfter(%q) = %v, %v; want %v, %v", tt.value, got, believed, tt.want, tt.believed)
		}
		if got.After(midnight.Add(dailyPauseSlack)) {
			t.Errorf("retryAfter(%q) = %v: past the next 00:00 UTC and its slack", tt.value, got)
		}
	}
}

func TestDailyBudgetCapsHeavyCalls(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, zoomfake.Options{Seed: 3, Users: 4}, func(c *ClientConfig) { c.DailyBudget = 3 })
	ctx := context.Background()
	from, to := monthWindow(testNow)
	users := env.fake.Users()
	for i := range 3 {
		if _, err := env.client.UserMeetings(ctx, users[i+1].ID, from, to, ReportPast); err != nil {
			t.Fatalf("call %d within the budget: %v", i, err)
		}
	}
	_, err := env.client.ActiveHosts(ctx, from, to)
	var spent *BudgetExhaustedError
	if !errors.As(err, &spent) || !strings.Contains(err.Error(), "--zoom.daily-budget") {
		t.Fatalf("want a BudgetExhaustedError naming --zoom.daily-budget, got %v", err)
	}
	if n := env.fake.HeavyCallsToday(); n != 3 {
		t.Errorf("Zoom saw %d Heavy calls, want 3: the budget is never exceeded", n)
	}
	if _, err := env.client.ActiveUsers(ctx); err != nil {
		t.Errorf("Medium calls are not budgeted: %v", err)
	}
	b := env.client.Budget()
	if b.Budget != 3 || b.UsedToday != 3 || b.Remaining() != 0 || !b.ResetsAt.Equal(time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("budget state = %+v", b)
	}
	if got := testutil.ToFloat64(env.client.metrics.budgetUsed); got != 3 {
		t.Errorf("zoom_api_daily_budget_used = %v", got)
	}
	// A new UTC day, a new budget.
	env.clock.Set(time.Date(2026, 11, 21, 0, 0, 1, 0, time.UTC))
	if _, err := env.client.UserMeetings(ctx, users[1].ID, from, to, ReportPast); err != nil {
		t.Fatalf("after midnight: %v", err)
	}
	if b := env.client.Budget(); b.UsedToday != 1 {
		t.Errorf("used after midnight = %d, want 1", b.UsedToday)
	}
}

func TestDefaultBudgetIsHalfThePlan(t *testing.T) {
	t.Parallel()
	for plan, want := range map[string]int{"pro": 15000, "business": 30000} {
		limits, _ := PlanLimits(plan)
		c, err := NewClient(ClientConfig{APIURL: "http://127.0.0.1:1/v2", Limits: limits})
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Budget().Budget; got != want {
			t.Errorf("%s: default budget %d, want %d", plan, got, want)
		}
	}
}

func TestPacerRecoversAfterSlowingDown(t *testing.T) {
	t.Parallel()
	c, err := NewClient(ClientConfig{APIURL: "http://127.0.0.1:1/v2", Limits: Limits{HeavyPerSecond: 10, MediumPerSecond: 20, HeavyPerDay: 100}})
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		c.slowDown(categoryHeavy)
	}
	if got := c.pacers[categoryHeavy].Limit(); got != 5 {
		t.Errorf("after a storm of 429s the pacer is at %v/s, want the floor of half the plan (5/s)", got)
	}
	for range 200 {
		c.speedUp(categoryHeavy)
	}
	if got := c.pacers[categoryHeavy].Limit(); got != 10*pacingMargin {
		t.Errorf("after successes the pacer is at %v/s, want back to %v/s", got, 10*pacingMargin)
	}
	if got := c.pacers[categoryMedium].Limit(); got != 20*pacingMargin {
		t.Errorf("medium pacer moved to %v/s", got)
	}
}

func TestHeavyPauseGaugeGoesBackToZero(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, zoomfake.Options{Seed: 1, Users: 2}, nil)
	until := testNow.Add(time.Hour)
	env.client.pauseHeavy(until)
	env.client.pauseHeavy(testNow.Add(time.Minute)) // a shorter pause does not shorten it
	if got := testutil.ToFloat64(env.client.metrics.heavyPaused); got != float64(until.Unix()) {
		t.Errorf("paused-until gauge = %v, want %v", got, until.Unix())
	}
	env.clock.Advance(2 * time.Hour)
	if !env.client.HeavyPausedUntil().IsZero() {
		t.Fatal("still paused after the pause")
	}
	if got := testutil.ToFloat64(env.client.metrics.heavyPaused); got != 0 {
		t.Errorf("paused-until gauge = %v after the pause, want 0", got)
	}
}
