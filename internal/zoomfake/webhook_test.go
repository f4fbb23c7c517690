package zoomfake

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const testSecret = "zm_test_secret_token"

// hookRequest is what the test receiver saw.
type hookRequest struct {
	method string
	header http.Header
	body   []byte
}

// hookReceiver is a webhook endpoint that records requests and answers
// each with answer (default 200).
type hookReceiver struct {
	mu     sync.Mutex
	reqs   []hookRequest
	answer func(n int, w http.ResponseWriter, r *http.Request, body []byte) // n counts from 1
	srv    *httptest.Server
}

func newHookReceiver(t *testing.T, answer func(n int, w http.ResponseWriter, r *http.Request, body []byte)) *hookReceiver {
	h := &hookReceiver{answer: answer}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.reqs = append(h.reqs, hookRequest{r.Method, r.Header.Clone(), body})
		n := len(h.reqs)
		h.mu.Unlock()
		if h.answer != nil {
			h.answer(n, w, r, body)
		}
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookReceiver) requests() []hookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookRequest(nil), h.reqs...)
}

// answerStatuses answers the n-th request with statuses[n-1] (200 beyond).
func answerStatuses(statuses ...int) func(int, http.ResponseWriter, *http.Request, []byte) {
	return func(n int, w http.ResponseWriter, _ *http.Request, _ []byte) {
		status := http.StatusOK
		if n <= len(statuses) {
			status = statuses[n-1]
		}
		if status/100 == 3 {
			w.Header().Set("Location", "/elsewhere")
		}
		w.WriteHeader(status)
	}
}

// verify checks a request by Zoom's documented algorithm, computed here
// independently of SignWebhook.
func verify(secret string, header http.Header, body []byte) bool {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + header.Get("x-zm-request-timestamp") + ":" + string(body)))
	want := "v0=" + hex.EncodeToString(mac.Sum(nil))
	return hmac.Equal([]byte(header.Get("x-zm-signature")), []byte(want))
}

func TestSignWebhookMatchesTestVector(t *testing.T) {
	var v map[string]string
	if err := json.Unmarshal(readExample(t, "webhook_signature_test_vector.json"), &v); err != nil {
		t.Fatal(err)
	}
	secret, ts, body := v["secret_token"], v["x-zm-request-timestamp"], v["body"]
	if got := SignWebhook(secret, ts, []byte(body)); got != v["x-zm-signature"] {
		t.Errorf("SignWebhook = %s, want %s", got, v["x-zm-signature"])
	}
	if got := WebhookEncryptedToken(secret, v["url_validation_plainToken"]); got != v["url_validation_encryptedToken"] {
		t.Errorf("WebhookEncryptedToken = %s, want %s", got, v["url_validation_encryptedToken"])
	}
	// The vector's body is the compact meeting.started example, as emitted.
	var ex bytes.Buffer
	if err := json.Compact(&ex, readExample(t, "meeting.started.json")); err != nil || ex.String() != body {
		t.Errorf("vector body is not the compact example: %v", err)
	}
}

