package zoom

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/zoomexporter/zoom_exporter/internal/sanitize"
)

// PageSize is the largest page Zoom serves; fewer pages means fewer calls.
const PageSize = 300

// Bounds of one listing (README, "Status page and reliability"), so that a
// server that keeps sending page tokens cannot keep a refresh busy, nor
// spend the day's budget: a listing reads at most ceil(total_records / page
// size) + 1 pages (one of slack for rows arriving meanwhile), never more
// than its endpoint's hard cap, and stops at a page token it already
// followed.
const (
	// maxPages: /users and the hosts report, 300,000 rows at 300 a page.
	maxPages = 1000
	// maxUserReportPages: one user's report of one month, 30,000 meetings.
	maxUserReportPages = 100
	// maxPageToken: Zoom's page tokens are about 32 characters.
	maxPageToken = 1024
	// maxRowText bounds each string of a listing row (ids, e-mails, names)
	// as the page is read: a hostile page of 64 KiB names was otherwise
	// kept whole, page after page, until the listing ended (3 GB with 10
	// users). Nothing kept is longer: the scraper refuses ids over 256
	// bytes and cuts e-mails to 254, names to 128.
	maxRowText = 1024
	// maxListingBytes bounds what one listing keeps in memory (its rows,
	// about): 300,000 users of Zoom's take about 60 MB.
	maxListingBytes = 128 << 20
	// rowOverhead is about what a row takes in memory besides its strings.
	rowOverhead = 96
)

// maxPagesOf is the hard cap on one listing of endpoint.
func maxPagesOf(endpoint string) int {
	if endpoint == endpointUserMeetings {
		return maxUserReportPages
	}
	return maxPages
}

// ReportType selects meetings in GET /report/users/{userId}/meetings.
const (
	ReportPast       = "past"       // meetings with two or more participants
	ReportPastOne    = "pastOne"    // meetings with a single participant
	ReportPastJoined = "pastJoined" // meetings the user hosted or joined
)

// Meeting is one meeting instance of a user's report: only the fields the
// exporter uses, to keep memory per meeting small.
type Meeting struct {
	UUID              string `json:"uuid"`
	Type              int    `json:"type"`
	Duration          int    `json:"duration"`      // minutes
	TotalMinutes      int    `json:"total_minutes"` // all participants' minutes
	ParticipantsCount int    `json:"participants_count"`
	HasRecording      bool   `json:"has_recording"`
	HasScreenShare    bool   `json:"has_screen_share"`
	HasChat           bool   `json:"has_chat"`
	UserEmail         string `json:"user_email"`
}

// User is an account user from GET /users.
type User struct {
	ID          string `json:"id"`
	Email       string `json:"email"`
	DisplayName string `json:"display_name"`
	Type        int    `json:"type"` // license: 1 basic, 2 licensed, others per Zoom
	Dept        string `json:"dept"`
	Status      string `json:"status"`
	// LastLoginTime is when the user last signed in (ISO 8601 UTC), as
	// Zoom says it: within three days (Zoom keeps a first sign-in for
	// three days before it records a new one); absent for pending users.
	LastLoginTime string `json:"last_login_time"`
}

// HostActivity is one row of the active-hosts report GET /report/users.
type HostActivity struct {
	ID             string `json:"id"`
	Email          string `json:"email"`
	Meetings       int    `json:"meetings"`
	Participants   int    `json:"participants"`
	MeetingMinutes int    `json:"meeting_minutes"`
}

// paging is what every listing page says about the listing: Zoom pages by
// next_page_token, and some real answers by page_number and page_count with
// no token (zoom-api.md section 2). total_records is a pointer: absent is not 0.
type paging struct {
	NextPageToken string `json:"next_page_token"`
	PageSize      int    `json:"page_size"`
	PageNumber    int    `json:"page_number"`
	PageCount     int    `json:"page_count"`
	TotalRecords  *int   `json:"total_records"`
}

func (p *paging) page() *paging { return p }

type meetingsPage struct {
	paging
	Meetings []Meeting `json:"meetings"`
}

func (p *meetingsPage) rows() int { return len(p.Meetings) }

func (p *meetingsPage) bound() int {
	n := 0
	for i := range p.Meetings {
		m := &p.Meetings[i]
		m.UUID, m.UserEmail = cutRowText(m.UUID), cutRowText(m.UserEmail)
		n += rowOverhead + len(m.UUID) + len(m.UserEmail)
	}
	return n
}

type usersPage struct {
	paging
	Users []User `json:"users"`
}

func (p *usersPage) rows() int { return len(p.Users) }

func (p *usersPage) bound() int {
	n := 0
	for i := range p.Users {
		u := &p.Users[i]
		u.ID, u.Email, u.DisplayName = cutRowText(u.ID), cutRowText(u.Email), cutRowText(u.DisplayName)
		u.Dept, u.Status, u.LastLoginTime = cutRowText(u.Dept), cutRowText(u.Status), cutRowText(u.LastLoginTime)
		n += rowOverhead + len(u.ID) + len(u.Email) + len(u.DisplayName) + len(u.Dept) + len(u.Status) + len(u.LastLoginTime)
	}
	return n
}

