package zoom

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/zoomexporter/zoom_exporter/internal/sanitize"
	"github.com/zoomexporter/zoom_exporter/internal/testenv"
	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
)

// apiOverride answers API calls with handler, and tokens with the fake.
func apiOverride(t *testing.T, tweak func(*ClientConfig), handler http.HandlerFunc) *testEnv {
	t.Helper()
	clock := testenv.NewClock(testNow)
	fake := zoomfake.New(zoomfake.Options{Seed: 1, Users: 2, Now: clock.Now})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v2/") {
			handler(w, r)
			return
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return newTestEnvFor(t, fake, srv, clock, tweak)
}

// An 8 MB message in a Zoom error (and a long, dirty tracking id) reaches
// no error, log line or failure record whole: each is bounded and cleaned,
// and the code still comes through from the cut body.
func TestHugeZoomErrorMessageIsBounded(t *testing.T) {
	t.Parallel()
	huge := strings.Repeat("User x not exist.\n\r\t\x00\x1b[2J\u2028", 8<<20/24)
	tests := []struct {
		name string
		body func() []byte
	}{
		{"json escapes", func() []byte {
			b, _ := json.Marshal(map[string]any{"code": 1001, "message": huge})
			return b
		}},
		{"raw control bytes", func() []byte {
			return []byte(`{"code":1001,"message":"` + strings.ReplaceAll(huge, `"`, "") + `"}`)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := tt.body()
			if len(body) < 8<<20 {
				t.Fatalf("body of %d bytes", len(body))
			}
			logs := &lockedLog{}
			env := apiOverride(t, func(c *ClientConfig) { c.Logger = log.NewLogfmtLogger(logs) }, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("x-zm-trackingid", strings.Repeat("v=2.0;rid=\xff\xfe", 400)) // long, not UTF-8
				w.WriteHeader(http.StatusNotFound)
				w.Write(body)
			})
			from, to := monthWindow(testNow)
			_, err := env.client.UserMeetings(context.Background(), "someone@example.com", from, to, ReportPast)
			var apiErr *APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("want an APIError, got %.300v", err)
			}
			if !IsUserNotFound(err) {
				t.Errorf("the code did not come through the cut body: %+v", apiErr)
			}
			checkBounded(t, "error", err.Error(), 2*sanitize.MaxMessage)
			checkBounded(t, "message", apiErr.Message, sanitize.MaxMessage+64)
			checkBounded(t, "tracking id", apiErr.TrackingID, sanitize.MaxField+64)
			if !strings.HasPrefix(apiErr.Message, "User x not exist.") {
				t.Errorf("message lost its start: %q", apiErr.Message)
			}
			_, api := env.client.LastFailures()
			if api == nil {
				t.Fatal("no API failure recorded")
			}
			checkBounded(t, "recorded message", api.Message, sanitize.MaxMessage+64)
			checkBounded(t, "recorded tracking id", api.TrackingID, sanitize.MaxField+64)
			checkBounded(t, "log", strings.TrimSuffix(logs.all(), "\n"), 4096)
		})
	}
}

// A success body over the cap is not retried: the same answer would come
// back, each time a Heavy call.
func TestOversizeBodyNotRetried(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	env := apiOverride(t, func(c *ClientConfig) { c.MaxBodyBytes = 1 << 10 }, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Write([]byte(`{"meetings":[],"filler":"` + strings.Repeat("x", 4<<10) + `"}`))
	})
	from, to := monthWindow(testNow)
	_, err := env.client.UserMeetings(context.Background(), "someone@example.com", from, to, ReportPast)
	if err == nil || !strings.Contains(err.Error(), "larger than 1024 bytes") {
		t.Fatalf("want a body-too-large error, got %v", err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("an oversize answer was asked for %d times, want 1", n)
	}
	if used := env.client.Budget().UsedToday; used != 1 {
		t.Errorf("budget used = %d, want 1", used)
	}
}

