package zoomfake

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"
)

func TestFaults(t *testing.T) {
	tests := []struct {
		name  string
		fault Fault
		check func(t *testing.T, e *env, tok string)
	}{
		{"server error twice", Fault{Kind: FaultServerError, Count: 2}, func(t *testing.T, e *env, tok string) {
			e.wantError(tok, "/users", 500, 500, "")
			e.wantError(tok, "/users", 500, 500, "")
			e.getJSON(tok, "/users", 200, nil)
		}},
		{"503 on reports only", Fault{Kind: FaultServerError, Status: 503, Path: "/v2/report"}, func(t *testing.T, e *env, tok string) {
			e.getJSON(tok, "/users", 200, nil)
			for i := 0; i < 3; i++ { // Count 0: until cleared
				e.wantError(tok, "/report/users?from=2026-11-01&to=2026-11-02", 503, 503, "")
			}
			e.fake.ClearFaults()
			e.getJSON(tok, "/report/users?from=2026-11-01&to=2026-11-02", 200, nil)
		}},
		{"token endpoint down", Fault{Kind: FaultServerError, Path: "/oauth/token", Count: 1}, func(t *testing.T, e *env, tok string) {
			e.getJSON(tok, "/users", 200, nil) // API itself unaffected
			resp, _ := e.tokenRequest(DefaultClientID, DefaultClientSecret,
				url.Values{"grant_type": {"account_credentials"}, "account_id": {DefaultAccountID}}, nil)
			if resp.StatusCode != 500 {
				t.Errorf("token: %d", resp.StatusCode)
			}
			e.token()
		}},
		{"malformed", Fault{Kind: FaultMalformedJSON, Count: 1}, func(t *testing.T, e *env, tok string) {
			resp, body := e.get(tok, "/users")
			var v any
			if resp.StatusCode != 200 || json.Unmarshal(body, &v) == nil {
				t.Errorf("malformed: %d %s", resp.StatusCode, body)
			}
			e.getJSON(tok, "/users", 200, &v)
		}},
		{"truncated", Fault{Kind: FaultTruncated, Count: 1}, func(t *testing.T, e *env, tok string) {
			req := mustRequest(t, http.MethodGet, e.srv.URL+"/v2/users")
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 || resp.ContentLength <= 0 {
				t.Fatalf("truncated: %d, length %d", resp.StatusCode, resp.ContentLength)
			}
			body, err := io.ReadAll(resp.Body)
			if !errors.Is(err, io.ErrUnexpectedEOF) || int64(len(body)) >= resp.ContentLength {
				t.Errorf("read %d of %d bytes, err %v", len(body), resp.ContentLength, err)
			}
			e.getJSON(tok, "/users", 200, nil)
		}},
		{"slow, client gives up", Fault{Kind: FaultSlow, Delay: time.Hour, Count: 1}, func(t *testing.T, e *env, tok string) {
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+"/v2/users", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			_, err := http.DefaultClient.Do(req)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err %v", err)
			}
			e.getJSON(tok, "/users", 200, nil)
			// srv.Close in cleanup waits for the handler: it must have returned
		}},
		{"slow, then answers", Fault{Kind: FaultSlow, Delay: 10 * time.Millisecond, Count: 1}, func(t *testing.T, e *env, tok string) {
			e.getJSON(tok, "/users", 200, nil)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			tok := e.token()
			e.fake.InjectFault(tc.fault)
			tc.check(t, e, tok)
		})
	}
}

func TestServerErrorRate(t *testing.T) {
	run := func() []int {
		e := newEnv(t, Options{Seed: 7})
		tok := e.token()
		e.fake.SetServerErrorRate(0.2)
		var statuses []int
		for i := 0; i < 200; i++ {
			resp, _ := e.get(tok, "/users")
			statuses = append(statuses, resp.StatusCode)
		}
		e.token() // the token endpoint is spared
		e.fake.ClearFaults()
		for i := 0; i < 20; i++ {
			e.getJSON(tok, "/users", 200, nil)
		}
		return statuses
	}
	a, b := run(), run()
	failed := 0
	for i, s := range a {
		if s >= 500 {
			failed++
		} else if s != 200 {
			t.Fatalf("status %d", s)
		}
		if b[i] != s {
			t.Fatal("error pattern not deterministic for one seed")
		}
	}
	if failed < 20 || failed > 60 {
		t.Errorf("%d of 200 failed, want about 40", failed)
	}
}

// FaultShortPage drops a listing page's last row and keeps total_records;
// a Path ending in "$" hits the hosts report only, not the per-user reports
// below its path.
func TestFaultShortPage(t *testing.T) {
	e := newEnv(t, Options{Users: 6})
	tok := e.token()
	hostsPath := "/report/users?type=active&from=2026-11-01&to=2026-11-24"
	var whole hostsPage
	e.getJSON(tok, hostsPath, 200, &whole)
	if len(whole.Users) < 2 || whole.TotalRecords != len(whole.Users) {
		t.Fatalf("the hosts report has %d rows of %d records", len(whole.Users), whole.TotalRecords)
	}
	e.fake.InjectFault(Fault{Kind: FaultShortPage, Path: "/v2/report/users$"})
	var short hostsPage
	e.getJSON(tok, hostsPath, 200, &short)
	if len(short.Users) != len(whole.Users)-1 || short.TotalRecords != whole.TotalRecords {
		t.Errorf("short page: %d rows of %d records, want %d of %d", len(short.Users), short.TotalRecords, len(whole.Users)-1, whole.TotalRecords)
	}
	var userReport meetingsPage
	e.getJSON(tok, meetingsPath(e.fake.Users()[0].ID, monthQuery("2026-11-01", "2026-11-24")), 200, &userReport)
	if got := len(userReport.Meetings); got != min(userReport.TotalRecords, userReport.PageSize) {
		t.Errorf("a per-user report below the exact path was damaged: %d rows, %d records", got, userReport.TotalRecords)
	}
}
