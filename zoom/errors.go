package zoom

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/zoomexporter/zoom_exporter/internal/sanitize"
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

	answer *APIError // Zoom's 429; nil when the client refused without calling
}

func (e *DailyQuotaError) Error() string {
	return fmt.Sprintf("zoom API %s: daily rate limit reached; Heavy calls paused until %s", e.Endpoint, e.Until.UTC().Format(time.RFC3339))
}

// TokenError is a failure to get an access token. It never carries the
// client secret or any token: only what the token endpoint said, bounded.
type TokenError struct {
	Status  int    // HTTP status from the token endpoint; 0 when it was not reached
	Code    string // OAuth "error", e.g. invalid_client
	Reason  string // Zoom's "reason" or the transport error
	Timeout bool   // no answer within the request timeout

	err       error // the transport error, for errors.Is/As
	shortLife bool  // the token's lifetime (expires_in) made it unusable
}

// Unwrap gives the transport error (e.g. context.DeadlineExceeded), if any.
func (e *TokenError) Unwrap() error { return e.err }

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

// temporary reports whether retrying the token request at once may help.
// A timeout is not: it already waited the whole request timeout; nor is a
// token whose lifetime was the trouble.
func (e *TokenError) temporary() bool {
	return !e.Timeout && !e.shortLife && (e.Status == 0 || e.Status >= 500 || e.Status == 429)
}

// boundedError shows at most sanitize.MaxMessage of an error whose text may
// hold what a server sent, cleaned of control characters, and keeps the
// error itself for errors.Is/As.
type boundedError struct{ err error }

func (e boundedError) Error() string { return sanitize.Message(e.err.Error()) }
func (e boundedError) Unwrap() error { return e.err }

func bounded(err error) error {
	if err == nil {
		return nil
	}
	return boundedError{err}
}

// errBodyTooLarge marks an answer over the body cap: the same answer would
// come back, so it is not retried.
var errBodyTooLarge = errors.New("response body too large")

// Failure is the last failure of one kind (token or API) for the status
// page: what happened, how often in a row, and one sentence of what to do.
// It never holds the client secret or a token; every text in it is bounded.
type Failure struct {
	When       time.Time // the latest occurrence
	Count      int       // how many times in a row
	Endpoint   string    // API route template, or the token URL
	Status     int       // HTTP status; 0 when no answer came
	Code       string    // Zoom's code (API) or OAuth error (token)
	Message    string    // Zoom's message or reason, or the transport error; bounded
	TrackingID string    // x-zm-trackingid, when Zoom sent one
	Hint       string    // what to do, for the common failures; "" otherwise
}

// sameKind tells a repeat from a new failure.
func (f *Failure) sameKind(g *Failure) bool {
	return f.Endpoint == g.Endpoint && f.Status == g.Status && f.Code == g.Code && f.Hint == g.Hint
}

// kind names the failure for rate-limited logging.
func (f *Failure) kind() string {
	return fmt.Sprintf("%s|%d|%s|%s", f.Endpoint, f.Status, f.Code, f.Hint)
}

// Hints for the common failures (issue: the first failure is visible where
// the operator looks).
const (
	hintInvalidClient = "Check the client id (--zoom.client-id), the client secret (ZOOM_CLIENT_SECRET or --zoom.client-secret-file) and the account id (--zoom.account-id) against the app's credentials in the Zoom App Marketplace."
	hintAccountID     = "Check the account id (--zoom.account-id) against the app's credentials in the Zoom App Marketplace."
	hintTokenNetwork  = "Zoom's token endpoint did not answer: check the network path to it (DNS, proxy, firewall) and --zoom.token-url."
	hintAPINetwork    = "The Zoom API did not answer: check the network path to it (DNS, proxy, firewall) and --zoom.api-url."
	hintPaidAccount   = "Zoom's reports need a Pro or higher plan: this account is not on a paid plan."
	hintDailyQuota    = "The account's daily quota of Heavy (report) calls is spent, by this exporter and the other apps on the account; calls resume after 00:00 UTC. Lower --zoom.daily-budget to leave more of it to other apps."
)

// hintScope names the scope a 4711 answer lacks, or the one the endpoint needs.
func hintScope(endpoint, message string) string {
	scope := ""
	if _, rest, ok := strings.Cut(message, "scopes:["); ok {
		scope, _, _ = strings.Cut(rest, "]")
	}
	if scope == "" {
		scope = "report:read:admin"
		if endpoint == endpointUsers {
			scope = "user:read:admin"
		}
	}
	return "Add the scope " + sanitize.Field(scope) + " to the app in the Zoom App Marketplace (the exporter needs report:read:admin and user:read:admin), then activate the app again."
}

