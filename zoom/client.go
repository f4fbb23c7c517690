package zoom

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/zoomexporter/zoom_exporter/internal/sanitize"
)

// ClientConfig configures a Client. Zero values get the defaults below.
type ClientConfig struct {
	APIURL       string // e.g. https://api.zoom.us/v2
	TokenURL     string // e.g. https://zoom.us/oauth/token
	AccountID    string
	ClientID     string
	ClientSecret string

	Limits Limits // plan limits; see PlanLimits
	// DailyBudget is how many Heavy calls a day the exporter may spend
	// (default: half the plan's daily quota, the rest left to other apps).
	DailyBudget int
	Timeout     time.Duration // per request, body included (default 30s)
	MaxRetries  int           // retries after a 5xx, a timeout or an unreadable answer
	// RetryBaseDelay is the first backoff; it doubles on each retry (default 1s).
	RetryBaseDelay time.Duration
	// MaxQPSRetries bounds retries after per-second 429s (default 5).
	MaxQPSRetries int
	// MaxBodyBytes bounds a success body (default 16 MiB; a full page of
	// 300 meetings is well under 1 MiB). Error bodies are cut at
	// maxErrorBodyBytes.
	MaxBodyBytes int64
	// LogEvery bounds the log: a token failure of one kind is logged once
	// per LogEvery at most (default 5m, the default refresh interval).
	LogEvery time.Duration

	HTTPClient *http.Client     // default: a client whose overall timeout is Timeout
	Now        func() time.Time // default time.Now
	Logger     log.Logger
	Registerer prometheus.Registerer
}

// maxErrorBodyBytes bounds an error answer's body: Zoom's are under 1 KiB,
// and only their code and message are kept.
const maxErrorBodyBytes = 64 << 10

// Client calls the Zoom API. It is safe for concurrent use: every caller
// shares one token, one pacer per rate-limit category and one daily-quota
// pause.
type Client struct {
	apiURL   string
	conf     ClientConfig
	http     *http.Client
	tokens   *tokenCache
	failures *failureBook
	metrics  *clientMetrics
	logger   log.Logger
	now      func() time.Time

	pacers map[category]*rate.Limiter

	mu          sync.Mutex
	heavyPaused time.Time // no Heavy call before this (daily 429)
	budgetDay   time.Time // UTC day heavyUsed counts
	heavyUsed   int       // Heavy calls sent on budgetDay
}

// pacingMargin is the share of Zoom's per-second limits the client uses.
const pacingMargin = 0.95

type category string

// Zoom's rate-limit labels, as X-RateLimit-Category spells them.
const (
	categoryHeavy  category = "Heavy"
	categoryMedium category = "Medium"
)

// NewClient checks the configuration and returns a Client. No call is made yet.
func NewClient(conf ClientConfig) (*Client, error) {
	if conf.Timeout <= 0 {
		conf.Timeout = 30 * time.Second
	}
	if conf.RetryBaseDelay <= 0 {
		conf.RetryBaseDelay = time.Second
	}
	if conf.MaxQPSRetries <= 0 {
		conf.MaxQPSRetries = 5
	}
	if conf.MaxBodyBytes <= 0 {
		conf.MaxBodyBytes = 16 << 20
	}
	if conf.Limits == (Limits{}) {
		conf.Limits, _ = PlanLimits("pro")
	}
	if conf.DailyBudget <= 0 {
		conf.DailyBudget = conf.Limits.HeavyPerDay / 2
	}
	if conf.Now == nil {
		conf.Now = time.Now
	}
	if conf.Logger == nil {
		conf.Logger = log.NewNopLogger()
	}
	if conf.LogEvery <= 0 {
		conf.LogEvery = 5 * time.Minute
	}
	if conf.HTTPClient == nil {
		// Every request also has a context deadline; this one bounds
		// whatever might escape it.
		conf.HTTPClient = &http.Client{Timeout: conf.Timeout}
	}
	base, err := url.Parse(conf.APIURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("zoom API URL %q: must be an absolute http or https URL", conf.APIURL)
	}
	metrics := newClientMetrics(conf.Registerer)
	metrics.budget.Set(float64(conf.DailyBudget))
	failures := newFailureBook(conf.LogEvery)
	return &Client{
		apiURL:   strings.TrimSuffix(conf.APIURL, "/"),
		conf:     conf,
		http:     conf.HTTPClient,
		tokens:   newTokenCache(conf, conf.HTTPClient, metrics, failures),
		failures: failures,
		metrics:  metrics,
		logger:   conf.Logger,
		now:      conf.Now,
		pacers: map[category]*rate.Limiter{
			// Burst 1: calls leave evenly spaced, a little under the limit,
			// so network jitter does not put one call too many into one of
			// Zoom's one-second windows.
			categoryHeavy:  rate.NewLimiter(rate.Limit(conf.Limits.HeavyPerSecond*pacingMargin), 1),
			categoryMedium: rate.NewLimiter(rate.Limit(conf.Limits.MediumPerSecond*pacingMargin), 1),
		},
	}, nil
}

