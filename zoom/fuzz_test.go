package zoom

// Fuzz targets for everything the exporter decodes from the network: report
// pages, user and host listings, Zoom's times, whole API answers (status,
// rate-limit headers and body) through the client, and token endpoint
// answers through the token cache. `go test` runs their seed corpora
// (testdata/fuzz/<target>/ and the f.Add seeds); to fuzz one for longer:
//
//	go test -run '^$' -fuzz '^FuzzAPIResponse$' -fuzztime 10m ./zoom
//
// The report pages' figures are fuzzed where they are counted, in scrape.

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var fuzzNow = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// fuzzSecret and fuzzToken are what must never show in an error.
const (
	fuzzClientID = "fuzz-client-id"
	fuzzSecret   = "FUZZ-s3cr3t-value-0b1c2d3e4f"
	fuzzToken    = "FUZZ-access-token-9f8e7d6c5b4a"
)

// fuzzTransport answers the token endpoint and the API from memory.
type fuzzTransport struct {
	tokenStatus int
	tokenType   string // Content-Type of the token answer
	tokenBody   []byte

	apiStatus int
	apiHeader http.Header
	apiBody   []byte
	apiCalls  int
}

func (ft *fuzzTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	resp := &http.Response{Header: http.Header{}, Request: r, ProtoMajor: 1, ProtoMinor: 1}
	switch {
	case r.URL.Path == "/oauth/token":
		resp.StatusCode = ft.tokenStatus
		resp.Header.Set("Content-Type", ft.tokenType)
		resp.Body = io.NopCloser(bytes.NewReader(ft.tokenBody))
	case r.URL.Query().Get("next_page_token") != "":
		// Later pages are empty: one fuzzed page per call.
		resp.StatusCode = http.StatusOK
		resp.Body = io.NopCloser(strings.NewReader(`{"meetings":[]}`))
	default:
		ft.apiCalls++
		resp.StatusCode = ft.apiStatus
		resp.Header = ft.apiHeader.Clone()
		resp.Body = io.NopCloser(bytes.NewReader(ft.apiBody))
	}
	resp.Status = strconv.Itoa(resp.StatusCode)
	return resp, nil
}

