// Package zoomfake is an in-process fake of the Zoom REST API (Server-to-Server
// OAuth token endpoint, user listing and the Heavy report endpoints) for tests
// and the exporter's demo mode, plus live meetings that emit Zoom's events over
// a WebSocket endpoint and signed webhooks (events.go). It follows
// /work/shared/zoom-api.md and zoom/testdata/events; where those are silent
// the choice made is commented at the place it is made.
//
// Typical use:
//
//	fake := zoomfake.New(zoomfake.Options{Seed: 1, Now: clock.Now})
//	srv := httptest.NewServer(fake)
//	apiURL, tokenURL := srv.URL+"/v2", srv.URL+"/oauth/token"
package zoomfake

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults applied by New when the matching Options field is zero.
const (
	DefaultAccountID         = "fake-account"
	DefaultClientID          = "fake-client-id"
	DefaultClientSecret      = "fake-client-secret"
	DefaultUsers             = 25
	DefaultTokenLifetime     = time.Hour
	DefaultPageTokenTTL      = 15 * time.Minute
	DefaultHeavyUserMeetings = 700
	// AccountName is the organisation name reported as host_organization for
	// meetings hosted inside the fake account.
	AccountName = "Example Corp"
)

// Plans accepted in Options.Plan.
const (
	PlanPro      = "pro"
	PlanBusiness = "business"
)

// Endpoint names used as keys by Calls and CallCount.
const (
	EndpointToken        = "POST /oauth/token"
	EndpointUsers        = "GET /v2/users"
	EndpointHostsReport  = "GET /v2/report/users"
	EndpointUserMeetings = "GET /v2/report/users/{userId}/meetings"
	EndpointEvents       = "GET /ws" // the WebSocket event endpoint (websocket.go)
	// The account reports (account.go).
	EndpointCloudRecording = "GET /v2/report/cloud_recording"
	EndpointDailyReport    = "GET /v2/report/daily"
	EndpointOther          = "other"
)