type hostsPage struct {
	paging
	Users []HostActivity `json:"users"`
}

func (p *hostsPage) rows() int { return len(p.Users) }

func (p *hostsPage) bound() int {
	n := 0
	for i := range p.Users {
		h := &p.Users[i]
		h.ID, h.Email = cutRowText(h.ID), cutRowText(h.Email)
		n += rowOverhead + len(h.ID) + len(h.Email)
	}
	return n
}

// cutRowText cuts s to maxRowText bytes on a character boundary. The cut is
// a copy: a slice would keep the whole string in memory.
func cutRowText(s string) string {
	if len(s) <= maxRowText {
		return s
	}
	cut := maxRowText
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strings.Clone(s[:cut])
}

// listingPage is a page type listAll can follow.
type listingPage[P any] interface {
	*P
	page() *paging
	rows() int
	// bound cuts the rows' strings to maxRowText and returns about how
	// much memory the rows keep.
	bound() int
}

// UserMeetings returns every meeting of the report of userID (an id or
// e-mail) between the UTC dates of from and to, inclusive, all pages.
// Meetings are unique by UUID.
func (c *Client) UserMeetings(ctx context.Context, userID string, from, to time.Time, reportType string) ([]Meeting, error) {
	if userID == "" || userID == "me" {
		return nil, fmt.Errorf("zoom API %s: user %q cannot be reported on by a Server-to-Server app; give an id or e-mail", endpointUserMeetings, userID)
	}
	req := request{
		endpoint: endpointUserMeetings,
		path:     "/report/users/" + url.PathEscape(userID) + "/meetings",
		query:    url.Values{"from": {date(from)}, "to": {date(to)}, "type": {reportType}},
		category: categoryHeavy,
	}
	pages, err := listAll[meetingsPage](ctx, c, req)
	if err != nil {
		return nil, fmt.Errorf("report for user %s: %w", sanitize.Field(userID), err)
	}
	seen := make(map[string]int)
	var meetings []Meeting
	for _, p := range pages {
		for _, m := range p.Meetings {
			if i, dup := seen[m.UUID]; dup && m.UUID != "" {
				meetings[i] = m // a meeting that moved across pages: keep its latest figures
				continue
			}
			seen[m.UUID] = len(meetings)
			meetings = append(meetings, m)
		}
	}
	return meetings, nil
}

// ActiveUsers returns every user of the account with status active.
func (c *Client) ActiveUsers(ctx context.Context) ([]User, error) {
	req := request{
		endpoint: endpointUsers,
		path:     "/users",
		query:    url.Values{"status": {"active"}},
		category: categoryMedium,
	}
	pages, err := listAll[usersPage](ctx, c, req)
	if err != nil {
		return nil, fmt.Errorf("listing active users: %w", err)
	}
	var users []User
	for _, p := range pages {
		users = append(users, p.Users...)
	}
	return users, nil
}

// ActiveHosts returns the hosts report: every user who hosted a meeting
// between the UTC dates of from and to, with their totals.
func (c *Client) ActiveHosts(ctx context.Context, from, to time.Time) ([]HostActivity, error) {
	req := request{
		endpoint: endpointActiveHosts,
		path:     "/report/users",
		query:    url.Values{"type": {"active"}, "from": {date(from)}, "to": {date(to)}},
		category: categoryHeavy,
	}
	pages, err := listAll[hostsPage](ctx, c, req)
	if err != nil {
		return nil, fmt.Errorf("active hosts report: %w", err)
	}
	var hosts []HostActivity
	for _, p := range pages {
		hosts = append(hosts, p.Users...)
	}
	return hosts, nil
}

// listAll reads a whole listing, with page_size=300 and the same other
// parameters on every page. It follows next_page_token; a listing whose
// first page has no token but says page_number < page_count is followed by
// page_number instead (never both: the deprecated page_number of a
// token-paged listing is not to be trusted). When Zoom says a page token is
// invalid or expired (400/300: tokens live 15 minutes), the listing starts
// again from the first page, once. A listing that ends with fewer rows than
// its last page's total_records is incomplete: an error, not a short answer.
// A listing that would not end is stopped (RunawayListingError). The
// outcome is kept for LastFailures.
func listAll[P any, PP listingPage[P]](ctx context.Context, c *Client, req request) ([]PP, error) {
	pages, err := readListing[P, PP](ctx, c, req)
	if err != nil {
		now := c.now()
		if f := apiFailure(req.endpoint, err, now); f != nil {
			c.failures.recordAPI(f, now)
		}
		return nil, err
	}
	c.failures.clearAPI(req.endpoint)
	return pages, nil
}