func TestWebhookSenderPostsSignedEvents(t *testing.T) {
	recv := newHookReceiver(t, nil)
	e := newEventEnv(t, Options{WebhookURL: recv.srv.URL, WebhookSecretToken: testSecret})
	meetingLife(t, e.fake, e.fake.Users()[0].ID, 8, testNow.Add(-time.Hour))
	events := e.fake.Events()
	waitFor(t, "every event delivered", func() bool { return e.fake.EventStats().WebhookDelivered == len(events) })
	reqs := recv.requests()
	if len(reqs) != len(events) {
		t.Fatalf("%d requests for %d events", len(reqs), len(events))
	}
	wantTS := strconv.FormatInt(testNow.Unix(), 10)
	for i, r := range reqs {
		if r.method != http.MethodPost || !bytes.Equal(r.body, events[i].Body) {
			t.Errorf("request %d: %s %s, want POST of %s", i, r.method, r.body, events[i].Body)
		}
		if got := r.header.Get("x-zm-request-timestamp"); got != wantTS {
			t.Errorf("request %d: timestamp %q, want %q (Unix seconds of the injected clock)", i, got, wantTS)
		}
		if !verify(testSecret, r.header, r.body) || verify("other", r.header, r.body) {
			t.Errorf("request %d: signature %q does not verify", i, r.header.Get("x-zm-signature"))
		}
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("request %d: Content-Type %q", i, ct)
		}
		if r.header.Get("x-zm-request-id") == "" {
			t.Errorf("request %d: no x-zm-request-id", i)
		}
	}
	if st := e.fake.EventStats(); st.WebhookQueued != len(events) || st.WebhookAttempts != len(events) || st.WebhookFailed != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestWebhookRetries(t *testing.T) {
	delays := []time.Duration{time.Minute, 2 * time.Minute, 3 * time.Minute}
	cases := []struct {
		name      string
		answer    func(int, http.ResponseWriter, *http.Request, []byte)
		closed    bool // the URL refuses connections
		timeout   bool
		attempts  int
		delivered bool
	}{
		{name: "500 retried three times then given up", answer: answerStatuses(500, 500, 500, 500), attempts: 4},
		{name: "503 then 200", answer: answerStatuses(503, 200), attempts: 2, delivered: true},
		{name: "400 not retried", answer: answerStatuses(400), attempts: 1},
		{name: "429 not retried", answer: answerStatuses(429), attempts: 1},
		{name: "302 not retried nor followed", answer: answerStatuses(302), attempts: 1},
		{name: "204 delivered", answer: answerStatuses(204), attempts: 1, delivered: true},
		{name: "connection refused retried", closed: true, attempts: 4},
		{name: "timeout retried", timeout: true, attempts: 2, delivered: true, answer: func(n int, w http.ResponseWriter, r *http.Request, _ []byte) {
			if n == 1 {
				<-r.Context().Done() // answers after the sender gave up
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			recv := newHookReceiver(t, c.answer)
			if c.closed {
				recv.srv.Close()
			}
			opts := Options{WebhookURL: recv.srv.URL, WebhookSecretToken: testSecret, WebhookRetryDelays: delays}
			if c.timeout {
				opts.WebhookTimeout = 100 * time.Millisecond
			}
			e := newEventEnv(t, opts)
			if _, err := e.fake.StartMeeting(MeetingStart{HostID: e.fake.Users()[0].ID}); err != nil {
				t.Fatal(err)
			}
			attempts := func() []WebhookAttempt { return e.fake.WebhookAttempts() }
			for k := 1; ; k++ {
				waitFor(t, "attempt "+strconv.Itoa(k), func() bool { return len(attempts()) >= k })
				got := attempts()
				if len(got) != k {
					t.Fatalf("%d attempts, want %d: %+v", len(got), k, got)
				}
				a := got[k-1]
				if a.Attempt != k || a.Timestamp != strconv.FormatInt(e.clock.Now().Unix(), 10) {
					t.Errorf("attempt %+v at %v", a, e.clock.Now())
				}
				if !a.Retry {
					break
				}
				// Not before the delay has passed on the injected clock.
				e.clock.Advance(delays[k-1] - time.Second)
				waitWorkerPolls(t, e.fake, 2)
				if n := len(attempts()); n != k {
					t.Fatalf("retry %d sent %v before its delay", k, delays[k-1]-time.Second)
				}
				e.clock.Advance(time.Second)
			}
			waitFor(t, "the sender to stop", func() bool {
				e.fake.hub.mu.Lock()
				defer e.fake.hub.mu.Unlock()
				return !e.fake.hub.workerRunning
			})
			if n := len(attempts()); n != c.attempts {
				t.Errorf("%d attempts, want %d: %+v", n, c.attempts, attempts())
			}
			st := e.fake.EventStats()
			if (st.WebhookDelivered == 1) != c.delivered || (st.WebhookFailed == 1) == c.delivered || st.WebhookRetried != c.attempts-1 {
				t.Errorf("stats %+v", st)
			}
			if !c.closed && len(recv.requests()) != c.attempts {
				t.Errorf("receiver saw %d requests", len(recv.requests()))
			}
		})
	}
}

// waitWorkerPolls waits for n passes of the webhook sender's loop.
func waitWorkerPolls(t *testing.T, f *Server, n int) {
	t.Helper()
	polls := func() int {
		f.hub.mu.Lock()
		defer f.hub.mu.Unlock()
		return f.hub.workerPolls
	}
	start := polls()
	waitFor(t, "webhook sender passes", func() bool { return polls() >= start+n })
}

func TestWebhookQueueIsBounded(t *testing.T) {
	release := make(chan struct{})
	recv := newHookReceiver(t, func(n int, w http.ResponseWriter, r *http.Request, _ []byte) {
		if n == 1 {
			<-release
		}
	})
	e := newEventEnv(t, Options{WebhookURL: recv.srv.URL, WebhookSecretToken: testSecret, WebhookQueueSize: 3})
	e.fake.EmitRaw([]byte(`{"event":"n0"}`))
	waitFor(t, "the first delivery in flight", func() bool { return len(recv.requests()) == 1 })
	for i := 1; i < 10; i++ {
		e.fake.EmitRaw([]byte(`{"event":"n` + strconv.Itoa(i) + `"}`))
	}
	close(release)
	waitFor(t, "queued deliveries sent", func() bool { return e.fake.EventStats().WebhookDelivered == 4 })
	var got []string
	for _, r := range recv.requests() {
		got = append(got, string(r.body))
	}
	want := []string{`{"event":"n0"}`, `{"event":"n1"}`, `{"event":"n2"}`, `{"event":"n3"}`}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("delivered %v, want %v", got, want)
	}
	if st := e.fake.EventStats(); st.WebhookQueued != 4 || st.WebhookDropped != 6 {
		t.Errorf("stats %+v", st)
	}
}

