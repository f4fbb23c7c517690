package zoom

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/zoomexporter/zoom_exporter/internal/sanitize"
)

// Webhook defaults (README, "Zoom events").
const (
	// DefaultWebhookMaxBody bounds a webhook body; Zoom's are under 2 KiB.
	DefaultWebhookMaxBody = 64 << 10
	// DefaultWebhookMaxSkew is how far x-zm-request-timestamp may be from
	// the exporter's clock, either way: a captured request replays for
	// that long at most.
	DefaultWebhookMaxSkew = 5 * time.Minute
	// DefaultWebhookQueue is how many accepted events may wait for the
	// handler.
	DefaultWebhookQueue = 1024
	// maxPlainToken bounds endpoint.url_validation's plainToken (Zoom's
	// are 22 characters).
	maxPlainToken = 256
	// queueFullRetryAfter is said to Zoom with a 503; Zoom documents its
	// own schedule (5, 20 then 60 minutes) and may ignore it.
	queueFullRetryAfter = "60"
)

// WebhookConfig configures a WebhookHandler. Zero values get the defaults.
type WebhookConfig struct {
	// SecretToken is the Secret Token of the app's event subscription
	// (not the OAuth client secret). Required; never logged.
	SecretToken string
	MaxBody     int64         // default DefaultWebhookMaxBody
	MaxSkew     time.Duration // default DefaultWebhookMaxSkew
	QueueSize   int           // default DefaultWebhookQueue
	// AccountID, when set, is the only account whose events are handed on;
	// the others are counted (reason other_account) and ignored.
	AccountID string
	Handler   EventHandler // required
	Now       func() time.Time
	Logger    log.Logger
	Metrics   *EventMetrics // default: unregistered metrics
	// LogEvery bounds the log: a refusal of one reason is logged at warn
	// once per LogEvery, the others at debug (default 1m).
	LogEvery time.Duration
}

// WebhookHandler serves Zoom's webhook POSTs: it verifies each request,
// answers at once, and hands the events to the handler from a bounded
// queue that Run drains.
type WebhookHandler struct {
	conf   WebhookConfig
	secret []byte
	queue  chan Event
	intake intake
	logs   *logLimiter
}

// NewWebhookHandler checks conf and returns the handler. Run must be
// running for the queued events to reach conf.Handler.
func NewWebhookHandler(conf WebhookConfig) (*WebhookHandler, error) {
	if conf.SecretToken == "" {
		// Anyone could sign with an empty key.
		return nil, errors.New("zoom webhook: no secret token: the Secret Token of the app's event subscription is required to verify Zoom's signatures")
	}
	if conf.Handler == nil {
		return nil, errors.New("zoom webhook: no event handler")
	}
	if conf.MaxBody <= 0 {
		conf.MaxBody = DefaultWebhookMaxBody
	}
	if conf.MaxSkew <= 0 {
		conf.MaxSkew = DefaultWebhookMaxSkew
	}
	if conf.QueueSize <= 0 {
		conf.QueueSize = DefaultWebhookQueue
	}
	if conf.Now == nil {
		conf.Now = time.Now
	}
	if conf.Logger == nil {
		conf.Logger = log.NewNopLogger()
	}
	if conf.Metrics == nil {
		conf.Metrics = NewEventMetrics(nil)
	}
	if conf.LogEvery <= 0 {
		conf.LogEvery = time.Minute
	}
	conf.Metrics.initTransport(TransportWebhook)
	return &WebhookHandler{
		conf:   conf,
		secret: []byte(conf.SecretToken),
		queue:  make(chan Event, conf.QueueSize),
		intake: intake{transport: TransportWebhook, accountID: conf.AccountID, metrics: conf.Metrics, now: conf.Now},
		logs:   newLogLimiter(conf.LogEvery, conf.Now),
	}, nil
}

// Run hands the queued events to the handler, one at a time, until ctx is
// done; events still queued then are dropped (the exporter is stopping).
func (h *WebhookHandler) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-h.queue:
			h.conf.Handler.HandleEvent(TransportWebhook, e)
		}
	}
}