// HeavyPausedUntil returns the end of the pause after a daily 429, or the
// zero time when Heavy calls may go.
func (c *Client) HeavyPausedUntil() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.now().Before(c.heavyPaused) {
		return c.heavyPaused
	}
	c.metrics.heavyPaused.Set(0) // the pause is over
	return time.Time{}
}

// TokenState says whether a token is cached and when it expires; never the
// token. It never waits on a token request.
func (c *Client) TokenState() (valid bool, expires time.Time) { return c.tokens.State() }

// AccessToken returns the access token the Client uses and when it
// expires (by ClientConfig.Now), from the same cache: the Zoom event
// WebSocket authenticates with it. Never log it.
func (c *Client) AccessToken(ctx context.Context) (token string, expires time.Time, err error) {
	return c.tokens.TokenExpiry(ctx)
}

// InvalidateToken drops token from the cache if it is still the cached one
// (Zoom refused it, or the event WebSocket moves to a new token early): the
// next call requests a new token.
func (c *Client) InvalidateToken(token string) { c.tokens.Invalidate(token) }

// LastFailures returns copies of the last token failure and the last API
// failure, each nil when there was none or when a success cleared it (a new
// token; a complete listing of the failed endpoint).
func (c *Client) LastFailures() (token, api *Failure) { return c.failures.last() }

// request is one GET of the API.
type request struct {
	endpoint string // route template: metrics label and error text
	path     string // escaped path below the API URL
	query    url.Values
	category category
}

// zoomErrorBody is Zoom's error document (zoom-api.md section 5).
type zoomErrorBody struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// decodeZoomError reads the code and message of an error answer. A body cut
// at maxErrorBodyBytes (an oversize message) does not decode whole: its
// fields are then read one by one, and a message cut short is kept as far
// as it goes (the caller bounds and cleans it).
func decodeZoomError(body []byte) (code int, message string) {
	var zb zoomErrorBody
	if json.Unmarshal(body, &zb) == nil {
		return zb.Code, zb.Message
	}
	scanFields(body, func(key string, raw json.RawMessage, cut string) {
		switch key {
		case "code":
			_ = json.Unmarshal(raw, &code)
		case "message":
			message = cut
			_ = json.Unmarshal(raw, &message)
		}
	})
	return code, message
}

// scanFields reads the top-level fields of a JSON object one by one, for an
// answer cut at its read cap: set gets each whole field's raw value, and
// for the string field that was cut short, what there is of it.
func scanFields(body []byte, set func(key string, raw json.RawMessage, cut string)) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return
		}
		key, _ := t.(string)
		start := dec.InputOffset()
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			rest := bytes.TrimLeft(body[start:], " \t\r\n:")
			if len(rest) > 0 && rest[0] == '"' {
				set(key, nil, unquoteCut(rest[1:]))
			}
			return
		}
		set(key, raw, "")
	}
}

// unquoteCut decodes the escapes of a JSON string cut short, dropping an
// escape sequence the cut split.
func unquoteCut(s []byte) string {
	for drop := 0; drop <= 6 && drop <= len(s); drop++ {
		quoted := make([]byte, 0, len(s)+2)
		quoted = append(append(append(quoted, '"'), s[:len(s)-drop]...), '"')
		var out string
		if json.Unmarshal(quoted, &out) == nil {
			return out
		}
	}
	return string(s)
}

