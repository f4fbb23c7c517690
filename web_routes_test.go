package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
)

// TestCommandLineTelemetryPath: a --web.telemetry-path that http.ServeMux
// cannot take beside the exporter's own pages used to panic at start (exit
// 2) while --config.check said "Configuration OK". Both paths now refuse it
// with exit 1 and a message naming the flag and the rule.
func TestCommandLineTelemetryPath(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yml")
	if err := os.WriteFile(good, []byte("zoom:\n  account_id: a\n  client_id: b\n  client_secret: c\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	taken := "is taken by the exporter's own pages"
	tests := []struct {
		path     string
		wantCode int
		want     string
	}{
		{"/-/healthy", 1, taken},
		{"/-/ready", 1, taken},
		{"/status", 1, taken},
		{"/", 1, taken},
		{"metrics", 1, "(for example /metrics)"},
		{"", 1, "must not be empty"},
		{"/metrics/", 1, "did you mean /metrics?"},
		{"/metrics/{id}", 1, "only letters, digits"},
		{"/zoom/metrics", 0, ""},
	}
	for _, tt := range tests {
		for _, check := range []bool{true, false} {
			if tt.wantCode == 0 && !check {
				continue // a valid path starts the exporter: TestWebPagesReadOnly runs one
			}
			name := "run " + tt.path
			args := []string{"--config.file=" + good, "--storage.path=" + filepath.Join(dir, "store"), "--web.listen-address=127.0.0.1:0"}
			if check {
				name = "check " + tt.path
				args = append(args, "--config.check")
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				for _, how := range []string{"flag", "env"} {
					if how == "env" && tt.path == "" {
						continue // an empty variable is no setting: the default applies
					}
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					cmd := exec.CommandContext(ctx, binary, args...)
					cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
					if how == "flag" {
						cmd.Args = append(cmd.Args, "--web.telemetry-path="+tt.path)
					} else {
						cmd.Env = append(cmd.Env, "ZOOM_EXPORTER_WEB_TELEMETRY_PATH="+tt.path)
					}
					out, _ := cmd.CombinedOutput()
					if code := cmd.ProcessState.ExitCode(); code != tt.wantCode {
						t.Errorf("%s: exit code %d, want %d; output:\n%s", how, code, tt.wantCode, out)
					}
					if strings.Contains(string(out), "panic") {
						t.Errorf("%s: panic:\n%s", how, out)
					}
					want := []string{"Configuration OK"}
					if tt.wantCode != 0 {
						want = []string{"--web.telemetry-path", tt.want}
					}
					for _, w := range want {
						if !strings.Contains(string(out), w) {
							t.Errorf("%s: output lacks %q:\n%s", how, w, out)
						}
					}
				}
			})
		}
	}
}

// TestWebPagesReadOnly: every page answers GET and HEAD, and 405 with an
// Allow header to any other method (POST /metrics used to get 200). The
// exporter runs with a custom metrics path and hashed user labels: /status
// names users by the same hash as /metrics, and shows no e-mail.
func TestWebPagesReadOnly(t *testing.T) {
	t.Parallel()
	fake, clock := pinnedFake(zoomfake.Options{Seed: 15, Users: 4})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	p := startExporter(t, fakeEnv(clock, zoomfake.DefaultClientSecret),
		append(zoomArgs(srv.URL), "--web.telemetry-path=/zoom/metrics", "--collector.user-label=hash")...)

	for _, path := range []string{"/zoom/metrics", "/-/healthy", "/-/ready", "/status", "/"} {
		for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions, "PROPFIND"} {
			req, err := http.NewRequest(method, p.base+path, strings.NewReader("x=1"))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			resp.Body.Close()
			switch method {
			case http.MethodGet, http.MethodHead:
				if resp.StatusCode != http.StatusOK {
					t.Errorf("%s %s: HTTP %d, want 200", method, path, resp.StatusCode)
				}
			default:
				if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
					t.Errorf("%s %s: HTTP %d, Allow %q; want 405, Allow \"GET, HEAD\"", method, path, resp.StatusCode, resp.Header.Get("Allow"))
				}
			}
		}
	}
	for _, path := range []string{"/metrics", "/nothing-here"} {
		resp, err := http.Get(p.base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: HTTP %d, want 404", path, resp.StatusCode)
		}
	}

	// /status shows the users as /metrics labels them, and no e-mail.
	resp, err := http.Get(p.base + "/zoom/metrics")
	if err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	var labels []string
	for key := range series(families["zoom_user_info"]) {
		for _, kv := range strings.Split(key, ",") {
			if v, ok := strings.CutPrefix(kv, "user="); ok {
				labels = append(labels, v)
			}
		}
	}
	if len(labels) != len(fake.Users()) {
		t.Fatalf("%d user labels on /metrics, want %d", len(labels), len(fake.Users()))
	}
	resp, err = http.Get(p.base + "/status")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, l := range labels {
		if !strings.Contains(string(page), "<strong>"+l+"</strong>") {
			t.Errorf("/status does not name a user %s as /metrics does", l)
		}
	}
	for _, u := range fake.Users() {
		if strings.Contains(string(page), u.Email) || strings.Contains(string(page), u.ID) {
			t.Errorf("/status shows user %s (%s), which hashed /metrics hide", u.Email, u.ID)
		}
	}
}
