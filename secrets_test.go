package main

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
)

// recognisableSecret is a client secret no message, page or metric may show.
const recognisableSecret = "Zq7-CLIENT-SECRET-canary-4f1e2d3c9b8a"

// secretsIn returns what of the secret, the Basic credentials made from it
// and the access tokens shows in text.
func secretsIn(text string, tokens []string) []string {
	basic := base64.StdEncoding.EncodeToString([]byte(zoomfake.DefaultClientID + ":" + recognisableSecret))
	var found []string
	for _, s := range append([]string{recognisableSecret, basic}, tokens...) {
		if strings.Contains(text, s) {
			found = append(found, s)
		}
	}
	return found
}

func fetch(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// TestSecretsNeverShown runs the exporter at debug level with a
// recognisable client secret through token renewals, 401s, 5xx answers,
// the token endpoint failing and the credentials being refused, and looks
// for the secret and every access token Zoom issued in the logs, /metrics,
// the landing page and the status page.
func TestSecretsNeverShown(t *testing.T) {
	t.Parallel()
	fake, clock := pinnedFake(zoomfake.Options{Seed: 4242, Users: 6, HeavyUserMeetings: 40, ClientSecret: recognisableSecret})
	zoom := &zoomProxy{fake: fake, now: clock.Now}
	srv := httptest.NewServer(zoom)
	t.Cleanup(srv.Close)
	p := startExporter(t, fakeEnv(clock, recognisableSecret), fakeArgs(srv, "--log.level=debug")...)
	w := newWatcher(t, p)

	phases := []struct {
		name   string
		start  func()
		logged string // proof in the log that the phase happened
	}{
		{"token revoked: 401, a new token", fake.RevokeTokens, "Zoom refused the access token; requesting a new one"},
		{"server errors", func() { fake.SetServerErrorRate(0.5) }, "HTTP 50"},
		{"token endpoint failing", func() {
			fake.ClearFaults()
			fake.InjectFault(zoomfake.Fault{Kind: zoomfake.FaultServerError, Status: 500, Path: "/oauth/token"})
			fake.RevokeTokens()
		}, "zoom OAuth token request failed: HTTP 500"},
		{"credentials refused", func() {
			fake.ClearFaults()
			fake.SetCredentialsValid(false)
			fake.RevokeTokens()
		}, "invalid_client"},
		{"recovered", func() { fake.SetCredentialsValid(true) }, ""},
	}
	for _, ph := range phases {
		offset := len(p.output.String())
		ph.start()
		if ph.logged != "" {
			w.until(60*time.Second, ph.name, func(map[string]*dto.MetricFamily) bool { return logSince(p, offset, ph.logged) })
		}
	}
	w.until(60*time.Second, "zoom_up 1 again", func(fams map[string]*dto.MetricFamily) bool { return up(fams) == 1 })

	tokens := zoom.issuedTokens()
	if len(tokens) < 3 {
		t.Fatalf("the fake issued %d tokens; the phases should have made at least 3", len(tokens))
	}
	if !strings.Contains(p.output.String(), "level=debug") {
		t.Fatal("no debug line in the log: --log.level=debug was not in effect")
	}

	pages := map[string]string{"the log": p.output.String()}
	codes := map[string]int{}
	for _, path := range []string{"/metrics", "/", "/status", "/-/ready", "/-/healthy"} {
		codes[path], pages[path] = fetch(t, p.base+path)
	}
	// Once main.go serves the status page it links it from the landing
	// page, and from then on the page must answer.
	if strings.Contains(pages["/"], `status">Status</a>`) {
		if codes["/status"] != http.StatusOK || !strings.Contains(pages["/status"], "Access token") {
			t.Errorf("/status: HTTP %d:\n%.300s", codes["/status"], pages["/status"])
		}
	} else {
		t.Logf("/status: HTTP %d: the status page is not wired in main.go yet", codes["/status"])
	}
	for where, text := range pages {
		if found := secretsIn(text, tokens); len(found) > 0 {
			t.Errorf("%s shows %d secret(s): %q", where, len(found), found)
		}
	}
	if !strings.Contains(pages["/metrics"], "zoom_oauth_token_failures_total") {
		t.Error("/metrics was not read in full")
	}
}

// TestSecretsNotInConfigErrors makes the configuration fail every way it
// can around the secret, and checks every message.
func TestSecretsNotInConfigErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	secretFile := write("secret.txt", recognisableSecret+"\n")
	head := "zoom:\n  account_id: a\n  client_id: " + zoomfake.DefaultClientID + "\n"
	tests := []struct {
		name string
		args []string
		env  []string
	}{
		{"secret in the file, other problems", []string{"--config.file=" + write("problems.yml", head+"  client_secret: "+recognisableSecret+"\n  plan: gold\n  colour: blue\nscrape:\n  interval: soon\n")}, nil},
		{"secret as a list", []string{"--config.file=" + write("list.yml", head+"  client_secret: ["+recognisableSecret+"]\n")}, nil},
		{"secret as a mapping", []string{"--config.file=" + write("map.yml", head+"  client_secret: {"+recognisableSecret+": 1}\n")}, nil},
		{"secret under an unknown key", []string{"--config.file=" + write("typo.yml", head+"  client_secert: "+recognisableSecret+"\n")}, nil},
		{"syntax error on the secret's line", []string{"--config.file=" + write("syntax.yml", head+"  client_secret: \""+recognisableSecret+"\n")}, nil},
		{"mapping value on the secret's line", []string{"--config.file=" + write("colon.yml", head+"  client_secret: "+recognisableSecret+": x\n")}, nil},
		{"tab on the secret's line", []string{"--config.file=" + write("tab.yml", head+"\tclient_secret: "+recognisableSecret+"\n")}, nil},
		{"secret file given as the config file", []string{"--config.file=" + secretFile}, nil},
		{"secret file and the environment", []string{"--config.file=" + write("both-file.yml", head+"  client_secret_file: secret.txt\n")}, []string{"ZOOM_CLIENT_SECRET=" + recognisableSecret}},
		{"secret as the password of a refused URL", []string{"--zoom.account-id=a", "--zoom.client-id=b", "--zoom.api-url=ftp://user:" + recognisableSecret + "@zoom.example/v2"}, []string{"ZOOM_CLIENT_SECRET=" + recognisableSecret}},
	}
	for _, tt := range tests {
		for _, mode := range []string{"--config.check", "start"} {
			t.Run(tt.name+" "+mode, func(t *testing.T) {
				t.Parallel()
				args := append([]string{"--web.listen-address=127.0.0.1:0", "--storage.path=" + t.TempDir()}, tt.args...)
				if mode == "--config.check" {
					args = append(args, mode)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				cmd := exec.CommandContext(ctx, binary, args...)
				cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, tt.env...)
				out, err := cmd.CombinedOutput()
				if err == nil || cmd.ProcessState.ExitCode() != 1 {
					t.Fatalf("exit %v, want code 1; output:\n%s", err, out)
				}
				if found := secretsIn(string(out), nil); len(found) > 0 {
					t.Errorf("the message shows the secret:\n%s", out)
				}
			})
		}
	}
}