// Options configures a fake server. Zero values select the defaults.
type Options struct {
	Seed  int64 // seeds all synthetic data: same Seed and Now give the same account
	Users int   // active users (default 25); 2 inactive and 1 pending user are added
	// Now is the clock of every time rule and of the generated data. It is
	// required: the account depends on the date (this month's meetings lie
	// between the 1st and Now), so a test pins it rather than reading the
	// wall clock; the demo passes time.Now.
	Now func() time.Time

	AccountID, ClientID, ClientSecret string // defaults DefaultAccountID, DefaultClientID, DefaultClientSecret

	TokenLifetime time.Duration // access token lifetime (default 1h)
	PageTokenTTL  time.Duration // next_page_token lifetime (default 15m)

	Plan            string // PlanPro (default) or PlanBusiness: selects per-second and daily limits
	RateLimits      bool   // enforce per-second limits; the daily Heavy quota is always enforced
	DailyHeavyLimit int    // overrides the plan's daily Heavy quota when > 0

	// HeavyUserMeetings is how many meetings with two or more participants
	// (what type=past returns) user index 0 hosted in the current month, so the
	// report spans several pages; a few one-participant meetings come on top.
	// Default 700. The meetings are placed between the 1st and Now, so Now
	// must be at least a few minutes into the month.
	HeavyUserMeetings int

	// Organisation makes the account look like a plausible organisation on
	// every date, for the demo: a spread of idle licences and light, regular
	// and heavy hosts, a few webinar hosts, meetings in each user's working
	// hours (one at a time per host, weekends quiet) over the six months
	// before Now and the current month up to Now. HeavyUserMeetings is
	// ignored, and AddRandomMeetings adds meetings that end at now, hosted by
	// the least recently busy of a few users drawn. Off (the default) keeps
	// the data every other test's ground truth depends on.
	Organisation bool

	// PageNumberPaging makes every listing page by page_number and
	// page_count with no next_page_token, as real answers were recorded
	// doing (zoom-api.md section 2); the default pages by next_page_token.
	PageNumberPaging bool

	// Events (events.go, websocket.go, webhook.go).

	// ReportLag is how long after EndMeeting's end time the meeting reaches
	// the reports, as Zoom's reports lag the end by minutes. 0: at once.
	ReportLag time.Duration
	// SubscriptionID is the WebSocket subscription id /ws accepts (default
	// DefaultSubscriptionID).
	SubscriptionID string
	// WebSocketIdleTimeout closes a WebSocket connection that sent no
	// heartbeat for this long (default DefaultWebSocketIdleTimeout; negative:
	// never). Zoom does not document its own.
	WebSocketIdleTimeout time.Duration
	// WebSocketCloseOnTokenExpiry closes a connection, after an "Invalid
	// Token" frame, once its access token expires or is revoked (Zoom
	// probably does; undocumented). Off by default.
	WebSocketCloseOnTokenExpiry bool
	// WebSocketInvalidToken is the content of the frame refusing a bad or
	// expired token (default "Invalid Token"; Zoom said "Token is invalid"
	// in 2025).
	WebSocketInvalidToken string
	// WebSocketBuffer is how many frames wait for one client (default
	// 4096); a client further behind is disconnected.
	WebSocketBuffer int
	// EventPollInterval is the real-time period at which the time rules
	// (idle timeout, token expiry, webhook retries) are checked against Now
	// (default 20ms).
	EventPollInterval time.Duration
	// EventLogSize bounds Events and WebhookAttempts (default 10000; the
	// oldest are forgotten).
	EventLogSize int

	// WebhookURL, when set, receives every event as a POST signed with
	// WebhookSecretToken (SetWebhook changes both later).
	WebhookURL, WebhookSecretToken string
	// WebhookRetryDelays are the waits before each retry of a delivery that
	// got a 5xx or a network error. Nil: Zoom's 5m, 20m, 60m; empty: none.
	WebhookRetryDelays []time.Duration
	// WebhookTimeout is how long a delivery waits for the answer (default 3s,
	// Zoom's limit); a later answer counts as a network error.
	WebhookTimeout time.Duration
	// WebhookQueueSize bounds deliveries waiting to be sent (default 10000);
	// events beyond it are not sent and counted in WebhookDropped.
	WebhookQueueSize int
}

// Server is the fake; it implements http.Handler and is safe for concurrent use.
type Server struct {
	opts   Options
	limits planLimits

	mu sync.Mutex

	// auth
	tokens           map[string]*accessToken
	credentialsValid bool
	scopes           []string
	tokenRequests    int
	tokensIssued     int

	// data
	users        []*userRecord // listing order: active, then inactive, then pending
	usersByID    map[string]*userRecord
	usersByEmail map[string]*userRecord // lower-cased e-mail
	meetings     map[string]*Meeting    // by uuid
	byHost       map[string][]*Meeting
	byJoiner     map[string][]*Meeting
	randomRNG    *rand.Rand // AddRandomMeetings

	pageTokens map[string]pageToken

	rate            rateState
	calls           map[string]int
	userReportCalls map[string]int

	faults    []*activeFault
	errorRate float64
	faultRNG  *rand.Rand

	trackingSeq uint64

	// storageOverride replaces the cloud recording report's strings (account.go).
	storageOverride func(date time.Time) (usage, plan, free string)

	live liveState // meetings in progress and ended ones not yet reported
	hub  *eventHub // event delivery; its own lock, taken after mu
}

