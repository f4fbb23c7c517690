package scrape

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// tokenRenewMargin renews a token this long before Zoom says it expires, so a
// request never leaves with a token that dies on the way (zoom-api.md section 1).
const tokenRenewMargin = time.Minute

// tokenCache holds the one access token of the process. Server-to-Server
// OAuth has no refresh token: a new token is simply requested again.
type tokenCache struct {
	conf    clientcredentials.Config
	http    *http.Client
	now     func() time.Time
	metrics *clientMetrics

	mu      sync.Mutex
	token   string
	expires time.Time // by c.now
}

func newTokenCache(tokenURL, accountID, clientID, clientSecret string, httpClient *http.Client, now func() time.Time, m *clientMetrics) *tokenCache {
	return &tokenCache{
		conf: clientcredentials.Config{
			ClientID:     clientID,
			ClientSecret: clientSecret,
			TokenURL:     tokenURL,
			AuthStyle:    oauth2.AuthStyleInHeader,
			EndpointParams: url.Values{
				"grant_type": {"account_credentials"},
				"account_id": {accountID},
			},
		},
		http:    httpClient,
		now:     now,
		metrics: m,
	}
}

// Token returns the cached token, or a new one when there is none or it is
// within tokenRenewMargin of expiring. Concurrent callers share one request.
func (c *tokenCache) Token(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" && c.now().Before(c.expires.Add(-tokenRenewMargin)) {
		return c.token, nil
	}
	c.token = ""
	c.metrics.tokenRequests.Inc()
	requested := time.Now()
	tok, err := c.conf.Token(context.WithValue(ctx, oauth2.HTTPClient, c.http))
	if err != nil {
		c.metrics.tokenFailures.Inc()
		return "", tokenError(err)
	}
	if tok.AccessToken == "" {
		c.metrics.tokenFailures.Inc()
		return "", &TokenError{Status: http.StatusOK, Reason: "token endpoint answered without an access_token"}
	}
	// oauth2 turns expires_in into an Expiry on the wall clock; carry the
	// lifetime over to our clock so tests can move time.
	lifetime := time.Hour
	if !tok.Expiry.IsZero() {
		lifetime = tok.Expiry.Sub(requested)
	}
	c.token = tok.AccessToken
	c.expires = c.now().Add(lifetime)
	return c.token, nil
}

// Invalidate drops token if it is still the cached one, after Zoom refused it.
func (c *tokenCache) Invalidate(token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token == token {
		c.token = ""
	}
}

// State describes the cached token for status pages: never the token itself.
func (c *tokenCache) State() (valid bool, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.token != "", c.expires
}

// tokenError turns what oauth2 returns into a TokenError that keeps Zoom's
// reason but no request details (the Basic header holds the secret).
func tokenError(err error) error {
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
		if json.Unmarshal(re.Body, &body) == nil {
			if te.Code == "" {
				te.Code = body.Error
			}
			if body.Reason != "" {
				te.Reason = body.Reason
			}
		}
		return te
	}
	// Transport errors name the token URL, which holds no credential.
	return &TokenError{Reason: err.Error()}
}
