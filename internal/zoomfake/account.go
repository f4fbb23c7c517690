package zoomfake

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The account reports (issue 14): GET /v2/report/cloud_recording and
// GET /v2/report/daily, with their ground truth, and users added by tests.

// DailyRow is one date of the daily usage report (GET /v2/report/daily):
// what the account's own users did that day. Ground truth for tests.
type DailyRow struct {
	Date           time.Time // UTC midnight
	NewUsers       int       // users created that day, any status
	Meetings       int       // meetings hosted by the account's users that started that day
	Participants   int       // their participants_count, summed
	MeetingMinutes int       // their durations in minutes, summed (as the hosts report's meeting_minutes)
}

// dailyRowsLocked is the daily report of a month: one row per date from
// the 1st to the month's last day, or to today for the current month.
// zoom-api.md does not say what Zoom counts; the fake counts, by start_time's
// UTC date, every meeting an account user hosted (past and pastOne together,
// as the hosts report does), and users by their creation date.
func (s *Server) dailyRowsLocked(first time.Time, now time.Time) []DailyRow {
	last := first.AddDate(0, 1, -1)
	if today := dateOf(now); today.Before(last) {
		last = today
	}
	if last.Before(first) {
		return nil
	}
	rows := make([]DailyRow, 0, last.Day())
	for d := first; !d.After(last); d = d.AddDate(0, 0, 1) {
		rows = append(rows, DailyRow{Date: d})
	}
	end := last.AddDate(0, 0, 1)
	for _, u := range s.users {
		if c := dateOf(u.Created); !c.Before(first) && c.Before(end) {
			rows[c.Day()-1].NewUsers++
		}
		for _, m := range s.byHost[u.ID] {
			if m.Participants < 1 || m.Start.Before(first) || !m.Start.Before(end) {
				continue
			}
			r := &rows[m.Start.Day()-1]
			r.Meetings++
			r.Participants += m.Participants
			r.MeetingMinutes += m.DurationMinutes
		}
	}
	return rows
}

// DailyUsage returns what GET /v2/report/daily lists for year and month at
// the fake's clock (no date rules applied).
func (s *Server) DailyUsage(year int, month time.Month) []DailyRow {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settleReportsLocked()
	return s.dailyRowsLocked(time.Date(year, month, 1, 0, 0, 0, 0, time.UTC), s.now())
}

type dailyDate struct {
	Date           string `json:"date"`
	NewUsers       int    `json:"new_users"`
	Meetings       int    `json:"meetings"`
	Participants   int    `json:"participants"`
	MeetingMinutes int    `json:"meeting_minutes"`
}

type dailyReport struct {
	Year  int         `json:"year"`
	Month int         `json:"month"`
	Dates []dailyDate `json:"dates"`
}

// dailyReportLocked serves GET /v2/report/daily?year=&month=. Both default
// to the current month (Zoom's spec makes them optional). A month before the
// six months Zoom keeps, or after the current one, gets Zoom's documented
// 400, code 300.
func (s *Server) dailyReportLocked(q url.Values, now time.Time) reply {
	year, month := now.Year(), int(now.Month())
	for _, p := range []struct {
		name string
		dst  *int
	}{{"year", &year}, {"month", &month}} {
		if v := q.Get(p.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return errorReply(http.StatusBadRequest, 300, fmt.Sprintf("Invalid %s %q.", p.name, v))
			}
			*p.dst = n
		}
	}
	if month < 1 || month > 12 {
		return errorReply(http.StatusBadRequest, 300, fmt.Sprintf("Invalid month %d.", month))
	}
	first := time.Date(year, time.Month(month), 1, 0, 0, 0, 0, time.UTC)
	cur := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	if first.After(cur) || first.Before(cur.AddDate(0, -6, 0)) {
		return errorReply(http.StatusBadRequest, 300, "Daily report can only be provided for a month that falls within the recent 6 months.")
	}
	out := dailyReport{Year: year, Month: month, Dates: []dailyDate{}}
	for _, r := range s.dailyRowsLocked(first, now) {
		out.Dates = append(out.Dates, dailyDate{
			Date: r.Date.Format(time.DateOnly), NewUsers: r.NewUsers, Meetings: r.Meetings,
			Participants: r.Participants, MeetingMinutes: r.MeetingMinutes,
		})
	}
	return jsonReply(http.StatusOK, out)
}

