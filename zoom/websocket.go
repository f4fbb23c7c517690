package zoom

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"golang.org/x/net/websocket"

	"github.com/zoomexporter/zoom_exporter/internal/sanitize"
)

// Event stream defaults (README, "Zoom events"; zoom/testdata/events/websocket.md).
const (
	// DefaultHeartbeatInterval is Zoom's documented heartbeat period.
	DefaultHeartbeatInterval = 30 * time.Second
	// DefaultReadTimeout: Zoom answers every heartbeat, so a connection
	// silent for two heartbeats and some slack is dead.
	DefaultReadTimeout = 2*DefaultHeartbeatInterval + 15*time.Second
	// DefaultDialTimeout bounds connecting, TLS and the handshake.
	DefaultDialTimeout = 30 * time.Second
	// DefaultMaxFrame bounds one frame; Zoom's events are under 2 KiB.
	DefaultMaxFrame = maxEventBytes
	// DefaultRenewBefore: the stream moves to a new token this long before
	// the old one expires (the token cache renews its own a minute before).
	DefaultRenewBefore = 5 * time.Minute
	// DefaultStableAfter: a connection accepted for this long resets the
	// reconnect backoff.
	DefaultStableAfter = time.Minute
	// Reconnect backoff: from backoffBase, doubling, to backoffMax.
	backoffBase = time.Second
	backoffMax  = time.Minute
	// writeTimeout bounds one heartbeat write.
	writeTimeout = 10 * time.Second
)

// heartbeatFrame is the client heartbeat Zoom documents.
const heartbeatFrame = `{"module":"heartbeat"}`

// TokenSource gives the event stream the app's access token. *Client is
// one: the stream shares the REST client's token cache.
type TokenSource interface {
	// AccessToken returns a token and when it expires (by the same clock
	// as the stream's Now; the zero time when unknown).
	AccessToken(ctx context.Context) (token string, expires time.Time, err error)
	// InvalidateToken drops token from the cache, so that the next
	// AccessToken returns a new one.
	InvalidateToken(token string)
}

// EventStreamConfig configures an EventStream. Zero values get defaults.
type EventStreamConfig struct {
	// URL is the endpoint URL of the app's WebSocket event subscription,
	// wss://ws.zoom.us/ws?subscriptionId=...; the stream appends the
	// access token, so the URL must not carry one.
	URL       string
	Tokens    TokenSource  // required
	Handler   EventHandler // required
	AccountID string       // when set, events of another account are ignored (counted)
	Now       func() time.Time
	Logger    log.Logger
	Metrics   *EventMetrics // default: unregistered metrics

	HeartbeatInterval time.Duration // default DefaultHeartbeatInterval
	ReadTimeout       time.Duration // no frame for this long: reconnect (default DefaultReadTimeout)
	DialTimeout       time.Duration // default DefaultDialTimeout
	MaxFrame          int           // default DefaultMaxFrame
	RenewBefore       time.Duration // default DefaultRenewBefore
	StableAfter       time.Duration // default DefaultStableAfter
	// Backoff is the wait before the attempt-th reconnect in a row
	// (attempt >= 1). Default: 1s doubling to 1m, with jitter.
	Backoff   func(attempt int) time.Duration
	TLSConfig *tls.Config // default: the system's roots
	LogEvery  time.Duration
}

// EventStream keeps one WebSocket to Zoom's event subscription open and
// hands every event to the handler.
//
// Zoom never delivers events that happen while no connection is open, so
// the stream avoids gaps of its own making: a token about to expire is
// replaced by opening a connection with a new token and closing the old
// one only once the new one is accepted (make before break). Connected
// and ConnectedSince say since when the coverage has been unbroken.
type EventStream struct {
	conf     EventStreamConfig
	base     *url.URL // conf.URL, parsed
	shownURL string   // what logs and pages show
	origin   string
	intake   intake
	logs     *logLimiter

	mu         sync.Mutex
	connected  bool
	since      time.Time
	lastErr    string
	reconnects int
}

