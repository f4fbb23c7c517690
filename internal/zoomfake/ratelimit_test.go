package zoomfake

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"
)

const (
	wantQPSBody   = `{"code":429,"message":"You have reached the maximum per-second rate limit for this API. Try again later."}`
	wantDailyBody = `{"code":429,"message":"You have reached the maximum daily rate limit for this API. Refer to the response header for details on when you can make another request."}`
)

func TestDailyHeavyQuota(t *testing.T) {
	e := newEnv(t, Options{DailyHeavyLimit: 3})
	tok := e.token()
	u := e.fake.Users()[0]
	path := meetingsPath(u.ID, monthQuery("2026-11-01", "2026-11-24"))

	for i := 1; i <= 3; i++ {
		resp := e.getJSON(tok, path, 200, nil)
		h := resp.Header
		// Successful answers carry no X-RateLimit-Type, as recorded from
		// real Zoom (zoom/testdata/zoomspec/ratelimit_headers.md).
		if _, typed := h["X-Ratelimit-Type"]; typed || h.Get("X-RateLimit-Category") != "Heavy" ||
			h.Get("X-RateLimit-Limit") != "3" || h.Get("X-RateLimit-Remaining") != strconv.Itoa(3-i) {
			t.Errorf("call %d headers %v", i, h)
		}
	}
	for i := 0; i < 2; i++ { // the per-user report and the hosts report share the quota
		for _, p := range []string{path, "/report/users?from=2026-11-01&to=2026-11-24"} {
			resp, body := e.get(tok, p)
			if resp.StatusCode != 429 || string(body) != wantDailyBody {
				t.Fatalf("%s: %d %s", p, resp.StatusCode, body)
			}
			if ra := resp.Header.Get("Retry-After"); ra != "2026-11-25T00:00:00Z" {
				t.Errorf("Retry-After %q", ra)
			}
			if resp.Header.Get("X-RateLimit-Type") != "Daily-limit" || resp.Header.Get("X-RateLimit-Remaining") != "0" {
				t.Errorf("429 headers %v", resp.Header)
			}
		}
	}
	// Medium calls are unaffected
	resp := e.getJSON(tok, "/users", 200, nil)
	if _, typed := resp.Header["X-Ratelimit-Type"]; typed || resp.Header.Get("X-RateLimit-Category") != "Medium" {
		t.Errorf("users headers %v", resp.Header)
	}
	if got := e.fake.HeavyCallsToday(); got != 3 {
		t.Errorf("HeavyCallsToday = %d", got)
	}
	if _, daily := e.fake.RateLimited(); daily != 4 {
		t.Errorf("daily 429s = %d", daily)
	}

	e.clock.Set(time.Date(2026, 11, 24, 23, 59, 59, 0, time.UTC))
	tok = e.token()
	e.wantError(tok, path, 429, 429, "daily")
	e.clock.Set(time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)) // reset at 00:00 UTC
	tok = e.token()
	if got := e.fake.HeavyCallsToday(); got != 0 {
		t.Errorf("after midnight HeavyCallsToday = %d", got)
	}
	e.getJSON(tok, path, 200, nil)
	if got := e.fake.CallCount(EndpointUserMeetings); got != 7 { // 3 ok, 2+1 refused, 1 after midnight
		t.Errorf("CallCount = %d", got)
	}
}

func TestPerSecondLimits(t *testing.T) {
	tests := []struct {
		name       string
		opts       Options
		path       func(*env) string
		wantLimit  int
		wantLimits bool
	}{
		{"pro heavy", Options{RateLimits: true}, heavyPath, 10, true},
		{"pro medium", Options{RateLimits: true}, usersPath, 20, true},
		{"business heavy", Options{RateLimits: true, Plan: PlanBusiness}, heavyPath, 40, true},
		{"business medium", Options{RateLimits: true, Plan: PlanBusiness}, usersPath, 60, true},
		{"off", Options{}, heavyPath, 100, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.opts)
			tok := e.token()
			path := tc.path(e)
			for i := 0; i < tc.wantLimit; i++ {
				e.getJSON(tok, path, 200, nil)
			}
			if !tc.wantLimits {
				return
			}
			resp, body := e.get(tok, path)
			if resp.StatusCode != 429 || string(body) != wantQPSBody || resp.Header.Get("X-RateLimit-Type") != "QPS" ||
				resp.Header.Get("X-RateLimit-Limit") != strconv.Itoa(tc.wantLimit) {
				t.Fatalf("over the limit: %d %s %v", resp.StatusCode, body, resp.Header)
			}
			if qps, _ := e.fake.RateLimited(); qps != 1 {
				t.Errorf("qps 429s = %d", qps)
			}
			e.clock.Advance(time.Second) // a new one-second window
			e.getJSON(tok, path, 200, nil)
		})
	}
}

func heavyPath(e *env) string {
	return meetingsPath(e.fake.Users()[3].ID, monthQuery("2026-11-01", "2026-11-24"))
}

func usersPath(*env) string { return "/users" }

func TestCallCounters(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token()
	e.getJSON(tok, "/users", 200, nil)
	e.getJSON(tok, "/report/users?from=2026-11-01&to=2026-11-24", 200, nil)
	e.get("", "/users")
	calls := e.fake.Calls()
	want := map[string]int{EndpointToken: 1, EndpointUsers: 2, EndpointHostsReport: 1}
	b1, _ := json.Marshal(calls)
	b2, _ := json.Marshal(want)
	if string(b1) != string(b2) {
		t.Errorf("Calls() = %s, want %s", b1, b2)
	}
}
