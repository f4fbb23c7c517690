package zoom

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/zoomexporter/zoom_exporter/internal/sanitize"
)

// Token lifetimes (README, "How it talks to Zoom"). Zoom's tokens live an
// hour; a token is renewed a minute before it expires, so a request never
// leaves with a token that dies on the way (zoom-api.md section 1). A
// shorter-lived token is renewed at half its lifetime instead, and never
// used past the expiry Zoom gave.
const (
	tokenRenewMargin = time.Minute
	// shortTokenLifetime: below it a minute of margin is more than half the
	// lifetime; such tokens are counted and logged.
	shortTokenLifetime = 2 * tokenRenewMargin
	// minTokenInterval: no token is requested less than this after the last
	// one for its lifetime's sake, so a token endpoint that hands out
	// seconds-long (or negative) lifetimes cannot make a token request of
	// every API call. A token Zoom refuses (401/124) is renewed regardless.
	minTokenInterval = 10 * time.Second
	// defaultTokenLifetime is Zoom's documented lifetime, assumed when the
	// answer gives none (expires_in absent or 0).
	defaultTokenLifetime = time.Hour
	// maxTokenBody bounds a token endpoint answer; a real one is under 2 KiB.
	maxTokenBody = 64 << 10
)

// tokenCache holds the one access token of the process. Server-to-Server
// OAuth has no refresh token: a new token is simply requested again.
//
// No lock is held across the network: one request at a time is in flight,
// on its own deadline (the request timeout), and every caller waits for it
// with its own context. State never waits on Zoom.
type tokenCache struct {
	conf     clientcredentials.Config
	http     *http.Client
	now      func() time.Time
	timeout  time.Duration
	metrics  *clientMetrics
	logger   log.Logger
	failures *failureBook
	endpoint string // the token URL without query, for failure records

	mu        sync.Mutex
	token     string
	expires   time.Time // by c.now; the token is never used from then on
	renewAt   time.Time // by c.now
	heldErr   error     // returned without a request until heldUntil
	heldUntil time.Time
	inflight  *tokenCall
}

// tokenCall is one token request that callers share.
type tokenCall struct {
	done   chan struct{} // closed when token and err are set
	cancel context.CancelFunc
	// guarded by tokenCache.mu: the request is abandoned (cancelled, its
	// outcome ignored) when every waiter has left.
	waiters   int
	abandoned bool
	token     string
	expires   time.Time
	err       error
}

func newTokenCache(conf ClientConfig, httpClient *http.Client, m *clientMetrics, failures *failureBook) *tokenCache {
	endpoint := "token endpoint"
	if u, err := url.Parse(conf.TokenURL); err == nil {
		u.RawQuery, u.Fragment, u.User = "", "", nil
		endpoint = sanitize.Field(u.String())
	}
	// Token answers are read with a small cap: oauth2 alone would read 1 MiB.
	capped := *httpClient
	base := capped.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	capped.Transport = cappedBodyTransport{base: base, max: maxTokenBody}
	return &tokenCache{
		conf: clientcredentials.Config{
			ClientID:     conf.ClientID,
			ClientSecret: conf.ClientSecret,
			TokenURL:     conf.TokenURL,
			AuthStyle:    oauth2.AuthStyleInHeader,
			EndpointParams: url.Values{
				"grant_type": {"account_credentials"},
				"account_id": {conf.AccountID},
			},
		},
		http:     &capped,
		now:      conf.Now,
		timeout:  conf.Timeout,
		metrics:  m,
		logger:   conf.Logger,
		failures: failures,
		endpoint: endpoint,
	}
}

// Token returns the cached token, or a new one when there is none or its
// renewal is due. Concurrent callers share one request; each waits for it
// only as long as its own ctx allows.
func (c *tokenCache) Token(ctx context.Context) (string, error) {
	token, _, err := c.TokenExpiry(ctx)
	return token, err
}