// Cloud recording storage. The fake's account keeps every cloud recording:
// on a date it stores recordedBytes for each minute of the meetings its users
// hosted with has_recording that started on or before that date. Its plan
// gives freePerLicence of free storage per licensed user and no paid
// storage ("0", as Zoom writes a zero); the Organisation account (the demo)
// bought orgPaidStorage. Sizes are written as Zoom writes
// them: whole MB below 1 GB, else GB with up to two decimals; a GB is 1024
// MB (the exporter's reading, zoom/account.go).
const (
	recordedBytes  = 3 << 19   // 1.5 MB per recorded meeting minute
	freePerLicence = 5 << 30   // 5 GB
	orgPaidStorage = 500 << 30 // 500 GB
)

// CloudStorageDay is one row of GET /v2/report/cloud_recording, with the
// exact sizes its strings stand for. Ground truth for tests.
type CloudStorageDay struct {
	Date                 time.Time // UTC midnight
	Usage, Plan, Free    string    // as the report writes them
	UsedBytes, PlanBytes int64     // what Usage and Plan stand for
	FreeBytes            int64     // what Free stands for
	Overridden           bool      // set by SetCloudRecordingStorage: the byte figures are not known to the fake
}

// SetCloudRecordingStorage makes the cloud recording report write, for each
// date, the strings fn returns instead of the account's own figures (nil
// restores them): for tests of values Zoom may send.
func (s *Server) SetCloudRecordingStorage(fn func(date time.Time) (usage, plan, free string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.storageOverride = fn
}

// CloudRecordingStorage returns the row the cloud recording report gives
// for date (whether or not the report would serve that date yet).
func (s *Server) CloudRecordingStorage(date time.Time) CloudStorageDay {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settleReportsLocked()
	d := dateOf(date.UTC())
	return s.storageRowsLocked(d, d)[0]
}

// storageRowsLocked computes the rows of the dates from..to, inclusive.
func (s *Server) storageRowsLocked(from, to time.Time) []CloudStorageDay {
	licensed := int64(0)
	for _, u := range s.users {
		if u.Status == "active" && u.Type == 2 {
			licensed++
		}
	}
	free := licensed * freePerLicence
	// Recorded minutes up to the end of each date: one pass over the meetings.
	before := int64(0) // minutes recorded before from
	byDate := map[time.Time]int64{}
	end := to.AddDate(0, 0, 1)
	for _, m := range s.meetings {
		if !m.HasRecording || !m.Start.Before(end) || s.usersByID[m.HostID] == nil {
			continue
		}
		if m.Start.Before(from) {
			before += int64(m.DurationMinutes)
		} else {
			byDate[dateOf(m.Start)] += int64(m.DurationMinutes)
		}
	}
	var rows []CloudStorageDay
	minutes := before
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		minutes += byDate[d]
		row := CloudStorageDay{Date: d}
		row.Usage, row.UsedBytes = zoomSize(minutes * recordedBytes)
		row.Free, row.FreeBytes = zoomSize(free)
		row.Plan, row.PlanBytes = "0", 0
		if s.opts.Organisation {
			row.Plan, row.PlanBytes = zoomSize(orgPaidStorage)
		}
		if s.storageOverride != nil {
			row.Usage, row.Plan, row.Free = s.storageOverride(d)
			row.UsedBytes, row.PlanBytes, row.FreeBytes, row.Overridden = 0, 0, 0, true
		}
		rows = append(rows, row)
	}
	return rows
}

// zoomSize writes bytes as the fake's Zoom does, and returns the exact size
// the text stands for: whole MB below 1 GB (rounded down), else GB with at
// most two decimals (hundredths rounded half up, trailing zeros dropped);
// the size of "x.yz GB" is x.yz * 2^30 rounded half up to a byte.
func zoomSize(bytes int64) (string, int64) {
	const mb, gb = 1 << 20, 1 << 30
	if bytes < gb {
		n := bytes / mb
		return fmt.Sprintf("%d MB", n), n * mb
	}
	hundredths := (bytes*100 + gb/2) / gb
	text := strconv.FormatInt(hundredths/100, 10)
	if frac := hundredths % 100; frac != 0 {
		text += strings.TrimRight(fmt.Sprintf(".%02d", frac), "0")
	}
	return text + " GB", (hundredths*gb + 50) / 100
}

