package config

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// TestEventsWebSocketURL: the event subscription's URL is wss:// (ws:// on
// loopback only, for a fake), with a host, without user information or an
// access token; a message never shows its query, which may hold a token.
func TestEventsWebSocketURL(t *testing.T) {
	t.Parallel()
	const token = "not-a-real-token"
	for _, tc := range []struct {
		name, url, want string // want "" means valid
	}{
		{"zoom's endpoint", "wss://ws.zoom.us/ws?subscriptionId=AbCdEfGhIjKlMnOpQrStUv", ""},
		{"without subscription id", "wss://ws.zoom.us/ws", ""},
		{"ws on 127.0.0.1", "ws://127.0.0.1:8080/ws?subscriptionId=x", ""},
		{"ws on ::1", "ws://[::1]:8080/ws", ""},
		{"ws on localhost", "ws://localhost:8080/ws", ""},
		{"ws elsewhere", "ws://ws.zoom.us/ws?subscriptionId=x",
			`zoom.events_websocket_url: "ws://ws.zoom.us/ws?...": ws:// (unencrypted) is allowed only on a loopback host; Zoom's endpoint is wss:// (from --zoom.events-websocket-url)`},
		{"ws on a private address", "ws://10.0.0.1/ws", `"ws://10.0.0.1/ws": ws:// (unencrypted) is allowed only on a loopback host`},
		{"https", "https://ws.zoom.us/ws", `zoom.events_websocket_url: "https://ws.zoom.us/ws": must be a wss:// URL`},
		{"relative", "ws.zoom.us/ws", `"ws.zoom.us/ws": must be a wss:// URL`},
		{"no host", "wss:///ws", `"wss:///ws": must include a host`},
		{"token in the query", "wss://ws.zoom.us/ws?subscriptionId=x&access_token=" + token,
			`"wss://ws.zoom.us/ws?...": must not carry an access_token: the exporter appends a fresh one`},
		{"user information", "wss://user:" + token + "@ws.zoom.us/ws", `"wss://ws.zoom.us/ws": must not carry user information`},
		{"bad query", "wss://ws.zoom.us/ws?a=%zz&access_token=" + token, `"wss://ws.zoom.us/ws?...": the query is not valid`},
		{"unparseable", "wss://ws.zoom.us:port/ws?access_token=" + token, `zoom.events_websocket_url: not a valid URL: invalid port`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := loadWith(t, []string{"--demo", "--zoom.events-websocket-url=" + tc.url}, nil)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("%s: %v", tc.url, err)
				}
				if cfg.Zoom.EventsWebSocketURL != tc.url {
					t.Errorf("URL = %q, want %q", cfg.Zoom.EventsWebSocketURL, tc.url)
				}
				return
			}
			got := problems(t, cfg, err)
			if len(got) != 1 || !strings.Contains(got[0], tc.want) {
				t.Errorf("problems %q, want …%s…", got, tc.want)
			}
			if strings.Contains(err.Error(), token) {
				t.Errorf("the token reached the message: %q", got)
			}
		})
	}
	// Not given: no WebSocket.
	if cfg := mustLoad(t, []string{"--demo"}, map[string]string{"ZOOM_EVENTS_WEBSOCKET_URL": " "}); cfg.Zoom.EventsWebSocketURL != "" {
		t.Errorf("an empty variable gave the URL %q", cfg.Zoom.EventsWebSocketURL)
	}
}

