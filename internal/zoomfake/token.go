package zoomfake

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Scopes a fresh token carries: the classic scopes the exporter needs.
var defaultScopes = []string{"report:read:admin", "user:read:admin"}

type accessToken struct {
	expires time.Time
}

// oauthError is the token endpoint's error body (not the API's code/message).
type oauthError struct {
	Reason string `json:"reason"`
	Error  string `json:"error"`
}

func oauthErrorReply(status int, errCode, reason string) reply {
	return jsonReply(status, oauthError{Reason: reason, Error: errCode})
}

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope"`
	APIURL      string `json:"api_url"`
}

func (s *Server) handleToken(r *http.Request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenRequests++
	now := s.now()

	id, secret, ok := r.BasicAuth()
	if !ok || !s.credentialsValid || id != s.opts.ClientID || secret != s.opts.ClientSecret {
		return oauthErrorReply(http.StatusBadRequest, "invalid_client", "Invalid client_id or client_secret")
	}
	// ParseForm merges the query string and a form-encoded body: Zoom
	// accepts the parameters in either place.
	if err := r.ParseForm(); err != nil {
		return oauthErrorReply(http.StatusBadRequest, "invalid_request", "Bad Request")
	}
	if g := r.Form.Get("grant_type"); g != "account_credentials" {
		return oauthErrorReply(http.StatusBadRequest, "unsupported_grant_type", "unsupported grant type")
	}
	// zoom-api.md does not give the error for a missing or foreign account_id;
	// invalid_request (RFC 6749 for a missing or bad parameter) is the likely one.
	switch acct := r.Form.Get("account_id"); {
	case acct == "":
		return oauthErrorReply(http.StatusBadRequest, "invalid_request", "Missing account_id")
	case acct != s.opts.AccountID:
		return oauthErrorReply(http.StatusBadRequest, "invalid_request", "Invalid account_id")
	}

	tok := "fake." + randomString(32)
	s.tokens[tok] = &accessToken{expires: now.Add(s.opts.TokenLifetime)}
	s.tokensIssued++
	s.pruneTokensLocked(now)

	// api_url points at this fake (not api.zoom.us) so that a client that
	// follows it stays on loopback.
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return jsonReply(http.StatusOK, tokenResponse{
		AccessToken: tok,
		TokenType:   "bearer",
		ExpiresIn:   int64(s.opts.TokenLifetime / time.Second),
		Scope:       strings.Join(s.scopes, " "),
		APIURL:      scheme + "://" + r.Host,
	})
}

// pruneTokensLocked forgets tokens expired for over a day; until then an
// expired token still gets "Access token is expired.".
func (s *Server) pruneTokensLocked(now time.Time) {
	for k, t := range s.tokens {
		if now.Sub(t.expires) > 24*time.Hour {
			delete(s.tokens, k)
		}
	}
}

// authenticateLocked checks the bearer token; ok is false with the 401 to send.
func (s *Server) authenticateLocked(r *http.Request, now time.Time) (reply, bool) {
	invalid := errorReply(http.StatusUnauthorized, 124, "Invalid access token.")
	scheme, tok, found := strings.Cut(r.Header.Get("Authorization"), " ")
	tok = strings.TrimSpace(tok)
	if !found || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return invalid, false
	}
	t, known := s.tokens[tok]
	if !known {
		return invalid, false
	}
	if !now.Before(t.expires) {
		return errorReply(http.StatusUnauthorized, 124, "Access token is expired."), false
	}
	return reply{}, true
}

// missingScopeLocked returns the classic scope named in the 4711 error when
// the current scopes allow neither it nor its granular equivalent.
func (s *Server) missingScopeLocked(endpoint string) string {
	var need []string
	switch endpoint {
	case EndpointUsers:
		need = []string{"user:read:admin", "user:read:list_users:admin"}
	case EndpointHostsReport:
		need = []string{"report:read:admin", "report:read:list_users:admin"}
	case EndpointUserMeetings:
		need = []string{"report:read:admin", "report:read:user:admin"}
	case EndpointCloudRecording:
		need = []string{"report:read:admin", "report:read:cloud_recording:admin"}
	case EndpointDailyReport:
		need = []string{"report:read:admin", "report:read:daily_usage:admin"}
	default:
		return ""
	}
	for _, sc := range need {
		if slices.Contains(s.scopes, sc) {
			return ""
		}
	}
	return need[0]
}

// RevokeTokens invalidates every token issued so far; the API then answers
// 401 code 124 "Invalid access token." until a new token is fetched.
func (s *Server) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
}

// SetCredentialsValid(false) makes the token endpoint reject the client
// (invalid_client), as when the secret was rotated or the app disabled.
func (s *Server) SetCredentialsValid(valid bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.credentialsValid = valid
}

// SetScopes replaces the app's scopes. Unlike real Zoom, where a token keeps
// the scopes it was issued with, this applies at once to tokens already
// issued, so a test need not force a token renewal to see a 4711.
func (s *Server) SetScopes(scopes []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scopes = append([]string(nil), scopes...)
}

// TokenRequests returns how many requests the token endpoint received,
// successful or not.
func (s *Server) TokenRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokenRequests
}

// TokensIssued returns how many access tokens were handed out.
func (s *Server) TokensIssued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokensIssued
}

// randomString returns n URL-safe characters; tokens need no determinism.
func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}
