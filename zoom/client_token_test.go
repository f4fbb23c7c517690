package zoom

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/zoomexporter/zoom_exporter/internal/testenv"
	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
)

// silentServer accepts connections and never answers: a token endpoint (or
// API) that hangs.
type silentServer struct {
	ln       net.Listener
	accepted atomic.Int32
	mu       sync.Mutex
	conns    []net.Conn
}

func newSilentServer(t *testing.T) *silentServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &silentServer{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.accepted.Add(1)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, c := range s.conns {
			c.Close()
		}
	})
	return s
}

func (s *silentServer) URL() string { return "http://" + s.ln.Addr().String() }

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not a wait for an event
	}
}

// lockedLog collects log lines of a go-kit logger.
type lockedLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, string(p))
	return len(p), nil
}

func (l *lockedLog) count(substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		if strings.Contains(line, substr) {
			n++
		}
	}
	return n
}

func (l *lockedLog) all() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "")
}

// A token endpoint that accepts and never answers: the call fails within
// the request timeout with a counted, logged, recorded timeout; the rest of
// a refresh fails at once instead of waiting again; the log says it once per
// LogEvery.
func TestTokenEndpointHangingFailsWithinTimeout(t *testing.T) {
	t.Parallel()
	hang := newSilentServer(t)
	logs := &lockedLog{}
	env := newTestEnv(t, zoomfake.Options{Seed: 1, Users: 2}, func(c *ClientConfig) {
		c.TokenURL = hang.URL() + "/oauth/token"
		c.Timeout = 100 * time.Millisecond
		c.LogEvery = 5 * time.Minute
		c.Logger = log.NewLogfmtLogger(logs)
	})
	call := func() error {
		t.Helper()
		done := make(chan error, 1)
		go func() { _, err := env.client.ActiveUsers(context.Background()); done <- err }()
		select {
		case err := <-done:
			return err
		case <-time.After(20 * time.Second): // far beyond the 100ms timeout: it hangs
			t.Fatal("the call still waits on a token endpoint that never answers")
			return nil
		}
	}

	err := call()
	var te *TokenError
	if !errors.As(err, &te) || !te.Timeout || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want a timed-out TokenError wrapping context.DeadlineExceeded, got %v", err)
	}
	if !strings.Contains(err.Error(), "--zoom.request-timeout") {
		t.Errorf("error does not name --zoom.request-timeout: %v", err)
	}
	if n := counterValue(t, env.client.metrics.tokenFailures); n != 1 {
		t.Errorf("zoom_oauth_token_failures_total = %v, want 1", n)
	}
	if n := logs.count("Zoom OAuth token request failed"); n != 1 {
		t.Errorf("token failure logged %d times, want 1:\n%s", n, logs.all())
	}
	if valid, _ := env.client.TokenState(); valid {
		t.Error("TokenState says a token is valid")
	}
	tok, _ := env.client.LastFailures()
	if tok == nil || tok.Count != 1 || tok.Hint != hintTokenNetwork || tok.Status != 0 {
		t.Fatalf("last token failure = %+v, want one timeout with the network hint", tok)
	}

	// The rest of the refresh fails at once: no second request before one
	// request timeout has passed.
	for range 5 {
		if err := call(); !errors.As(err, &te) || !te.Timeout {
			t.Fatalf("call during the hold: %v", err)
		}
	}
	if n := hang.accepted.Load(); n != 1 {
		t.Errorf("the hanging endpoint got %d connections, want 1", n)
	}
	if n := counterValue(t, env.client.metrics.tokenRequests); n != 1 {
		t.Errorf("token requests = %v, want 1", n)
	}

	// Later refreshes try again; the same failure is logged once per LogEvery.
	env.clock.Advance(time.Minute)
	call()
	env.clock.Advance(time.Minute)
	call()
	if n := counterValue(t, env.client.metrics.tokenFailures); n != 3 {
		t.Errorf("zoom_oauth_token_failures_total = %v, want 3", n)
	}
	if n := logs.count("Zoom OAuth token request failed"); n != 1 {
		t.Errorf("a repeated failure was logged %d times within LogEvery, want 1", n)
	}
	env.clock.Advance(5 * time.Minute)
	call()
	if n := logs.count("Zoom OAuth token request failed"); n != 2 {
		t.Errorf("token failure logged %d times after LogEvery, want 2", n)
	}
	if tok, _ := env.client.LastFailures(); tok == nil || tok.Count != 4 {
		t.Errorf("last token failure = %+v, want 4 in a row", tok)
	}
}

