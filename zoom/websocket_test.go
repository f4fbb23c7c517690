package zoom

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/net/websocket"

	"github.com/zoomexporter/zoom_exporter/internal/testenv"
)

// streamNow is the pinned time of the event stream tests.
var streamNow = time.Date(2026, 12, 1, 15, 0, 0, 0, time.UTC)

// waitFor is how long a test waits for a condition before failing.
const waitFor = 20 * time.Second

// waitUntil waits for cond, checking it every millisecond, for waitFor.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", waitFor, what)
		}
		time.Sleep(time.Millisecond) // a poll step, not a wait for an outcome
	}
}

func receiveWithin(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(waitFor):
		t.Fatalf("not within %s: %s", waitFor, what)
	}
}

// frames of Zoom's, from zoom/testdata/events.
func frameFile(t *testing.T, name, key string) string {
	t.Helper()
	raw := readEventFile(t, name)
	if key != "" {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		raw = m[key]
	}
	var compact strings.Builder
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(v)
	compact.Write(b)
	return compact.String()
}

// fakeTokens is a token cache: a token until invalidated, then a new one.
type fakeTokens struct {
	mu          sync.Mutex
	prefix      string
	now         func() time.Time
	lifetime    func(n int) time.Duration // of the n-th token (from 1)
	n           int
	cur         string
	expires     time.Time
	invalidated []string
	err         error
}

func (f *fakeTokens) AccessToken(ctx context.Context) (string, time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return "", time.Time{}, f.err
	}
	if f.cur == "" {
		f.n++
		f.cur = fmt.Sprintf("%s-%d", f.prefix, f.n)
		life := time.Hour
		if f.lifetime != nil {
			life = f.lifetime(f.n)
		}
		f.expires = f.now().Add(life)
	}
	return f.cur, f.expires, nil
}

func (f *fakeTokens) InvalidateToken(token string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.invalidated = append(f.invalidated, token)
	if token == f.cur {
		f.cur = ""
	}
}

func (f *fakeTokens) invalidatedTokens() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.invalidated...)
}

// testConn is one connection the test server accepted.
type testConn struct {
	t     *testing.T
	ws    *websocket.Conn
	token string
	n     int // 1 for the first connection
}

// read returns the next frame the client sent ("" when the connection ended).
func (c *testConn) read() string {
	_ = c.ws.SetReadDeadline(time.Now().Add(waitFor))
	var s string
	if err := websocket.Message.Receive(c.ws, &s); err != nil {
		return ""
	}
	return s
}

// expectHeartbeat reads a frame that must be Zoom's heartbeat.
func (c *testConn) expectHeartbeat() bool {
	got := c.read()
	if got != heartbeatFrame {
		if got != "" {
			c.t.Errorf("connection %d: client sent %q, want the heartbeat %s", c.n, got, heartbeatFrame)
		}
		return false
	}
	return true
}

func (c *testConn) send(frame string) {
	_ = c.ws.SetWriteDeadline(time.Now().Add(waitFor))
	_ = websocket.Message.Send(c.ws, frame)
}

// accept answers the first heartbeat as Zoom does.
func (c *testConn) accept() bool {
	if !c.expectHeartbeat() {
		return false
	}
	c.send(`{"module":"heartbeat","success":true,"content":"live","header":{}}`)
	return true
}

// drain reads until the client closes the connection.
func (c *testConn) drain() {
	for c.read() != "" {
	}
}

// wsTestServer is Zoom's WebSocket endpoint, scripted per connection.
type wsTestServer struct {
	*httptest.Server
	mu     sync.Mutex
	tokens []string
}

