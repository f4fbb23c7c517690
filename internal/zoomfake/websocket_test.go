package zoomfake

import (
	"encoding/json"
	"errors"
	"maps"
	"net"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

// dialEvents connects to the fake's /ws with token appended, as Zoom's
// clients do.
func (e *env) dialEvents(token string) *websocket.Conn {
	e.t.Helper()
	ws, err := websocket.Dial(e.fake.WebSocketURL(e.srv.URL)+"&access_token="+url.QueryEscape(token), "", e.srv.URL)
	if err != nil {
		e.t.Fatalf("dial: %v", err)
	}
	e.t.Cleanup(func() { _ = ws.Close() })
	return ws
}

// connectEvents dials with a fresh token and reads the success frame: from
// then on the client receives every event.
func (e *env) connectEvents() *websocket.Conn {
	e.t.Helper()
	ws := e.dialEvents(e.token())
	if f := readFrame(e.t, ws); f.Module != "build_connection" || f.Success == nil || !*f.Success {
		e.t.Fatalf("first frame %+v, want build_connection success", f)
	}
	return ws
}

type gotFrame struct {
	Module  string          `json:"module"`
	Success *bool           `json:"success"`
	Content string          `json:"content"`
	Header  json.RawMessage `json:"header"`
	raw     string
}

// readFrame reads one text frame, waiting at most 10 s.
func readFrame(t *testing.T, ws *websocket.Conn) gotFrame {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	var msg string
	if err := websocket.Message.Receive(ws, &msg); err != nil {
		t.Fatalf("read frame: %v", err)
	}
	var f gotFrame
	if err := json.Unmarshal([]byte(msg), &f); err != nil {
		t.Fatalf("frame %q: %v", msg, err)
	}
	f.raw = msg
	return f
}

// wantClosed checks that the server closed the connection (not a timeout).
func wantClosed(t *testing.T, ws *websocket.Conn) {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	var msg string
	err := websocket.Message.Receive(ws, &msg)
	var ne net.Error
	if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("connection still open: frame %q, error %v", msg, err)
	}
}

func sendHeartbeat(t *testing.T, ws *websocket.Conn) {
	t.Helper()
	if err := websocket.Message.Send(ws, `{"module":"heartbeat"}`); err != nil {
		t.Fatal(err)
	}
}

// waitSweeps waits for n full passes of the reaper, so that time rules
// have been applied to the clock as it is now.
func waitSweeps(t *testing.T, f *Server, n int) {
	t.Helper()
	sweeps := func() int {
		f.hub.mu.Lock()
		defer f.hub.mu.Unlock()
		return f.hub.sweeps
	}
	start := sweeps()
	waitFor(t, "reaper sweeps", func() bool { return sweeps() >= start+n })
}

func exampleFrame(t *testing.T, file, key string) map[string]any {
	t.Helper()
	var all map[string]map[string]any
	if err := json.Unmarshal(readExample(t, file), &all); err != nil {
		t.Fatal(err)
	}
	return all[key]
}