// get performs req and decodes a 2xx JSON answer into out. It paces itself,
// renews the token once on a 401/124, backs off on per-second 429s, pauses
// Heavy calls after a daily 429, and retries 5xx, timeouts and unreadable
// answers a bounded number of times (an answer over the body cap is not
// retried: the same answer would come back).
func (c *Client) get(ctx context.Context, req request, out any) error {
	var (
		renewedToken bool
		retries      int
		qpsRetries   int
	)
	for {
		if req.category == categoryHeavy {
			if until := c.HeavyPausedUntil(); !until.IsZero() {
				return &DailyQuotaError{Endpoint: req.endpoint, Until: until}
			}
		}
		// The token first: a call that cannot authenticate spends no budget.
		token, err := c.tokens.Token(ctx)
		if err != nil {
			var te *TokenError
			if errors.As(err, &te) && te.temporary() && retries < c.conf.MaxRetries && ctx.Err() == nil {
				retries++
				if err := c.backoff(ctx, retries, "token", err); err != nil {
					return err
				}
				continue
			}
			return err
		}
		if err := c.pacers[req.category].Wait(ctx); err != nil {
			return fmt.Errorf("zoom API %s: %w", req.endpoint, err)
		}
		if req.category == categoryHeavy {
			// A daily 429 may have come while this call waited its turn.
			if until := c.HeavyPausedUntil(); !until.IsZero() {
				return &DailyQuotaError{Endpoint: req.endpoint, Until: until}
			}
			if err := c.spendHeavy(req.endpoint); err != nil {
				return err
			}
		}

		status, header, body, err := c.send(ctx, req, token)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("zoom API %s: %w", req.endpoint, ctx.Err())
			}
			if errors.Is(err, errBodyTooLarge) {
				return fmt.Errorf("zoom API %s: %w", req.endpoint, err)
			}
			if retries < c.conf.MaxRetries {
				retries++
				if err := c.backoff(ctx, retries, req.endpoint, err); err != nil {
					return err
				}
				continue
			}
			return fmt.Errorf("zoom API %s: giving up after %d attempts: %w", req.endpoint, retries+1, err)
		}

		if status >= 200 && status < 300 {
			if err := json.Unmarshal(body, out); err != nil {
				err = fmt.Errorf("zoom API %s: HTTP %d with a body that does not decode: %w", req.endpoint, status, bounded(err))
				if retries < c.conf.MaxRetries {
					retries++
					if err := c.backoff(ctx, retries, req.endpoint, err); err != nil {
						return err
					}
					continue
				}
				return err
			}
			c.speedUp(req.category)
			return nil
		}

		// Everything taken from an error answer is bounded and cleaned
		// before it reaches an error, a log line or a page.
		apiErr := &APIError{Endpoint: req.endpoint, Status: status, TrackingID: sanitize.Field(header.Get("x-zm-trackingid"))}
		code, message := decodeZoomError(body)
		apiErr.Code, apiErr.Message = code, sanitize.Message(message)

		switch {
		case status == http.StatusTooManyRequests && isDailyLimit(header, apiErr.Message):
			c.metrics.rateLimited.WithLabelValues(req.endpoint, "daily").Inc()
			now := c.now()
			until, believed := retryAfter(header.Get("Retry-After"), now)
			if !believed {
				level.Warn(c.logger).Log("msg", "Retry-After of a daily 429 not believed: Zoom's daily counters reset at 00:00 UTC; pausing until then",
					"endpoint", req.endpoint, "retry_after", sanitize.Field(header.Get("Retry-After")), "until", until.UTC().Format(time.RFC3339))
			}
			if req.category == categoryHeavy { // only Heavy calls have a daily quota
				c.pauseHeavy(until)
			}
			level.Warn(c.logger).Log("msg", "Zoom daily rate limit reached; pausing Heavy calls", "endpoint", req.endpoint, "until", until.UTC().Format(time.RFC3339), "tracking_id", apiErr.TrackingID)
			return &DailyQuotaError{Endpoint: req.endpoint, Until: until, answer: apiErr}

		case status == http.StatusTooManyRequests:
			c.metrics.rateLimited.WithLabelValues(req.endpoint, "qps").Inc()
			c.slowDown(req.category)
			if qpsRetries < c.conf.MaxQPSRetries {
				qpsRetries++
				if err := c.backoff(ctx, qpsRetries, req.endpoint, apiErr); err != nil {
					return err
				}
				continue
			}
			return apiErr

		case status == http.StatusUnauthorized && apiErr.Code == codeInvalidAccessToken && !renewedToken:
			renewedToken = true
			c.tokens.Invalidate(token)
			level.Debug(c.logger).Log("msg", "Zoom refused the access token; requesting a new one", "endpoint", req.endpoint, "zoom_message", apiErr.Message)
			continue

		case status >= 500 && retries < c.conf.MaxRetries:
			retries++
			if err := c.backoff(ctx, retries, req.endpoint, apiErr); err != nil {
				return err
			}
			continue

		case status >= 500:
			return fmt.Errorf("giving up after %d attempts: %w", retries+1, apiErr)
		}
		return apiErr
	}
}