// New builds a fake account from opts; the data depends only on opts.Seed,
// opts.Users, opts.HeavyUserMeetings and the clock's time at this call.
func New(opts Options) *Server {
	if opts.Now == nil {
		panic("zoomfake.New: Options.Now is required; pin the clock (testenv.NewClock or testenv.NewRunningClock) so the account does not depend on today's date")
	}
	if opts.Users <= 0 {
		opts.Users = DefaultUsers
	}
	if opts.AccountID == "" {
		opts.AccountID = DefaultAccountID
	}
	if opts.ClientID == "" {
		opts.ClientID = DefaultClientID
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = DefaultClientSecret
	}
	if opts.TokenLifetime <= 0 {
		opts.TokenLifetime = DefaultTokenLifetime
	}
	if opts.PageTokenTTL <= 0 {
		opts.PageTokenTTL = DefaultPageTokenTTL
	}
	if opts.HeavyUserMeetings <= 0 {
		opts.HeavyUserMeetings = DefaultHeavyUserMeetings
	}
	if opts.Plan != PlanBusiness {
		opts.Plan = PlanPro
	}
	seed := uint64(opts.Seed)
	s := &Server{
		opts:             opts,
		limits:           limitsFor(opts.Plan, opts.DailyHeavyLimit),
		tokens:           map[string]*accessToken{},
		credentialsValid: true,
		scopes:           append([]string(nil), defaultScopes...),
		usersByID:        map[string]*userRecord{},
		usersByEmail:     map[string]*userRecord{},
		meetings:         map[string]*Meeting{},
		byHost:           map[string][]*Meeting{},
		byJoiner:         map[string][]*Meeting{},
		randomRNG:        rand.New(rand.NewPCG(seed, 0xadd)),
		pageTokens:       map[string]pageToken{},
		calls:            map[string]int{},
		userReportCalls:  map[string]int{},
		faultRNG:         rand.New(rand.NewPCG(seed, 0xfa17)),
	}
	s.initEvents()
	s.generate(s.now())
	return s
}

func (s *Server) now() time.Time { return s.opts.Now().UTC() }

// reply is a fully computed response, written in one go (or deliberately
// damaged by a fault).
type reply struct {
	status int
	header http.Header
	body   []byte
}

func jsonReply(status int, v any) reply {
	body, err := json.Marshal(v)
	if err != nil { // cannot happen with our types; answer like a broken server would
		return errorReply(http.StatusInternalServerError, 500, "Internal Error")
	}
	return reply{status: status, body: body}
}

// apiError is Zoom's error body.
type apiError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func errorReply(status, code int, message string) reply {
	return jsonReply(status, apiError{Code: code, Message: message})
}

// ServeHTTP serves /oauth/token and /v2/...
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	endpoint := endpointOf(r)
	w.Header().Set("x-zm-trackingid", s.beginRequest(endpoint))

	fault := s.takeFault(r.URL.Path)
	if fault.delay > 0 && !sleepContext(r, fault.delay) {
		return // client gave up; nobody reads an answer
	}
	switch fault.kind {
	case FaultServerError:
		writeReply(w, r, errorReply(fault.status, fault.status, serverErrorMessage(fault.status)))
		return
	case FaultMalformedJSON:
		writeReply(w, r, reply{status: http.StatusOK, body: []byte(malformedBody)})
		return
	}
	if endpoint == EndpointEvents {
		s.serveEvents(w, r)
		return
	}

	rep := s.handle(r, endpoint)
	if fault.kind == FaultShortPage {
		rep = shortPage(rep)
	}
	if fault.kind == FaultTruncated {
		writeTruncated(w, rep)
		return
	}
	writeReply(w, r, rep)
}

func (s *Server) beginRequest(endpoint string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[endpoint]++
	s.trackingSeq++
	// Shape of Zoom's header value; the number makes each response unique.
	return fmt.Sprintf("v=2.0;clid=fake;rid=WEB_%016x", s.trackingSeq)
}

func (s *Server) handle(r *http.Request, endpoint string) reply {
	switch endpoint {
	case EndpointToken:
		return s.handleToken(r)
	case EndpointOther:
		if r.URL.Path == "/oauth/token" { // wrong method on the token endpoint
			return oauthErrorReply(http.StatusMethodNotAllowed, "invalid_request", "Method Not Allowed")
		}
		if !strings.HasPrefix(r.URL.Path, "/v2/") {
			return errorReply(http.StatusNotFound, 404, "Not Found")
		}
	}
	return s.handleAPI(r, endpoint)
}

