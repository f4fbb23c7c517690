package scrape

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/zoomexporter/zoom_exporter/internal/testenv"
	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
	"github.com/zoomexporter/zoom_exporter/zoom"
)

// rewritingZoom sits in front of the fake and lets a test change a JSON
// answer before the client reads it: rows carrying another user's e-mail,
// a meeting listed in two months, an id of 40 KiB.
type rewritingZoom struct {
	t    *testing.T
	next http.Handler

	mu      sync.Mutex
	rewrite func(r *http.Request, body map[string]any) // nil: answers pass unchanged
}

func (z *rewritingZoom) set(f func(r *http.Request, body map[string]any)) {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.rewrite = f
}

func (z *rewritingZoom) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	z.mu.Lock()
	f := z.rewrite
	z.mu.Unlock()
	if f == nil || !strings.HasPrefix(r.URL.Path, "/v2/") {
		z.next.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	z.next.ServeHTTP(rec, r)
	if rec.Code != http.StatusOK {
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
		return
	}
	var body map[string]any
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.UseNumber() // ids and figures beyond float64's precision survive
	if err := dec.Decode(&body); err != nil {
		z.t.Errorf("the fake's %s: %v", r.URL.Path, err)
		return
	}
	f(r, body)
	for k, v := range rec.Header() {
		if k != "Content-Length" {
			w.Header()[k] = v
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(body)
}

// reportUser is the {userId} of a per-user report request, or "".
func reportUser(r *http.Request) string {
	rest, ok := strings.CutPrefix(r.URL.Path, "/v2/report/users/")
	if !ok {
		return ""
	}
	user, ok := strings.CutSuffix(rest, "/meetings")
	if !ok {
		return ""
	}
	return user
}

// addRow appends a row to a listing's array and counts it in total_records.
func addRow(body map[string]any, array string, row map[string]any) {
	rows, _ := body[array].([]any)
	body[array] = append(rows, row)
	if n, ok := body["total_records"].(json.Number); ok {
		v, _ := n.Int64()
		body["total_records"] = json.Number(strconv.FormatInt(v+1, 10))
	}
}

// newRewritingEnv is a test environment whose Zoom answers pass through a
// rewritingZoom, on clock.
func newRewritingEnv(t *testing.T, clock *testenv.Clock, opts zoomfake.Options, tweak func(*zoom.ClientConfig)) (*testEnv, *rewritingZoom) {
	t.Helper()
	opts.Now = clock.Now
	fake := zoomfake.New(opts)
	z := &rewritingZoom{t: t, next: fake}
	srv := httptest.NewServer(z)
	t.Cleanup(srv.Close)
	return newTestEnvFor(t, fake, srv, clock, tweak), z
}

// newFakeServer serves fake on loopback for the test's duration.
func newFakeServer(t *testing.T, fake *zoomfake.Server) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	return srv
}

// logLines is a logger that keeps every line, for tests that count them.
func logLines() (*logBuffer, log.Logger) {
	b := &logBuffer{}
	return b, log.NewLogfmtLogger(b)
}

// countLines counts the log lines that contain every one of parts.
func countLines(logs *logBuffer, parts ...string) int {
	n := 0
	for _, line := range strings.Split(logs.String(), "\n") {
		all := line != ""
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			n++
		}
	}
	return n
}

// mostMeetings returns the fake's user with the most meetings of the
// report type in the window, and how many.
func mostMeetings(fake *zoomfake.Server, from, to time.Time, reportType string) (zoomfake.User, int) {
	var best zoomfake.User
	n := -1
	for _, u := range fake.Users() {
		if k := len(fake.Meetings(u.ID, from, to, reportType)); k > n {
			best, n = u, k
		}
	}
	return best, n
}
