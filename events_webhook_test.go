package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"golang.org/x/crypto/bcrypt"

	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
)

// webhookSecret is a webhook secret token no log line or page may show.
const webhookSecret = "wh-SECRET-TOKEN-canary-7c1d9e"

// meetingEventBody is a Zoom event of a meeting as the fake sends it, for
// hand-made (forged) requests.
func meetingEventBody(name, accountID, uuid, hostID, topic string, at time.Time) []byte {
	body, err := json.Marshal(map[string]any{
		"event":    name,
		"event_ts": at.UnixMilli(),
		"payload": map[string]any{
			"account_id": accountID,
			"object": map[string]any{
				"id": "81234567890", "uuid": uuid, "host_id": hostID, "topic": topic, "type": 2,
				"start_time": at.UTC().Format(time.RFC3339), "timezone": "UTC", "duration": 60,
			},
		},
	})
	if err != nil {
		panic(err)
	}
	return body
}

// usageOf is a host's counters of one meeting type, by family.
func usageOf(fams map[string]*dto.MetricFamily, key string) map[string]float64 {
	out := map[string]float64{}
	for _, name := range []string{"zoom_meetings_total", "zoom_meeting_duration_seconds_total",
		"zoom_meeting_participant_seconds_total", "zoom_meeting_participants_total", "zoom_month_meetings"} {
		out[name] = series(fams[name])[key]
	}
	return out
}