func newWSTestServer(t *testing.T, script func(c *testConn)) *wsTestServer {
	t.Helper()
	s := &wsTestServer{}
	s.Server = httptest.NewServer(websocket.Handler(func(ws *websocket.Conn) {
		token := ws.Request().URL.Query().Get("access_token")
		s.mu.Lock()
		s.tokens = append(s.tokens, token)
		n := len(s.tokens)
		s.mu.Unlock()
		script(&testConn{t: t, ws: ws, token: token, n: n})
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *wsTestServer) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.tokens...)
}

func (s *wsTestServer) wsURL() string {
	return "ws" + strings.TrimPrefix(s.URL, "http") + "/ws?subscriptionId=ZhPGtK84QbapRWXzEBW7MA"
}

type streamEnv struct {
	stream  *EventStream
	tokens  *fakeTokens
	clock   *testenv.Clock
	reg     *prometheus.Registry
	m       *EventMetrics
	logs    *testenv.SyncBuffer
	events  chan Event
	backoff *backoffLog
	cancel  context.CancelFunc
	done    chan struct{}
}

// backoffLog records the attempts the stream asked a wait for, and waits
// nothing.
type backoffLog struct {
	mu       sync.Mutex
	attempts []int
}

func (b *backoffLog) wait(attempt int) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.attempts = append(b.attempts, attempt)
	return 0
}

func (b *backoffLog) get() []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]int(nil), b.attempts...)
}

// startStream runs a stream against srv until the test ends.
func startStream(t *testing.T, srv *wsTestServer, tweak func(*EventStreamConfig, *streamEnv)) *streamEnv {
	t.Helper()
	env := &streamEnv{
		clock:   testenv.NewClock(streamNow),
		reg:     prometheus.NewPedanticRegistry(),
		logs:    &testenv.SyncBuffer{},
		events:  make(chan Event, 1024),
		backoff: &backoffLog{},
		done:    make(chan struct{}),
	}
	env.tokens = &fakeTokens{prefix: "tok", now: env.clock.Now}
	env.m = NewEventMetrics(env.reg)
	conf := EventStreamConfig{
		URL:     srv.wsURL(),
		Tokens:  env.tokens,
		Handler: EventHandlerFunc(func(transport string, e Event) { env.events <- e }),
		Now:     env.clock.Now,
		Logger:  log.NewLogfmtLogger(env.logs),
		Metrics: env.m,
		Backoff: env.backoff.wait,
	}
	if tweak != nil {
		tweak(&conf, env)
	}
	var err error
	env.stream, err = NewEventStream(conf)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	env.cancel = cancel
	go func() { env.stream.Run(ctx); close(env.done) }()
	t.Cleanup(env.stop(t))
	return env
}

func (env *streamEnv) stop(t *testing.T) func() {
	return func() {
		env.cancel()
		select {
		case <-env.done:
		case <-time.After(waitFor):
			t.Errorf("Run did not return within %s of its context's end", waitFor)
		}
	}
}

func (env *streamEnv) event(t *testing.T) Event {
	t.Helper()
	select {
	case e := <-env.events:
		return e
	case <-time.After(waitFor):
		t.Fatalf("no event within %s", waitFor)
		return Event{}
	}
}

func (env *streamEnv) counter(c prometheus.Collector) float64 { return testutil.ToFloat64(c) }

// TestEventStreamHeartbeatAndMessage: the heartbeat is Zoom's JSON, sent at
// once; a message frame's content reaches the handler, whether the
// content is a string (Zoom), an object (some samples) or the frame is a
// bare event; the stream says it is connected since when.
func TestEventStreamHeartbeatAndMessage(t *testing.T) {
	t.Parallel()
	message := frameFile(t, "websocket_message_frame.json", "")
	var frame struct{ Content string }
	if err := json.Unmarshal([]byte(message), &frame); err != nil {
		t.Fatal(err)
	}
	objectForm := `{"module":"message","content":` + frame.Content + `}`
	want, err := DecodeEvent([]byte(frame.Content))
	if err != nil {
		t.Fatal(err)
	}
	srv := newWSTestServer(t, func(c *testConn) {
		if !c.accept() {
			return
		}
		c.send(frameFile(t, "websocket_build_connection_frames.json", "success_reconstructed"))
		c.send(message)
		c.send(objectForm)
		c.send(frame.Content)
		c.drain()
	})
	env := startStream(t, srv, nil)
	for range 3 {
		got := env.event(t)
		if got.Name != want.Name || got.Meeting.UUID != want.Meeting.UUID || *got.Meeting.Participant != *want.Meeting.Participant {
			t.Errorf("handed %+v, want %+v", got, want)
		}
	}
	waitUntil(t, "connected", env.stream.Connected)
	if since := env.stream.ConnectedSince(); !since.Equal(streamNow) {
		t.Errorf("ConnectedSince = %v, want %v", since, streamNow)
	}
	if got := env.counter(env.m.received.WithLabelValues(TransportWebSocket, EventMeetingParticipantJoined)); got != 3 {
		t.Errorf("received = %v, want 3", got)
	}
	if got := env.counter(env.m.connected); got != 1 {
		t.Errorf("zoom_events_connected = %v", got)
	}
	if got := env.counter(env.m.lastEvent.WithLabelValues(TransportWebSocket)); got != float64(streamNow.Unix()) {
		t.Errorf("last event timestamp = %v", got)
	}
	if got := srv.seen(); len(got) != 1 || got[0] != "tok-1" {
		t.Errorf("tokens seen by the server: %v", got)
	}
	problems, err := testutil.GatherAndLint(env.reg)
	if err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}
	env.stop(t)()
	if env.stream.Connected() || env.counter(env.m.connected) != 0 {
		t.Error("still connected after Run returned")
	}
}

