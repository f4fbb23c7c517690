package zoomfake

// The signed-webhook sender (zoom/testdata/events/webhook.md): every event
// is POSTed to Options.WebhookURL with x-zm-request-timestamp (Unix seconds)
// and x-zm-signature = "v0=" + hex(HMAC-SHA256(secret token,
// "v0:{timestamp}:{body}")). A 5xx or a network error (a timeout included)
// is retried after each of Options.WebhookRetryDelays, measured on the
// injected clock; 3xx and 4xx are not retried, as Zoom does. One sender
// goroutine sends in order; the queue is bounded.

import (
	"bytes"
	"container/heap"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Webhook request headers.
const (
	HeaderWebhookTimestamp = "x-zm-request-timestamp"
	HeaderWebhookSignature = "x-zm-signature"
	HeaderWebhookRequestID = "x-zm-request-id"
	// WebhookContentType is the Content-Type of Zoom's webhook requests
	// (verbatim from its example headers).
	WebhookContentType = "application/json; charset=utf-8"
	webhookUserAgent   = "Zoom Marketplace/1.0a"
	maxWebhookAnswer   = 1 << 20
)

// SignWebhook returns the x-zm-signature of body sent with timestamp,
// by Zoom's documented algorithm.
func SignWebhook(secretToken, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secretToken))
	mac.Write([]byte("v0:" + timestamp + ":"))
	mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// WebhookEncryptedToken is the encryptedToken a webhook endpoint must
// answer to endpoint.url_validation: hex(HMAC-SHA256(secret token, plainToken)).
func WebhookEncryptedToken(secretToken, plainToken string) string {
	mac := hmac.New(sha256.New, []byte(secretToken))
	mac.Write([]byte(plainToken))
	return hex.EncodeToString(mac.Sum(nil))
}

// WebhookAttempt is one POST of an event by the sender.
type WebhookAttempt struct {
	Event     string // event name
	Attempt   int    // 1 for the first delivery, 2 and up for retries
	Timestamp string // x-zm-request-timestamp sent
	Status    int    // HTTP status; 0 when the request failed
	Err       string // the network error, "" otherwise
	Retry     bool   // a retry was scheduled after it
}

// SetWebhook changes the webhook URL and secret token ("" URL: no
// webhooks; deliveries still queued are abandoned).
func (s *Server) SetWebhook(url, secretToken string) {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	h.webhookURL, h.webhookSecret = url, secretToken
	if url == "" {
		h.queue = nil
	}
}

// WebhookAttempts returns the sender's POSTs so far (the most recent, up to
// Options.EventLogSize), oldest first.
func (s *Server) WebhookAttempts() []WebhookAttempt {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return append([]WebhookAttempt(nil), s.hub.attempts...)
}

// delivery is one event on its way to the webhook URL.
type delivery struct {
	name, requestID string
	body            []byte
	attempts        int // made so far
	due             time.Time
	seq             uint64
}

// deliveryQueue is a min-heap by (due, seq): in order, retries when due.
type deliveryQueue []*delivery

func (q deliveryQueue) Len() int { return len(q) }
func (q deliveryQueue) Less(i, j int) bool {
	if !q[i].due.Equal(q[j].due) {
		return q[i].due.Before(q[j].due)
	}
	return q[i].seq < q[j].seq
}
func (q deliveryQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *deliveryQueue) Push(x any)   { *q = append(*q, x.(*delivery)) }
func (q *deliveryQueue) Pop() any {
	old := *q
	d := old[len(old)-1]
	*q = old[:len(old)-1]
	return d
}

