package zoomfake

// The WebSocket event endpoint, GET /ws?subscriptionId=<id>&access_token=<token>,
// with the frames of zoom/testdata/events/websocket.md: after the handshake a
// build_connection frame (success, or failure and close), a heartbeat reply
// to each client heartbeat, and one message frame per event whose content is
// the event JSON as a string. Events emitted while a client is not connected
// are never delivered to it. Tokens are never logged nor echoed.

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/websocket"
)

// Frame modules.
const (
	moduleBuildConnection = "build_connection"
	moduleHeartbeat       = "heartbeat"
	moduleMessage         = "message"
)

const (
	wsWriteTimeout = 10 * time.Second // real time: bounds a write to a stuck client
	wsMaxFrame     = 64 << 10         // client frames are heartbeats: a few bytes
)

// wsFrame is the envelope of every server frame (websocket.md section 4).
type wsFrame struct {
	Module  string   `json:"module"`
	Success bool     `json:"success"`
	Content string   `json:"content"`
	Header  struct{} `json:"header"`
}

func frameBytes(module string, success bool, content string) []byte {
	return marshalNoEscape(wsFrame{Module: module, Success: success, Content: content})
}

// outFrame is a frame waiting for a client's writer.
type outFrame struct {
	data    []byte
	message bool // an event delivery
	beat    bool // a heartbeat reply
}

// wsConn is one client connection. Its writer goroutine owns every write
// after the handshake; the session goroutine reads.
type wsConn struct {
	ws       *websocket.Conn
	token    string // checked for expiry; never logged
	out      chan outFrame
	quit     chan struct{}
	done     chan struct{} // writer finished
	once     sync.Once
	final    []byte // frame written before a graceful close
	abrupt   bool   // close without a close frame, as a network failure
	lastBeat time.Time
}

// stop asks the writer to close the connection; the first call wins.
func (c *wsConn) stop(final []byte, abrupt bool) {
	c.once.Do(func() {
		c.final, c.abrupt = final, abrupt
		close(c.quit)
	})
}

func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request) {
	if _, ok := w.(http.Hijacker); !ok { // HTTP/2: no upgrade possible
		writeReply(w, r, errorReply(http.StatusBadRequest, 400, "WebSocket upgrade needs HTTP/1.1"))
		return
	}
	websocket.Server{
		// Zoom's clients are programs: no Origin check.
		Handshake: func(*websocket.Config, *http.Request) error { return nil },
		Handler:   s.eventSession,
	}.ServeHTTP(w, r)
}

// eventSession runs one accepted WebSocket connection.
func (s *Server) eventSession(ws *websocket.Conn) {
	ws.MaxPayloadBytes = wsMaxFrame
	q := ws.Request().URL.Query()
	token := q.Get("access_token")
	if refusal := s.eventRefusal(q.Get("subscriptionId"), token); refusal != "" {
		s.hub.mu.Lock()
		s.hub.stats.WebSocketRefused++
		s.hub.stats.WebSocketFrames++
		s.hub.mu.Unlock()
		_ = ws.SetWriteDeadline(time.Now().Add(wsWriteTimeout))
		_ = websocket.Message.Send(ws, string(frameBytes(moduleBuildConnection, false, refusal)))
		_ = ws.Close()
		return
	}
	c := &wsConn{
		ws:    ws,
		token: token,
		out:   make(chan outFrame, s.opts.WebSocketBuffer),
		quit:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	if !s.registerConn(c) {
		_ = ws.Close()
		return
	}
	go s.writeLoop(c)
	for {
		var msg string
		err := websocket.Message.Receive(ws, &msg)
		if errors.Is(err, websocket.ErrFrameTooLarge) {
			s.countIgnored()
			continue // the rest of the frame is skipped by the next Receive
		}
		if err != nil {
			break
		}
		s.clientFrame(c, msg)
	}
	s.hub.mu.Lock()
	s.hub.removeLocked(c, nil, false)
	s.hub.mu.Unlock()
	<-c.done
}

// eventRefusal is the content of the build_connection failure frame for a
// connection request, or "".
func (s *Server) eventRefusal(subscription, token string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case token == "":
		return "token is empty" // verbatim from Zoom (websocket.md section 5)
	case !s.tokenValidLocked(token, s.now()):
		return s.opts.WebSocketInvalidToken
	case subscription != s.opts.SubscriptionID:
		// Zoom's answer is not published; this frame is our choice.
		return "Invalid subscriptionId"
	}
	return ""
}

func (s *Server) tokenValidLocked(token string, now time.Time) bool {
	t, ok := s.tokens[token]
	return ok && now.Before(t.expires)
}

// registerConn queues the success frame and adds c to the clients, unless
// the server is closed. Queuing first keeps build_connection ahead of every
// message.
func (s *Server) registerConn(c *wsConn) bool {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		h.stats.WebSocketRefused++
		return false
	}
	c.lastBeat = s.now()
	c.out <- outFrame{data: frameBytes(moduleBuildConnection, true, "")}
	h.conns[c] = struct{}{}
	h.stats.WebSocketAccepted++
	if !h.reaperRunning {
		h.reaperRunning = true
		h.wg.Add(1)
		go s.reap()
	}
	return true
}

// removeLocked forgets c at once (no more frames are queued for it) and
// stops its writer.
func (h *eventHub) removeLocked(c *wsConn, final []byte, abrupt bool) {
	delete(h.conns, c)
	c.stop(final, abrupt)
}