// TestEventStreamHeartbeatInterval: heartbeats keep coming at the interval.
func TestEventStreamHeartbeatInterval(t *testing.T) {
	t.Parallel()
	beats := make(chan struct{}, 100)
	srv := newWSTestServer(t, func(c *testConn) {
		for c.expectHeartbeat() {
			c.send(`{"module":"heartbeat","success":true,"content":"live","header":{}}`)
			beats <- struct{}{}
		}
	})
	startStream(t, srv, func(c *EventStreamConfig, env *streamEnv) { c.HeartbeatInterval = 5 * time.Millisecond })
	for range 4 {
		receiveWithin(t, beats, "a heartbeat")
	}
	if got := srv.seen(); len(got) != 1 {
		t.Errorf("%d connections: heartbeat replies must keep one alive", len(got))
	}
}

// TestEventStreamTokenRefusedReconnects: every refusal Zoom is known to send
// (and any success:false) ends the connection, drops the token, and the
// next connection carries a new one.
func TestEventStreamTokenRefusedReconnects(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, frame string }{
		{"token is empty (verbatim)", frameFile(t, "websocket_build_connection_frames.json", "failure_token_missing_verbatim_devforum_69974")},
		{"Invalid Token", frameFile(t, "websocket_build_connection_frames.json", "failure_bad_or_expired_token_reconstructed")},
		{"Token is invalid", frameFile(t, "websocket_build_connection_frames.json", "failure_bad_or_expired_token_reconstructed_newer_wording")},
		{"Invalid Token without success", `{"module":"heartbeat","content":"Invalid Token"}`},
		{"any success:false", `{"module":"build_connection","success":false,"content":"subscription disabled","header":{}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newWSTestServer(t, func(c *testConn) {
				if c.n == 1 {
					if c.expectHeartbeat() {
						c.send(tt.frame)
						c.drain()
					}
					return
				}
				if c.accept() {
					c.send(frameFile(t, "websocket_message_frame.json", ""))
					c.drain()
				}
			})
			env := startStream(t, srv, nil)
			env.event(t)
			if got := srv.seen(); len(got) != 2 || got[0] != "tok-1" || got[1] != "tok-2" {
				t.Errorf("tokens seen: %v, want tok-1 then a new tok-2", got)
			}
			if got := env.tokens.invalidatedTokens(); len(got) != 1 || got[0] != "tok-1" {
				t.Errorf("invalidated %v, want [tok-1]", got)
			}
			if got := env.counter(env.m.reconnects); got != 1 {
				t.Errorf("reconnects = %v", got)
			}
			if got := env.backoff.get(); len(got) != 1 || got[0] != 1 {
				t.Errorf("backoff attempts %v", got)
			}
			if !strings.Contains(env.stream.Status().LastError, "zoom refused the connection") {
				t.Errorf("LastError = %q", env.stream.Status().LastError)
			}
		})
	}
}

// TestEventStreamTopicSayingInvalidTokenIsNoRefusal: only a whole content
// refuses; an event whose topic says so is an event.
func TestEventStreamTopicSayingInvalidTokenIsNoRefusal(t *testing.T) {
	t.Parallel()
	body := strings.Replace(frameFile(t, "meeting.started.json", ""), "My Meeting", "Invalid Token", 1)
	quoted, _ := json.Marshal(body)
	srv := newWSTestServer(t, func(c *testConn) {
		if c.accept() {
			c.send(`{"module":"message","success":true,"content":` + string(quoted) + `}`)
			c.drain()
		}
	})
	env := startStream(t, srv, nil)
	if e := env.event(t); e.Meeting.Topic != "Invalid Token" {
		t.Errorf("topic %q", e.Meeting.Topic)
	}
	if len(srv.seen()) != 1 || len(env.tokens.invalidatedTokens()) != 0 {
		t.Errorf("reconnected (%v) or invalidated (%v)", srv.seen(), env.tokens.invalidatedTokens())
	}
}

// TestEventStreamBackoff: every failed connection asks a longer backoff;
// a connection that lived StableAfter resets it.
func TestEventStreamBackoff(t *testing.T) {
	t.Parallel()
	closeStable := make(chan struct{})
	srv := newWSTestServer(t, func(c *testConn) {
		switch c.n {
		case 1, 2, 3, 4, 6:
			return // closed right after the handshake
		case 5:
			if c.accept() {
				c.send(frameFile(t, "websocket_message_frame.json", ""))
				<-closeStable
			}
		default:
			if c.accept() {
				c.drain()
			}
		}
	})
	env := startStream(t, srv, nil)
	env.event(t) // from connection 5
	waitUntil(t, "connection 5 accepted", env.stream.Connected)
	env.clock.Advance(DefaultStableAfter)
	close(closeStable)
	waitUntil(t, "a 7th connection", func() bool { return len(srv.seen()) >= 7 })
	waitUntil(t, "connected again", env.stream.Connected)
	want := []int{1, 2, 3, 4, 1, 2}
	if got := env.backoff.get(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("backoff attempts %v, want %v", got, want)
	}
	if got := env.counter(env.m.reconnects); got != 6 {
		t.Errorf("reconnects = %v, want 6", got)
	}
	if got := env.stream.ConnectedSince(); !got.Equal(streamNow.Add(DefaultStableAfter)) {
		t.Errorf("ConnectedSince = %v: the coverage restarted with the 7th connection", got)
	}
}

// TestDefaultBackoff: 1s doubling to 1m, jittered within [d/2, d].
func TestDefaultBackoff(t *testing.T) {
	t.Parallel()
	for attempt := 1; attempt <= 40; attempt++ {
		d := min(time.Second<<min(attempt-1, 16), time.Minute)
		for range 50 {
			got := defaultBackoff(attempt)
			if got < d/2 || got > d {
				t.Fatalf("attempt %d: %s, want within [%s, %s]", attempt, got, d/2, d)
			}
		}
	}
}

// TestEventStreamReadTimeout: a connection where Zoom falls silent is
// dropped after ReadTimeout and reconnected.
func TestEventStreamReadTimeout(t *testing.T) {
	t.Parallel()
	srv := newWSTestServer(t, func(c *testConn) {
		if c.n == 1 {
			c.drain() // never answers
			return
		}
		if c.accept() {
			c.drain()
		}
	})
	env := startStream(t, srv, func(c *EventStreamConfig, env *streamEnv) {
		c.ReadTimeout = 50 * time.Millisecond
		c.HeartbeatInterval = time.Hour
	})
	waitUntil(t, "a second connection", func() bool { return len(srv.seen()) >= 2 })
	if got := env.stream.Status().LastError; !strings.Contains(got, "no frame from Zoom for 50ms") {
		t.Errorf("LastError = %q", got)
	}
	if got := env.tokens.invalidatedTokens(); len(got) != 0 {
		t.Errorf("a silent server is no token refusal: invalidated %v", got)
	}
}

// TestEventStreamMalformedFrames: bad frames are counted and skipped; the
// connection stays, and the good event after them arrives alone.
func TestEventStreamMalformedFrames(t *testing.T) {
	t.Parallel()
	message := frameFile(t, "websocket_message_frame.json", "")
	srv := newWSTestServer(t, func(c *testConn) {
		if !c.accept() {
			return
		}
		c.send("not json")
		_ = websocket.Message.Send(c.ws, []byte{0xff, 0x00, 0x01})
		c.send(`{"module":"message","content":"` + strings.Repeat("x", 2048) + `"}`)
		c.send(`{"module":"message","success":true,"content":"{\"event\":"}`)
		c.send(`{"module":"message","success":true}`)
		c.send(`{"module":"surprise","success":true,"content":"?"}`)
		c.send(`{"module":"message","content":"{\"event\":\"meeting.created\",\"event_ts\":1}"}`)
		c.send(message)
		c.drain()
	})
	env := startStream(t, srv, func(c *EventStreamConfig, env *streamEnv) { c.MaxFrame = 1024 })
	if e := env.event(t); e.Name != EventMeetingParticipantJoined {
		t.Errorf("handed %+v", e)
	}
	select {
	case e := <-env.events:
		t.Errorf("a second event was handed: %+v", e)
	default:
	}
	for reason, want := range map[string]float64{ReasonMalformed: 4, ReasonTooLarge: 1} {
		if got := env.counter(env.m.rejected.WithLabelValues(reason)); got != want {
			t.Errorf("rejected{%s} = %v, want %v", reason, got, want)
		}
	}
	if got := env.counter(env.m.received.WithLabelValues(TransportWebSocket, eventLabelOther)); got != 1 {
		t.Errorf("received{other} = %v", got)
	}
	if got := srv.seen(); len(got) != 1 {
		t.Errorf("%d connections: bad frames must not drop the connection", len(got))
	}
}

// TestEventStreamTokenNeverLeaks: whatever fails (an HTTP refusal whose
// error embeds the URL, a refusal frame echoing the token, frames quoting
// it, no server at all), the token is in no log line, error, status or
// metric; the URL is shown with access_token=REDACTED.
func TestEventStreamTokenNeverLeaks(t *testing.T) {
	t.Parallel()
	const prefix = "eyJTOKEN/secret+value="
	var upgrades atomic.Int32
	wsHandler := websocket.Handler(func(ws *websocket.Conn) {
		c := &testConn{t: t, ws: ws, token: ws.Request().URL.Query().Get("access_token")}
		if !c.expectHeartbeat() {
			return
		}
		if upgrades.Add(1) == 1 {
			c.send(`{"module":"build_connection","success":false,"content":"Invalid Token ` + c.token + ` in ws://x/ws?access_token=` + url.QueryEscape(c.token) + `","header":{}}`)
		} else {
			c.send(`{"module":"heartbeat","success":true}`)
			c.send(`{"module":"message","content":"` + c.token + `"}`)
			c.send(`{"module":` + c.token + `}`)
		}
		c.drain()
	})
	var requested sync.Map // tokens a request came with
	srv := &wsTestServer{Server: httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, again := requested.LoadOrStore(r.URL.Query().Get("access_token"), true); !again {
			// The first time with a token: an HTTP refusal echoing the URL.
			http.Error(w, "refused "+r.URL.String(), http.StatusUnauthorized)
			return
		}
		wsHandler.ServeHTTP(w, r)
	}))}
	t.Cleanup(srv.Close)
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := "ws" + strings.TrimPrefix(closed.URL, "http") + "/ws?subscriptionId=x"
	closed.Close()

	withToken := func(u string) func(*EventStreamConfig, *streamEnv) {
		return func(c *EventStreamConfig, env *streamEnv) {
			env.tokens = &fakeTokens{prefix: prefix, now: env.clock.Now}
			c.Tokens = env.tokens
			if u != "" {
				c.URL = u
			}
		}
	}
	env := startStream(t, srv, withToken(""))
	noServer := startStream(t, srv, withToken(closedURL))
	// token 1: HTTP 401, then a refusal frame; token 2: HTTP 401, then
	// accepted, and two frames quoting the token.
	waitUntil(t, "two bad frames", func() bool { return env.counter(env.m.rejected.WithLabelValues(ReasonMalformed)) >= 2 })
	waitUntil(t, "failed attempts", func() bool { return noServer.counter(noServer.m.reconnects) >= 2 })
	if got := env.tokens.invalidatedTokens(); len(got) != 1 {
		t.Errorf("invalidated %v: the refusal frame drops the token", got)
	}
	statuses := fmt.Sprintf("%+v %+v", env.stream.Status(), noServer.stream.Status())
	env.stop(t)()
	noServer.stop(t)()

	for _, e := range []*streamEnv{env, noServer} {
		text := e.logs.String() + statuses + gatherText(t, e.reg)
		for _, secret := range []string{"eyJTOKEN", url.QueryEscape(prefix)} {
			if strings.Contains(text, secret) {
				t.Errorf("%q leaked:\n%s", secret, text)
			}
		}
		if !strings.Contains(e.logs.String(), "access_token=REDACTED") {
			t.Errorf("the log does not show the redacted URL:\n%s", e.logs)
		}
	}
	if got := env.stream.Status().URL; !strings.HasSuffix(got, "subscriptionId=ZhPGtK84QbapRWXzEBW7MA&access_token=REDACTED") {
		t.Errorf("Status().URL = %q", got)
	}
}

func gatherText(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, f := range families {
		b.WriteString(f.String())
	}
	return b.String()
}

// TestRedact: the token goes, however the text quotes it.
func TestRedact(t *testing.T) {
	t.Parallel()
	const token = "abc/def+g=="
	tests := []struct{ in, want string }{
		{"websocket.Dial wss://ws.zoom.us/ws?subscriptionId=x&access_token=" + url.QueryEscape(token) + ": bad status", "websocket.Dial wss://ws.zoom.us/ws?subscriptionId=x&access_token=REDACTED: bad status"},
		{"token " + token + " refused", "token REDACTED refused"},
		{"ACCESS_TOKEN=other-token&x=1", "ACCESS_TOKEN=REDACTED&x=1"},
		{"access_token%3Dsomething", "access_token%3DREDACTED"},
	}
	for _, tt := range tests {
		if got := redact(tt.in, token); got != tt.want {
			t.Errorf("redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestEventStreamHandover: before the token expires the stream opens a
// connection with a new token and closes the old one only once Zoom
// accepted the new one: no gap, no reconnect, ConnectedSince unchanged.
func TestEventStreamHandover(t *testing.T) {
	t.Parallel()
	oldClosed := make(chan struct{})
	newArrived := make(chan struct{})
	release := make(chan struct{})
	srv := newWSTestServer(t, func(c *testConn) {
		switch c.n {
		case 1:
			if c.accept() {
				c.drain()
				close(oldClosed)
			}
		case 2:
			close(newArrived)
			<-release
			if c.accept() {
				c.send(frameFile(t, "websocket_message_frame.json", ""))
				c.drain()
			}
		default:
			t.Errorf("connection %d: no more were due", c.n)
		}
	})
	env := startStream(t, srv, func(c *EventStreamConfig, env *streamEnv) {
		env.tokens = &fakeTokens{prefix: "tok", now: env.clock.Now, lifetime: func(n int) time.Duration {
			if n == 1 {
				return DefaultRenewBefore + 50*time.Millisecond // handover due 50ms after connecting
			}
			return time.Hour
		}}
		c.Tokens = env.tokens
	})
	receiveWithin(t, newArrived, "the handover's connection")
	env.clock.Advance(time.Second) // a reconnect would move ConnectedSince
	select {
	case <-oldClosed:
		t.Fatal("the old connection was closed before Zoom accepted the new one")
	default:
	}
	if !env.stream.Connected() {
		t.Error("not connected during the handover")
	}
	close(release)
	receiveWithin(t, oldClosed, "the old connection closed")
	env.event(t)
	if got := srv.seen(); fmt.Sprint(got) != "[tok-1 tok-2]" {
		t.Errorf("tokens seen %v", got)
	}
	if !env.stream.Connected() || !env.stream.ConnectedSince().Equal(streamNow) {
		t.Errorf("connected %v since %v, want since %v", env.stream.Connected(), env.stream.ConnectedSince(), streamNow)
	}
	if r, h := env.counter(env.m.reconnects), env.counter(env.m.handovers); r != 0 || h != 1 {
		t.Errorf("reconnects %v, handovers %v; want 0, 1", r, h)
	}
}

// TestEventStreamHandoverOldClosedByServer: if Zoom closes the old
// connection when the new one opens, that is the handover, not a loss.
func TestEventStreamHandoverOldClosedByServer(t *testing.T) {
	t.Parallel()
	newArrived := make(chan struct{})
	oldClosed := make(chan struct{})
	srv := newWSTestServer(t, func(c *testConn) {
		switch c.n {
		case 1:
			if c.accept() {
				<-newArrived
				close(oldClosed) // the server hangs up on the old one
			}
		case 2:
			close(newArrived)
			<-oldClosed
			if c.accept() {
				c.send(frameFile(t, "websocket_message_frame.json", ""))
				c.drain()
			}
		default:
			t.Errorf("connection %d: no more were due", c.n)
		}
	})
	env := startStream(t, srv, func(c *EventStreamConfig, env *streamEnv) {
		env.tokens = &fakeTokens{prefix: "tok", now: env.clock.Now, lifetime: func(n int) time.Duration {
			if n == 1 {
				return DefaultRenewBefore + 50*time.Millisecond
			}
			return time.Hour
		}}
		c.Tokens = env.tokens
	})
	receiveWithin(t, newArrived, "the handover's connection")
	env.clock.Advance(time.Second)
	env.event(t)
	waitUntil(t, "handover counted", func() bool { return env.counter(env.m.handovers) == 1 })
	if r := env.counter(env.m.reconnects); r != 0 {
		t.Errorf("reconnects %v", r)
	}
	if !env.stream.ConnectedSince().Equal(streamNow) {
		t.Errorf("ConnectedSince %v, want %v", env.stream.ConnectedSince(), streamNow)
	}
}

// TestEventStreamDisconnectStorm: 200 connections dropped after one event
// each: every event is handed once, and no goroutine is left behind, while
// running and after Run returned.
func TestEventStreamDisconnectStorm(t *testing.T) {
	const storm = 200
	frame := func(n int) string {
		body := strings.Replace(frameFile(t, "meeting.started.json", ""), "Wk9PTV9NRUVUSU5HX0lE", fmt.Sprintf("storm-%03d", n), 1)
		q, _ := json.Marshal(body)
		return `{"module":"message","success":true,"content":` + string(q) + `}`
	}
	srv := newWSTestServer(t, func(c *testConn) {
		if !c.accept() {
			return
		}
		if c.n <= storm {
			c.send(frame(c.n))
			return // dropped
		}
		c.drain()
	})
	baseline := runtime.NumGoroutine()
	env := startStream(t, srv, nil)
	seen := map[string]int{}
	for range storm {
		seen[env.event(t).Meeting.UUID]++
	}
	if len(seen) != storm {
		t.Errorf("%d distinct events, want %d", len(seen), storm)
	}
	// The 201st connection is dialled after the 200th loss was counted.
	waitUntil(t, "the connection after the storm", func() bool { return len(srv.seen()) > storm })
	waitUntil(t, "connected after the storm", env.stream.Connected)
	// Running: Run, the connection's reader and heartbeat, and the test
	// server's side of it.
	waitUntil(t, fmt.Sprintf("goroutines back near %d while running", baseline), func() bool {
		return runtime.NumGoroutine() <= baseline+8
	})
	running := runtime.NumGoroutine()
	if got := env.counter(env.m.reconnects); got != storm {
		t.Errorf("reconnects = %v, want %d", got, storm)
	}
	select {
	case e := <-env.events:
		t.Errorf("an extra event: %+v", e)
	default:
	}
	env.stop(t)()
	waitUntil(t, fmt.Sprintf("goroutines back to %d after Run returned", baseline), func() bool {
		return runtime.NumGoroutine() <= baseline+2
	})
	t.Logf("goroutines: %d before the stream, %d connected after %d disconnects, %d after Run returned", baseline, running, storm, runtime.NumGoroutine())
}

// TestNewEventStreamConfig: bad configurations are refused with a clear
// error that never quotes a token.
func TestNewEventStreamConfig(t *testing.T) {
	t.Parallel()
	tokens := &fakeTokens{now: time.Now}
	h := EventHandlerFunc(func(string, Event) {})
	tests := []struct {
		name string
		conf EventStreamConfig
		want string
	}{
		{"no tokens", EventStreamConfig{URL: "wss://ws.zoom.us/ws", Handler: h}, "no access token source"},
		{"no handler", EventStreamConfig{URL: "wss://ws.zoom.us/ws", Tokens: tokens}, "no event handler"},
		{"https", EventStreamConfig{URL: "https://ws.zoom.us/ws", Tokens: tokens, Handler: h}, "wss:// URL"},
		{"relative", EventStreamConfig{URL: "ws.zoom.us/ws?subscriptionId=x", Tokens: tokens, Handler: h}, "wss:// URL"},
		{"with a token", EventStreamConfig{URL: "wss://ws.zoom.us/ws?subscriptionId=x&access_token=SECRETTOKEN", Tokens: tokens, Handler: h}, "must not carry an access_token"},
		{"unparsable with a token", EventStreamConfig{URL: "wss://ws.zoom.us/ws?access_token=SECRETTOKEN%zz", Tokens: tokens, Handler: h}, "must not carry an access_token"},
		{"user info", EventStreamConfig{URL: "wss://user:SECRETTOKEN@ws.zoom.us/ws", Tokens: tokens, Handler: h}, "user information"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewEventStream(tt.conf)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "SECRETTOKEN") {
				t.Errorf("the error quotes the token: %v", err)
			}
		})
	}
}

// TestEventStreamTokenSourceError: a token failure is retried with backoff,
// and no connection is attempted without a token.
func TestEventStreamTokenSourceError(t *testing.T) {
	t.Parallel()
	srv := newWSTestServer(t, func(c *testConn) { t.Error("connected without a token") })
	env := startStream(t, srv, func(c *EventStreamConfig, env *streamEnv) {
		c.Tokens = &fakeTokens{now: env.clock.Now, err: &TokenError{Status: 400, Code: "invalid_client", Reason: "Invalid client_id or client_secret"}}
	})
	waitUntil(t, "three attempts", func() bool { return len(env.backoff.get()) >= 3 })
	if got := env.stream.Status().LastError; !strings.Contains(got, "access token") || !strings.Contains(got, "invalid_client") {
		t.Errorf("LastError = %q", got)
	}
}

// TestClientAccessToken: the Client hands out its cached token with its
// expiry, and a new one once the old is invalidated.
func TestClientAccessToken(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	issued := 0
	tokenSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		issued++
		n := issued
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"t%d","token_type":"bearer","expires_in":3600,"scope":"x"}`, n)
	}))
	defer tokenSrv.Close()
	clock := testenv.NewClock(streamNow)
	c, err := NewClient(ClientConfig{APIURL: tokenSrv.URL, TokenURL: tokenSrv.URL, AccountID: "a", ClientID: "i", ClientSecret: "s", Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i, want := range []string{"t1", "t1"} {
		tok, exp, err := c.AccessToken(ctx)
		if err != nil || tok != want || !exp.Equal(streamNow.Add(time.Hour)) {
			t.Fatalf("call %d: %q %v %v; want %s expiring at %v", i, tok, exp, err, want, streamNow.Add(time.Hour))
		}
	}
	c.InvalidateToken("t1")
	clock.Advance(time.Minute)
	if tok, exp, err := c.AccessToken(ctx); err != nil || tok != "t2" || !exp.Equal(streamNow.Add(time.Hour+time.Minute)) {
		t.Errorf("after invalidation: %q %v %v", tok, exp, err)
	}
}