func readListing[P any, PP listingPage[P]](ctx context.Context, c *Client, req request) ([]PP, error) {
	restarted := false
	var pages []PP
	pageToken := ""
	pageNumber := 0 // > 0: the listing pages by number
	followed := map[string]bool{}
	kept := 0 // bytes the rows read so far keep, about
	bound, boundWhy := maxPagesOf(req.endpoint), "the most one listing of this endpoint may have"
	for {
		q := url.Values{}
		for k, v := range req.query {
			q[k] = v
		}
		q.Set("page_size", strconv.Itoa(PageSize))
		switch {
		case pageToken != "":
			q.Set("next_page_token", pageToken)
		case pageNumber > 0:
			q.Set("page_number", strconv.Itoa(pageNumber))
		}
		pageReq := req
		pageReq.query = q

		page := PP(new(P))
		err := c.get(ctx, pageReq, page)
		var apiErr *APIError
		if pageToken != "" && !restarted && errors.As(err, &apiErr) && apiErr.Status == 400 && apiErr.Code == codeInvalidPageToken {
			restarted = true
			pages, pageToken, kept = nil, "", 0
			clear(followed)
			continue
		}
		if err != nil {
			return nil, err
		}
		pages = append(pages, page)
		if kept += page.bound(); kept > maxListingBytes {
			return nil, &RunawayListingError{Endpoint: req.endpoint, Pages: len(pages), Reason: fmt.Sprintf("more than %d MiB of rows", maxListingBytes>>20)}
		}
		info := page.page()
		if len(pages) == 1 && info.TotalRecords != nil {
			size := PageSize
			if info.PageSize > 0 && info.PageSize < PageSize {
				size = info.PageSize // Zoom served smaller pages than asked
			}
			total := max(*info.TotalRecords, 0)
			if b := (total+size-1)/size + 1; b < bound {
				bound, boundWhy = b, fmt.Sprintf("what its total_records of %d allows at %d rows a page, plus one", total, size)
			}
		}
		next := strings.TrimSpace(info.NextPageToken)
		if len(pages) == 1 && next == "" && info.PageNumber <= 1 && info.PageCount > 1 {
			pageNumber = 1 // the page just read; the listing goes on by number
		}
		switch {
		case pageNumber == 0 && next != "":
			if len(next) > maxPageToken {
				return nil, &RunawayListingError{Endpoint: req.endpoint, Pages: len(pages), Reason: fmt.Sprintf("a next_page_token of %d bytes", len(next))}
			}
			if followed[next] {
				return nil, &RunawayListingError{Endpoint: req.endpoint, Pages: len(pages), Reason: "a next_page_token it already followed (" + sanitize.Field(next) + ") came back: a loop"}
			}
			followed[next] = true
			pageToken = next
		case pageNumber > 0 && pageNumber < info.PageCount:
			pageNumber++
		default:
			return pages, complete(req.endpoint, pages)
		}
		if len(pages) >= bound {
			return nil, &RunawayListingError{Endpoint: req.endpoint, Pages: len(pages), Reason: fmt.Sprintf("more pages than %d, %s", bound, boundWhy)}
		}
	}
}

// RunawayListingError is a listing that would not end as Zoom's do: a page
// token that comes back, or more pages than its total_records allows or
// than its endpoint's hard cap. It stops there, so that a broken or hostile
// answer spends no more of the day's budget.
type RunawayListingError struct {
	Endpoint string
	Pages    int    // pages read before stopping
	Reason   string // what was wrong
}

func (e *RunawayListingError) Error() string {
	return fmt.Sprintf("zoom API %s: listing stopped after %d page(s): %s; not following it further", e.Endpoint, e.Pages, e.Reason)
}

// complete checks a finished listing against the total_records of its last
// page, when Zoom gave one.
func complete[PP interface {
	page() *paging
	rows() int
}](endpoint string, pages []PP) error {
	total := pages[len(pages)-1].page().TotalRecords
	if total == nil {
		return nil
	}
	rows := 0
	for _, p := range pages {
		rows += p.rows()
	}
	if rows < *total {
		return &IncompleteListingError{Endpoint: endpoint, Rows: rows, TotalRecords: *total, Pages: len(pages)}
	}
	return nil
}

// IncompleteListingError is a listing that ended with fewer rows than Zoom
// said it holds: what it did return is not trusted as the whole.
type IncompleteListingError struct {
	Endpoint           string
	Rows, TotalRecords int
	Pages              int
}

func (e *IncompleteListingError) Error() string {
	return fmt.Sprintf("zoom API %s: the listing ended after %d page(s) with %d of the %d records its total_records announced; not trusting a partial listing", e.Endpoint, e.Pages, e.Rows, e.TotalRecords)
}

// date formats t as Zoom's yyyy-mm-dd, in UTC.
func date(t time.Time) string { return t.UTC().Format(time.DateOnly) }