// TokenExpiry is Token, with the time the token expires (by c.now).
func (c *tokenCache) TokenExpiry(ctx context.Context) (string, time.Time, error) {
	c.mu.Lock()
	now := c.now()
	if c.token != "" && now.Before(c.expires) && now.Before(c.renewAt) {
		token, expires := c.token, c.expires
		c.mu.Unlock()
		return token, expires, nil
	}
	if c.heldErr != nil && now.Before(c.heldUntil) {
		err := c.heldErr
		c.mu.Unlock()
		return "", time.Time{}, err
	}
	call := c.inflight
	if call == nil {
		// The request outlives no caller: it is cancelled when every
		// waiter has gone, and it has its own deadline.
		reqCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
		call = &tokenCall{done: make(chan struct{}), cancel: cancel}
		c.inflight = call
		go c.fetch(reqCtx, call)
	}
	call.waiters++
	c.mu.Unlock()

	select {
	case <-call.done:
		return call.token, call.expires, call.err
	case <-ctx.Done():
		c.mu.Lock()
		call.waiters--
		if call.waiters == 0 && c.inflight == call {
			// Nobody waits any more: cancel it, and let the next caller
			// start afresh rather than join a cancelled request.
			call.abandoned = true
			c.inflight = nil
			call.cancel()
		}
		c.mu.Unlock()
		return "", time.Time{}, fmt.Errorf("zoom OAuth token request: %w", ctx.Err())
	}
}

// fetch sends one token request and publishes its outcome to the cache and
// to every waiter of call.
func (c *tokenCache) fetch(ctx context.Context, call *tokenCall) {
	defer call.cancel()
	sent := c.now()
	wallSent := time.Now()
	c.metrics.tokenRequests.Inc()
	tok, err := c.conf.Token(context.WithValue(ctx, oauth2.HTTPClient, c.http))

	var (
		token    string
		lifetime time.Duration
	)
	switch {
	case err != nil:
		err = c.tokenError(ctx, err)
	case tok.AccessToken == "":
		err = &TokenError{Status: http.StatusOK, Reason: "token endpoint answered without an access_token"}
	default:
		token, lifetime = tok.AccessToken, tokenLifetime(tok, wallSent)
		if lifetime <= 0 {
			err = &TokenError{Status: http.StatusOK, shortLife: true, Reason: fmt.Sprintf(
				"token endpoint answered a token that expired on arrival (expires_in %d); not using it", int64(lifetime/time.Second))}
		}
	}

	now := c.now()
	c.mu.Lock()
	if c.inflight == call {
		c.inflight = nil
	}
	if call.abandoned {
		// Every caller gave up (shutdown): not the token endpoint's
		// failure, and a newer request may be under way.
		c.mu.Unlock()
		call.err = fmt.Errorf("zoom OAuth token request: %w", context.Canceled)
		close(call.done)
		return
	}
	if err == nil {
		c.token = token
		c.expires = sent.Add(lifetime)
		c.renewAt = sent.Add(max(lifetime/2, lifetime-tokenRenewMargin, minTokenInterval))
		c.heldErr, c.heldUntil = nil, time.Time{}
		if lifetime < minTokenInterval {
			// Usable until it expires; after that, calls fail at once
			// until the next token request is allowed.
			c.heldErr = &TokenError{shortLife: true, Reason: fmt.Sprintf(
				"the last access token expired after %s (expires_in %d); the next token request is allowed at %s (one per %s)",
				lifetime, int64(lifetime/time.Second), sent.Add(minTokenInterval).UTC().Format(time.RFC3339), minTokenInterval)}
			c.heldUntil = sent.Add(minTokenInterval)
		}
	} else {
		// A token that is still valid is kept for State, but not served:
		// its renewal was due.
		var te *TokenError
		if errors.As(err, &te) {
			switch {
			case te.Timeout:
				// A hanging endpoint is not asked again for one request
				// timeout: the rest of a refresh fails at once instead of
				// waiting the same timeout once per call.
				c.heldErr, c.heldUntil = err, now.Add(max(c.timeout, minTokenInterval))
			case te.shortLife:
				c.heldErr, c.heldUntil = err, sent.Add(minTokenInterval)
			}
		}
	}
	c.mu.Unlock()

	var te *TokenError
	switch {
	case err == nil:
		c.failures.clearToken()
	case errors.As(err, &te):
		c.metrics.tokenFailures.Inc()
		f := te.failure(c.endpoint, now)
		if c.failures.recordToken(f, now) {
			level.Warn(c.logger).Log("msg", "Zoom OAuth token request failed", "err", err, "hint", f.Hint, "times_in_a_row", f.Count)
		}
	}
	if lifetime < shortTokenLifetime && (err == nil || (te != nil && te.shortLife)) {
		c.metrics.tokenShortLifetime.Inc()
		if c.failures.shouldLog("token_short_lifetime", now) {
			level.Warn(c.logger).Log("msg", "Zoom's token endpoint gave an access token with a short lifetime; renewing it at half its lifetime, at most one token request per "+minTokenInterval.String(),
				"lifetime", lifetime, "normal", defaultTokenLifetime)
		}
	}

	call.token, call.err = token, err
	if err != nil {
		call.token = ""
	} else {
		call.expires = sent.Add(lifetime)
	}
	close(call.done)
}

