package zoomfake

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/zoomexporter/zoom_exporter/internal/testenv"
)

// testNow is mid-month so the current month has room for the heavy user.
var testNow = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

type env struct {
	t     *testing.T
	fake  *Server
	srv   *httptest.Server
	clock *testenv.Clock
}

func newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	clock := testenv.NewClock(testNow)
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	opts.Now = clock.Now
	fake := New(opts)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	return &env{t: t, fake: fake, srv: srv, clock: clock}
}

// tokenRequest posts to the token endpoint with the given form (body) and
// query, authenticating as id:secret.
func (e *env) tokenRequest(id, secret string, body, query url.Values) (*http.Response, []byte) {
	e.t.Helper()
	u := e.srv.URL + "/oauth/token"
	if query != nil {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(body.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	return e.do(req)
}

func (e *env) token() string {
	e.t.Helper()
	resp, body := e.tokenRequest(DefaultClientID, DefaultClientSecret,
		url.Values{"grant_type": {"account_credentials"}, "account_id": {DefaultAccountID}}, nil)
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("token: %d %s", resp.StatusCode, body)
	}
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		e.t.Fatal(err)
	}
	return tr.AccessToken
}

func (e *env) do(req *http.Request) (*http.Response, []byte) {
	e.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("read body: %v", err)
	}
	if resp.Header.Get("x-zm-trackingid") == "" {
		e.t.Errorf("%s %s: no x-zm-trackingid", req.Method, req.URL)
	}
	return resp, body
}

// get calls the API: path is relative to /v2 and already escaped.
func (e *env) get(token, path string) (*http.Response, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+"/v2"+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return e.do(req)
}

// getJSON calls the API, requires status want and decodes into out (if non-nil).
func (e *env) getJSON(token, path string, want int, out any) *http.Response {
	e.t.Helper()
	resp, body := e.get(token, path)
	if resp.StatusCode != want {
		e.t.Fatalf("GET %s: status %d, want %d: %s", path, resp.StatusCode, want, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		e.t.Errorf("GET %s: Content-Type %q", path, ct)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			e.t.Fatalf("GET %s: %v: %s", path, err, body)
		}
	}
	return resp
}

// wantError checks a Zoom error reply.
func (e *env) wantError(token, path string, status, code int, msgContains string) {
	e.t.Helper()
	var ae apiError
	e.getJSON(token, path, status, &ae)
	if ae.Code != code || !strings.Contains(ae.Message, msgContains) {
		e.t.Errorf("GET %s: got code %d %q, want code %d containing %q", path, ae.Code, ae.Message, code, msgContains)
	}
}

func meetingsPath(user string, q url.Values) string {
	return "/report/users/" + url.PathEscape(user) + "/meetings?" + q.Encode()
}

// listAll follows next_page_token to the end and returns every meeting.
func (e *env) listAll(token, user string, q url.Values) ([]reportMeeting, []meetingsPage) {
	e.t.Helper()
	var all []reportMeeting
	var pages []meetingsPage
	q = cloneValues(q)
	for i := 0; i < 100; i++ {
		var p meetingsPage
		e.getJSON(token, meetingsPath(user, q), http.StatusOK, &p)
		pages = append(pages, p)
		all = append(all, p.Meetings...)
		if p.NextPageToken == "" {
			return all, pages
		}
		q.Set("next_page_token", p.NextPageToken)
	}
	e.t.Fatal("paging did not end")
	return nil, nil
}

func cloneValues(q url.Values) url.Values {
	c := url.Values{}
	for k, v := range q {
		c[k] = append([]string(nil), v...)
	}
	return c
}

func monthQuery(from, to string, extra ...string) url.Values {
	q := url.Values{"from": {from}, "to": {to}}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return q
}

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}