// enqueueWebhookLocked queues ev for the webhook URL, if there is one.
func (s *Server) enqueueWebhookLocked(ev Event) {
	h := s.hub
	if h.webhookURL == "" {
		return
	}
	if h.queue.Len() >= s.opts.WebhookQueueSize {
		h.stats.WebhookDropped++
		return
	}
	h.deliverySeq++
	heap.Push(&h.queue, &delivery{
		name: ev.Name, body: ev.Body, requestID: requestID(),
		due: s.now(), seq: h.deliverySeq,
	})
	h.stats.WebhookQueued++
	if !h.workerRunning {
		h.workerRunning = true
		h.wg.Add(1)
		go s.webhookWorker()
	}
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// webhookWorker sends due deliveries one at a time; it ends when the queue
// is empty. Retry times are on the injected clock, checked every
// EventPollInterval of real time.
func (s *Server) webhookWorker() {
	h := s.hub
	defer h.wg.Done()
	client := s.webhookClient()
	defer client.CloseIdleConnections()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		h.mu.Lock()
		h.workerPolls++
		if h.closed || h.queue.Len() == 0 {
			h.workerRunning = false
			h.mu.Unlock()
			return
		}
		now := s.now()
		d := h.queue[0]
		if d.due.After(now) {
			h.mu.Unlock()
			timer.Reset(min(d.due.Sub(now), s.opts.EventPollInterval))
			select {
			case <-timer.C:
			case <-h.wake:
				timer.Stop() // Go 1.23 timers: no stale tick after Stop or Reset
			case <-h.ctx.Done():
			}
			continue
		}
		heap.Pop(&h.queue)
		url, secret := h.webhookURL, h.webhookSecret
		d.attempts++
		h.stats.WebhookAttempts++
		h.mu.Unlock()

		ts := strconv.FormatInt(now.Unix(), 10)
		status, err := postWebhook(h.ctx, client, url, d.body, ts, SignWebhook(secret, ts, d.body), d.requestID)

		h.mu.Lock()
		at := WebhookAttempt{Event: d.name, Attempt: d.attempts, Timestamp: ts, Status: status}
		if err != nil {
			at.Err = err.Error()
		}
		retryable := err != nil || status >= 500
		switch {
		case err == nil && status >= 200 && status < 300:
			h.stats.WebhookDelivered++
		case retryable && d.attempts <= len(s.opts.WebhookRetryDelays) && !h.closed && h.webhookURL != "":
			at.Retry = true
			h.stats.WebhookRetried++
			d.due = s.now().Add(s.opts.WebhookRetryDelays[d.attempts-1])
			heap.Push(&h.queue, d)
		default:
			h.stats.WebhookFailed++
		}
		h.attempts = appendBounded(h.attempts, at, s.opts.EventLogSize)
		h.mu.Unlock()
	}
}

// webhookClient gives up after WebhookTimeout and does not follow
// redirects: Zoom takes a 3xx as a final failure.
func (s *Server) webhookClient() *http.Client {
	return &http.Client{
		Transport:     http.DefaultTransport.(*http.Transport).Clone(), // closed with the client
		Timeout:       s.opts.WebhookTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// postWebhook makes one signed POST and returns the status.
func postWebhook(ctx context.Context, client *http.Client, url string, body []byte, ts, signature, reqID string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", WebhookContentType)
	req.Header.Set("User-Agent", webhookUserAgent)
	req.Header.Set(HeaderWebhookTimestamp, ts)
	req.Header.Set(HeaderWebhookSignature, signature)
	req.Header.Set(HeaderWebhookRequestID, reqID)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxWebhookAnswer))
	return resp.StatusCode, nil
}

// requestID looks like Zoom's x-zm-request-id.
func requestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "_" + h[8:12] + "_" + h[12:16] + "_" + h[16:20] + "_" + h[20:]
}

// WebhookRequest is one hand-made webhook POST, for bad-input tests.
type WebhookRequest struct {
	URL  string // default: the configured webhook URL
	Body []byte
	// Timestamp is x-zm-request-timestamp; "" is now on the injected clock
	// (Unix seconds). An old one makes a stale request.
	Timestamp string
	// Secret signs instead of the configured secret token (a forgery).
	Secret string
	// Signature, when set, is sent as x-zm-signature as is.
	Signature   string
	Unsigned    bool        // no x-zm-signature
	NoTimestamp bool        // no x-zm-request-timestamp
	Header      http.Header // added or replacing headers
}