// StreamStatus describes the stream for a status page: never the token.
type StreamStatus struct {
	URL            string // the endpoint, access_token=REDACTED
	Connected      bool
	ConnectedSince time.Time // start of the unbroken coverage; zero when not connected
	LastError      string    // why the last connection or attempt ended; redacted and bounded
	Reconnects     int
}

// NewEventStream checks conf and returns a stream; Run connects it.
func NewEventStream(conf EventStreamConfig) (*EventStream, error) {
	if conf.Tokens == nil {
		return nil, errors.New("zoom event stream: no access token source")
	}
	if conf.Handler == nil {
		return nil, errors.New("zoom event stream: no event handler")
	}
	u, err := url.Parse(conf.URL)
	if err != nil || (u.Scheme != "wss" && u.Scheme != "ws") || u.Host == "" {
		// err names the URL: not quoted, it may hold a token.
		return nil, errors.New("zoom event stream: the WebSocket URL must be an absolute wss:// URL, such as wss://ws.zoom.us/ws?subscriptionId=... from the app's event subscription page")
	}
	if u.User != nil {
		return nil, errors.New("zoom event stream: the WebSocket URL must not carry user information")
	}
	if q, err := url.ParseQuery(u.RawQuery); err != nil || q.Has("access_token") {
		return nil, errors.New("zoom event stream: the WebSocket URL must not carry an access_token (the exporter appends a fresh one); give the URL from the app's event subscription page as it is")
	}
	u.Fragment = ""
	if conf.Now == nil {
		conf.Now = time.Now
	}
	if conf.Logger == nil {
		conf.Logger = log.NewNopLogger()
	}
	if conf.Metrics == nil {
		conf.Metrics = NewEventMetrics(nil)
	}
	if conf.HeartbeatInterval <= 0 {
		conf.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if conf.ReadTimeout <= 0 {
		conf.ReadTimeout = DefaultReadTimeout
	}
	if conf.DialTimeout <= 0 {
		conf.DialTimeout = DefaultDialTimeout
	}
	if conf.MaxFrame <= 0 {
		conf.MaxFrame = DefaultMaxFrame
	}
	if conf.RenewBefore <= 0 {
		conf.RenewBefore = DefaultRenewBefore
	}
	if conf.StableAfter <= 0 {
		conf.StableAfter = DefaultStableAfter
	}
	if conf.Backoff == nil {
		conf.Backoff = defaultBackoff
	}
	if conf.LogEvery <= 0 {
		conf.LogEvery = time.Minute
	}
	conf.Metrics.initTransport(TransportWebSocket)
	originScheme := "https"
	if u.Scheme == "ws" {
		originScheme = "http"
	}
	return &EventStream{
		conf:     conf,
		base:     u,
		shownURL: appendToken(u, "REDACTED"),
		origin:   originScheme + "://" + u.Host,
		intake:   intake{transport: TransportWebSocket, accountID: conf.AccountID, metrics: conf.Metrics, now: conf.Now},
		logs:     newLogLimiter(conf.LogEvery, conf.Now),
	}, nil
}

// defaultBackoff waits 1s, 2s, 4s ... up to 1m, each time between half and
// all of it, so that many exporters do not reconnect in step.
func defaultBackoff(attempt int) time.Duration {
	d := min(backoffBase<<min(max(attempt-1, 0), 16), backoffMax)
	return d/2 + rand.N(d/2+1)
}

// appendToken appends the access token to the URL, as Zoom's samples do.
func appendToken(u *url.URL, token string) string {
	v := *u
	if v.RawQuery != "" {
		v.RawQuery += "&"
	}
	v.RawQuery += "access_token=" + url.QueryEscape(token)
	return v.String()
}

// Connected reports whether a connection is open and accepted by Zoom.
func (s *EventStream) Connected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connected
}

