package zoom

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/zoomexporter/zoom_exporter/internal/testenv"
)

// signatureVector is zoom/testdata/events/webhook_signature_test_vector.json.
type signatureVector struct {
	Secret         string `json:"secret_token"`
	Timestamp      string `json:"x-zm-request-timestamp"`
	Body           string `json:"body"`
	Message        string `json:"message"`
	Signature      string `json:"x-zm-signature"`
	PlainToken     string `json:"url_validation_plainToken"`
	EncryptedToken string `json:"url_validation_encryptedToken"`
}

func loadSignatureVector(t *testing.T) signatureVector {
	t.Helper()
	var v signatureVector
	if err := json.Unmarshal(readEventFile(t, "webhook_signature_test_vector.json"), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

type webhookEnv struct {
	h      *WebhookHandler
	clock  *testenv.Clock
	reg    *prometheus.Registry
	m      *EventMetrics
	logs   *testenv.SyncBuffer
	events chan Event
	secret string
}

// newWebhookEnv builds a handler whose clock shows the test vector's
// timestamp. Run is not started: tests that want delivery start it.
func newWebhookEnv(t *testing.T, tweak func(*WebhookConfig)) *webhookEnv {
	t.Helper()
	v := loadSignatureVector(t)
	sec, err := strconv.ParseInt(v.Timestamp, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	env := &webhookEnv{
		clock:  testenv.NewClock(time.Unix(sec, 0)),
		reg:    prometheus.NewPedanticRegistry(),
		logs:   &testenv.SyncBuffer{},
		events: make(chan Event, 64),
		secret: v.Secret,
	}
	env.m = NewEventMetrics(env.reg)
	conf := WebhookConfig{
		SecretToken: v.Secret,
		Now:         env.clock.Now,
		Logger:      log.NewLogfmtLogger(env.logs),
		Metrics:     env.m,
		Handler:     EventHandlerFunc(func(transport string, e Event) { env.events <- e }),
	}
	if tweak != nil {
		tweak(&conf)
	}
	env.h, err = NewWebhookHandler(conf)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// run drains the queue until the test ends.
func (env *webhookEnv) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { env.h.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

type webhookRequest struct {
	method    string
	body      []byte
	timestamp string // "" with sign: the clock's time
	signWith  string // secret; "" leaves the request unsigned
	signature string // overrides the computed signature when set
	noStamp   bool   // leaves x-zm-request-timestamp out
}

func (env *webhookEnv) do(r webhookRequest) *httptest.ResponseRecorder {
	if r.method == "" {
		r.method = http.MethodPost
	}
	req := httptest.NewRequest(r.method, "/zoom/webhook", bytes.NewReader(r.body))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("x-zm-request-id", "6009d653_d487_445d_8406_42b654974899")
	ts := r.timestamp
	if ts == "" {
		ts = strconv.FormatInt(env.clock.Now().Unix(), 10)
	}
	if r.signWith != "" || r.signature != "" {
		sig := r.signature
		if sig == "" {
			sig = WebhookSignature([]byte(r.signWith), ts, r.body)
		}
		if !r.noStamp {
			req.Header.Set("x-zm-request-timestamp", ts)
		}
		req.Header.Set("x-zm-signature", sig)
	}
	rec := httptest.NewRecorder()
	env.h.ServeHTTP(rec, req)
	return rec
}

func (env *webhookEnv) rejected(reason string) float64 {
	return testutil.ToFloat64(env.m.rejected.WithLabelValues(reason))
}

func (env *webhookEnv) received(event string) float64 {
	return testutil.ToFloat64(env.m.received.WithLabelValues(TransportWebhook, event))
}

func waitEvent(t *testing.T, ch <-chan Event) Event {
	t.Helper()
	select {
	case e := <-ch:
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
		return Event{}
	}
}

// TestWebhookSignatureTestVector: the signature computed by hand from
// Zoom's documented algorithm, and a request signed so is accepted and
// handed on.
func TestWebhookSignatureTestVector(t *testing.T) {
	t.Parallel()
	v := loadSignatureVector(t)
	if got := WebhookSignature([]byte(v.Secret), v.Timestamp, []byte(v.Body)); got != v.Signature {
		t.Fatalf("WebhookSignature = %s, want %s", got, v.Signature)
	}
	if !strings.HasPrefix(v.Message, "v0:"+v.Timestamp+":") || !strings.HasSuffix(v.Message, v.Body) {
		t.Fatal("the vector's message is not v0:{ts}:{body}")
	}
	env := newWebhookEnv(t, nil)
	env.run(t)
	rec := env.do(webhookRequest{body: []byte(v.Body), timestamp: v.Timestamp, signature: v.Signature})
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	e := waitEvent(t, env.events)
	if e.Name != EventMeetingStarted || e.Meeting.UUID != "Wk9PTV9NRUVUSU5HX0lE" {
		t.Errorf("handed %+v", e)
	}
	if got := env.received(EventMeetingStarted); got != 1 {
		t.Errorf("received{meeting.started} = %v", got)
	}
	if got := testutil.ToFloat64(env.m.lastEvent.WithLabelValues(TransportWebhook)); got != float64(env.clock.Now().Unix()) {
		t.Errorf("last event timestamp = %v, want %d", got, env.clock.Now().Unix())
	}
}

// TestWebhookURLValidation: a signed challenge is answered with the HMAC
// of its plainToken; an unsigned one never is (it would be a signing oracle).
func TestWebhookURLValidation(t *testing.T) {
	t.Parallel()
	v := loadSignatureVector(t)
	validation := readEventFile(t, "endpoint.url_validation.json")
	tests := []struct {
		name       string
		body       []byte
		signWith   string
		wantStatus int
		wantReason string
	}{
		{"signed", validation, v.Secret, http.StatusOK, ""},
		{"unsigned", validation, "", http.StatusUnauthorized, ReasonBadSignature},
		{"wrongly signed", validation, "not the secret", http.StatusUnauthorized, ReasonBadSignature},
		{"no plainToken", []byte(`{"event":"endpoint.url_validation","event_ts":1654503849680,"payload":{}}`), v.Secret, http.StatusBadRequest, ReasonMalformed},
		{"plainToken shaped like a signed message", []byte(`{"event":"endpoint.url_validation","event_ts":1654503849680,"payload":{"plainToken":"v0:1739923528:{}"}}`), v.Secret, http.StatusBadRequest, ReasonMalformed},
		{"plainToken too long", []byte(`{"event":"endpoint.url_validation","event_ts":1654503849680,"payload":{"plainToken":"` + strings.Repeat("p", 257) + `"}}`), v.Secret, http.StatusBadRequest, ReasonMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := newWebhookEnv(t, nil)
			rec := env.do(webhookRequest{body: tt.body, signWith: tt.signWith})
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.wantStatus, rec.Body)
			}
			if tt.wantReason != "" {
				if strings.Contains(rec.Body.String(), "encryptedToken") {
					t.Errorf("a refused challenge was answered: %s", rec.Body)
				}
				if got := env.rejected(tt.wantReason); got != 1 {
					t.Errorf("rejected{%s} = %v", tt.wantReason, got)
				}
				return
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			var got struct{ PlainToken, EncryptedToken string }
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if got.PlainToken != v.PlainToken || got.EncryptedToken != v.EncryptedToken {
				t.Errorf("answer %+v, want %s / %s", got, v.PlainToken, v.EncryptedToken)
			}
			if n := env.received(EventURLValidation); n != 1 {
				t.Errorf("received{endpoint.url_validation} = %v", n)
			}
		})
	}
}

// TestWebhookRefusals: every refusal has its status and its counted
// reason, and hands nothing on.
func TestWebhookRefusals(t *testing.T) {
	t.Parallel()
	v := loadSignatureVector(t)
	body := []byte(v.Body)
	now, err := strconv.ParseInt(v.Timestamp, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	at := func(d time.Duration) string { return strconv.FormatInt(now+int64(d/time.Second), 10) }
	malformedSigned := []byte(`{"event":"meeting.ended","event_ts":1626234051572,"payload":{"object":{"uuid":"u"}}}`)
	tests := []struct {
		name       string
		req        webhookRequest
		wantStatus int
		wantReason string
		wantBody   string
	}{
		{"unsigned", webhookRequest{body: body}, 401, ReasonBadSignature, "unsigned"},
		{"signature without timestamp header", webhookRequest{body: body, signature: v.Signature, noStamp: true}, 401, ReasonBadSignature, "unsigned"},
		{"timestamp not a number", webhookRequest{body: body, signature: v.Signature, timestamp: "yesterday"}, 401, ReasonBadSignature, "not a Unix time"},
		{"wrong secret", webhookRequest{body: body, signWith: "zm_other_secret"}, 401, ReasonBadSignature, "does not match"},
		{"body changed after signing", webhookRequest{body: []byte(strings.Replace(v.Body, "My Meeting", "My Meetinh", 1)), signature: v.Signature, timestamp: v.Timestamp}, 401, ReasonBadSignature, "does not match"},
		{"signed with another timestamp", webhookRequest{body: body, signature: v.Signature, timestamp: at(time.Second)}, 401, ReasonBadSignature, "does not match"},
		{"signature in upper case hex", webhookRequest{body: body, signature: "v0=" + strings.ToUpper(strings.TrimPrefix(v.Signature, "v0=")), timestamp: v.Timestamp}, 401, ReasonBadSignature, "does not match"},
		{"stale: 6 minutes old", webhookRequest{body: body, signWith: v.Secret, timestamp: at(-6 * time.Minute)}, 401, ReasonStale, "6m0s off"},
		{"stale: 6 minutes ahead", webhookRequest{body: body, signWith: v.Secret, timestamp: at(6 * time.Minute)}, 401, ReasonStale, "-6m0s off"},
		{"oversized", webhookRequest{body: append(bytes.Repeat([]byte(" "), DefaultWebhookMaxBody), body...), signWith: v.Secret}, 413, ReasonTooLarge, "more than the 65536 allowed"},
		{"malformed JSON, signed", webhookRequest{body: []byte(`{"event":`), signWith: v.Secret}, 400, ReasonMalformed, "not JSON"},
		{"missing host_id, signed", webhookRequest{body: malformedSigned, signWith: v.Secret}, 400, ReasonMalformed, "payload.object.host_id: missing"},
		{"GET", webhookRequest{method: http.MethodGet}, 405, ReasonMethod, "not POST"},
		{"PUT, signed", webhookRequest{method: http.MethodPut, body: body, signWith: v.Secret}, 405, ReasonMethod, "not POST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := newWebhookEnv(t, nil)
			env.run(t)
			rec := env.do(tt.req)
			if rec.Code != tt.wantStatus || !strings.Contains(rec.Body.String(), tt.wantBody) {
				t.Errorf("status %d %q; want %d and %q", rec.Code, rec.Body, tt.wantStatus, tt.wantBody)
			}
			if tt.wantStatus == 405 && rec.Header().Get("Allow") != http.MethodPost {
				t.Errorf("Allow: %q", rec.Header().Get("Allow"))
			}
			for _, reason := range rejectReasons {
				want := 0.0
				if reason == tt.wantReason {
					want = 1
				}
				if got := env.rejected(reason); got != want {
					t.Errorf("rejected{%s} = %v, want %v", reason, got, want)
				}
			}
			// Accepted counters stay at zero: a refused request is never
			// handed on (a handed event would land in received too).
			for name := range knownEvents {
				if got := env.received(name); got != 0 {
					t.Errorf("received{%s} = %v", name, got)
				}
			}
			if strings.Contains(env.logs.String(), env.secret) {
				t.Errorf("the secret token is in the log:\n%s", env.logs)
			}
		})
	}
}

// TestWebhookSkewWithinBoundAccepted: four minutes either way is accepted.
func TestWebhookSkewWithinBoundAccepted(t *testing.T) {
	t.Parallel()
	v := loadSignatureVector(t)
	for _, d := range []time.Duration{-4 * time.Minute, 4 * time.Minute} {
		env := newWebhookEnv(t, nil)
		env.clock.Advance(-d) // the request's timestamp is d from the clock
		rec := env.do(webhookRequest{body: []byte(v.Body), signature: v.Signature, timestamp: v.Timestamp})
		if rec.Code != http.StatusOK {
			t.Errorf("skew %s: status %d %s", d, rec.Code, rec.Body)
		}
	}
}

// TestWebhookUnknownEventIgnored: a signed event the exporter does not act
// on is answered 200 (Zoom must not retry it), counted as other, and not
// handed on; so is an event of another account, counted as other_account.
func TestWebhookUnknownEventIgnored(t *testing.T) {
	t.Parallel()
	v := loadSignatureVector(t)
	env := newWebhookEnv(t, func(c *WebhookConfig) { c.AccountID = "Wk9PTV9BQ0NPVU5UX0lE" })
	for _, body := range [][]byte{
		[]byte(`{"event":"meeting.created","event_ts":1626230691572,"payload":{"account_id":"x","object":{}}}`),
		[]byte(strings.Replace(v.Body, "Wk9PTV9BQ0NPVU5UX0lE", "QW5vdGhlckFjY291bnQ", 1)),
	} {
		if rec := env.do(webhookRequest{body: body, signWith: v.Secret}); rec.Code != http.StatusOK {
			t.Errorf("status %d: %s", rec.Code, rec.Body)
		}
	}
	if got := env.received(eventLabelOther); got != 1 {
		t.Errorf("received{other} = %v", got)
	}
	if got := env.rejected(ReasonOtherAccount); got != 1 {
		t.Errorf("rejected{other_account} = %v", got)
	}
	if n := len(env.h.queue); n != 0 {
		t.Errorf("%d events queued for the handler", n)
	}
	// The same account's event goes through.
	if rec := env.do(webhookRequest{body: []byte(v.Body), signWith: v.Secret}); rec.Code != http.StatusOK || len(env.h.queue) != 1 {
		t.Errorf("own account: status %d, %d queued", rec.Code, len(env.h.queue))
	}
}

// TestWebhookQueueFull: with the queue full the answer is 503 (Zoom retries
// 5xx, never 4xx), at once, counted; what was queued is still delivered.
func TestWebhookQueueFull(t *testing.T) {
	t.Parallel()
	v := loadSignatureVector(t)
	env := newWebhookEnv(t, func(c *WebhookConfig) { c.QueueSize = 2 })
	for i, want := range []int{200, 200, 503, 503} {
		rec := env.do(webhookRequest{body: []byte(v.Body), signWith: v.Secret})
		if rec.Code != want {
			t.Fatalf("request %d: status %d, want %d", i, rec.Code, want)
		}
		if want == 503 && rec.Header().Get("Retry-After") == "" {
			t.Error("503 without Retry-After")
		}
	}
	if got := env.rejected(ReasonQueueFull); got != 2 {
		t.Errorf("rejected{queue_full} = %v", got)
	}
	if got := env.received(EventMeetingStarted); got != 2 {
		t.Errorf("received = %v, want the 2 queued", got)
	}
	env.run(t)
	waitEvent(t, env.events)
	waitEvent(t, env.events)
}

// TestWebhookAnswersWithoutWaitingForHandler: a handler that blocks does
// not hold the answers back.
func TestWebhookAnswersWithoutWaitingForHandler(t *testing.T) {
	t.Parallel()
	v := loadSignatureVector(t)
	release := make(chan struct{})
	defer close(release)
	env := newWebhookEnv(t, func(c *WebhookConfig) {
		c.Handler = EventHandlerFunc(func(string, Event) { <-release })
	})
	env.run(t)
	for i := range 5 {
		if rec := env.do(webhookRequest{body: []byte(v.Body), signWith: v.Secret}); rec.Code != http.StatusOK {
			t.Fatalf("request %d: status %d", i, rec.Code)
		}
	}
}

// TestWebhookOversizedWithoutContentLength: a chunked body over the bound
// is cut at the bound, not read to its end.
func TestWebhookOversizedWithoutContentLength(t *testing.T) {
	t.Parallel()
	env := newWebhookEnv(t, nil)
	srv := httptest.NewServer(env.h)
	defer srv.Close()
	r, w := io.Pipe()
	go func() {
		chunk := bytes.Repeat([]byte("x"), 4096)
		for range 1000 { // 4 MB, stops when the server hangs up
			if _, err := w.Write(chunk); err != nil {
				break
			}
		}
		w.Close()
	}()
	resp, err := http.Post(srv.URL, "application/json", r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	r.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || env.rejected(ReasonTooLarge) != 1 {
		t.Errorf("status %d, rejected{too_large} = %v", resp.StatusCode, env.rejected(ReasonTooLarge))
	}
}

// TestNewWebhookHandlerRefusesEmptySecret: with no secret anyone could sign.
func TestNewWebhookHandlerRefusesEmptySecret(t *testing.T) {
	t.Parallel()
	h := EventHandlerFunc(func(string, Event) {})
	if _, err := NewWebhookHandler(WebhookConfig{Handler: h}); err == nil || !strings.Contains(err.Error(), "secret token") {
		t.Errorf("err = %v", err)
	}
	if _, err := NewWebhookHandler(WebhookConfig{SecretToken: "s"}); err == nil {
		t.Error("no handler accepted")
	}
}

// TestEventMetricsLint: the event metrics pass promlint, and a webhook
// alone does not register the WebSocket's series.
func TestEventMetricsLint(t *testing.T) {
	t.Parallel()
	env := newWebhookEnv(t, nil)
	problems, err := testutil.GatherAndLint(env.reg)
	if err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %+v", err, problems)
	}
	families, err := env.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "zoom_events_connected" {
			t.Error("zoom_events_connected registered without a WebSocket")
		}
	}
}