// handleAPI runs the checks every API call goes through, in the order Zoom
// most likely applies them: authentication, scope, rate limit, then the
// endpoint itself. Everything happens under the lock so that counters, data
// and page tokens stay consistent.
func (s *Server) handleAPI(r *http.Request, endpoint string) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.settleReportsLocked()

	if rep, ok := s.authenticateLocked(r, now); !ok {
		return rep
	}
	if endpoint == EndpointOther {
		return errorReply(http.StatusNotFound, 404, "Not Found")
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return errorReply(http.StatusMethodNotAllowed, 405, "Method Not Allowed")
	}
	if missing := s.missingScopeLocked(endpoint); missing != "" {
		return errorReply(http.StatusBadRequest, 4711,
			"Invalid access token, does not contain scopes:["+missing+"].")
	}
	cat := categoryOf(endpoint)
	headers, rejected := s.admitLocked(cat, now)
	var rep reply
	if rejected != nil {
		rep = *rejected
	} else {
		switch endpoint {
		case EndpointUsers:
			rep = s.listUsersLocked(r.URL.Query(), now)
		case EndpointHostsReport:
			rep = s.hostsReportLocked(r.URL.Query(), now)
		case EndpointUserMeetings:
			rep = s.userMeetingsLocked(r, now)
		case EndpointCloudRecording:
			rep = s.cloudRecordingLocked(r.URL.Query(), now)
		case EndpointDailyReport:
			rep = s.dailyReportLocked(r.URL.Query(), now)
		}
	}
	if rep.header == nil {
		rep.header = http.Header{}
	}
	for k, v := range headers {
		rep.header[k] = v
	}
	return rep
}

// endpointOf classifies a request by its escaped path, so that a %2F inside a
// userId cannot change the route.
func endpointOf(r *http.Request) string {
	p := r.URL.EscapedPath()
	switch {
	case p == "/oauth/token" && r.Method == http.MethodPost:
		return EndpointToken
	case p == "/v2/users":
		return EndpointUsers
	case p == "/v2/report/users":
		return EndpointHostsReport
	case p == "/v2/report/cloud_recording":
		return EndpointCloudRecording
	case p == "/v2/report/daily":
		return EndpointDailyReport
	case p == "/ws":
		return EndpointEvents
	}
	if _, ok := userIDSegment(p); ok {
		return EndpointUserMeetings
	}
	return EndpointOther
}

// userIDSegment returns the still-escaped {userId} of
// /v2/report/users/{userId}/meetings.
func userIDSegment(escapedPath string) (string, bool) {
	rest, ok := strings.CutPrefix(escapedPath, "/v2/report/users/")
	if !ok {
		return "", false
	}
	seg, ok := strings.CutSuffix(rest, "/meetings")
	if !ok || seg == "" || strings.Contains(seg, "/") {
		return "", false
	}
	return seg, true
}

func writeReply(w http.ResponseWriter, r *http.Request, rep reply) {
	h := w.Header()
	for k, v := range rep.header {
		h[k] = v
	}
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(rep.body)))
	w.WriteHeader(rep.status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(rep.body)
	}
}

// Calls returns how many requests reached each endpoint (keys Endpoint*),
// whatever their outcome.
func (s *Server) Calls() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.calls))
	for k, v := range s.calls {
		out[k] = v
	}
	return out
}

// CallCount returns how many requests reached one endpoint (an Endpoint* name).
func (s *Server) CallCount(endpoint string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[endpoint]
}

// UserReportCalls returns how many per-user meeting report calls named the
// user (by id or e-mail) and passed authentication and rate limiting.
func (s *Server) UserReportCalls(userIDOrEmail string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.lookupUserLocked(userIDOrEmail); u != nil {
		return s.userReportCalls[u.ID]
	}
	return 0
}