func TestWebSocketRefusesBadTokens(t *testing.T) {
	cases := []struct {
		name    string
		opts    Options
		token   func(e *env) string
		url     func(e *env, tok string) string
		content string
	}{
		{name: "no access_token", token: func(*env) string { return "" },
			url:     func(e *env, _ string) string { return e.fake.WebSocketURL(e.srv.URL) },
			content: "token is empty"},
		{name: "empty access_token", token: func(*env) string { return "" }, content: "token is empty"},
		{name: "unknown token", token: func(*env) string { return "fake.unknown" }, content: "Invalid Token"},
		{name: "newer wording", opts: Options{WebSocketInvalidToken: "Token is invalid"},
			token: func(*env) string { return "fake.unknown" }, content: "Token is invalid"},
		{name: "expired token", token: func(e *env) string {
			tok := e.token()
			e.clock.Advance(DefaultTokenLifetime)
			return tok
		}, content: "Invalid Token"},
		{name: "revoked token", token: func(e *env) string {
			tok := e.token()
			e.fake.RevokeTokens()
			return tok
		}, content: "Invalid Token"},
		{name: "wrong subscription", token: func(e *env) string { return e.token() },
			url: func(e *env, tok string) string {
				return strings.Replace(e.fake.WebSocketURL(e.srv.URL), DefaultSubscriptionID, "otherSub", 1) + "&access_token=" + tok
			}, content: "Invalid subscriptionId"},
	}
	want := exampleFrame(t, "websocket_build_connection_frames.json", "failure_token_missing_verbatim_devforum_69974")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEventEnv(t, c.opts)
			tok := c.token(e)
			u := e.fake.WebSocketURL(e.srv.URL) + "&access_token=" + url.QueryEscape(tok)
			if c.url != nil {
				u = c.url(e, tok)
			}
			ws, err := websocket.Dial(u, "", e.srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer ws.Close()
			f := readFrame(t, ws)
			var got map[string]any
			_ = json.Unmarshal([]byte(f.raw), &got)
			want["content"] = c.content
			if !maps.EqualFunc(got, want, func(a, b any) bool { return jsonEqual(a, b) }) {
				t.Errorf("frame %s, want %v", f.raw, want)
			}
			if tok != "" && strings.Contains(f.raw, tok) {
				t.Error("the refusal echoes the token")
			}
			wantClosed(t, ws)
			if st := e.fake.EventStats(); st.WebSocketRefused != 1 || st.WebSocketAccepted != 0 || st.WebSocketConnections != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func TestWebSocketHeartbeatAnswered(t *testing.T) {
	e := newEventEnv(t, Options{})
	ws := e.connectEvents()
	want := exampleFrame(t, "websocket_heartbeat_frames.json", "server_replies")
	// Frames that are not the JSON heartbeat get no answer.
	for _, junk := range []string{"heartbeat", `{"module":"ping"}`, `not json`} {
		if err := websocket.Message.Send(ws, junk); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		sendHeartbeat(t, ws)
		f := readFrame(t, ws)
		var got map[string]any
		_ = json.Unmarshal([]byte(f.raw), &got)
		if !jsonEqual(got, want) {
			t.Fatalf("heartbeat reply %s, want %v", f.raw, want)
		}
	}
	if st := e.fake.EventStats(); st.WebSocketHeartbeats != 2 || st.WebSocketIgnored != 3 || st.WebSocketAccepted != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestWebSocketDeliversEventsInOrderToEveryClient(t *testing.T) {
	e := newEventEnv(t, Options{})
	clients := []*websocket.Conn{e.connectEvents(), e.connectEvents()}
	if n := e.fake.EventConnections(); n != 2 {
		t.Fatalf("EventConnections = %d, want 2", n)
	}
	meetingLife(t, e.fake, e.fake.Users()[0].ID, 2, testNow.Add(-time.Hour))
	meetingLife(t, e.fake, e.fake.Users()[1].ID, 9, testNow.Add(-time.Hour))
	e.fake.EmitRaw([]byte(`{"event":"meeting.deleted"`))
	events := e.fake.Events()
	wantKeys := shape(t, readExample(t, "websocket_message_frame.json"))
	for i, ws := range clients {
		for j, ev := range events {
			f := readFrame(t, ws)
			if f.Module != "message" || f.Content != string(ev.Body) {
				t.Fatalf("client %d frame %d: %s, want the message of %s", i, j, f.raw, ev.Body)
			}
			if got := shape(t, []byte(f.raw)); !maps.Equal(got, wantKeys) {
				t.Errorf("client %d frame %d keys %v, want %v", i, j, got, wantKeys)
			}
		}
	}
	st := e.fake.EventStats()
	if n := len(events); st.WebSocketMessages != 2*n || st.WebSocketFrames != 2*n+2 {
		t.Errorf("stats %+v for %d events", st, n)
	}
}

func TestWebSocketDoesNotDeliverEventsMissedWhileDisconnected(t *testing.T) {
	e := newEventEnv(t, Options{})
	host := e.fake.Users()[0].ID
	uuid, err := e.fake.StartMeeting(MeetingStart{HostID: host}) // nobody connected
	if err != nil {
		t.Fatal(err)
	}
	ws := e.connectEvents()
	first, err := e.fake.JoinParticipant(uuid, Participant{})
	if err != nil {
		t.Fatal(err)
	}
	// Read the join before closing: a close wins over frames still queued,
	// and the count below needs this one delivered.
	if f := readFrame(t, ws); f.Content != string(e.fake.Events()[1].Body) {
		t.Fatalf("got %s, want the participant_joined", f.raw)
	}
	_ = ws.Close()
	waitFor(t, "the server to see the client go", func() bool { return e.fake.EventConnections() == 0 })
	if err := e.fake.LeaveParticipant(uuid, first, time.Time{}); err != nil { // missed
		t.Fatal(err)
	}
	ws = e.connectEvents()
	if _, err := e.fake.EndMeeting(uuid, time.Time{}); err != nil {
		t.Fatal(err)
	}
	evs := e.fake.Events()
	if len(evs) != 4 {
		t.Fatalf("%d events", len(evs))
	}
	if f := readFrame(t, ws); f.Content != string(evs[3].Body) {
		t.Errorf("after reconnecting got %s, want only the later meeting.ended", f.raw)
	}
	sendHeartbeat(t, ws)
	if f := readFrame(t, ws); f.Module != "heartbeat" {
		t.Errorf("got %s, want the heartbeat reply: nothing else was queued", f.raw)
	}
	if st := e.fake.EventStats(); st.WebSocketUndelivered != 2 || st.WebSocketMessages != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestWebSocketIdleTimeout(t *testing.T) {
	cases := []struct {
		name    string
		timeout time.Duration // option
		idle    time.Duration // effective; 0: never
	}{
		{"default 90s", 0, DefaultWebSocketIdleTimeout},
		{"configured 30s", 30 * time.Second, 30 * time.Second},
		{"disabled", -1, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEventEnv(t, Options{WebSocketIdleTimeout: c.timeout})
			ws := e.connectEvents()
			if c.idle == 0 {
				e.clock.Advance(24 * time.Hour)
				waitSweeps(t, e.fake, 2)
				if e.fake.EventConnections() != 1 {
					t.Fatal("closed although the idle timeout is off")
				}
				return
			}
			e.clock.Advance(c.idle - time.Second)
			waitSweeps(t, e.fake, 2)
			sendHeartbeat(t, ws) // in time: the idle clock restarts
			if f := readFrame(t, ws); f.Module != "heartbeat" {
				t.Fatalf("got %s", f.raw)
			}
			e.clock.Advance(c.idle - time.Second)
			waitSweeps(t, e.fake, 2)
			if e.fake.EventConnections() != 1 {
				t.Fatal("closed before the idle timeout since the last heartbeat")
			}
			e.clock.Advance(time.Second)
			wantClosed(t, ws)
			if st := e.fake.EventStats(); st.WebSocketClosedIdle != 1 || st.WebSocketConnections != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestWebSocketClosesOnTokenExpiry(t *testing.T) {
	cases := []struct {
		name string
		kill func(t *testing.T, e *env)
	}{
		{"expiry", func(t *testing.T, e *env) {
			e.clock.Advance(DefaultTokenLifetime - time.Second)
			waitSweeps(t, e.fake, 2)
			if e.fake.EventConnections() != 1 {
				t.Fatal("closed before the token expired")
			}
			e.clock.Advance(time.Second)
		}},
		{"revocation", func(_ *testing.T, e *env) { e.fake.RevokeTokens() }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEventEnv(t, Options{WebSocketCloseOnTokenExpiry: true, WebSocketIdleTimeout: -1})
			ws := e.connectEvents()
			c.kill(t, e)
			f := readFrame(t, ws)
			if f.Module != "build_connection" || f.Success == nil || *f.Success || f.Content != "Invalid Token" {
				t.Errorf("frame %s, want build_connection failure Invalid Token", f.raw)
			}
			wantClosed(t, ws)
			if st := e.fake.EventStats(); st.WebSocketClosedToken != 1 {
				t.Errorf("stats %+v", st)
			}
		})
	}
	t.Run("off by default", func(t *testing.T) {
		e := newEventEnv(t, Options{WebSocketIdleTimeout: -1})
		e.connectEvents()
		e.clock.Advance(2 * DefaultTokenLifetime)
		waitSweeps(t, e.fake, 2)
		if e.fake.EventConnections() != 1 {
			t.Fatal("closed on token expiry without WebSocketCloseOnTokenExpiry")
		}
	})
}

func TestDropEventConnections(t *testing.T) {
	e := newEventEnv(t, Options{})
	a, b := e.connectEvents(), e.connectEvents()
	if n := e.fake.DropEventConnections(); n != 2 {
		t.Fatalf("DropEventConnections = %d, want 2", n)
	}
	if n := e.fake.EventConnections(); n != 0 {
		t.Fatalf("EventConnections = %d right after the drop", n)
	}
	wantClosed(t, a)
	wantClosed(t, b)
	uuid, err := e.fake.StartMeeting(MeetingStart{HostID: e.fake.Users()[0].ID}) // lost
	if err != nil {
		t.Fatal(err)
	}
	c := e.connectEvents()
	if _, err := e.fake.EndMeeting(uuid, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if f := readFrame(t, c); f.Content != string(e.fake.Events()[1].Body) {
		t.Errorf("after reconnecting got %s", f.raw)
	}
	if st := e.fake.EventStats(); st.WebSocketDropped != 2 || st.WebSocketAccepted != 3 || st.WebSocketUndelivered != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestWebSocketDisconnectStormLeavesNoGoroutines(t *testing.T) {
	e := newEventEnv(t, Options{})
	tok := e.token()
	base := runtime.NumGoroutine()
	for i := range 50 {
		ws := e.dialEvents(tok)
		readFrame(t, ws)
		if i%2 == 0 {
			e.fake.DropEventConnections()
		} else {
			_ = ws.Close() // the client goes
		}
		wantClosed(t, ws)
		_ = ws.Close()
		waitFor(t, "the server to forget the connection", func() bool { return e.fake.EventConnections() == 0 })
	}
	waitFor(t, "goroutines back to the baseline", func() bool { return runtime.NumGoroutine() <= base })
	if st := e.fake.EventStats(); st.WebSocketAccepted != 50 || st.WebSocketDropped != 25 {
		t.Errorf("stats %+v", st)
	}
}

func TestWebSocketHandshakeFaultAndRawFrames(t *testing.T) {
	e := newEventEnv(t, Options{})
	e.fake.InjectFault(Fault{Kind: FaultServerError, Status: 503, Path: "/ws", Count: 1})
	tok := e.token()
	if _, err := websocket.Dial(e.fake.WebSocketURL(e.srv.URL)+"&access_token="+tok, "", e.srv.URL); err == nil {
		t.Fatal("dial succeeded through a 503")
	}
	ws := e.connectEvents()
	if n := e.fake.CallCount(EndpointEvents); n != 2 {
		t.Errorf("CallCount(EndpointEvents) = %d, want 2", n)
	}
	const raw = `{"event":"meeting.started","payload":{}}` // unwrapped, as some samples expect
	if n := e.fake.SendWebSocketFrame([]byte(raw)); n != 1 {
		t.Fatalf("SendWebSocketFrame reached %d clients", n)
	}
	if f := readFrame(t, ws); f.raw != raw {
		t.Errorf("got %s, want %s", f.raw, raw)
	}
}

func TestCloseEndsEventConnections(t *testing.T) {
	e := newEventEnv(t, Options{})
	ws := e.connectEvents()
	e.fake.Close()
	wantClosed(t, ws)
	tok := e.token()
	ws2, err := websocket.Dial(e.fake.WebSocketURL(e.srv.URL)+"&access_token="+tok, "", e.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer ws2.Close()
	wantClosed(t, ws2)
	if _, err := e.fake.StartMeeting(MeetingStart{HostID: e.fake.Users()[0].ID}); err != nil {
		t.Fatal(err) // the live API keeps working after Close
	}
}