// ConnectedSince is the start of the current unbroken coverage: events
// since then have all been delivered. Zero when not connected. It changes
// whenever there was a gap, so live state built on the events is
// trustworthy only from ConnectedSince on.
func (s *EventStream) ConnectedSince() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.connected {
		return time.Time{}
	}
	return s.since
}

// Status describes the stream for a status page.
func (s *EventStream) Status() StreamStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := StreamStatus{URL: s.shownURL, Connected: s.connected, LastError: s.lastErr, Reconnects: s.reconnects}
	if s.connected {
		st.ConnectedSince = s.since
	}
	return st
}

func (s *EventStream) setConnected(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if on && !s.connected {
		s.since = s.conf.Now()
	}
	s.connected = on
	if on {
		s.conf.Metrics.connected.Set(1)
	} else {
		s.conf.Metrics.connected.Set(0)
	}
}

func (s *EventStream) noteError(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastErr = err.Error()
}

func (s *EventStream) countReconnect() {
	s.conf.Metrics.reconnects.Inc()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reconnects++
}

// Run connects, and reconnects until ctx is done, then closes the
// connection and returns. It never gives up: a lost connection is
// reconnected with backoff, with a new token when Zoom refused the old.
func (s *EventStream) Run(ctx context.Context) {
	var (
		cur, next *wsSession // the connection; the one replacing it during a handover
		attempt   int        // failed connections in a row
		handovers int        // failed handovers in a row
		promoted  bool       // cur replaced a connection Zoom closed during a handover
		retry     = time.NewTimer(0)
		renew     = time.NewTimer(0)
	)
	stopTimer(renew)
	defer func() {
		retry.Stop()
		renew.Stop()
		for _, sess := range []*wsSession{cur, next} {
			if sess != nil {
				sess.close()
			}
		}
		s.setConnected(false)
	}()

	// lost ends cur and schedules the next attempt.
	lost := func(sess *wsSession, why error) {
		promoted = false
		sess.close()
		s.setConnected(false)
		if sess.tokenRefused {
			s.conf.Tokens.InvalidateToken(sess.token)
		}
		if !sess.confirmedAt.IsZero() && s.conf.Now().Sub(sess.confirmedAt) >= s.conf.StableAfter {
			attempt = 0
		}
		attempt++
		s.countReconnect()
		s.noteError(why)
		wait := s.conf.Backoff(attempt)
		s.warn("lost", "Zoom event WebSocket closed; reconnecting", "url", s.shownURL, "err", why, "attempt", attempt, "wait", wait)
		retry.Reset(wait)
	}
	// accepted makes sess the connection and plans its token handover.
	accepted := func(sess *wsSession) {
		sess.confirmedAt = s.conf.Now()
		s.setConnected(true)
		renew.Reset(s.renewIn(sess))
	}

	for {
		var retryC, renewC <-chan time.Time
		var curEnded, curOK, nextEnded, nextOK <-chan struct{}
		if cur == nil {
			retryC = retry.C
		} else {
			curEnded = cur.ended
			if cur.confirmedAt.IsZero() {
				curOK = cur.confirmed
			} else if next == nil {
				renewC = renew.C
			}
		}
		if next != nil {
			nextEnded, nextOK = next.ended, next.confirmed
		}

		select {
		case <-ctx.Done():
			return

		case <-retryC:
			sess, err := s.connect(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				attempt++
				s.countReconnect()
				s.noteError(err)
				wait := s.conf.Backoff(attempt)
				s.warn("connect", "Cannot connect to Zoom's event WebSocket; retrying", "url", s.shownURL, "err", err, "attempt", attempt, "wait", wait)
				retry.Reset(wait)
				continue
			}
			cur = sess

		case <-curOK:
			accepted(cur)
			if promoted {
				promoted, handovers = false, 0
				s.conf.Metrics.handovers.Inc()
				level.Debug(s.conf.Logger).Log("msg", "Moved Zoom's event WebSocket to a new access token (Zoom closed the old connection)", "url", s.shownURL)
				continue
			}
			s.logLimited("connected", level.Info, "Connected to Zoom's event WebSocket", "url", s.shownURL)

		case <-curEnded:
			if next != nil {
				// Zoom may close the old connection as the new one opens:
				// the new one was open before, so no event fell between.
				cur.close()
				cur, next = next, nil
				promoted = cur.confirmedAt.IsZero()
				continue
			}
			lost(cur, cur.err)
			cur = nil

		case <-renewC:
			// Make before break: a new token, a new connection; the old
			// one closes once the new one is accepted.
			s.conf.Tokens.InvalidateToken(cur.token)
			sess, err := s.connect(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				handovers++
				wait := s.conf.Backoff(handovers)
				s.warn("handover", "Cannot open a connection with a new token to Zoom's event WebSocket; the current one stays open", "err", err, "wait", wait)
				renew.Reset(wait)
				continue
			}
			next = sess

		case <-nextOK:
			old := cur
			cur, next = next, nil
			old.close()
			handovers = 0
			s.conf.Metrics.handovers.Inc()
			accepted(cur)
			level.Debug(s.conf.Logger).Log("msg", "Moved Zoom's event WebSocket to a new access token", "url", s.shownURL)

		case <-nextEnded:
			next.close()
			if next.tokenRefused {
				s.conf.Tokens.InvalidateToken(next.token)
			}
			handovers++
			wait := s.conf.Backoff(handovers)
			s.warn("handover", "A connection with a new token to Zoom's event WebSocket ended before Zoom accepted it; the current one stays open", "err", next.err, "wait", wait)
			next = nil
			renew.Reset(wait)
		}
	}
}