// send makes one HTTP attempt and reads the body, bounded in time and size.
func (c *Client) send(ctx context.Context, req request, token string) (int, http.Header, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.conf.Timeout)
	defer cancel()

	u := c.apiURL + req.path
	if len(req.query) > 0 {
		u += "?" + req.query.Encode()
	}
	httpReq, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, nil, nil, err
	}
	httpReq.Header.Set("Authorization", "Bearer "+token)
	httpReq.Header.Set("Accept", "application/json")

	start := time.Now()
	resp, err := c.http.Do(httpReq)
	if err != nil {
		c.observe(req.endpoint, "error", start)
		return 0, nil, nil, bounded(redactURL(err))
	}
	defer resp.Body.Close()
	success := resp.StatusCode >= 200 && resp.StatusCode < 300
	var body []byte
	if success {
		body, err = io.ReadAll(io.LimitReader(resp.Body, c.conf.MaxBodyBytes+1))
		if err == nil && int64(len(body)) > c.conf.MaxBodyBytes {
			err = fmt.Errorf("response body larger than %d bytes, not retried: %w", c.conf.MaxBodyBytes, errBodyTooLarge)
		}
	} else {
		// Only the code and message of an error answer are kept: the rest
		// of an oversize one is left unread.
		body, err = io.ReadAll(io.LimitReader(resp.Body, maxErrorBodyBytes))
	}
	if err != nil {
		c.observe(req.endpoint, "error", start)
		return 0, nil, nil, fmt.Errorf("reading HTTP %d response: %w", resp.StatusCode, bounded(err))
	}
	c.observe(req.endpoint, strconv.Itoa(resp.StatusCode), start)
	c.recordQuota(resp.StatusCode, resp.Header)
	return resp.StatusCode, resp.Header, body, nil
}

// The per-second limits are the account's, shared with every other app on
// it: after a per-second 429 the pacer slows down by a tenth (to half the
// plan's limit at most), then creeps back up by 1% a success.
func (c *Client) slowDown(cat category) {
	p := c.pacers[cat]
	p.SetLimit(max(p.Limit()*0.9, c.planRate(cat)*0.5))
}

func (c *Client) speedUp(cat category) {
	p := c.pacers[cat]
	if full := c.planRate(cat) * pacingMargin; p.Limit() < full {
		p.SetLimit(min(p.Limit()*1.01, full))
	}
}

func (c *Client) planRate(cat category) rate.Limit {
	if cat == categoryHeavy {
		return rate.Limit(c.conf.Limits.HeavyPerSecond)
	}
	return rate.Limit(c.conf.Limits.MediumPerSecond)
}

func (c *Client) observe(endpoint, code string, start time.Time) {
	c.metrics.requests.WithLabelValues(endpoint, code).Inc()
	c.metrics.duration.WithLabelValues(endpoint).Observe(time.Since(start).Seconds())
}