// WebhookResponse is the answer to a SendWebhook.
type WebhookResponse struct {
	Status int
	Header http.Header
	Body   []byte // at most 1 MiB
}

// SendWebhook POSTs one hand-made webhook now, once, and returns the
// answer. It bypasses the queue, the retries and the event log.
func (s *Server) SendWebhook(ctx context.Context, r WebhookRequest) (WebhookResponse, error) {
	s.hub.mu.Lock()
	url, secret := s.hub.webhookURL, s.hub.webhookSecret
	s.hub.mu.Unlock()
	if r.URL != "" {
		url = r.URL
	}
	if url == "" {
		return WebhookResponse{}, fmt.Errorf("zoomfake: SendWebhook: no webhook URL")
	}
	if r.Secret != "" {
		secret = r.Secret
	}
	ts := r.Timestamp
	if ts == "" {
		ts = strconv.FormatInt(s.now().Unix(), 10)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(r.Body))
	if err != nil {
		return WebhookResponse{}, err
	}
	req.Header.Set("Content-Type", WebhookContentType)
	req.Header.Set("User-Agent", webhookUserAgent)
	req.Header.Set(HeaderWebhookRequestID, requestID())
	if !r.NoTimestamp {
		req.Header.Set(HeaderWebhookTimestamp, ts)
	}
	switch {
	case r.Unsigned:
	case r.Signature != "":
		req.Header.Set(HeaderWebhookSignature, r.Signature)
	default:
		req.Header.Set(HeaderWebhookSignature, SignWebhook(secret, ts, r.Body))
	}
	for k, v := range r.Header {
		req.Header[k] = v
	}
	client := s.webhookClient()
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return WebhookResponse{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxWebhookAnswer))
	return WebhookResponse{Status: resp.StatusCode, Header: resp.Header, Body: body}, err
}

// WebhookValidation is the outcome of ValidateWebhookURL.
type WebhookValidation struct {
	Status                     int
	PlainToken, EncryptedToken string // as answered
	// Valid: the answer is 200 or 204 with the plainToken sent back and the
	// right encryptedToken, as Zoom requires.
	Valid bool
	Body  []byte
}

// ValidateWebhookURL sends endpoint.url_validation (signed, as Zoom does)
// with plainToken ("" picks a random one) and checks the answer.
func (s *Server) ValidateWebhookURL(ctx context.Context, plainToken string) (WebhookValidation, error) {
	if plainToken == "" {
		plainToken = randomString(22)
	}
	body := marshalNoEscape(struct {
		Payload struct {
			PlainToken string `json:"plainToken"`
		} `json:"payload"`
		EventTS int64  `json:"event_ts"`
		Event   string `json:"event"`
	}{
		Payload: struct {
			PlainToken string `json:"plainToken"`
		}{plainToken},
		EventTS: s.now().UnixMilli(),
		Event:   "endpoint.url_validation",
	})
	resp, err := s.SendWebhook(ctx, WebhookRequest{Body: body})
	if err != nil {
		return WebhookValidation{}, err
	}
	v := WebhookValidation{Status: resp.Status, Body: resp.Body}
	var answer struct {
		PlainToken     string `json:"plainToken"`
		EncryptedToken string `json:"encryptedToken"`
	}
	if json.Unmarshal(resp.Body, &answer) == nil {
		v.PlainToken, v.EncryptedToken = answer.PlainToken, answer.EncryptedToken
	}
	s.hub.mu.Lock()
	secret := s.hub.webhookSecret
	s.hub.mu.Unlock()
	want := WebhookEncryptedToken(secret, plainToken)
	v.Valid = (resp.Status == http.StatusOK || resp.Status == http.StatusNoContent) &&
		v.PlainToken == plainToken && hmac.Equal([]byte(v.EncryptedToken), []byte(want))
	return v, nil
}