// While a token request hangs, TokenState answers at once, concurrent
// callers share the one request, each leaves when its own context ends, and
// no goroutine stays behind.
func TestTokenStateNeverWaitsOnAHangingRequest(t *testing.T) {
	// Not parallel: it counts goroutines.
	hang := newSilentServer(t)
	env := newTestEnv(t, zoomfake.Options{Seed: 1, Users: 2}, func(c *ClientConfig) {
		c.TokenURL = hang.URL() + "/oauth/token"
		c.Timeout = time.Hour // the request hangs for the whole test
	})
	before := runtime.NumGoroutine()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const callers = 50
	errs := make(chan error, callers)
	for range callers {
		go func() {
			_, err := env.client.tokens.Token(ctx)
			errs <- err
		}()
	}
	eventually(t, 10*time.Second, "the token request to reach the endpoint", func() bool { return hang.accepted.Load() >= 1 })

	states := make(chan bool, callers)
	for range callers {
		go func() {
			valid, _ := env.client.TokenState()
			states <- valid
		}()
	}
	deadline := time.After(10 * time.Second)
	for i := range callers {
		select {
		case valid := <-states:
			if valid {
				t.Fatal("TokenState says valid while no token was ever issued")
			}
		case <-deadline:
			t.Fatalf("only %d of %d TokenState calls answered while a token request hangs", i, callers)
		}
	}
	if n := hang.accepted.Load(); n != 1 {
		t.Errorf("%d concurrent callers made %d token requests, want 1 shared", callers, n)
	}

	cancel()
	for range callers {
		select {
		case err := <-errs:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("a caller whose context ended got %v, want context.Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a caller still waits after its context ended")
		}
	}
	// The abandoned request is cancelled: nothing piles up.
	eventually(t, 10*time.Second, "goroutines back to where they were", func() bool { return runtime.NumGoroutine() <= before+2 })
	if n := counterValue(t, env.client.metrics.tokenFailures); n != 0 {
		t.Errorf("token failures = %v after callers gave up, want 0 (not the endpoint's fault)", n)
	}
}

// Token lifetimes under the renewal margin, or negative, no longer make a
// token request of every API call.
func TestShortTokenLifetimes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		expiresIn     int  // what the token endpoint says
		fakeHonours   bool // the fake expires its tokens as said (else they live an hour)
		wantFailed    int  // API calls that fail
		maxTokenCalls int
	}{
		// Renewed at half its life (15s): at 0s, 15s and 30s.
		{name: "30s", expiresIn: 30, fakeHonours: true, wantFailed: 0, maxTokenCalls: 3},
		// Expired on arrival: never used, one request per 10s at most.
		{name: "-5s", expiresIn: -5, wantFailed: 11, maxTokenCalls: 3},
		// Used until it dies; then calls fail until 10s have passed since
		// it was asked for (at 6s, 9s, 18s, 21s, 30s).
		{name: "4s", expiresIn: 4, fakeHonours: true, wantFailed: 5, maxTokenCalls: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := testenv.NewClock(testNow)
			opts := zoomfake.Options{Seed: 1, Users: 2, Now: clock.Now}
			if tt.fakeHonours {
				opts.TokenLifetime = time.Duration(tt.expiresIn) * time.Second
			}
			fake := zoomfake.New(opts)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/oauth/token" {
					fake.ServeHTTP(w, r)
					return
				}
				rec := httptest.NewRecorder()
				fake.ServeHTTP(rec, r)
				var answer map[string]any
				if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil {
					t.Error(err)
				}
				answer["expires_in"] = tt.expiresIn
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(rec.Code)
				json.NewEncoder(w).Encode(answer)
			}))
			t.Cleanup(srv.Close)
			env := newTestEnvFor(t, fake, srv, clock, nil)

			var failed []error
			for i := range 11 {
				if i > 0 {
					clock.Advance(3 * time.Second)
				}
				if _, err := env.client.ActiveUsers(context.Background()); err != nil {
					failed = append(failed, err)
				}
			}
			if n := fake.TokenRequests(); n > tt.maxTokenCalls {
				t.Errorf("11 API calls over 30s made %d token requests, want at most %d", n, tt.maxTokenCalls)
			}
			if len(failed) != tt.wantFailed {
				t.Errorf("%d of 11 calls failed, want %d: %v", len(failed), tt.wantFailed, failed)
			}
			for _, err := range failed {
				var te *TokenError
				if !errors.As(err, &te) || !strings.Contains(err.Error(), "expire") {
					t.Errorf("failure does not say the token lifetime is the cause: %v", err)
				}
			}
			if n := counterValue(t, env.client.metrics.tokenShortLifetime); n < 1 {
				t.Errorf("zoom_oauth_token_short_lifetime_total = %v, want at least 1", n)
			}
			// The fake refuses expired tokens: no call was sent with one.
			if n := counterValue(t, env.client.metrics.requests.WithLabelValues(endpointUsers, "401")); n != 0 {
				t.Errorf("%v calls went out with an expired token", n)
			}
		})
	}
}

// The token endpoint's answer is read with a small cap, and its reason is
// bounded and cleaned before it reaches an error.
func TestTokenErrorReasonBounded(t *testing.T) {
	t.Parallel()
	reason := strings.Repeat("bad\r\n\x1b[31m", 800_000) // 8 MB
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client", "reason": reason})
	}))
	t.Cleanup(srv.Close)
	c, err := NewClient(ClientConfig{APIURL: srv.URL + "/v2", TokenURL: srv.URL + "/oauth/token", ClientSecret: "s3cret", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ActiveUsers(context.Background())
	var te *TokenError
	if !errors.As(err, &te) {
		t.Fatalf("want a TokenError, got %v", err)
	}
	checkBounded(t, "token error", err.Error(), 1024)
	tok, _ := c.LastFailures()
	if tok == nil {
		t.Fatal("no token failure recorded")
	}
	checkBounded(t, "recorded reason", tok.Message, 1024)
	if tok.Hint != hintInvalidClient {
		t.Errorf("hint = %q", tok.Hint)
	}
}

// checkBounded fails when s is longer than max bytes or holds a control character.
func checkBounded(t *testing.T, what, s string, max int) {
	t.Helper()
	if len(s) > max {
		t.Errorf("%s is %d bytes, want at most %d", what, len(s), max)
	}
	if i := strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }); i >= 0 {
		t.Errorf("%s holds control character %q at %d", what, s[i], i)
	}
}

// drain reads a request body so that the server can answer.