// failure describes a token error for the status page.
func (e *TokenError) failure(endpoint string, now time.Time) *Failure {
	f := &Failure{When: now, Endpoint: endpoint, Status: e.Status, Code: e.Code, Message: sanitize.Message(e.Reason)}
	reason := strings.ToLower(e.Reason)
	switch {
	case e.Code == "invalid_client":
		f.Hint = hintInvalidClient
	case e.Code == "invalid_request" && strings.Contains(reason, "account"):
		f.Hint = hintAccountID
	case e.Timeout || (e.Status == 0 && e.err != nil):
		f.Hint = hintTokenNetwork
	}
	return f
}

// apiFailure describes an API error for the status page; nil when err is
// not Zoom's or the network's doing (a cancelled refresh, the exporter's own
// budget or pause, a token failure recorded on its own).
func apiFailure(endpoint string, err error, now time.Time) *Failure {
	var (
		te     *TokenError
		apiErr *APIError
		quota  *DailyQuotaError
		budget *BudgetExhaustedError
	)
	switch {
	case errors.As(err, &te), errors.As(err, &budget), errors.Is(err, context.Canceled):
		return nil
	case errors.As(err, &quota):
		if quota.answer == nil {
			return nil // refused by our own pause: no call went out
		}
		apiErr = quota.answer
	}
	if apiErr != nil || errors.As(err, &apiErr) {
		f := &Failure{When: now, Endpoint: apiErr.Endpoint, Status: apiErr.Status, Message: apiErr.Message, TrackingID: apiErr.TrackingID}
		if apiErr.Code != 0 {
			f.Code = strconv.Itoa(apiErr.Code)
		}
		lower := strings.ToLower(apiErr.Message)
		switch {
		case apiErr.Code == 4711 || strings.Contains(lower, "does not contain scopes"):
			f.Hint = hintScope(apiErr.Endpoint, apiErr.Message)
		case apiErr.Code == 200 && strings.Contains(lower, "paid account"):
			f.Hint = hintPaidAccount
		case quota != nil:
			f.Hint = hintDailyQuota
		}
		return f
	}
	f := &Failure{When: now, Endpoint: endpoint, Message: sanitize.Message(err.Error())}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) {
		f.Hint = hintAPINetwork
	}
	return f
}

// failureBook keeps the last token and API failures and rate-limits their
// logging: one line per failure kind per interval at most.
type failureBook struct {
	logEvery time.Duration

	mu     sync.Mutex
	token  *Failure
	api    *Failure
	logged map[string]time.Time // failure kind -> when it was last logged
}

func newFailureBook(logEvery time.Duration) *failureBook {
	return &failureBook{logEvery: logEvery, logged: make(map[string]time.Time)}
}

// shouldLog reports whether a failure of kind may be logged now.
func (b *failureBook) shouldLog(kind string, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.shouldLogLocked(kind, now)
}

func (b *failureBook) shouldLogLocked(kind string, now time.Time) bool {
	if last, ok := b.logged[kind]; ok && now.Sub(last) < b.logEvery && !now.Before(last) {
		return false
	}
	if len(b.logged) > 64 { // kinds are few; never let the map grow
		clear(b.logged)
	}
	b.logged[kind] = now
	return true
}

// record keeps f in *slot, counting repeats, and says whether to log it.
func (b *failureBook) record(slot **Failure, f *Failure, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	f.Count = 1
	if old := *slot; old != nil && old.sameKind(f) {
		f.Count = old.Count + 1
	}
	*slot = f
	return b.shouldLogLocked(f.kind(), now)
}

func (b *failureBook) recordToken(f *Failure, now time.Time) bool { return b.record(&b.token, f, now) }

func (b *failureBook) recordAPI(f *Failure, now time.Time) { b.record(&b.api, f, now) }

func (b *failureBook) clearToken() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.token = nil
}

// clearAPI forgets the last API failure once its endpoint works again.
func (b *failureBook) clearAPI(endpoint string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.api != nil && b.api.Endpoint == endpoint {
		b.api = nil
	}
}

func (b *failureBook) last() (token, api *Failure) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.token != nil {
		t := *b.token
		token = &t
	}
	if b.api != nil {
		a := *b.api
		api = &a
	}
	return token, api
}