// TestWebhookSecretToken: the token comes from its environment variable,
// the config file, or a file (flag, environment or config file); never both
// a value and a file; it is optional; it never prints.
func TestWebhookSecretToken(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tokenFile := writeFile(t, dir, "token", " "+fakeSecret+"\n")
	empty := writeFile(t, dir, "empty", "\n")
	inFile := writeFile(t, dir, "value.yml", "zoom:\n  webhook_secret_token: "+fakeSecret+"\n")
	fileInFile := writeFile(t, dir, "file.yml", "zoom:\n  webhook_secret_token_file: token\n") // relative to the config file
	for _, tc := range []struct {
		name     string
		args     []string
		env      map[string]string
		want     string // the token; "" with wantFile "" means none
		wantFile string
		problem  string
	}{
		{name: "none", want: ""},
		{name: "environment", env: map[string]string{"ZOOM_WEBHOOK_SECRET_TOKEN": fakeSecret}, want: fakeSecret},
		{name: "flag file", args: []string{"--zoom.webhook-secret-token-file=" + tokenFile}, want: fakeSecret, wantFile: tokenFile},
		{name: "environment file", env: map[string]string{"ZOOM_WEBHOOK_SECRET_TOKEN_FILE": tokenFile}, want: fakeSecret, wantFile: tokenFile},
		{name: "config file value", args: []string{"--config.file=" + inFile}, want: fakeSecret},
		{name: "config file's file", args: []string{"--config.file=" + fileInFile}, want: fakeSecret, wantFile: tokenFile},
		{name: "environment and flag file", args: []string{"--zoom.webhook-secret-token-file=" + tokenFile},
			env:     map[string]string{"ZOOM_WEBHOOK_SECRET_TOKEN": fakeSecret},
			problem: "zoom.webhook_secret_token and zoom.webhook_secret_token_file: both given, by ZOOM_WEBHOOK_SECRET_TOKEN and --zoom.webhook-secret-token-file; use one"},
		{name: "environment and config file", args: []string{"--config.file=" + fileInFile},
			env:     map[string]string{"ZOOM_WEBHOOK_SECRET_TOKEN": fakeSecret},
			problem: "both given, by ZOOM_WEBHOOK_SECRET_TOKEN and config file " + fileInFile + " line 2; use one"},
		{name: "missing file", args: []string{"--zoom.webhook-secret-token-file=/nope"},
			problem: "zoom.webhook_secret_token_file: open /nope: no such file or directory (from --zoom.webhook-secret-token-file)"},
		{name: "empty file", args: []string{"--zoom.webhook-secret-token-file=" + empty},
			problem: "zoom.webhook_secret_token_file: " + empty + " is empty (from --zoom.webhook-secret-token-file)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := loadWith(t, append(tc.args, "--demo"), tc.env)
			if tc.problem != "" {
				got := problems(t, cfg, err)
				if len(got) != 1 || !strings.Contains(got[0], tc.problem) {
					t.Errorf("problems %q, want …%s…", got, tc.problem)
				}
				assertNoSecret(t, err.Error())
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(cfg.Zoom.WebhookSecretToken) != tc.want || cfg.Zoom.WebhookSecretTokenFile != tc.wantFile {
				t.Errorf("token from %q (right: %v), want from %q", cfg.Zoom.WebhookSecretTokenFile, string(cfg.Zoom.WebhookSecretToken) == tc.want, tc.wantFile)
			}
			for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
				assertNoSecret(t, fmt.Sprintf(format, cfg))
			}
		})
	}
}

// TestSweepInterval: an hour by default, never less than the refresh
// interval unless said (a long interval is not an error of the default),
// a minute with --demo, and at least the refresh interval when given.
func TestSweepInterval(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		args    []string
		want    time.Duration
		problem string
	}{
		{"default", nil, time.Hour, ""},
		{"given", []string{"--scrape.sweep-interval=2h"}, 2 * time.Hour, ""},
		{"equal to the interval", []string{"--scrape.interval=1h", "--scrape.sweep-interval=1h"}, time.Hour, ""},
		{"default below a long interval", []string{"--scrape.interval=2h", "--scrape.full-interval=6h"}, 2 * time.Hour, ""},
		{"demo", []string{"--demo"}, time.Minute, ""},
		{"demo with a long interval", []string{"--demo", "--scrape.interval=5m"}, 5 * time.Minute, ""},
		{"below the interval", []string{"--scrape.interval=10m", "--scrape.sweep-interval=9m"}, 0,
			`scrape.sweep_interval: "9m": must be at least 10m (from --scrape.sweep-interval)`},
		{"not a duration", []string{"--scrape.sweep-interval=hourly"}, 0,
			`scrape.sweep_interval: "hourly": not a valid duration; write it like 30s, 5m, 48h or 1d (from --scrape.sweep-interval)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"--zoom.account-id=a", "--zoom.client-id=c"}, tc.args...)
			env := map[string]string{"ZOOM_CLIENT_SECRET": fakeSecret}
			cfg, err := loadWith(t, args, env)
			if tc.problem != "" {
				got := problems(t, cfg, err)
				if len(got) != 1 || !strings.Contains(got[0], tc.problem) {
					t.Errorf("problems %q, want …%s…", got, tc.problem)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Scrape.SweepInterval != model.Duration(tc.want) {
				t.Errorf("sweep interval %v, want %v", cfg.Scrape.SweepInterval, model.Duration(tc.want))
			}
		})
	}
}