// renewIn is when to hand sess over to a new token: RenewBefore its token
// expires, or halfway through a token that lives less than that.
func (s *EventStream) renewIn(sess *wsSession) time.Duration {
	if sess.expires.IsZero() {
		return 1<<63 - 1 // never: the server will say when the token is refused
	}
	now := s.conf.Now()
	lead := s.conf.RenewBefore
	if life := sess.expires.Sub(now); lead >= life {
		lead = life / 2
	}
	return max(sess.expires.Add(-lead).Sub(now), 0)
}

func stopTimer(t *time.Timer) {
	t.Stop()
	select {
	case <-t.C:
	default:
	}
}

// warn logs at warn level once per LogEvery for each kind, at debug
// otherwise: a disconnect storm does not flood the log.
func (s *EventStream) warn(kind string, kv ...any) { s.logLimited(kind, level.Warn, kv...) }

func (s *EventStream) logLimited(kind string, at func(log.Logger) log.Logger, kv ...any) {
	kv = append([]any{"msg"}, kv...)
	if ok, suppressed := s.logs.allow(kind); ok {
		at(s.conf.Logger).Log(append(kv, "similar_logged_at_debug", suppressed)...)
		return
	}
	level.Debug(s.conf.Logger).Log(kv...)
}

// connect gets a token, opens a connection and starts its reader and its
// heartbeat. The connection counts as accepted on the first frame Zoom
// sends that is not a refusal (Zoom answers the first heartbeat at once).
func (s *EventStream) connect(ctx context.Context) (*wsSession, error) {
	token, expires, err := s.conf.Tokens.AccessToken(ctx)
	if err != nil {
		return nil, fmt.Errorf("access token: %w", err)
	}
	if !expires.IsZero() && expires.Sub(s.conf.Now()) < s.conf.RenewBefore {
		// Nearly spent (the cache renews later than we would): a new one,
		// rather than a handover minutes from now.
		s.conf.Tokens.InvalidateToken(token)
		if token, expires, err = s.conf.Tokens.AccessToken(ctx); err != nil {
			return nil, fmt.Errorf("access token: %w", err)
		}
	}
	if token == "" {
		return nil, errors.New("access token: the token source gave an empty token")
	}
	config, err := websocket.NewConfig(appendToken(s.base, token), s.origin)
	if err != nil {
		return nil, fmt.Errorf("connecting: %s", sanitize.Message(redact(err.Error(), token)))
	}
	config.TlsConfig = s.conf.TLSConfig
	config.Dialer = &net.Dialer{Timeout: s.conf.DialTimeout}
	dialCtx, cancel := context.WithTimeout(ctx, s.conf.DialTimeout)
	defer cancel()
	ws, err := config.DialContext(dialCtx)
	if err != nil {
		// The library's error embeds the URL, token and all: only the
		// cause is kept, redacted again in case it quotes the URL too.
		var de *websocket.DialError
		if errors.As(err, &de) && de.Err != nil {
			err = de.Err
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			return nil, fmt.Errorf("connecting: no connection within %s", s.conf.DialTimeout)
		case errors.Is(err, websocket.ErrBadStatus):
			return nil, errors.New("connecting: the server answered the WebSocket handshake with an HTTP status other than 101 Switching Protocols (a wrong URL, or a subscription Zoom does not know)")
		}
		return nil, fmt.Errorf("connecting: %s", sanitize.Message(redact(err.Error(), token)))
	}
	ws.MaxPayloadBytes = s.conf.MaxFrame
	sess := &wsSession{
		ws:        ws,
		token:     token,
		expires:   expires,
		confirmed: make(chan struct{}),
		ended:     make(chan struct{}),
		stop:      make(chan struct{}),
	}
	sess.wg.Add(2)
	go s.read(sess)
	go s.heartbeat(sess)
	return sess, nil
}

