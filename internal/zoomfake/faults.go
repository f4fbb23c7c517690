package zoomfake

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// FaultKind selects how an injected fault damages a response.
type FaultKind int

const (
	// FaultServerError answers with a 5xx (Fault.Status, default 500) and a Zoom JSON body.
	FaultServerError FaultKind = iota + 1
	// FaultSlow waits Fault.Delay, then answers normally; it gives up early
	// when the client cancels.
	FaultSlow
	// FaultMalformedJSON answers 200 with a body that is not valid JSON.
	FaultMalformedJSON
	// FaultTruncated computes the real answer, declares its full
	// Content-Length, writes half of it and closes the connection.
	FaultTruncated
	// FaultShortPage computes the real listing page and drops its last row,
	// keeping total_records: a listing that does not add up, which clients
	// must not take as complete (zoom-api.md section 2).
	FaultShortPage
)

func (k FaultKind) String() string {
	switch k {
	case FaultServerError:
		return "server-error"
	case FaultSlow:
		return "slow"
	case FaultMalformedJSON:
		return "malformed-json"
	case FaultTruncated:
		return "truncated"
	case FaultShortPage:
		return "short-page"
	}
	return "unknown"
}

// Fault describes trouble to inject into matching requests.
type Fault struct {
	Kind FaultKind
	// Count is how many of the next matching requests get the fault; 0 means
	// every one until ClearFaults.
	Count int
	// Path is a URL path prefix. Empty matches every API request (/v2/...) but
	// not the token endpoint; "/oauth/token" takes the token endpoint down.
	// A Path ending in "$" must match whole: "/v2/report/users$" is the hosts
	// report, not the per-user reports below it.
	Path string
	// Status is the HTTP status of FaultServerError (400-599; default 500).
	Status int
	// Delay is waited before answering, for every kind (FaultSlow's point).
	Delay time.Duration
}

type activeFault struct {
	Fault
	remaining int // meaningful when Count > 0
}

// faultAction is what ServeHTTP must do for one request.
type faultAction struct {
	kind   FaultKind // 0: none
	status int
	delay  time.Duration
}

// Body of FaultMalformedJSON: starts like a report page, then breaks off
// into an HTML error page, as a misbehaving proxy might.
const malformedBody = `{"page_size":300,"total_records":3,"meetings":[{"uuid":"<html><body>502 Bad Gateway</body></html>`

// InjectFault queues f; the first queued fault matching a request applies.
func (s *Server) InjectFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Kind == FaultServerError && (f.Status < 400 || f.Status > 599) {
		f.Status = http.StatusInternalServerError
	}
	s.faults = append(s.faults, &activeFault{Fault: f, remaining: f.Count})
}

// SetServerErrorRate makes a fraction p (0..1) of API requests fail with a
// 5xx, drawn from an RNG seeded by Options.Seed. The token endpoint is
// spared; use InjectFault with Path "/oauth/token" for that.
func (s *Server) SetServerErrorRate(p float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errorRate = p
}

// ClearFaults removes every injected fault and sets the error rate to 0.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
	s.errorRate = 0
}

func (f *Fault) matches(path string) bool {
	if f.Path == "" {
		return strings.HasPrefix(path, "/v2/")
	}
	if whole, ok := strings.CutSuffix(f.Path, "$"); ok {
		return path == whole
	}
	return strings.HasPrefix(path, f.Path)
}

// takeFault picks (and uses up) the fault for a request to path.
func (s *Server) takeFault(path string) faultAction {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if !f.matches(path) {
			continue
		}
		if f.Count > 0 {
			f.remaining--
			if f.remaining <= 0 {
				s.faults = append(s.faults[:i], s.faults[i+1:]...)
			}
		}
		return faultAction{kind: f.Kind, status: f.Status, delay: f.Delay}
	}
	if s.errorRate > 0 && strings.HasPrefix(path, "/v2/") && s.faultRNG.Float64() < s.errorRate {
		statuses := []int{500, 502, 503}
		return faultAction{kind: FaultServerError, status: statuses[s.faultRNG.IntN(len(statuses))]}
	}
	return faultAction{}
}

func serverErrorMessage(status int) string {
	if t := http.StatusText(status); t != "" {
		return t
	}
	return "Internal Error"
}

// sleepContext waits d unless the request is cancelled first; it reports
// whether the full wait happened.
func sleepContext(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// writeTruncated sends rep's headers with the full Content-Length but only
// half the body, then drops the connection so the client sees an early EOF.
// shortPage drops the last row of a listing page (users or meetings) and
// keeps every other field, total_records included; other answers pass.
func shortPage(rep reply) reply {
	if rep.status != http.StatusOK {
		return rep
	}
	var page map[string]json.RawMessage
	if json.Unmarshal(rep.body, &page) != nil {
		return rep
	}
	for _, key := range []string{"users", "meetings"} {
		var rows []json.RawMessage
		if json.Unmarshal(page[key], &rows) != nil || len(rows) == 0 {
			continue
		}
		page[key], _ = json.Marshal(rows[:len(rows)-1])
	}
	body, err := json.Marshal(page)
	if err != nil {
		return rep
	}
	rep.body = body
	return rep
}

func writeTruncated(w http.ResponseWriter, rep reply) {
	h := w.Header()
	for k, v := range rep.header {
		h[k] = v
	}
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(rep.body)))
	w.WriteHeader(rep.status)
	_, _ = w.Write(rep.body[:len(rep.body)/2])
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	if conn, _, err := rc.Hijack(); err == nil {
		_ = conn.Close()
	}
	// Without hijacking (HTTP/2), net/http itself closes a connection whose
	// handler wrote less than the declared Content-Length.
}
