package zoomfake

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

func TestTokenEndpoint(t *testing.T) {
	good := url.Values{"grant_type": {"account_credentials"}, "account_id": {DefaultAccountID}}
	tests := []struct {
		name         string
		id, secret   string
		body, query  url.Values
		disableCreds bool
		wantStatus   int
		wantError    string // OAuth "error" field; "" for success
	}{
		{name: "form body", id: DefaultClientID, secret: DefaultClientSecret, body: good, wantStatus: 200},
		{name: "query string", id: DefaultClientID, secret: DefaultClientSecret, query: good, wantStatus: 200},
		{name: "bad secret", id: DefaultClientID, secret: "nope", body: good, wantStatus: 400, wantError: "invalid_client"},
		{name: "bad client id", id: "who", secret: DefaultClientSecret, body: good, wantStatus: 400, wantError: "invalid_client"},
		{name: "credentials disabled", id: DefaultClientID, secret: DefaultClientSecret, body: good, disableCreds: true, wantStatus: 400, wantError: "invalid_client"},
		{name: "wrong grant", id: DefaultClientID, secret: DefaultClientSecret,
			body: url.Values{"grant_type": {"client_credentials"}, "account_id": {DefaultAccountID}}, wantStatus: 400, wantError: "unsupported_grant_type"},
		{name: "missing account", id: DefaultClientID, secret: DefaultClientSecret,
			body: url.Values{"grant_type": {"account_credentials"}}, wantStatus: 400, wantError: "invalid_request"},
		{name: "foreign account", id: DefaultClientID, secret: DefaultClientSecret,
			body: url.Values{"grant_type": {"account_credentials"}, "account_id": {"other"}}, wantStatus: 400, wantError: "invalid_request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			if tc.disableCreds {
				e.fake.SetCredentialsValid(false)
			}
			body := tc.body
			if body == nil {
				body = url.Values{}
			}
			resp, raw := e.tokenRequest(tc.id, tc.secret, body, tc.query)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.wantStatus, raw)
			}
			if tc.wantError != "" {
				var oe oauthError
				if err := json.Unmarshal(raw, &oe); err != nil || oe.Error != tc.wantError || oe.Reason == "" {
					t.Fatalf("error body %s, want error %q", raw, tc.wantError)
				}
				if tc.wantError == "invalid_client" && oe.Reason != "Invalid client_id or client_secret" {
					t.Errorf("reason %q", oe.Reason)
				}
				if e.fake.TokensIssued() != 0 {
					t.Error("a token was issued")
				}
				return
			}
			var tr map[string]any
			if err := json.Unmarshal(raw, &tr); err != nil {
				t.Fatal(err)
			}
			if tr["token_type"] != "bearer" || tr["expires_in"] != float64(3600) || tr["access_token"] == "" ||
				!strings.Contains(tr["scope"].(string), "report:read:admin") || tr["api_url"] == nil {
				t.Errorf("token reply %s", raw)
			}
			if e.fake.TokenRequests() != 1 {
				t.Errorf("TokenRequests = %d", e.fake.TokenRequests())
			}
		})
	}
}

func TestTokenMethodNotAllowed(t *testing.T) {
	e := newEnv(t, Options{})
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/oauth/token", nil)
	resp, _ := e.do(req)
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /oauth/token: %d", resp.StatusCode)
	}
}

// The exporter uses x/oauth2's client-credentials flow the way zoom-api.md
// describes; the fake must work with it unchanged.
func TestTokenWithOAuth2ClientCredentials(t *testing.T) {
	e := newEnv(t, Options{})
	cfg := clientcredentials.Config{
		ClientID:     DefaultClientID,
		ClientSecret: DefaultClientSecret,
		TokenURL:     e.srv.URL + "/oauth/token",
		AuthStyle:    oauth2.AuthStyleInHeader,
		EndpointParams: url.Values{
			"grant_type": {"account_credentials"},
			"account_id": {DefaultAccountID},
		},
	}
	client := cfg.Client(context.Background())
	resp, err := client.Get(e.srv.URL + "/v2/users?page_size=300")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if e.fake.TokensIssued() != 1 {
		t.Errorf("TokensIssued = %d", e.fake.TokensIssued())
	}
}

func TestTokenExpiryByClock(t *testing.T) {
	e := newEnv(t, Options{TokenLifetime: 10 * time.Minute})
	first := e.token()
	e.clock.Advance(5 * time.Minute)
	second := e.token() // several tokens are valid at once
	for _, tok := range []string{first, second} {
		e.getJSON(tok, "/users", 200, nil)
	}
	e.clock.Advance(5 * time.Minute) // first reaches its lifetime
	e.wantError(first, "/users", 401, 124, "Access token is expired.")
	e.getJSON(second, "/users", 200, nil)
	e.clock.Advance(5 * time.Minute)
	e.wantError(second, "/users", 401, 124, "Access token is expired.")
}

func TestRevokeTokens(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token()
	e.getJSON(tok, "/users", 200, nil)
	e.fake.RevokeTokens()
	e.wantError(tok, "/users", 401, 124, "Invalid access token.")
	e.getJSON(e.token(), "/users", 200, nil)
}

func TestBadAuthorization(t *testing.T) {
	e := newEnv(t, Options{})
	for _, h := range []string{"", "Bearer", "Bearer ", "Basic abc", "Bearer not-a-token", "bearer\tx"} {
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/v2/users", nil)
		if h != "" {
			req.Header.Set("Authorization", h)
		}
		resp, body := e.do(req)
		var ae apiError
		_ = json.Unmarshal(body, &ae)
		if resp.StatusCode != 401 || ae.Code != 124 || ae.Message != "Invalid access token." {
			t.Errorf("Authorization %q: %d %s", h, resp.StatusCode, body)
		}
	}
}

func TestMissingScope(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token()
	u := e.fake.Users()[0]
	q := monthQuery("2026-11-01", "2026-11-24")
	e.fake.SetScopes([]string{"user:read:admin"})
	e.wantError(tok, meetingsPath(u.ID, q), 400, 4711, "Invalid access token, does not contain scopes:[report:read:admin].")
	e.wantError(tok, "/report/users?"+q.Encode(), 400, 4711, "scopes:[report:read:admin]")
	e.getJSON(tok, "/users", 200, nil)

	e.fake.SetScopes([]string{"report:read:user:admin"}) // granular scope suffices for the per-user report
	e.getJSON(tok, meetingsPath(u.ID, q), 200, nil)
	e.wantError(tok, "/users", 400, 4711, "Invalid access token, does not contain scopes:[user:read:admin].")
}