func fuzzClient(t *testing.T, ft *fuzzTransport) *Client {
	t.Helper()
	c, err := NewClient(ClientConfig{
		APIURL:         "http://zoom.invalid/v2",
		TokenURL:       "http://zoom.invalid/oauth/token",
		AccountID:      "fuzz-account",
		ClientID:       fuzzClientID,
		ClientSecret:   fuzzSecret,
		Limits:         Limits{HeavyPerSecond: 1e9, MediumPerSecond: 1e9, HeavyPerDay: 1 << 30},
		DailyBudget:    1 << 30,
		Timeout:        5 * time.Second,
		MaxRetries:     1,
		RetryBaseDelay: time.Nanosecond,
		MaxQPSRetries:  1,
		HTTPClient:     &http.Client{Transport: ft},
		Now:            func() time.Time { return fuzzNow },
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// leaks reports which credential shows in s though the answer did not hold it.
func leaks(s string, answer []byte) string {
	basic := base64.StdEncoding.EncodeToString([]byte(fuzzClientID + ":" + fuzzSecret))
	for _, secret := range []string{fuzzSecret, fuzzToken, basic} {
		if strings.Contains(s, secret) && !bytes.Contains(answer, []byte(secret)) {
			return secret
		}
	}
	return ""
}

// FuzzTokenResponse feeds token endpoint answers to the token cache: it
// never panics, returns a token exactly when it succeeds, always returns a
// *TokenError otherwise, and never puts the secret in an error.
func FuzzTokenResponse(f *testing.F) {
	f.Add(200, "application/json", []byte(`{"access_token":"`+fuzzToken+`","token_type":"bearer","expires_in":3600,"scope":"report:read:admin user:read:admin","api_url":"https://api.zoom.us"}`))
	f.Add(400, "application/json", []byte(`{"reason":"Invalid client_id or client_secret","error":"invalid_client"}`))
	f.Add(200, "application/json", []byte(`{"token_type":"bearer","expires_in":3600}`))
	f.Add(200, "application/x-www-form-urlencoded", []byte(`access_token=`+fuzzToken+`&expires_in=60`))
	f.Add(503, "text/html", []byte(`<html>Service Unavailable</html>`))
	f.Add(200, "application/json", []byte(`{"access_token":"`+fuzzToken+`","expires_in":-7}`))
	f.Fuzz(func(t *testing.T, status int, contentType string, body []byte) {
		if status < 100 || status > 999 {
			return // not an HTTP status: net/http would refuse the answer
		}
		ft := &fuzzTransport{tokenStatus: status, tokenType: contentType, tokenBody: body}
		c := fuzzClient(t, ft)
		token, err := c.tokens.Token(context.Background())
		valid, _ := c.TokenState()
		if err != nil {
			var te *TokenError
			if !errors.As(err, &te) {
				t.Fatalf("token error %T is not a *TokenError: %v", err, err)
			}
			if token != "" || valid {
				t.Fatalf("failed token request returned token %q, state valid %v", token, valid)
			}
			if s := leaks(err.Error(), body); s != "" {
				t.Fatalf("token error shows %q: %v", s, err)
			}
			return
		}
		if token == "" || !valid {
			t.Fatalf("token request succeeded with token %q, state valid %v", token, valid)
		}
	})
}

// FuzzAPIResponse feeds whole API answers, rate-limit headers included, to
// a report call through the client: it never panics nor loops, succeeds only
// on a 2xx that decodes, keeps the figures sane, turns a daily 429 into a
// pause until Retry-After, and never shows the access token or the secret.
func FuzzAPIResponse(f *testing.F) {
	tokenBody := []byte(`{"access_token":"` + fuzzToken + `","token_type":"bearer","expires_in":3600}`)
	f.Add(200, "", "", []byte(`{"next_page_token":"","meetings":[{"uuid":"u1","type":2,"duration":30,"total_minutes":90,"participants_count":3}]}`))
	f.Add(200, "", "", []byte(`{"next_page_token":"more","meetings":[{"uuid":"u1","type":2,"duration":30}]}`))
	f.Add(429, "Daily-limit", "2026-11-21T00:00:00Z", []byte(`{"code":429,"message":"You have reached the maximum daily rate limit for this API. Refer to the response header for details on when you can make another request."}`))
	f.Add(429, "QPS", "", []byte(`{"code":429,"message":"You have reached the maximum per-second rate limit for this API. Try again later."}`))
	f.Add(429, "", "", []byte(`{"code":429,"message":"daily"}`))
	f.Add(401, "", "", []byte(`{"code":124,"message":"Invalid access token."}`))
	f.Add(404, "", "", []byte(`{"code":1001,"message":"User x not exist or not belong to this account."}`))
	f.Add(400, "", "", []byte(`{"code":300,"message":"The next page token is invalid or expired."}`))
	f.Add(502, "", "", []byte(`<html>Bad Gateway</html>`))
	f.Add(200, "", "", []byte(`{"page_size":300,"total_records":3,"meetings":[{"uuid":"<html><body>502 Bad Gateway</body></html>`))
	f.Fuzz(func(t *testing.T, status int, limitType, retryAfterValue string, body []byte) {
		if status < 100 || status > 999 || !utf8.ValidString(limitType+retryAfterValue) ||
			strings.ContainsAny(limitType+retryAfterValue, "\r\n\x00") {
			return // net/http never delivers such an answer
		}
		header := http.Header{}
		header.Set("x-zm-trackingid", "v=2.0;clid=fuzz;rid=WEB_1")
		if limitType != "" {
			header.Set("X-RateLimit-Type", limitType)
			header.Set("X-RateLimit-Category", "Heavy")
			header.Set("X-RateLimit-Remaining", "0")
		}
		if retryAfterValue != "" {
			header.Set("Retry-After", retryAfterValue)
		}
		ft := &fuzzTransport{tokenStatus: 200, tokenType: "application/json", tokenBody: tokenBody, apiStatus: status, apiHeader: header, apiBody: body}
		c := fuzzClient(t, ft)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		meetings, err := c.UserMeetings(ctx, "user@example.com", fuzzNow.AddDate(0, 0, -19), fuzzNow, ReportPast)
		if ft.apiCalls > 8 {
			t.Fatalf("one answer made the client call %d times", ft.apiCalls)
		}
		if err == nil {
			if status < 200 || status > 299 {
				t.Fatalf("HTTP %d accepted as a report", status)
			}
			seen := make(map[string]bool, len(meetings))
			for _, m := range meetings {
				if m.UUID != "" && seen[m.UUID] {
					t.Fatalf("meeting %q returned twice", m.UUID)
				}
				seen[m.UUID] = true
			}
			return
		}
		if s := leaks(err.Error(), body); s != "" {
			t.Fatalf("error shows %q: %v", s, err)
		}
		var quota *DailyQuotaError
		if errors.As(err, &quota) {
			if status != http.StatusTooManyRequests {
				t.Fatalf("daily quota error for HTTP %d", status)
			}
			if want, _ := retryAfter(retryAfterValue, fuzzNow); !quota.Until.Equal(want) {
				t.Fatalf("paused until %v, want %v (Retry-After %q)", quota.Until, want, retryAfterValue)
			}
			if paused := c.HeavyPausedUntil(); quota.Until.After(fuzzNow) && !paused.Equal(quota.Until) {
				t.Fatalf("Heavy calls paused until %v, want %v", paused, quota.Until)
			}
		}
		var apiErr *APIError
		if errors.As(err, &apiErr) && apiErr.Status != status {
			t.Fatalf("APIError status %d for HTTP %d", apiErr.Status, status)
		}
	})
}