func TestValidateWebhookURL(t *testing.T) {
	crc := func(secret string, echo func(string) string) func(int, http.ResponseWriter, *http.Request, []byte) {
		return func(_ int, w http.ResponseWriter, r *http.Request, body []byte) {
			var b struct {
				Event   string `json:"event"`
				Payload struct {
					PlainToken string `json:"plainToken"`
				} `json:"payload"`
			}
			if json.Unmarshal(body, &b) != nil || b.Event != "endpoint.url_validation" || !verify(testSecret, r.Header, body) {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]string{
				"plainToken":     echo(b.Payload.PlainToken),
				"encryptedToken": WebhookEncryptedToken(secret, b.Payload.PlainToken),
			})
		}
	}
	same := func(s string) string { return s }
	cases := []struct {
		name   string
		answer func(int, http.ResponseWriter, *http.Request, []byte)
		valid  bool
	}{
		{"right answer", crc(testSecret, same), true},
		{"wrong secret", crc("other", same), false},
		{"plainToken not echoed", crc(testSecret, func(string) string { return "x" }), false},
		{"error status", answerStatuses(500), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			recv := newHookReceiver(t, c.answer)
			e := newEventEnv(t, Options{WebhookURL: recv.srv.URL, WebhookSecretToken: testSecret})
			v, err := e.fake.ValidateWebhookURL(context.Background(), "qgg8vlvZRS6UYooatFL8Aw")
			if err != nil {
				t.Fatal(err)
			}
			if v.Valid != c.valid {
				t.Errorf("Valid = %v, want %v: %+v %s", v.Valid, c.valid, v, v.Body)
			}
			if len(e.fake.Events()) != 0 || e.fake.EventStats().WebhookAttempts != 0 {
				t.Error("the validation went through the event stream")
			}
		})
	}
}

func TestSendWebhookBadInputs(t *testing.T) {
	body := []byte(`{"event":"meeting.ended","event_ts":1,"payload":{}}`)
	now := strconv.FormatInt(testNow.Unix(), 10)
	stale := strconv.FormatInt(testNow.Add(-10*time.Minute).Unix(), 10)
	cases := []struct {
		name        string
		req         WebhookRequest
		wantTS      string // "" : no header
		hasSig      bool
		verifies    bool
		wantBodyLen int
	}{
		{"well signed", WebhookRequest{Body: body}, now, true, true, len(body)},
		{"unsigned", WebhookRequest{Body: body, Unsigned: true}, now, false, false, len(body)},
		{"wrong secret", WebhookRequest{Body: body, Secret: "forger"}, now, true, false, len(body)},
		{"garbage signature", WebhookRequest{Body: body, Signature: "v0=00"}, now, true, false, len(body)},
		{"stale but signed", WebhookRequest{Body: body, Timestamp: stale}, stale, true, true, len(body)},
		{"no timestamp", WebhookRequest{Body: body, NoTimestamp: true}, "", true, false, len(body)},
		{"oversized", WebhookRequest{Body: bytes.Repeat([]byte("x"), 2<<20)}, now, true, true, 2 << 20},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			recv := newHookReceiver(t, answerStatuses(401))
			e := newEventEnv(t, Options{WebhookURL: recv.srv.URL, WebhookSecretToken: testSecret})
			resp, err := e.fake.SendWebhook(context.Background(), c.req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Status != http.StatusUnauthorized {
				t.Errorf("status %d, want the receiver's 401", resp.Status)
			}
			r := recv.requests()[0]
			if got := r.header.Get("x-zm-request-timestamp"); got != c.wantTS {
				t.Errorf("timestamp %q, want %q", got, c.wantTS)
			}
			if has := r.header.Get("x-zm-signature") != ""; has != c.hasSig {
				t.Errorf("signature present %v, want %v", has, c.hasSig)
			}
			if v := verify(testSecret, r.header, r.body); v != c.verifies {
				t.Errorf("verifies %v, want %v", v, c.verifies)
			}
			if len(r.body) != c.wantBodyLen {
				t.Errorf("body %d bytes", len(r.body))
			}
			if len(e.fake.WebhookAttempts()) != 0 {
				t.Error("SendWebhook went through the sender's queue")
			}
		})
	}
}

func TestSetWebhookTurnsDeliveryOnAndOff(t *testing.T) {
	recv := newHookReceiver(t, nil)
	e := newEventEnv(t, Options{})
	e.fake.EmitRaw([]byte(`{"event":"a"}`)) // no URL yet: not sent
	e.fake.SetWebhook(recv.srv.URL, testSecret)
	e.fake.EmitRaw([]byte(`{"event":"b"}`))
	waitFor(t, "delivery", func() bool { return e.fake.EventStats().WebhookDelivered == 1 })
	e.fake.SetWebhook("", "")
	e.fake.EmitRaw([]byte(`{"event":"c"}`))
	if reqs := recv.requests(); len(reqs) != 1 || string(reqs[0].body) != `{"event":"b"}` || !verify(testSecret, reqs[0].header, reqs[0].body) {
		t.Errorf("requests %+v", reqs)
	}
	if st := e.fake.EventStats(); st.WebhookQueued != 1 {
		t.Errorf("stats %+v", st)
	}
}