// ServeHTTP verifies one webhook request and answers within Zoom's three
// seconds: it never waits for the handler.
func (h *WebhookHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.refuse(w, r, http.StatusMethodNotAllowed, ReasonMethod, "method "+sanitize.Field(r.Method)+" is not POST")
		return
	}
	if r.ContentLength > h.conf.MaxBody {
		h.refuse(w, r, http.StatusRequestEntityTooLarge, ReasonTooLarge, fmt.Sprintf("body of %d bytes, more than the %d allowed", r.ContentLength, h.conf.MaxBody))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.conf.MaxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			h.refuse(w, r, http.StatusRequestEntityTooLarge, ReasonTooLarge, fmt.Sprintf("body larger than the %d bytes allowed", h.conf.MaxBody))
			return
		}
		h.refuse(w, r, http.StatusBadRequest, ReasonMalformed, "reading the body: "+sanitize.Message(err.Error()))
		return
	}

	// The signature first: nothing of an unsigned body is read.
	signature, stamp := r.Header.Get("x-zm-signature"), r.Header.Get("x-zm-request-timestamp")
	if signature == "" || stamp == "" {
		h.refuse(w, r, http.StatusUnauthorized, ReasonBadSignature, "unsigned: no x-zm-signature or x-zm-request-timestamp header")
		return
	}
	sent, err := strconv.ParseInt(stamp, 10, 64)
	if err != nil {
		h.refuse(w, r, http.StatusUnauthorized, ReasonBadSignature, "x-zm-request-timestamp is not a Unix time in seconds")
		return
	}
	// hmac.Equal compares in constant time: the time taken tells a forger
	// nothing of how much of the signature was right.
	if !hmac.Equal([]byte(signature), []byte(WebhookSignature(h.secret, stamp, body))) {
		h.refuse(w, r, http.StatusUnauthorized, ReasonBadSignature, "x-zm-signature does not match the body: wrong secret token, or the body was changed")
		return
	}
	// Both ways: a timestamp far in the future would replay for as long.
	now := h.conf.Now()
	if skew := now.Sub(time.Unix(sent, 0)); skew > h.conf.MaxSkew || skew < -h.conf.MaxSkew {
		h.refuse(w, r, http.StatusUnauthorized, ReasonStale, fmt.Sprintf("x-zm-request-timestamp is %s off the exporter's clock, more than the %s allowed (a replay, or a clock to fix)", skew.Round(time.Second), h.conf.MaxSkew))
		return
	}

	e, err := DecodeEvent(body)
	if err != nil {
		reason := ReasonMalformed
		var ee *EventError
		if errors.As(err, &ee) {
			reason = ee.Reason
		}
		h.refuse(w, r, http.StatusBadRequest, reason, err.Error())
		return
	}
	if e.Name == EventURLValidation {
		h.validate(w, r, body)
		return
	}
	if !e.Known() || (h.conf.AccountID != "" && e.AccountID != h.conf.AccountID) {
		// Signed, so Zoom's: 200, or Zoom would retry what we ignore.
		h.intake.accept(e)
		w.WriteHeader(http.StatusOK)
		return
	}
	select {
	case h.queue <- e:
		h.intake.accept(e)
		w.WriteHeader(http.StatusOK)
	default:
		// Zoom retries 5xx (after 5, 20 and 60 minutes) and never 4xx: a
		// 503 defers the event, a 200 would lose it.
		w.Header().Set("Retry-After", queueFullRetryAfter)
		h.refuse(w, r, http.StatusServiceUnavailable, ReasonQueueFull, fmt.Sprintf("%d events already wait for the handler; answered 503 so that Zoom retries %s later", cap(h.queue), e.Name))
	}
}

// validate answers endpoint.url_validation. The request was signed and
// fresh: an unsigned one is never answered, since the answer is the HMAC
// of a value the sender chose, and a plainToken of "v0:{ts}:{body}" would
// make it the signature of any body.
func (h *WebhookHandler) validate(w http.ResponseWriter, r *http.Request, body []byte) {
	var v struct {
		Payload struct {
			PlainToken string `json:"plainToken"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		h.refuse(w, r, http.StatusBadRequest, ReasonMalformed, "endpoint.url_validation: "+sanitize.Message(err.Error()))
		return
	}
	plain := v.Payload.PlainToken
	switch {
	case plain == "":
		h.refuse(w, r, http.StatusBadRequest, ReasonMalformed, "endpoint.url_validation without payload.plainToken")
		return
	case len(plain) > maxPlainToken || strings.HasPrefix(plain, "v0:"):
		h.refuse(w, r, http.StatusBadRequest, ReasonMalformed, "endpoint.url_validation: payload.plainToken is not a challenge Zoom sends")
		return
	}
	mac := hmac.New(sha256.New, h.secret)
	mac.Write([]byte(plain))
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // the plainToken goes back as it came
	_ = enc.Encode(struct {
		PlainToken     string `json:"plainToken"`
		EncryptedToken string `json:"encryptedToken"`
	}{plain, hex.EncodeToString(mac.Sum(nil))})
	h.intake.accept(Event{Name: EventURLValidation})
	level.Info(h.conf.Logger).Log("msg", "Answered Zoom's webhook endpoint validation (Zoom revalidates every 72 hours)", "request_id", sanitize.Field(r.Header.Get("x-zm-request-id")))
}

// refuse answers status, counts the refusal and logs it (at warn once per
// LogEvery for each reason). Nothing of the request but its method, its
// request id and its source address is logged.
func (h *WebhookHandler) refuse(w http.ResponseWriter, r *http.Request, status int, reason, why string) {
	h.conf.Metrics.rejected.WithLabelValues(reason).Inc()
	logger := level.Debug(h.conf.Logger)
	kv := []any{"msg", "Refused a Zoom webhook request", "reason", reason, "status", status, "why", why,
		"remote", sanitize.Field(r.RemoteAddr), "request_id", sanitize.Field(r.Header.Get("x-zm-request-id"))}
	if ok, suppressed := h.logs.allow(reason); ok {
		logger = level.Warn(h.conf.Logger)
		kv = append(kv, "similar_refusals_logged_at_debug", suppressed)
	}
	logger.Log(kv...)
	http.Error(w, http.StatusText(status)+": "+why, status)
}

// WebhookSignature is Zoom's x-zm-signature of a request: "v0=" + hex
// HMAC-SHA256(secret token, "v0:" + x-zm-request-timestamp + ":" + body),
// over the raw body bytes (re-encoded JSON would not match).
func WebhookSignature(secret []byte, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("v0:" + timestamp + ":"))
	mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}