func (s *Server) writeLoop(c *wsConn) {
	defer close(c.done)
	for {
		select {
		case <-c.quit:
			s.closeConn(c)
			return
		case f := <-c.out:
			select {
			case <-c.quit: // a stop wins over frames still queued
				s.closeConn(c)
				return
			default:
			}
			// Counted before the write, so a client that has read a frame
			// finds it in the counters.
			s.hub.mu.Lock()
			s.hub.stats.WebSocketFrames++
			if f.message {
				s.hub.stats.WebSocketMessages++
			}
			if f.beat {
				s.hub.stats.WebSocketHeartbeats++
			}
			s.hub.mu.Unlock()
			_ = c.ws.SetWriteDeadline(time.Now().Add(wsWriteTimeout))
			if err := websocket.Message.Send(c.ws, string(f.data)); err != nil {
				s.hub.mu.Lock()
				s.hub.removeLocked(c, nil, true)
				s.hub.mu.Unlock()
			}
		}
	}
}

func (s *Server) closeConn(c *wsConn) {
	if c.abrupt {
		// A deadline in the past fails the close frame's write: the peer
		// sees the connection die, as on a network failure.
		_ = c.ws.SetDeadline(time.Unix(1, 0))
	} else {
		if c.final != nil {
			s.hub.mu.Lock()
			s.hub.stats.WebSocketFrames++
			s.hub.mu.Unlock()
			_ = c.ws.SetWriteDeadline(time.Now().Add(wsWriteTimeout))
			_ = websocket.Message.Send(c.ws, string(c.final))
		}
	}
	_ = c.ws.Close()
}

// clientFrame handles one frame from a client: only heartbeats mean
// anything.
func (s *Server) clientFrame(c *wsConn, msg string) {
	var f struct {
		Module string `json:"module"`
	}
	beat := json.Unmarshal([]byte(msg), &f) == nil && f.Module == moduleHeartbeat
	if !beat {
		s.countIgnored()
		return
	}
	now := s.now()
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, open := h.conns[c]; !open {
		return
	}
	c.lastBeat = now
	h.sendLocked(c, outFrame{data: frameBytes(moduleHeartbeat, true, "live"), beat: true})
}

func (s *Server) countIgnored() {
	s.hub.mu.Lock()
	s.hub.stats.WebSocketIgnored++
	s.hub.mu.Unlock()
}

// sendLocked queues f for c, disconnecting a client too far behind.
func (h *eventHub) sendLocked(c *wsConn, f outFrame) {
	select {
	case c.out <- f:
	default:
		h.stats.WebSocketOverflowed++
		h.removeLocked(c, nil, true)
	}
}

// deliverWebSocketLocked queues an event for every connected client.
func (s *Server) deliverWebSocketLocked(body []byte) {
	h := s.hub
	if len(h.conns) == 0 {
		h.stats.WebSocketUndelivered++
		return
	}
	f := outFrame{data: frameBytes(moduleMessage, true, string(body)), message: true}
	for c := range h.conns {
		h.sendLocked(c, f)
	}
}

// reap enforces the time rules of open connections against the injected
// clock, every EventPollInterval of real time, while any is open.
func (s *Server) reap() {
	h := s.hub
	defer h.wg.Done()
	t := time.NewTicker(s.opts.EventPollInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-h.ctx.Done():
			h.mu.Lock()
			h.reaperRunning = false
			h.mu.Unlock()
			return
		}
		if !s.sweep() {
			return
		}
	}
}

// sweep closes idle and (optionally) expired connections; false when none
// is left and the reaper stopped.
func (s *Server) sweep() bool {
	expiry := s.opts.WebSocketCloseOnTokenExpiry
	if expiry {
		s.mu.Lock() // the token table; taken before the hub's lock
		defer s.mu.Unlock()
	}
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	now := s.now()
	idle := s.opts.WebSocketIdleTimeout
	for c := range h.conns {
		switch {
		case idle > 0 && now.Sub(c.lastBeat) >= idle:
			h.stats.WebSocketClosedIdle++
			h.removeLocked(c, nil, false)
		case expiry && !s.tokenValidLocked(c.token, now):
			h.stats.WebSocketClosedToken++
			h.removeLocked(c, frameBytes(moduleBuildConnection, false, s.opts.WebSocketInvalidToken), false)
		}
	}
	h.sweeps++
	if len(h.conns) == 0 {
		h.reaperRunning = false
		return false
	}
	return true
}

// EventConnections returns how many WebSocket clients are connected.
func (s *Server) EventConnections() int {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return len(s.hub.conns)
}

// DropEventConnections cuts every WebSocket connection without a close
// frame, as a network failure or a Zoom restart would, and returns how
// many it cut. Clients may connect again at once.
func (s *Server) DropEventConnections() int {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	n := len(h.conns)
	for c := range h.conns {
		h.removeLocked(c, nil, true)
	}
	h.stats.WebSocketDropped += n
	return n
}

// SendWebSocketFrame sends frame, as is, to every connected client (bad
// frames, unknown modules, unwrapped events) and returns how many clients
// it was queued for.
func (s *Server) SendWebSocketFrame(frame []byte) int {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	n := len(h.conns)
	f := outFrame{data: append([]byte(nil), frame...)}
	for c := range h.conns {
		h.sendLocked(c, f)
	}
	return n
}

// WebSocketURL is the endpoint URL Zoom's app console shows, on this fake:
// baseURL is the fake's http(s) base URL (httptest.Server.URL). Clients
// append "&access_token=<token>".
func (s *Server) WebSocketURL(baseURL string) string {
	u := strings.TrimSuffix(baseURL, "/")
	switch {
	case strings.HasPrefix(u, "https://"):
		u = "wss://" + strings.TrimPrefix(u, "https://")
	case strings.HasPrefix(u, "http://"):
		u = "ws://" + strings.TrimPrefix(u, "http://")
	}
	return u + "/ws?subscriptionId=" + s.opts.SubscriptionID
}