// tokenLifetime is what Zoom said the token lives: expires_in when the
// answer was JSON, the Expiry oauth2 derived from it otherwise (a form
// answer), or the documented hour when it gave none.
func tokenLifetime(tok *oauth2.Token, wallSent time.Time) time.Duration {
	switch {
	case tok.ExpiresIn != 0:
		return time.Duration(tok.ExpiresIn) * time.Second
	case !tok.Expiry.IsZero():
		return tok.Expiry.Sub(wallSent).Round(time.Second)
	}
	return defaultTokenLifetime
}

// Invalidate drops token if it is still the cached one, after Zoom refused it.
func (c *tokenCache) Invalidate(token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token == token {
		c.token = ""
	}
}

// State describes the cached token for status pages: never the token
// itself. It never waits on a token request.
func (c *tokenCache) State() (valid bool, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token == "" {
		return false, c.expires
	}
	return c.now().Before(c.expires), c.expires
}

// tokenError turns what oauth2 returns into a TokenError that keeps Zoom's
// reason, bounded, but no request details (the Basic header holds the secret).
func (c *tokenCache) tokenError(ctx context.Context, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		te := &TokenError{Code: re.ErrorCode, Reason: re.ErrorDescription}
		if re.Response != nil {
			te.Status = re.Response.StatusCode
		}
		var body struct {
			Reason string `json:"reason"`
			Error  string `json:"error"`
		}
		if json.Unmarshal(re.Body, &body) != nil {
			// An answer cut at maxTokenBody: what can be read of it.
			scanFields(re.Body, func(key string, raw json.RawMessage, cut string) {
				switch key {
				case "error":
					_ = json.Unmarshal(raw, &body.Error)
				case "reason":
					body.Reason = cut
					_ = json.Unmarshal(raw, &body.Reason)
				}
			})
		}
		if te.Code == "" {
			te.Code = body.Error
		}
		if body.Reason != "" {
			te.Reason = body.Reason
		}
		te.Code, te.Reason = sanitize.Field(te.Code), sanitize.Message(te.Reason)
		return te
	}
	var ne net.Error
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return &TokenError{Timeout: true, err: err, Reason: fmt.Sprintf("no answer within %s (--zoom.request-timeout)", c.timeout)}
	}
	// Transport errors name the token URL, which holds no credential.
	return &TokenError{Reason: sanitize.Message(err.Error()), err: err}
}

// cappedBodyTransport cuts every answer's body at max bytes.
type cappedBodyTransport struct {
	base http.RoundTripper
	max  int64
}

func (t cappedBodyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err == nil && resp.Body != nil {
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.LimitReader(resp.Body, t.max), resp.Body}
	}
	return resp, err
}
