package zoomfake

import (
	"net/http"
	"strconv"
	"time"
)

// Rate-limit categories (X-RateLimit-Category values).
const (
	CategoryMedium = "Medium"
	CategoryHeavy  = "Heavy"
)

const (
	qpsMessage   = "You have reached the maximum per-second rate limit for this API. Try again later."
	dailyMessage = "You have reached the maximum daily rate limit for this API. Refer to the response header for details on when you can make another request."
)

type planLimits struct {
	heavyQPS, mediumQPS, heavyDaily int
}

func limitsFor(plan string, dailyOverride int) planLimits {
	l := planLimits{heavyQPS: 10, mediumQPS: 20, heavyDaily: 30000}
	if plan == PlanBusiness {
		l = planLimits{heavyQPS: 40, mediumQPS: 60, heavyDaily: 60000}
	}
	if dailyOverride > 0 {
		l.heavyDaily = dailyOverride
	}
	return l
}

type rateState struct {
	second     int64          // the one-second window (Unix seconds of the injected clock)
	perSecond  map[string]int // requests admitted in that window, by category
	day        string         // UTC date the daily counter belongs to
	heavyToday int
	qps429     int
	daily429   int
}

func categoryOf(endpoint string) string {
	if endpoint == EndpointUsers {
		return CategoryMedium
	}
	return CategoryHeavy
}

// rollLocked starts a new second window and a new UTC day when the clock has
// moved on.
func (s *Server) rollLocked(now time.Time) {
	if sec := now.Unix(); sec != s.rate.second || s.rate.perSecond == nil {
		s.rate.second = sec
		s.rate.perSecond = map[string]int{}
	}
	if day := now.Format(time.DateOnly); day != s.rate.day {
		s.rate.day = day
		s.rate.heavyToday = 0
	}
}

// admitLocked counts a request against its category. It returns the
// X-RateLimit-* headers for a normal answer, or the 429 to send instead.
// Requests refused with a 429 count towards neither limit.
//
// zoom-api.md does not say which limit a successful response's headers
// describe; recorded answers show a daily counter going down, so we report
// the daily quota for Heavy and the per-second limit for Medium, which has no
// daily cap. Neither carries X-RateLimit-Type, as in the recordings.
func (s *Server) admitLocked(cat string, now time.Time) (http.Header, *reply) {
	s.rollLocked(now)
	qpsLimit := s.limits.mediumQPS
	if cat == CategoryHeavy {
		qpsLimit = s.limits.heavyQPS
	}

	if cat == CategoryHeavy && s.rate.heavyToday >= s.limits.heavyDaily {
		s.rate.daily429++
		rep := errorReply(http.StatusTooManyRequests, 429, dailyMessage)
		rep.header = rateHeaders(cat, "Daily-limit", s.limits.heavyDaily, 0)
		rep.header.Set("Retry-After", nextUTCMidnight(now).Format(time.RFC3339))
		return nil, &rep
	}
	if s.opts.RateLimits && s.rate.perSecond[cat] >= qpsLimit {
		s.rate.qps429++
		rep := errorReply(http.StatusTooManyRequests, 429, qpsMessage)
		// X-RateLimit-Reset is "maybe" in zoom-api.md with no format given;
		// we leave it out, as Zoom sometimes does.
		rep.header = rateHeaders(cat, "QPS", qpsLimit, 0)
		return nil, &rep
	}

	s.rate.perSecond[cat]++
	if cat == CategoryHeavy {
		s.rate.heavyToday++
		return rateHeaders(cat, "", s.limits.heavyDaily, s.limits.heavyDaily-s.rate.heavyToday), nil
	}
	return rateHeaders(cat, "", qpsLimit, qpsLimit-s.rate.perSecond[cat]), nil
}

// rateHeaders are Zoom's X-RateLimit-* headers. Recorded real successful
// answers carry Category, Limit and Remaining but no Type (zoom-api.md
// section 4; zoom/testdata/zoomspec/ratelimit_headers.md): typ is "" for
// them, and only 429s say QPS or Daily-limit.
func rateHeaders(cat, typ string, limit, remaining int) http.Header {
	h := http.Header{}
	h.Set("X-RateLimit-Category", cat)
	if typ != "" {
		h.Set("X-RateLimit-Type", typ)
	}
	h.Set("X-RateLimit-Limit", strconv.Itoa(limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(max(remaining, 0)))
	return h
}

func nextUTCMidnight(now time.Time) time.Time {
	y, m, d := now.UTC().Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
}

// HeavyCallsToday returns the Heavy calls counted against today's (UTC, by
// the injected clock) daily quota.
func (s *Server) HeavyCallsToday() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rollLocked(s.now())
	return s.rate.heavyToday
}

// RateLimited returns how many requests got a per-second 429 and how many a
// daily 429.
func (s *Server) RateLimited() (qps, daily int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rate.qps429, s.rate.daily429
}