// Endless pagination against a hostile server: each shape is stopped
// early, with an error, having spent a bounded number of calls.
func TestRunawayPaginationStops(t *testing.T) {
	t.Parallel()
	total := func(n int) *int { return &n }
	tests := []struct {
		name      string
		users     bool                                          // GET /users instead of a user's report
		page      func(n int, token string) (string, *int, int) // page n (from 1): next token, total_records, page_count
		pageNum   bool                                          // page by page_number
		wantCalls int
		wantWhy   string
	}{
		{name: "token repeats itself", wantCalls: 2, wantWhy: "a loop",
			page: func(n int, _ string) (string, *int, int) { return "same", nil, 0 }},
		{name: "two tokens in a cycle", wantCalls: 3, wantWhy: "a loop",
			page: func(n int, _ string) (string, *int, int) { return []string{"a", "b"}[n%2], nil, 0 }},
		{name: "fresh token, total_records 5", wantCalls: 2, wantWhy: "total_records of 5",
			page: func(n int, _ string) (string, *int, int) { return fmt.Sprint("t", n), total(5), 0 }},
		{name: "fresh token, total_records 700", wantCalls: 4, wantWhy: "total_records of 700",
			page: func(n int, _ string) (string, *int, int) { return fmt.Sprint("t", n), total(700), 0 }},
		{name: "fresh token, no total_records", wantCalls: maxUserReportPages, wantWhy: "the most one listing",
			page: func(n int, _ string) (string, *int, int) { return fmt.Sprint("t", n), nil, 0 }},
		{name: "page_count of a million", pageNum: true, wantCalls: maxUserReportPages, wantWhy: "the most one listing",
			page: func(n int, _ string) (string, *int, int) { return "", nil, 1_000_000 }},
		{name: "users: fresh token, total_records 600", users: true, wantCalls: 3, wantWhy: "total_records of 600",
			page: func(n int, _ string) (string, *int, int) { return fmt.Sprint("t", n), total(600), 0 }},
		{name: "token of 2 KiB", wantCalls: 1, wantWhy: "next_page_token of 2048 bytes",
			page: func(n int, _ string) (string, *int, int) { return strings.Repeat("t", 2048), nil, 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			calls := 0
			env := apiOverride(t, nil, func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				calls++
				n := calls
				mu.Unlock()
				next, tot, count := tt.page(n, r.URL.Query().Get("next_page_token"))
				page := map[string]any{"page_size": 300, "meetings": []any{}, "users": []any{}}
				if tt.pageNum {
					page["page_count"], page["page_number"] = count, n
				} else {
					page["next_page_token"] = next
				}
				if tot != nil {
					page["total_records"] = *tot
				}
				json.NewEncoder(w).Encode(page)
			})
			var err error
			if tt.users {
				_, err = env.client.ActiveUsers(context.Background())
			} else {
				from, to := monthWindow(testNow)
				_, err = env.client.UserMeetings(context.Background(), "someone@example.com", from, to, ReportPast)
			}
			var runaway *RunawayListingError
			if !errors.As(err, &runaway) || !strings.Contains(err.Error(), tt.wantWhy) {
				t.Fatalf("want a RunawayListingError saying %q, got %v", tt.wantWhy, err)
			}
			if calls != tt.wantCalls {
				t.Errorf("the listing made %d calls, want %d", calls, tt.wantCalls)
			}
			if !tt.users {
				if used := env.client.Budget().UsedToday; used != tt.wantCalls {
					t.Errorf("budget used = %d, want %d (one per call sent)", used, tt.wantCalls)
				}
			}
			checkBounded(t, "error", err.Error(), 1024)
			if _, api := env.client.LastFailures(); api == nil || !strings.Contains(api.Message, tt.wantWhy) {
				t.Errorf("last API failure = %+v", api)
			}
		})
	}
}