// wsSession is one connection, its reader and its heartbeat.
type wsSession struct {
	ws      *websocket.Conn
	token   string
	expires time.Time

	confirmed   chan struct{} // closed on Zoom's first frame that is not a refusal
	confirmOnce sync.Once
	confirmedAt time.Time // set by Run when it sees confirmed

	ended        chan struct{} // closed when the reader returns
	err          error         // why; set before ended is closed
	tokenRefused bool          // Zoom refused the token; set before ended is closed

	stop      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// close closes the connection and waits for its goroutines.
func (c *wsSession) close() {
	c.closeOnce.Do(func() {
		close(c.stop)
		// A heartbeat stuck on a full socket holds the write lock Close
		// needs: let it fail first.
		_ = c.ws.SetWriteDeadline(time.Now().Add(time.Second))
		_ = c.ws.Close()
	})
	c.wg.Wait()
}

func (c *wsSession) confirm() { c.confirmOnce.Do(func() { close(c.confirmed) }) }

// heartbeat sends Zoom's heartbeat at once, then every HeartbeatInterval.
func (s *EventStream) heartbeat(c *wsSession) {
	defer c.wg.Done()
	tick := time.NewTicker(s.conf.HeartbeatInterval)
	defer tick.Stop()
	for {
		_ = c.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
		if err := websocket.Message.Send(c.ws, heartbeatFrame); err != nil {
			// The reader sees the connection fail too, and says why.
			_ = c.ws.Close()
			return
		}
		select {
		case <-c.stop:
			return
		case <-tick.C:
		}
	}
}

// read reads frames until the connection fails, Zoom refuses it, or no
// frame comes for ReadTimeout.
func (s *EventStream) read(c *wsSession) {
	defer c.wg.Done()
	defer close(c.ended)
	for {
		_ = c.ws.SetReadDeadline(time.Now().Add(s.conf.ReadTimeout))
		var data []byte
		err := websocket.Message.Receive(c.ws, &data)
		if errors.Is(err, websocket.ErrFrameTooLarge) {
			// Skipped (the next Receive drains it), the connection kept.
			s.conf.Metrics.rejected.WithLabelValues(ReasonTooLarge).Inc()
			s.warn("frame", "Skipped a Zoom WebSocket frame larger than the bound", "max_bytes", s.conf.MaxFrame)
			continue
		}
		if err != nil {
			var ne net.Error
			switch {
			case errors.As(err, &ne) && ne.Timeout():
				c.err = fmt.Errorf("no frame from Zoom for %s (heartbeats unanswered)", s.conf.ReadTimeout)
			default:
				c.err = fmt.Errorf("reading: %s", sanitize.Message(redact(err.Error(), c.token)))
			}
			return
		}
		if refused := s.frame(c, data); refused != nil {
			c.err, c.tokenRefused = refused, true
			return
		}
	}
}

// zoomFrame is the envelope of every frame Zoom sends.
type zoomFrame struct {
	Module  string          `json:"module"`
	Success *bool           `json:"success"`
	Content json.RawMessage `json:"content"`
	Event   *string         `json:"event"` // a bare event, without the envelope
}

// tokenRefusals are the contents with which Zoom refuses a token
// (websocket.md section 5), compared in lower case.
var tokenRefusals = []string{"invalid token", "token is invalid", "token is empty"}

// frame handles one frame; it returns an error when Zoom refused the
// connection (any success:false, or a token refusal), which then ends.
func (s *EventStream) frame(c *wsSession, data []byte) error {
	var f zoomFrame
	if err := json.Unmarshal(data, &f); err != nil {
		s.rejectFrame("frame: not a JSON object: " + sanitize.Field(err.Error()))
		return nil
	}
	var content string
	contentIsString := json.Unmarshal(f.Content, &content) == nil
	// The whole content, never a part: an event whose topic says "Invalid
	// Token" is not a refusal.
	tokenRefused := false
	if contentIsString && f.Module != "message" {
		for _, r := range tokenRefusals {
			tokenRefused = tokenRefused || strings.EqualFold(strings.TrimSpace(content), r)
		}
	}
	if (f.Success != nil && !*f.Success) || tokenRefused {
		return fmt.Errorf("zoom refused the connection (module %q, content %q): reconnecting with a new token",
			sanitize.Field(f.Module), sanitize.Field(redact(content, c.token)))
	}
	c.confirm()

	switch {
	case f.Module == "message":
		body := []byte(content)
		if !contentIsString {
			body = f.Content // an object, as some samples read it
		}
		s.deliver(body)
	case f.Module == "" && f.Event != nil:
		s.deliver(data) // a bare event
	case f.Module == "heartbeat", f.Module == "build_connection":
	default:
		level.Debug(s.conf.Logger).Log("msg", "Ignored a Zoom WebSocket frame of an unknown module", "module", sanitize.Field(f.Module))
	}
	return nil
}

func (s *EventStream) deliver(body []byte) {
	if len(bytes.TrimSpace(body)) == 0 {
		s.rejectFrame("message frame without content")
		return
	}
	e, err := DecodeEvent(body)
	if err != nil {
		reason := ReasonMalformed
		var ee *EventError
		if errors.As(err, &ee) {
			reason = ee.Reason
		}
		s.conf.Metrics.rejected.WithLabelValues(reason).Inc()
		s.warn("event", "Refused an event from Zoom's WebSocket", "err", err)
		return
	}
	if s.intake.accept(e) {
		s.conf.Handler.HandleEvent(TransportWebSocket, e)
	}
}

func (s *EventStream) rejectFrame(why string) {
	s.conf.Metrics.rejected.WithLabelValues(ReasonMalformed).Inc()
	s.warn("frame", "Refused a frame from Zoom's WebSocket", "why", why)
}

// accessTokenParam matches the token in a URL, however it is quoted.
var accessTokenParam = regexp.MustCompile(`(?i)(access_token(?:=|%3D))[A-Za-z0-9._~%+/=-]*`)

// redact removes the access token from text: the token itself, escaped
// or not, and whatever follows access_token= in a URL.
func redact(text, token string) string {
	if token != "" {
		text = strings.ReplaceAll(text, token, "REDACTED")
		if escaped := url.QueryEscape(token); escaped != token {
			text = strings.ReplaceAll(text, escaped, "REDACTED")
		}
	}
	return accessTokenParam.ReplaceAllString(text, "${1}REDACTED")
}

// The Client is the stream's token source in the exporter.
var _ TokenSource = (*Client)(nil)
