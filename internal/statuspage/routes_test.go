package statuspage

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/zoomexporter/zoom_exporter/scrape"
)

func TestValidateTelemetryPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path string
		want []string // in the error; none: valid
	}{
		{"/metrics", nil},
		{"/zoom/metrics", nil},
		{"/metrics-v1.2_~x", nil},
		{"", []string{"must not be empty", "/metrics"}},
		{"metrics", []string{`"metrics" must start with "/"`, "/metrics"}},
		{"/", []string{`"/" is taken`, "landing page"}},
		{"/status", []string{`"/status" is taken`}},
		{"/-/healthy", []string{`"/-/healthy" is taken`}},
		{"/-/ready", []string{`"/-/ready" is taken`}},
		{"/-/reload", []string{`"/-/reload" is taken`, "anything under /-/"}},
		{"/metrics/", []string{"not a clean path", "did you mean /metrics?"}},
		{"//metrics", []string{"not a clean path"}},
		{"/a/../status", []string{"not a clean path"}},
		{"/metrics/{x}", []string{"only letters, digits"}},
		{"/metrics {$}", []string{"only letters, digits"}},
		{"/métriques", []string{"only letters, digits"}},
	}
	for _, tt := range tests {
		err := ValidateTelemetryPath(tt.path)
		if len(tt.want) == 0 {
			if err != nil {
				t.Errorf("%q: %v", tt.path, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%q: accepted", tt.path)
			continue
		}
		for _, w := range append(tt.want, "--web.telemetry-path") {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: error %q lacks %q", tt.path, err, w)
			}
		}
		// Every path accepted must be one http.ServeMux takes beside the
		// exporter's own: a rejected one is not checked here.
	}
	for _, p := range []string{"/metrics", "/zoom/metrics", "/metrics-v1.2_~x"} {
		mux := http.NewServeMux()
		for _, own := range []string{PathStatus, PathHealthy, PathReady, "/{$}"} {
			mux.Handle(own, http.NotFoundHandler())
		}
		mux.Handle(p, http.NotFoundHandler()) // panics on a conflict or a bad pattern
	}
}

func TestReadOnly(t *testing.T) {
	t.Parallel()
	h := ReadOnly(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "served") }))
	for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions, "PROPFIND"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, "/metrics", nil))
		readOnly := method == http.MethodGet || method == http.MethodHead
		switch {
		case readOnly && (rec.Code != http.StatusOK || rec.Body.String() != "served"):
			t.Errorf("%s: HTTP %d %q", method, rec.Code, rec.Body)
		case !readOnly && (rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" || strings.Contains(rec.Body.String(), "served")):
			t.Errorf("%s: HTTP %d, Allow %q, body %q", method, rec.Code, rec.Header().Get("Allow"), rec.Body)
		}
	}
}

type readySource struct {
	ready bool
	snap  *scrape.Snapshot
}

func (r readySource) Ready() bool                { return r.ready }
func (r readySource) Snapshot() *scrape.Snapshot { return r.snap }

func TestReadiness(t *testing.T) {
	t.Parallel()
	restored := &scrape.Snapshot{Published: fixedNow, Users: []scrape.UserSnapshot{
		{Key: "a", Counters: map[string]scrape.Totals{"scheduled": {Meetings: 3}}},
	}}
	failedFirst := &scrape.Snapshot{Published: fixedNow, RefreshDuration: time.Second, Users: []scrape.UserSnapshot{
		{Key: "a", LastAttempt: fixedNow, LastError: "token request failed"},
	}}
	tests := []struct {
		name     string
		src      readySource
		method   string
		wantCode int
		want     string
	}{
		{"ready", readySource{ready: true, snap: failedFirst}, http.MethodGet, 200, "Ready\n"},
		{"nothing yet", readySource{snap: &scrape.Snapshot{}}, http.MethodGet, 503, "Not ready: no refresh has succeeded yet and the store holds no data (see /status)\n"},
		{"first refresh failed, empty store", readySource{snap: failedFirst}, http.MethodGet, 503, "Not ready: no refresh has succeeded yet and the store holds no data (see /status)\n"},
		{"restored, first refresh not tried", readySource{snap: restored}, http.MethodGet, 503, "Not ready: counters were restored from the store, but the first refresh has not been attempted yet (see /status)\n"},
		{"nil snapshot", readySource{}, http.MethodGet, 503, "Not ready: no refresh has succeeded yet"},
		{"POST", readySource{ready: true}, http.MethodPost, 405, "Method not allowed"},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		Readiness(tt.src).ServeHTTP(rec, httptest.NewRequest(tt.method, "/-/ready", nil))
		if rec.Code != tt.wantCode || !strings.HasPrefix(rec.Body.String(), tt.want) {
			t.Errorf("%s: HTTP %d %q, want %d %q", tt.name, rec.Code, rec.Body, tt.wantCode, tt.want)
		}
	}
}
