package scrape

import (
	"errors"
	"fmt"
	"time"
)

// APIError is an error answer from the Zoom API. It keeps everything Zoom
// support asks for: the HTTP status, Zoom's own code and message, and the
// x-zm-trackingid of the response.
type APIError struct {
	Endpoint   string // route template, e.g. /report/users/{userId}/meetings
	Status     int    // HTTP status
	Code       int    // Zoom's "code" field; 0 when the body had none
	Message    string // Zoom's "message" field
	TrackingID string // x-zm-trackingid header
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("zoom API %s: HTTP %d", e.Endpoint, e.Status)
	if e.Code != 0 {
		msg += fmt.Sprintf(", code %d", e.Code)
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.TrackingID != "" {
		msg += " (tracking id " + e.TrackingID + ")"
	}
	return msg
}

// Zoom error codes the client acts on (zoom-api.md sections 1, 2 and 4).
const (
	codeInvalidAccessToken = 124  // 401: token invalid or expired: renew once and retry
	codeInvalidPageToken   = 300  // 400: next_page_token invalid or expired (also used for refused date ranges)
	codeUserNotFound       = 1001 // 404: user does not exist in the account
)

// IsUserNotFound reports whether err says the user is not in the account.
func IsUserNotFound(err error) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.Status == 404 && apiErr.Code == codeUserNotFound
}

// DailyQuotaError is returned for a Heavy call while the account's daily
// Heavy quota is spent: the client refuses to call Zoom again before Until.
type DailyQuotaError struct {
	Endpoint string
	Until    time.Time
}

func (e *DailyQuotaError) Error() string {
	return fmt.Sprintf("zoom API %s: daily rate limit reached; Heavy calls paused until %s", e.Endpoint, e.Until.UTC().Format(time.RFC3339))
}

// TokenError is a failure to get an access token. It never carries the
// client secret or any token: only what the token endpoint said.
type TokenError struct {
	Status int    // HTTP status from the token endpoint; 0 when it was not reached
	Code   string // OAuth "error", e.g. invalid_client
	Reason string // Zoom's "reason" or the transport error
}

func (e *TokenError) Error() string {
	msg := "zoom OAuth token request failed"
	if e.Status != 0 {
		msg += fmt.Sprintf(": HTTP %d", e.Status)
	}
	if e.Code != "" {
		msg += ": " + e.Code
	}
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	return msg
}

// temporary reports whether retrying the token request may help.
func (e *TokenError) temporary() bool { return e.Status == 0 || e.Status >= 500 || e.Status == 429 }