// recordQuota keeps the daily quota Zoom reports, when it reports one: a
// daily 429 says X-RateLimit-Type: Daily-limit, and successful answers carry
// no Type at all (recorded from real Zoom: zoom/testdata/zoomspec/
// ratelimit_headers.md), their Remaining counting down the day's quota of
// their category. Only Heavy has a daily quota we spend.
func (c *Client) recordQuota(status int, h http.Header) {
	typ, cat := h.Get("X-RateLimit-Type"), h.Get("X-RateLimit-Category")
	switch {
	case strings.EqualFold(typ, "Daily-limit"):
	case typ == "" && status >= 200 && status < 300 && strings.EqualFold(cat, string(categoryHeavy)):
		cat = string(categoryHeavy)
	default:
		return
	}
	remaining, err := strconv.Atoi(strings.TrimSpace(h.Get("X-RateLimit-Remaining")))
	if err != nil || remaining < 0 {
		return
	}
	if cat == "" {
		cat = "unknown"
	}
	c.metrics.quotaRemaining.WithLabelValues(cat).Set(float64(remaining))
}

func (c *Client) pauseHeavy(until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if until.After(c.heavyPaused) {
		c.heavyPaused = until
	}
	c.metrics.heavyPaused.Set(float64(c.heavyPaused.Unix()))
}

// backoff sleeps base*2^(attempt-1), with jitter, capped at a minute.
func (c *Client) backoff(ctx context.Context, attempt int, what string, cause error) error {
	d := c.conf.RetryBaseDelay << min(attempt-1, 16)
	d = min(d, time.Minute)
	d = d/2 + rand.N(d/2+1) // jitter: spread retries from many callers
	level.Debug(c.logger).Log("msg", "Retrying Zoom API call", "endpoint", what, "attempt", attempt, "wait", d, "err", cause)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		// Both wrapped: callers test for the cancellation and for Zoom's answer.
		return fmt.Errorf("zoom API %s: %w (last error: %w)", what, ctx.Err(), cause)
	case <-t.C:
		return nil
	}
}

// isDailyLimit tells a daily-quota 429 from a per-second one. Headers are not
// always sent (zoom-api.md section 4), so the message decides when they are missing.
func isDailyLimit(h http.Header, message string) bool {
	if t := h.Get("X-RateLimit-Type"); t != "" {
		return strings.EqualFold(t, "Daily-limit")
	}
	return strings.Contains(strings.ToLower(message), "daily")
}

// retryAfter reads a daily 429's Retry-After, a date-time in Zoom's case; a
// number of seconds is accepted too. Without a usable value the pause lasts
// until Zoom's daily counters reset at the next 00:00 UTC. Since they reset
// then, a pause never runs past the next 00:00 UTC plus dailyPauseSlack: a
// later time (a hostile or broken answer, persisted by the scraper) is not
// believed, nor is a time already past (clock skew); believed is false when
// a value was given and not used.
func retryAfter(value string, now time.Time) (until time.Time, believed bool) {
	value = strings.TrimSpace(value)
	if value != "" {
		for _, layout := range []string{time.RFC3339, http.TimeFormat, "2006-01-02T15:04:05"} {
			if t, err := time.Parse(layout, value); err == nil {
				until = t
				break
			}
		}
		if secs, err := strconv.Atoi(value); until.IsZero() && err == nil && secs >= 0 {
			until = now.Add(time.Duration(secs) * time.Second)
		}
	}
	midnight := nextMidnightUTC(now)
	if !until.After(now) || until.After(maxDailyPauseUntil(now)) {
		return midnight, value == ""
	}
	return until, true
}

// dailyPauseSlack is how far past 00:00 UTC a daily 429's Retry-After may
// run (clocks differ a little); Zoom's daily counters reset at 00:00 UTC.
const dailyPauseSlack = 5 * time.Minute

// maxDailyPauseUntil is the latest a daily pause may run from now.
func maxDailyPauseUntil(now time.Time) time.Time { return nextMidnightUTC(now).Add(dailyPauseSlack) }

func nextMidnightUTC(now time.Time) time.Time {
	y, m, d := now.UTC().Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
}

// redactURL drops the query string from a transport error's URL: page
// tokens and dates are noise in logs. The URL never holds credentials.
func redactURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			u.RawQuery = ""
			return &url.Error{Op: ue.Op, URL: u.String(), Err: ue.Err}
		}
	}
	return err
}
