package zoomfake

import (
	"net/http"
	"net/url"
	"strconv"
	"time"
)

const (
	defaultPageSize = 30
	maxPageSize     = 300
)

// pageToken remembers where a listing stopped and which query it belongs to.
type pageToken struct {
	bind    string // user and every other query parameter, normalised
	offset  int
	expires time.Time
}

// parsePageSize: larger values are capped at 300 as documented. Zoom's answer
// to a non-numeric or non-positive page_size is not documented; we use the
// default rather than refuse.
func parsePageSize(v string) int {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return defaultPageSize
	}
	return min(n, maxPageSize)
}

func invalidPageToken() reply {
	return errorReply(http.StatusBadRequest, 300, "The next page token is invalid or expired.")
}

// page works out one page of a listing of total items for the query q. bind
// identifies the listing (endpoint, user, other parameters); the page size is
// added to it, so a token only works with exactly the query that produced it.
// Listings are offsets into the live, ordered data: items added meanwhile may
// shift a later page, as with any server that does not snapshot (clients must
// de-duplicate by uuid anyway).
//
// With Options.PageNumberPaging the listing pages by page_number and
// page_count only, with no next_page_token, as recorded real answers of
// 2018-2019 did (zoom-api.md section 2). Otherwise next_page_token leads on;
// a page_number query without a token is honoured in both modes, and every
// page says its page_number.
type page struct {
	start, end, size, count, number int
	next                            string
}

func (s *Server) pageLocked(q url.Values, bind string, total int, now time.Time) (page, *reply) {
	p := page{size: parsePageSize(q.Get("page_size"))}
	bind += "|" + strconv.Itoa(p.size)
	tok := q.Get("next_page_token")
	switch {
	case tok != "" && !s.opts.PageNumberPaging:
		pt, ok := s.pageTokens[tok]
		if !ok || pt.bind != bind || !now.Before(pt.expires) {
			rep := invalidPageToken()
			return p, &rep
		}
		p.start = min(pt.offset, total)
	case q.Get("page_number") != "":
		// Zoom does not document its answer to a bad page_number; we
		// refuse it like other invalid parameters.
		n, err := strconv.Atoi(q.Get("page_number"))
		if err != nil || n < 1 {
			rep := errorReply(http.StatusBadRequest, 300, "Invalid field: page_number must be a positive integer.")
			return p, &rep
		}
		p.start = min((n-1)*p.size, total)
	}
	p.end = min(p.start+p.size, total)
	p.count = (total + p.size - 1) / p.size
	p.number = p.start/p.size + 1
	if p.end < total && !s.opts.PageNumberPaging {
		p.next = s.issuePageTokenLocked(bind, p.end, now)
	}
	return p, nil
}

// issuePageTokenLocked hands out a token; it stays usable (also more than
// once, so a client may retry a failed page) until it expires.
func (s *Server) issuePageTokenLocked(bind string, offset int, now time.Time) string {
	if len(s.pageTokens) > 512 {
		for k, pt := range s.pageTokens {
			if !now.Before(pt.expires) {
				delete(s.pageTokens, k)
			}
		}
	}
	tok := randomString(32)
	s.pageTokens[tok] = pageToken{bind: bind, offset: offset, expires: now.Add(s.opts.PageTokenTTL)}
	return tok
}