// The retry backoff keeps both the cancellation and Zoom's answer for
// errors.Is / errors.As.
func TestBackoffKeepsErrorTypes(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The refresh ends while the client backs off: cancelled as the
	// client says it is about to wait.
	cancelOnRetry := log.LoggerFunc(func(kv ...any) error {
		for _, v := range kv {
			if v == "Retrying Zoom API call" {
				cancel()
			}
		}
		return nil
	})
	env := apiOverride(t, func(c *ClientConfig) { c.RetryBaseDelay, c.Logger = time.Hour, cancelOnRetry }, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("x-zm-trackingid", "tid-503")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"code":503,"message":"busy"}`))
	})
	_, err := env.client.ActiveUsers(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("errors.Is(err, context.Canceled) = false for %v", err)
	}
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusServiceUnavailable || apiErr.TrackingID != "tid-503" {
		t.Errorf("errors.As(err, *APIError) lost Zoom's answer: %v", err)
	}
	// A cancelled refresh is not Zoom's failure.
	if _, api := env.client.LastFailures(); api != nil {
		t.Errorf("a cancelled call was recorded as an API failure: %+v", api)
	}
}

// A daily 429's Retry-After is believed up to the next 00:00 UTC plus a
// little slack; beyond, the pause ends at 00:00 UTC and the log says so. A
// stored pause is held to the same bound.
func TestDailyPauseEndsAtZoomsReset(t *testing.T) {
	t.Parallel()
	midnight := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		retryAfter    string
		want          time.Time
		wantDisbelief bool
	}{
		{"2026-11-21T00:00:00Z", midnight, false},
		{"2026-11-21T00:04:00Z", midnight.Add(4 * time.Minute), false},
		{"2026-11-22T12:00:00Z", midnight, true}, // 48 h
		{strconv.Itoa(48 * 3600), midnight, true},
		{"2026-11-21T06:00:00Z", midnight, true},
	}
	for _, tt := range tests {
		t.Run(tt.retryAfter, func(t *testing.T) {
			t.Parallel()
			logs := &lockedLog{}
			env := apiOverride(t, func(c *ClientConfig) { c.Logger = log.NewLogfmtLogger(logs) }, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-RateLimit-Type", "Daily-limit")
				w.Header().Set("X-RateLimit-Category", "Heavy")
				w.Header().Set("Retry-After", tt.retryAfter)
				w.WriteHeader(http.StatusTooManyRequests)
				w.Write([]byte(`{"code":429,"message":"You have reached the maximum daily rate limit for this API."}`))
			})
			from, to := monthWindow(testNow)
			_, err := env.client.UserMeetings(context.Background(), "someone@example.com", from, to, ReportPast)
			var quota *DailyQuotaError
			if !errors.As(err, &quota) || !quota.Until.Equal(tt.want) {
				t.Fatalf("want a pause until %v, got %v", tt.want, err)
			}
			if got := env.client.HeavyPausedUntil(); !got.Equal(tt.want) {
				t.Errorf("Heavy calls paused until %v, want %v", got, tt.want)
			}
			if got := env.client.BudgetRecord().PausedUntil; !got.Equal(tt.want) {
				t.Errorf("pause kept for the store until %v, want %v", got, tt.want)
			}
			if said := logs.count("not believed") > 0; said != tt.wantDisbelief {
				t.Errorf("log says Retry-After not believed: %v, want %v:\n%s", said, tt.wantDisbelief, logs.all())
			}
			_, api := env.client.LastFailures()
			if api == nil || api.Status != 429 || api.Hint != hintDailyQuota {
				t.Errorf("last API failure = %+v, want the daily 429 with the quota hint", api)
			}
		})
	}

	t.Run("stored pause", func(t *testing.T) {
		t.Parallel()
		env := newTestEnv(t, zoomfake.Options{Seed: 1, Users: 2}, nil)
		env.client.RestoreBudget(BudgetRecord{Day: testNow.Truncate(24 * time.Hour), PausedUntil: testNow.Add(48 * time.Hour)})
		if got := env.client.HeavyPausedUntil(); !got.Equal(midnight) {
			t.Errorf("a stored 48 h pause restored until %v, want %v", got, midnight)
		}
	})
}

// LastFailures says what failed, how many times in a row, and what to do
// for the common failures; a success clears it; it never holds the secret.
func TestLastFailuresHints(t *testing.T) {
	t.Parallel()
	const secret = "hint-s3cret-never-shown"
	hang := newSilentServer(t)
	closed := testenv.FreeAddress(t)
	tests := []struct {
		name      string
		token     bool // a token failure; else an API failure
		setup     func(t *testing.T, fake *zoomfake.Server, c *ClientConfig)
		api       http.HandlerFunc // answers /v2/ instead of the fake
		call      func(c *Client) error
		status    int
		code      string
		hint      string // exact, or a prefix ending in "..."
		fix       func(fake *zoomfake.Server, c *Client)
		noSuccess bool
		wantCount int // after two calls; default 2
	}{
		{name: "invalid client", token: true, status: 400, code: "invalid_client", hint: hintInvalidClient,
			setup: func(t *testing.T, fake *zoomfake.Server, c *ClientConfig) { fake.SetCredentialsValid(false) },
			fix:   func(fake *zoomfake.Server, c *Client) { fake.SetCredentialsValid(true) }},
		{name: "wrong account id", token: true, status: 400, code: "invalid_request", hint: hintAccountID,
			setup: func(t *testing.T, fake *zoomfake.Server, c *ClientConfig) { c.AccountID = "not-the-account" }, noSuccess: true},
		{name: "token endpoint unreachable", token: true, status: 0, hint: hintTokenNetwork,
			setup: func(t *testing.T, fake *zoomfake.Server, c *ClientConfig) {
				c.TokenURL, c.MaxRetries = "http://"+closed+"/oauth/token", 0
			}, noSuccess: true},
		{name: "token endpoint hangs", token: true, status: 0, hint: hintTokenNetwork,
			setup: func(t *testing.T, fake *zoomfake.Server, c *ClientConfig) {
				c.TokenURL, c.Timeout = hang.URL()+"/oauth/token", 50*time.Millisecond
			}, noSuccess: true},
		{name: "report scope missing", status: 400, code: "4711", hint: "Add the scope report:read:admin to the app...",
			setup: func(t *testing.T, fake *zoomfake.Server, c *ClientConfig) {
				fake.SetScopes([]string{"user:read:admin"})
			},
			fix: func(fake *zoomfake.Server, c *Client) {
				fake.SetScopes([]string{"report:read:admin", "user:read:admin"})
			}},
		{name: "users scope missing", status: 400, code: "4711", hint: "Add the scope user:read:admin to the app...",
			setup: func(t *testing.T, fake *zoomfake.Server, c *ClientConfig) {
				fake.SetScopes([]string{"report:read:admin"})
			},
			call: func(c *Client) error { _, err := c.ActiveUsers(context.Background()); return err },
			fix: func(fake *zoomfake.Server, c *Client) {
				fake.SetScopes([]string{"report:read:admin", "user:read:admin"})
			}},
		{name: "scope named only in the message", status: 400, code: "124", hint: "Add the scope report:read:user:admin to the app...",
			api: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusBadRequest)
				w.Write([]byte(`{"code":124,"message":"Invalid access token, does not contain scopes:[report:read:user:admin]."}`))
			}, noSuccess: true},
		{name: "not a paid account", status: 400, code: "200", hint: hintPaidAccount,
			api: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusBadRequest)
				w.Write([]byte(`{"code":200,"message":"This is only available for paid account: abcDEF."}`))
			}, noSuccess: true},
		{name: "API unreachable", status: 0, hint: hintAPINetwork,
			setup: func(t *testing.T, fake *zoomfake.Server, c *ClientConfig) { c.APIURL = "http://" + closed + "/v2" }, noSuccess: true},
		{name: "API hangs", status: 0, hint: hintAPINetwork,
			setup: func(t *testing.T, fake *zoomfake.Server, c *ClientConfig) {
				c.APIURL, c.Timeout, c.MaxRetries = hang.URL()+"/v2", 50*time.Millisecond, 0
			}, noSuccess: true},
		// The second call is refused by the pause, without calling Zoom.
		{name: "daily quota", status: 429, code: "429", hint: hintDailyQuota, wantCount: 1,
			api: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-RateLimit-Type", "Daily-limit")
				w.WriteHeader(http.StatusTooManyRequests)
				w.Write([]byte(`{"code":429,"message":"You have reached the maximum daily rate limit for this API."}`))
			}, noSuccess: true},
		{name: "user not found: no hint", status: 404, code: "1001", hint: "",
			call: func(c *Client) error {
				from, to := monthWindow(testNow)
				_, err := c.UserMeetings(context.Background(), "nobody@example.com", from, to, ReportPast)
				return err
			}, noSuccess: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := testenv.NewClock(testNow)
			fake := zoomfake.New(zoomfake.Options{Seed: 1, Users: 2, Now: clock.Now, ClientSecret: secret})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.api != nil && strings.HasPrefix(r.URL.Path, "/v2/") {
					tt.api(w, r)
					return
				}
				fake.ServeHTTP(w, r)
			}))
			t.Cleanup(srv.Close)
			env := newTestEnvFor(t, fake, srv, clock, func(c *ClientConfig) {
				c.ClientSecret = secret
				if tt.setup != nil {
					tt.setup(t, fake, c)
				}
			})
			call := tt.call
			if call == nil {
				call = func(c *Client) error {
					from, to := monthWindow(testNow)
					_, err := c.UserMeetings(context.Background(), fake.Users()[0].ID, from, to, ReportPast)
					return err
				}
			}
			if err := call(env.client); err == nil {
				t.Fatal("the call succeeded")
			}
			clock.Advance(time.Minute) // past any hold or pause of the client
			call(env.client)
			tok, api := env.client.LastFailures()
			got, other := api, tok
			if tt.token {
				got, other = tok, api
			}
			if got == nil {
				t.Fatalf("no failure recorded (token %+v, api %+v)", tok, api)
			}
			if other != nil {
				t.Errorf("a failure recorded on the other side: %+v", other)
			}
			if got.Status != tt.status || got.Code != tt.code {
				t.Errorf("status %d code %q, want %d %q", got.Status, got.Code, tt.status, tt.code)
			}
			if prefix, ok := strings.CutSuffix(tt.hint, "..."); ok {
				if !strings.HasPrefix(got.Hint, prefix) {
					t.Errorf("hint %q, want one starting %q", got.Hint, prefix)
				}
			} else if got.Hint != tt.hint {
				t.Errorf("hint %q, want %q", got.Hint, tt.hint)
			}
			wantCount, wantWhen := 2, clock.Now()
			if tt.wantCount != 0 {
				wantCount, wantWhen = tt.wantCount, testNow
			}
			if got.Count != wantCount || !got.When.Equal(wantWhen) || got.Endpoint == "" {
				t.Errorf("failure %+v: want %d in a row, the latest at %v, an endpoint", got, wantCount, wantWhen)
			}
			if got.Message == "" && got.Status != 0 {
				t.Errorf("failure without Zoom's message: %+v", got)
			}
			for _, field := range []string{got.Endpoint, got.Code, got.Message, got.TrackingID, got.Hint} {
				if strings.Contains(field, secret) || strings.Contains(field, "fake.") {
					t.Errorf("a failure field shows a credential: %q", field)
				}
				checkBounded(t, "failure field", field, 1024)
			}
			// A copy: changing it changes nothing.
			got.Count = 99
			if t2, a2 := env.client.LastFailures(); (tt.token && t2.Count == 99) || (!tt.token && a2.Count == 99) {
				t.Error("LastFailures returned the record itself, not a copy")
			}
			if tt.noSuccess {
				return
			}
			tt.fix(fake, env.client)
			clock.Advance(time.Minute)
			if err := call(env.client); err != nil {
				t.Fatalf("after the fix: %v", err)
			}
			if tok, api := env.client.LastFailures(); tok != nil || api != nil {
				t.Errorf("after a success: token %+v, api %+v, want none", tok, api)
			}
		})
	}
}

// countingBody is an answer body that counts what the client reads of it.
type countingBody struct {
	r    *strings.Reader
	read *atomic.Int64
}

func (b countingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.read.Add(int64(n))
	return n, err
}

func (b countingBody) Close() error { return nil }

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Error answers, of the API and of the token endpoint, are read only up to
// a small cap, whatever their size; success answers keep the large cap.
func TestErrorBodiesReadWithSmallCap(t *testing.T) {
	t.Parallel()
	const size = 8 << 20
	message := `{"code":1001,"reason":"x","error":"invalid_client","message":"` + strings.Repeat("m", size) + `"}`
	tests := []struct {
		name       string
		tokenFails bool
		apiStatus  int
		wantMax    int64 // bytes read of the 8 MB answer
		wantMin    int64
	}{
		{name: "API error", apiStatus: http.StatusNotFound, wantMax: maxErrorBodyBytes},
		{name: "token error", tokenFails: true, wantMax: maxTokenBody},
		{name: "API success reads on", apiStatus: http.StatusOK, wantMin: size},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var read atomic.Int64
			transport := roundTripFunc(func(r *http.Request) (*http.Response, error) {
				resp := &http.Response{StatusCode: tt.apiStatus, Header: http.Header{"Content-Type": {"application/json"}}, Request: r}
				switch {
				case r.URL.Path == "/oauth/token" && tt.tokenFails:
					resp.StatusCode = http.StatusBadRequest
					resp.Body = countingBody{strings.NewReader(message), &read}
				case r.URL.Path == "/oauth/token":
					resp.StatusCode = http.StatusOK
					resp.Body = countingBody{strings.NewReader(`{"access_token":"tok","expires_in":3600}`), &atomic.Int64{}}
				default:
					resp.Body = countingBody{strings.NewReader(message), &read}
				}
				return resp, nil
			})
			c, err := NewClient(ClientConfig{APIURL: "http://zoom.invalid/v2", TokenURL: "http://zoom.invalid/oauth/token",
				HTTPClient: &http.Client{Transport: transport}, MaxRetries: 0, Now: func() time.Time { return testNow }})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.ActiveUsers(context.Background())
			if tt.apiStatus != http.StatusOK {
				if err == nil {
					t.Fatal("want an error")
				}
				checkBounded(t, "error", err.Error(), 1024)
			}
			if n := read.Load(); n > tt.wantMax && tt.wantMax > 0 || n < tt.wantMin {
				t.Errorf("read %d bytes of the %d-byte answer, want at most %d, at least %d", n, len(message), tt.wantMax, tt.wantMin)
			}
		})
	}
}