// TestEventsWebhookEndToEnd: the fake Zoom validates the exporter's webhook
// endpoint and sends it a signed meeting's events; with --scrape.interval=1h
// the host's counters move once the meeting reaches the report, by the
// figures the report gives, without a refresh. Then forged requests
// (unsigned, wrongly signed, stale, oversized, malformed, another account,
// not POSTed) are refused, each counted by reason, and change nothing; an
// event the exporter does not act on is taken and ignored. The secret
// token shows nowhere.
func TestEventsWebhookEndToEnd(t *testing.T) {
	t.Parallel()
	const reportLag = 2 * time.Second
	fake, clock := pinnedFake(zoomfake.Options{Seed: 13, Users: 5, HeavyUserMeetings: 30, ReportLag: reportLag})
	t.Cleanup(fake.Close)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	p := startExporter(t, append(fakeEnv(clock, zoomfake.DefaultClientSecret), "ZOOM_WEBHOOK_SECRET_TOKEN="+webhookSecret),
		append(zoomArgs(srv.URL), "--scrape.interval=1h", "--log.level=debug")...)
	hook := webhookURL(p.base, "/zoom/webhook")
	fake.SetWebhook(hook, webhookSecret)
	ctx := context.Background()

	// Zoom validates the endpoint before it sends anything.
	v, err := fake.ValidateWebhookURL(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if !v.Valid {
		t.Fatalf("endpoint.url_validation answered HTTP %d %q: not what Zoom requires", v.Status, v.Body)
	}

	// A meeting of a tracked host: three people join, one leaves, it ends.
	host := fake.Users()[2]
	key := "type=scheduled,user=" + host.Email
	before := scrapeMetrics(t, p.base)
	refreshesBefore := refreshes(p)
	uuid, err := fake.StartMeeting(zoomfake.MeetingStart{HostID: host.ID, Type: 2})
	if err != nil {
		t.Fatal(err)
	}
	var guests []string
	for _, who := range []zoomfake.Participant{{ID: host.ID}, {}, {ID: fake.Users()[3].ID}} {
		id, err := fake.JoinParticipant(uuid, who)
		if err != nil {
			t.Fatal(err)
		}
		guests = append(guests, id)
	}
	if err := fake.LeaveParticipant(uuid, guests[1], time.Time{}); err != nil {
		t.Fatal(err)
	}
	ended, err := fake.EndMeeting(uuid, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	endedAt := time.Now()
	var after map[string]*dto.MetricFamily
	took := pollFast(t, 120*time.Second, "the ended meeting to be counted", func() (bool, string) {
		fams, err := tryScrape(p.base, "", "")
		if err != nil {
			return false, err.Error()
		}
		after = fams
		got := series(fams["zoom_meetings_total"])[key]
		return got > series(before["zoom_meetings_total"])[key], fmt.Sprintf("%s zoom_meetings_total %v", key, got)
	})
	t.Logf("meeting.ended to counted: %v after the end, %v of polling (report lag %v, --scrape.interval=1h)",
		time.Since(endedAt).Round(100*time.Millisecond), took.Round(100*time.Millisecond), reportLag)
	if refreshes(p) != refreshesBefore {
		t.Errorf("%d refreshes ran meanwhile: the meeting was not counted by the event path", refreshes(p)-refreshesBefore)
	}
	want := map[string]float64{
		"zoom_meetings_total":                    1,
		"zoom_meeting_duration_seconds_total":    float64(ended.DurationMinutes * 60),
		"zoom_meeting_participant_seconds_total": float64(ended.TotalMinutes * 60),
		"zoom_meeting_participants_total":        float64(ended.Participants),
		"zoom_month_meetings":                    1,
	}
	b, a := usageOf(before, key), usageOf(after, key)
	for name, w := range want {
		if got := a[name] - b[name]; got != w {
			t.Errorf("%s{%s} grew by %v, want %v (the report's figures)", name, key, got, w)
		}
	}
	received := series(after["zoom_events_received_total"])
	for event, n := range map[string]float64{"meeting.started": 1, "meeting.participant_joined": 3, "meeting.participant_left": 3,
		"meeting.ended": 1, "endpoint.url_validation": 1} {
		if got := received["event="+event+",transport=webhook"]; got != n {
			t.Errorf("zoom_events_received_total{event=%q,transport=webhook} = %v, want %v", event, got, n)
		}
	}
	if got := series(after["zoom_event_to_count_seconds"])[""]; got != 1 {
		t.Errorf("zoom_event_to_count_seconds observed %v meetings, want 1", got)
	}

	// Forged requests. Each would start a meeting of the host in the live
	// gauges (webhooks flow now, so they are served), or end one.
	now := clock.Now()
	stamp := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }
	started := meetingEventBody("meeting.started", zoomfake.DefaultAccountID, "forged/meeting==", host.ID, "forged", now)
	endedBody := meetingEventBody("meeting.ended", zoomfake.DefaultAccountID, "forged/meeting==", host.ID, "forged", now)
	huge := meetingEventBody("meeting.started", zoomfake.DefaultAccountID, "forged/huge==", host.ID, strings.Repeat("x", 100<<10), now)
	forged := []struct {
		name   string
		req    zoomfake.WebhookRequest
		status int
		reason string
	}{
		{"unsigned", zoomfake.WebhookRequest{Body: started, Unsigned: true}, http.StatusUnauthorized, "bad_signature"},
		{"signed with another secret", zoomfake.WebhookRequest{Body: started, Secret: "not-the-secret-token"}, http.StatusUnauthorized, "bad_signature"},
		{"another body's signature", zoomfake.WebhookRequest{Body: started, Timestamp: stamp(0),
			Signature: zoomfake.SignWebhook(webhookSecret, stamp(0), endedBody)}, http.StatusUnauthorized, "bad_signature"},
		{"replayed 10 minutes late", zoomfake.WebhookRequest{Body: endedBody, Timestamp: stamp(-10 * time.Minute)}, http.StatusUnauthorized, "stale"},
		{"dated 10 minutes ahead", zoomfake.WebhookRequest{Body: started, Timestamp: stamp(10 * time.Minute)}, http.StatusUnauthorized, "stale"},
		{"oversized", zoomfake.WebhookRequest{Body: huge}, http.StatusRequestEntityTooLarge, "too_large"},
		{"malformed JSON", zoomfake.WebhookRequest{Body: []byte(`{"event":"meeting.started","payload":{`)}, http.StatusBadRequest, "malformed"},
		{"another account", zoomfake.WebhookRequest{Body: meetingEventBody("meeting.started", "another-account", "forged/other==", host.ID, "other", now)},
			http.StatusOK, "other_account"},
	}
	base := scrapeMetrics(t, p.base)
	reportCalls := fake.CallCount(zoomfake.EndpointUserMeetings)
	for _, f := range forged {
		resp, err := fake.SendWebhook(ctx, f.req)
		if err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
		if resp.Status != f.status {
			t.Errorf("%s: HTTP %d, want %d: %s", f.name, resp.Status, f.status, resp.Body)
		}
	}
	if resp, err := http.Get(hook); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != http.MethodPost {
			t.Errorf("GET on the webhook: HTTP %d, Allow %q; want 405, POST", resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
	// A signed event the exporter does not act on: taken, ignored.
	sharing := meetingEventBody("meeting.sharing_started", zoomfake.DefaultAccountID, "forged/meeting==", host.ID, "sharing", now)
	if resp, err := fake.SendWebhook(ctx, zoomfake.WebhookRequest{Body: sharing}); err != nil || resp.Status != http.StatusOK {
		t.Fatalf("a signed event of another kind: %v, %+v", err, resp)
	}

	final := scrapeMetrics(t, p.base)
	rejected := series(final["zoom_events_rejected_total"])
	wantRejected := map[string]float64{"bad_signature": 3, "stale": 2, "too_large": 1, "malformed": 1, "other_account": 1, "method": 1, "queue_full": 0}
	for reason, n := range wantRejected {
		if got := rejected["reason="+reason] - series(base["zoom_events_rejected_total"])["reason="+reason]; got != n {
			t.Errorf("zoom_events_rejected_total{reason=%q} grew by %v, want %v", reason, got, n)
		}
	}
	gotReceived, baseReceived := series(final["zoom_events_received_total"]), series(base["zoom_events_received_total"])
	for k, v := range gotReceived {
		wantGrowth := 0.0
		if k == "event=other,transport=webhook" {
			wantGrowth = 1
		}
		if v-baseReceived[k] != wantGrowth {
			t.Errorf("zoom_events_received_total{%s} grew by %v, want %v", k, v-baseReceived[k], wantGrowth)
		}
	}
	for _, name := range []string{"zoom_meetings_total", "zoom_meeting_participants_total", "zoom_month_meetings", "zoom_meetings_in_progress", "zoom_events_targeted_fetches_total"} {
		if b, a := series(base[name]), series(final[name]); !sameByType(a, b) {
			t.Errorf("%s changed after forged requests:\n before %v\n after  %v", name, b, a)
		}
	}
	if live := liveOf(final); live.known != 1 || !live.served || nonZero(live.meetings) != "{}" {
		t.Errorf("live state after the forged meeting.started: known %v, served %v, meetings %s; want known, served, none in progress",
			live.known, live.served, nonZero(live.meetings))
	}
	if n := fake.CallCount(zoomfake.EndpointUserMeetings) - reportCalls; n != 0 {
		t.Errorf("forged requests cost %d report calls", n)
	}

	// /status shows the webhook; nothing shows the secret token.
	code, status := fetch(t, p.base+"/status")
	if code != http.StatusOK || !strings.Contains(status, "Zoom events: Webhook") || !strings.Contains(status, "/zoom/webhook") {
		t.Errorf("/status: HTTP %d, no webhook card:\n%.2000s", code, status)
	}
	_, metrics := fetch(t, p.base+"/metrics")
	for where, text := range map[string]string{"the log": p.output.String(), "/status": status, "/metrics": metrics} {
		if strings.Contains(text, webhookSecret) {
			t.Errorf("%s shows the webhook secret token", where)
		}
	}
}

// basicAuthConfig writes a web config with basic auth for user (and TLS
// when certFile is set) and returns its path.
func basicAuthConfig(t *testing.T, dir, user, password, certFile, keyFile string) string {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	cfg := "basic_auth_users:\n  " + user + ": " + string(hash) + "\n"
	if certFile != "" {
		cfg += "tls_server_config:\n  cert_file: " + certFile + "\n  key_file: " + keyFile + "\n"
	}
	path := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestEventsWebhookBesideBasicAuth: with basic auth in --web.config.file,
// the webhook has a listener of its own (--web.webhook-listen-address)
// where Zoom's signed requests need no credentials and unsigned ones are
// refused, and which serves nothing else; /metrics and every other page
// stay behind basic auth.
func TestEventsWebhookBesideBasicAuth(t *testing.T) {
	t.Parallel()
	const user, password = "prometheus", "correct horse battery staple"
	dir := t.TempDir()
	webConfig := basicAuthConfig(t, dir, user, password, "", "")
	fake, clock := pinnedFake(zoomfake.Options{Seed: 14, Users: 4, HeavyUserMeetings: 20})
	t.Cleanup(fake.Close)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	hookAddr := freeAddress(t)
	p := launchExporter(t, "http", append(fakeEnv(clock, zoomfake.DefaultClientSecret), "ZOOM_WEBHOOK_SECRET_TOKEN="+webhookSecret),
		append(zoomArgs(srv.URL), "--scrape.interval=1h", "--web.config.file="+webConfig, "--web.webhook-listen-address="+hookAddr)...)
	waitFor(t, 60*time.Second, "the exporter to be ready", func() bool {
		resp, err := get(http.DefaultClient, p.base+"/-/ready", user, password)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	// Everything but the webhook listener is behind basic auth, the
	// webhook path on the main listener included.
	for _, path := range []string{"/metrics", "/status", "/", "/zoom/webhook"} {
		resp, err := http.Post(p.base+path, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("POST %s without credentials on the main listener: HTTP %d, want 401", path, resp.StatusCode)
		}
		resp, err = get(http.DefaultClient, p.base+path, "", "")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without credentials: HTTP %d, want 401", path, resp.StatusCode)
		}
	}

	// Zoom, without credentials: validation, then a signed event.
	hook := "http://" + hookAddr + "/zoom/webhook"
	fake.SetWebhook(hook, webhookSecret)
	ctx := context.Background()
	if v, err := fake.ValidateWebhookURL(ctx, ""); err != nil || !v.Valid {
		t.Fatalf("endpoint.url_validation on the webhook listener: %v, %+v", err, v)
	}
	host := fake.Users()[1]
	uuid, err := fake.StartMeeting(zoomfake.MeetingStart{HostID: host.ID, Type: 8})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fake.EndMeeting(uuid, time.Time{}); err != nil {
		t.Fatal(err)
	}
	unsigned, err := fake.SendWebhook(ctx, zoomfake.WebhookRequest{URL: hook, Unsigned: true,
		Body: meetingEventBody("meeting.started", zoomfake.DefaultAccountID, "unsigned==", host.ID, "x", clock.Now())})
	if err != nil {
		t.Fatal(err)
	}
	if unsigned.Status != http.StatusUnauthorized {
		t.Errorf("an unsigned webhook: HTTP %d, want 401", unsigned.Status)
	}
	waitFor(t, 30*time.Second, "the signed events to be received", func() bool {
		fams, err := tryScrape(p.base, user, password)
		if err != nil {
			return false
		}
		got := series(fams["zoom_events_received_total"])
		return got["event=meeting.started,transport=webhook"] == 1 && got["event=meeting.ended,transport=webhook"] == 1 &&
			got["event=endpoint.url_validation,transport=webhook"] == 1 &&
			series(fams["zoom_events_rejected_total"])["reason=bad_signature"] == 1
	})
	if st := fake.EventStats(); st.WebhookDelivered != 2 || st.WebhookFailed != 0 {
		t.Errorf("the fake's deliveries: %d delivered, %d failed; want 2 and 0", st.WebhookDelivered, st.WebhookFailed)
	}

	// The webhook listener serves the webhook and nothing else.
	for _, path := range []string{"/metrics", "/status", "/", "/-/ready", "/zoom/webhook/x"} {
		resp, err := http.Get("http://" + hookAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s on the webhook listener: HTTP %d, want 404: %.200s", path, resp.StatusCode, body)
		}
	}
	// With credentials, the main listener serves as before.
	resp, err := get(http.DefaultClient, p.base+"/metrics", user, password)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/metrics with credentials: HTTP %d", resp.StatusCode)
	}
}

// TestEventsWebhookListenerTLS: the webhook listener serves TLS with the
// certificate of --web.config.file, without its basic auth; plain HTTP is
// not served there, and the main listener keeps TLS and basic auth.
func TestEventsWebhookListenerTLS(t *testing.T) {
	t.Parallel()
	const user, password = "prometheus", "tr0ub4dor&3"
	dir := t.TempDir()
	certFile, keyFile, pool := selfSignedCert(t, dir)
	webConfig := basicAuthConfig(t, dir, user, password, certFile, keyFile)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	t.Cleanup(client.CloseIdleConnections)
	fake, clock := pinnedFake(zoomfake.Options{Seed: 15, Users: 3, HeavyUserMeetings: 10})
	t.Cleanup(fake.Close)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	hookAddr := freeAddress(t)
	p := startTLSExporter(t, client, user, password, append(fakeEnv(clock, zoomfake.DefaultClientSecret), "ZOOM_WEBHOOK_SECRET_TOKEN="+webhookSecret),
		append(zoomArgs(srv.URL), "--scrape.interval=1h", "--web.config.file="+webConfig, "--web.webhook-listen-address="+hookAddr)...)

	host := fake.Users()[0]
	body := meetingEventBody("meeting.started", zoomfake.DefaultAccountID, "tls/meeting==", host.ID, "over TLS", clock.Now())
	post := func(c *http.Client, url string, signed bool) (int, error) {
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return 0, err
		}
		if signed {
			ts := strconv.FormatInt(clock.Now().Unix(), 10)
			req.Header.Set(zoomfake.HeaderWebhookTimestamp, ts)
			req.Header.Set(zoomfake.HeaderWebhookSignature, zoomfake.SignWebhook(webhookSecret, ts, body))
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if code, err := post(client, "https://"+hookAddr+"/zoom/webhook", true); err != nil || code != http.StatusOK {
		t.Errorf("a signed webhook over TLS without credentials: HTTP %d, %v; want 200", code, err)
	}
	if code, err := post(client, "https://"+hookAddr+"/zoom/webhook", false); err != nil || code != http.StatusUnauthorized {
		t.Errorf("an unsigned webhook over TLS: HTTP %d, %v; want 401", code, err)
	}
	if code, err := post(http.DefaultClient, "http://"+hookAddr+"/zoom/webhook", true); err == nil && code == http.StatusOK {
		t.Error("the webhook listener took a plain HTTP request: TLS is not in force")
	}
	resp, err := get(client, p.base+"/metrics", "", "")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("/metrics over TLS without credentials: HTTP %d, want 401", resp.StatusCode)
	}
	waitFor(t, 30*time.Second, "the signed event to be received", func() bool {
		resp, err := get(client, p.base+"/metrics", user, password)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		text, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(text), `zoom_events_received_total{event="meeting.started",transport="webhook"} 1`)
	})
}

// TestEventsCommandLine: the event settings are checked at start and by
// --config.check, with messages that name the setting and never show the
// webhook secret token or an access token in a URL.
func TestEventsCommandLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	webConfig := basicAuthConfig(t, dir, "prometheus", "pw", "", "")
	creds := []string{"ZOOM_ACCOUNT_ID=a", "ZOOM_CLIENT_ID=b", "ZOOM_CLIENT_SECRET=c"}
	token := "ZOOM_WEBHOOK_SECRET_TOKEN=" + webhookSecret
	tests := []struct {
		name string
		env  []string
		args []string
		code int
		want []string
	}{
		{"events settings are valid", append(creds, token),
			[]string{"--config.check", "--zoom.events-websocket-url=wss://ws.zoom.us/ws?subscriptionId=abc", "--web.webhook-path=/hooks/zoom", "--scrape.sweep-interval=2h"},
			0, []string{"Configuration OK"}},
		{"basic auth needs a webhook listener", append(creds, token), []string{"--config.check", "--web.config.file=" + webConfig},
			1, []string{"--web.config.file " + webConfig + " sets basic_auth_users", "--web.webhook-listen-address"}},
		{"basic auth with a webhook listener", append(creds, token),
			[]string{"--config.check", "--web.config.file=" + webConfig, "--web.webhook-listen-address=127.0.0.1:9866"}, 0, []string{"Configuration OK"}},
		{"basic auth without a webhook", creds, []string{"--config.check", "--web.config.file=" + webConfig}, 0, []string{"Configuration OK"}},
		{"a webhook listener without a token", creds, []string{"--config.check", "--web.webhook-listen-address=:9866"},
			1, []string{"--web.webhook-listen-address is set, but no webhook secret token is given"}},
		{"a webhook listener that is no address", append(creds, token), []string{"--config.check", "--web.webhook-listen-address=9866"},
			1, []string{`--web.webhook-listen-address "9866"`}},
		{"webhook path on the metrics", append(creds, token), []string{"--config.check", "--web.webhook-path=/metrics"},
			1, []string{`--web.webhook-path "/metrics" is the metrics path`}},
		{"webhook path under /-/", append(creds, token), []string{"--web.webhook-path=/-/zoom"},
			1, []string{"Invalid configuration", `--web.webhook-path \"/-/zoom\" is taken`}},
		{"websocket URL with a token", creds, []string{"--config.check", "--zoom.events-websocket-url=wss://ws.zoom.us/ws?access_token=" + webhookSecret},
			1, []string{"zoom.events_websocket_url", "must not carry an access_token"}},
		{"plain websocket elsewhere than loopback", creds, []string{"--zoom.events-websocket-url=ws://ws.zoom.us/ws"},
			1, []string{"Invalid configuration", "ws:// (unencrypted) is allowed only on a loopback host"}},
		{"sweep below the interval", creds, []string{"--config.check", "--scrape.interval=10m", "--scrape.sweep-interval=5m"},
			1, []string{`scrape.sweep_interval: "5m": must be at least 10m`}},
		{"token and token file", append(creds, token, "ZOOM_WEBHOOK_SECRET_TOKEN_FILE=/nonexistent"), []string{"--config.check"},
			1, []string{"zoom.webhook_secret_token and zoom.webhook_secret_token_file: both given"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, code := runBinaryEnv(t, "", tt.env, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d:\n%s", code, tt.code, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, webhookSecret) {
				t.Errorf("the output shows the secret:\n%s", out)
			}
		})
	}
}