type cloudStorageRow struct {
	Date      string `json:"date"`
	FreeUsage string `json:"free_usage"`
	PlanUsage string `json:"plan_usage"`
	Usage     string `json:"usage"`
}

type cloudRecordingReport struct {
	From    string            `json:"from"`
	To      string            `json:"to"`
	Storage []cloudStorageRow `json:"cloud_recording_storage"`
}

// cloudRecordingLocked serves GET /v2/report/cloud_recording?from=&to=.
// Zoom's rules (its spec): from and to required, at most 30 days apart,
// within the past six months; only dates up to the day before today are
// reported, so a range of today or later lists nothing past yesterday.
func (s *Server) cloudRecordingLocked(q url.Values, now time.Time) reply {
	var from, to time.Time
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"from", &from}, {"to", &to}} {
		v := q.Get(f.name)
		if v == "" {
			return errorReply(http.StatusBadRequest, 300, fmt.Sprintf("The %s parameter is required (yyyy-mm-dd).", f.name))
		}
		t, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return errorReply(http.StatusBadRequest, 300, fmt.Sprintf("Invalid %s date %q: expected yyyy-mm-dd.", f.name, v))
		}
		*f.dst = t
	}
	switch {
	case to.Before(from):
		return errorReply(http.StatusBadRequest, 300, "The to date is before the from date.")
	case to.Sub(from) > 30*24*time.Hour:
		return errorReply(http.StatusBadRequest, 300, "The date gap between from and to should be smaller or equal to 30 days.")
	case from.Before(addMonths(dateOf(now), -6)):
		return errorReply(http.StatusBadRequest, 300, "You can only get cloud recording reports for the most recent period of 6 months.")
	}
	out := cloudRecordingReport{From: from.Format(time.DateOnly), To: to.Format(time.DateOnly), Storage: []cloudStorageRow{}}
	if yesterday := dateOf(now).AddDate(0, 0, -1); yesterday.Before(to) {
		to = yesterday
	}
	if !to.Before(from) {
		for _, r := range s.storageRowsLocked(from, to) {
			out.Storage = append(out.Storage, cloudStorageRow{Date: r.Date.Format(time.DateOnly), Usage: r.Usage, PlanUsage: r.Plan, FreeUsage: r.Free})
		}
	}
	return jsonReply(http.StatusOK, out)
}

// AddUser adds a user to the account, listed with its status from now on
// (active users after the other active ones), created and last signed in
// at the times given (a zero lastLogin: never). An empty ID gets a fresh
// one; Status defaults to active and Type to 2 (licensed). It returns the
// user as stored.
func (s *Server) AddUser(u User, created, lastLogin time.Time) User {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := &generator{s: s, rng: s.randomRNG}
	if u.ID == "" {
		u.ID = g.zoomID()
	}
	if u.Status == "" {
		u.Status = "active"
	}
	if u.Type == 0 {
		u.Type = 2
	}
	if u.DisplayName == "" {
		u.DisplayName = strings.TrimSpace(u.FirstName + " " + u.LastName)
	}
	rec := &userRecord{User: u, Timezone: "UTC", Language: "en-US", Created: created.UTC().Truncate(time.Second), PMI: g.s.nextPMILocked()}
	if !lastLogin.IsZero() {
		rec.LastLogin = lastLogin.UTC().Truncate(time.Second)
	}
	// Listing order: active, then inactive, then pending.
	rank := map[string]int{"active": 0, "inactive": 1, "pending": 2}
	at := len(s.users)
	for i, o := range s.users {
		if rank[o.Status] > rank[u.Status] {
			at = i
			break
		}
	}
	s.users = append(s.users[:at], append([]*userRecord{rec}, s.users[at:]...)...)
	s.usersByID[u.ID] = rec
	s.usersByEmail[strings.ToLower(u.Email)] = rec
	return u
}

// nextPMILocked is a personal meeting id for an added user.
func (s *Server) nextPMILocked() int64 { return 5_000_000_000 + int64(len(s.users)) }

// UserDetails returns when a user (id or e-mail) was created and last
// signed in (zero: never), as GET /v2/users says.
func (s *Server) UserDetails(idOrEmail string) (created, lastLogin time.Time, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.lookupUserLocked(idOrEmail)
	if u == nil {
		return time.Time{}, time.Time{}, false
	}
	return u.Created, u.LastLogin, true
}
