package zoomfake

import (
	"fmt"
	"hash/fnv"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

func validReportType(t string) bool {
	return t == "past" || t == "pastOne" || t == "pastJoined"
}

// dateOf is t's calendar date, as UTC midnight.
func dateOf(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// addMonths moves a date by n calendar months, clamping the day to the
// target month's length (Aug 31 - 6 months = Feb 28/29, not Mar 3).
func addMonths(t time.Time, n int) time.Time {
	y, m, d := t.Date()
	first := time.Date(y, m+time.Month(n), 1, 0, 0, 0, 0, time.UTC)
	last := first.AddDate(0, 1, -1).Day()
	return time.Date(first.Year(), first.Month(), min(d, last), 0, 0, 0, 0, time.UTC)
}

type dateRange struct{ from, to time.Time }

func badRange(format string, args ...any) *reply {
	rep := errorReply(http.StatusBadRequest, 300, fmt.Sprintf(format, args...))
	return &rep
}

// parseDateRange applies the report date rules, reading from/to as UTC
// calendar dates (zoom-api.md's choice). Where zoom-api.md is silent:
//   - "at most one month" is a calendar month: to must be before the same day
//     of the next month (Jan 1..Jan 31 and Jan 15..Feb 14 pass, Jan 1..Feb 1
//     does not);
//   - "within the past six months" means from is not before today (UTC, by
//     the injected clock) minus six calendar months;
//   - dates in the future are accepted and simply match nothing yet.
func parseDateRange(q url.Values, now time.Time) (dateRange, *reply) {
	var dr dateRange
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"from", &dr.from}, {"to", &dr.to}} {
		v := q.Get(f.name)
		if v == "" {
			return dr, badRange("The %s parameter is required (yyyy-mm-dd).", f.name)
		}
		t, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return dr, badRange("Invalid %s date %q: expected yyyy-mm-dd.", f.name, v)
		}
		*f.dst = t
	}
	if dr.to.Before(dr.from) {
		return dr, badRange("The to date %s is before the from date %s.", dr.to.Format(time.DateOnly), dr.from.Format(time.DateOnly))
	}
	if !dr.to.Before(addMonths(dr.from, 1)) {
		return dr, badRange("The date range %s to %s exceeds one month.", dr.from.Format(time.DateOnly), dr.to.Format(time.DateOnly))
	}
	if earliest := addMonths(dateOf(now), -6); dr.from.Before(earliest) {
		return dr, badRange("The date range must be within the past six months: from must not be before %s.", earliest.Format(time.DateOnly))
	}
	return dr, nil
}

// reportMeetingsLocked selects what the per-user report lists, in report
// order. A meeting belongs to the dates by its start_time's UTC date.
//   - past: hosted by the user, two or more participants;
//   - pastOne: hosted by the user, exactly one participant;
//   - pastJoined: hosted by the user (any count) or joined by the user.
func (s *Server) reportMeetingsLocked(userID string, from, to time.Time, typ string) []*Meeting {
	end := to.AddDate(0, 0, 1)
	inRange := func(m *Meeting) bool { return !m.Start.Before(from) && m.Start.Before(end) }
	var out []*Meeting
	for _, m := range s.byHost[userID] {
		if !inRange(m) {
			continue
		}
		switch {
		case typ == "past" && m.Participants >= 2,
			typ == "pastOne" && m.Participants == 1,
			typ == "pastJoined":
			out = append(out, m)
		}
	}
	if typ == "pastJoined" {
		for _, m := range s.byJoiner[userID] {
			if inRange(m) && m.HostID != userID {
				out = append(out, m)
			}
		}
	}
	sortMeetings(out)
	// Joined may name a user twice; list each meeting once.
	return slices.CompactFunc(out, func(a, b *Meeting) bool { return a.UUID == b.UUID })
}

type customKey struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// reportMeeting is one entry of meetings[] (zoom-api.md section 2).
type reportMeeting struct {
	UUID                       string      `json:"uuid"`
	ID                         int64       `json:"id"`
	Type                       int         `json:"type"`
	Topic                      string      `json:"topic"`
	UserName                   string      `json:"user_name"`
	UserEmail                  string      `json:"user_email"`
	StartTime                  string      `json:"start_time"`
	EndTime                    string      `json:"end_time"`
	Duration                   int         `json:"duration"`
	TotalMinutes               int         `json:"total_minutes"`
	ParticipantsCount          int         `json:"participants_count"`
	ParticipantsCountMyAccount int         `json:"participants_count_my_account"`
	Source                     string      `json:"source"`
	HasRecording               bool        `json:"has_recording"`
	HasScreenShare             bool        `json:"has_screen_share"`
	HasChat                    bool        `json:"has_chat"`
	HostName                   string      `json:"host_name"`
	HostOrganization           string      `json:"host_organization"`
	MeetingEncryptionStatus    int         `json:"meeting_encryption_status"`
	CustomKeys                 []customKey `json:"custom_keys"`
	ScheduleTime               string      `json:"schedule_time"`
	JoinTime                   string      `json:"join_time"`
	LeaveTime                  string      `json:"leave_time"`
	JoinWaitingRoomTime        string      `json:"join_waiting_room_time"`
	SessionKey                 string      `json:"session_key"`
}

type meetingsPage struct {
	From          string          `json:"from"`
	To            string          `json:"to"`
	PageSize      int             `json:"page_size"`
	TotalRecords  int             `json:"total_records"`
	PageCount     int             `json:"page_count"`
	PageNumber    int             `json:"page_number"` // deprecated by Zoom, still sent
	NextPageToken string          `json:"next_page_token"`
	Meetings      []reportMeeting `json:"meetings"`
}

// Zoom's non-ISO times ("12/22/2021 16:20"); we write them in UTC.
const zoomShortTime = "01/02/2006 15:04"

func shortTime(t time.Time) string { return t.UTC().Format(zoomShortTime) }

// userMeetingsLocked serves GET /v2/report/users/{userId}/meetings.
func (s *Server) userMeetingsLocked(r *http.Request, now time.Time) reply {
	seg, _ := userIDSegment(r.URL.EscapedPath())
	userID, err := url.PathUnescape(seg)
	if err != nil {
		userID = seg
	}
	if strings.EqualFold(userID, "me") {
		// zoom-api.md only says Server-to-Server apps must not use "me";
		// we answer like Zoom's other permission refusals: 400 code 200.
		return errorReply(http.StatusBadRequest, 200,
			`No permission. "me" is only available to user-level apps; use a user id or e-mail.`)
	}
	u := s.lookupUserLocked(userID)
	if u == nil {
		return errorReply(http.StatusNotFound, 1001, "User "+userID+" not exist or not belong to this account.")
	}
	s.userReportCalls[u.ID]++

	q := r.URL.Query()
	typ := q.Get("type")
	if typ == "" {
		typ = "past"
	}
	if !validReportType(typ) {
		return errorReply(http.StatusBadRequest, 300, fmt.Sprintf("Invalid type %q: use past, pastOne or pastJoined.", typ))
	}
	dr, bad := parseDateRange(q, now)
	if bad != nil {
		return *bad
	}
	list := s.reportMeetingsLocked(u.ID, dr.from, dr.to, typ)
	bind := strings.Join([]string{"meetings", u.ID, dr.from.Format(time.DateOnly), dr.to.Format(time.DateOnly), typ}, "|")
	p, bad := s.pageLocked(q, bind, len(list), now)
	if bad != nil {
		return *bad
	}
	out := meetingsPage{
		From:          dr.from.Format(time.DateOnly),
		To:            dr.to.Format(time.DateOnly),
		PageSize:      p.size,
		TotalRecords:  len(list),
		PageCount:     p.count,
		PageNumber:    p.number,
		NextPageToken: p.next,
		Meetings:      make([]reportMeeting, 0, p.end-p.start),
	}
	for _, m := range list[p.start:p.end] {
		out.Meetings = append(out.Meetings, s.viewLocked(m, u))
	}
	return jsonReply(http.StatusOK, out)
}

// viewLocked renders m as the report shows it to viewer. Fields the ground
// truth does not hold are derived from a hash of the uuid so they are stable.
func (s *Server) viewLocked(m *Meeting, viewer *userRecord) reportMeeting {
	h := fnv.New64a()
	_, _ = h.Write([]byte(m.UUID))
	hash := h.Sum64()

	hostName, hostOrg := m.HostName, m.HostOrganization
	if host := s.usersByID[m.HostID]; host != nil {
		hostName, hostOrg = host.DisplayName, AccountName
	}
	join, leave, waiting := m.Start, m.End, ""
	if viewer.ID != m.HostID { // joiners arrive a little late, some via the waiting room
		join = m.Start.Add(time.Duration(hash%8) * time.Minute)
		if join.After(m.End) {
			join = m.Start
		}
		if hash%3 == 0 {
			waiting = shortTime(join.Add(-time.Minute))
		}
	}
	schedule := ""
	switch m.Type {
	case 2, 5, 8, 9: // types with a fixed scheduled time
		schedule = shortTime(m.Start.Truncate(15 * time.Minute))
	}
	source := "Zoom"
	if (hash>>8)%10 == 0 {
		source = "Google Calendar Add-on"
	}
	encryption := 2
	if (hash>>16)%20 == 0 {
		encryption = 1
	}
	keys := []customKey{}
	if (hash>>24)%5 == 0 {
		keys = append(keys, customKey{Key: "cost_center", Value: fmt.Sprintf("CC-%02d", (hash>>32)%40)})
	}
	return reportMeeting{
		UUID:                       m.UUID,
		ID:                         m.ID,
		Type:                       m.Type,
		Topic:                      m.Topic,
		UserName:                   viewer.DisplayName,
		UserEmail:                  viewer.Email,
		StartTime:                  isoTime(m.Start),
		EndTime:                    isoTime(m.End),
		Duration:                   m.DurationMinutes,
		TotalMinutes:               m.TotalMinutes,
		ParticipantsCount:          m.Participants,
		ParticipantsCountMyAccount: m.ParticipantsMyAccount,
		Source:                     source,
		HasRecording:               m.HasRecording,
		HasScreenShare:             m.HasScreenShare,
		HasChat:                    m.HasChat,
		HostName:                   hostName,
		HostOrganization:           hostOrg,
		MeetingEncryptionStatus:    encryption,
		CustomKeys:                 keys,
		ScheduleTime:               schedule,
		JoinTime:                   shortTime(join),
		LeaveTime:                  shortTime(leave),
		JoinWaitingRoomTime:        waiting,
		SessionKey:                 "", // Video SDK sessions only; meetings have none
	}
}

// hostRow is one row of the hosts report (zoom-api.md section 3).
type hostRow struct {
	ID             string `json:"id"`
	Email          string `json:"email"`
	UserName       string `json:"user_name"`
	Type           int    `json:"type"`
	Dept           string `json:"dept"`
	Meetings       int    `json:"meetings"`
	Participants   int    `json:"participants"`
	MeetingMinutes int    `json:"meeting_minutes"`
}

type hostsPage struct {
	From                string    `json:"from"`
	To                  string    `json:"to"`
	PageSize            int       `json:"page_size"`
	TotalRecords        int       `json:"total_records"`
	PageCount           int       `json:"page_count"`
	PageNumber          int       `json:"page_number"`
	NextPageToken       string    `json:"next_page_token"`
	TotalMeetings       int       `json:"total_meetings"`
	TotalParticipants   int       `json:"total_participants"`
	TotalMeetingMinutes int       `json:"total_meeting_minutes"`
	Users               []hostRow `json:"users"`
}

// hostsReportLocked serves GET /v2/report/users.
//
// It counts every meeting a user hosted with start_time in the range, i.e.
// what the per-user report's past and pastOne types list together; joined
// meetings do not count. zoom-api.md does not define the sums: participants
// is the sum of participants_count and meeting_minutes the sum of meeting
// durations (not total_minutes, the participants' minutes), so a meeting
// whose total_minutes grows does not change this report. type=inactive lists
// active users who hosted nothing in the range. Totals cover all pages.
func (s *Server) hostsReportLocked(q url.Values, now time.Time) reply {
	typ := q.Get("type")
	switch typ {
	case "":
		typ = "active"
	case "active", "inactive":
	default:
		return errorReply(http.StatusBadRequest, 300, fmt.Sprintf("Invalid type %q: use active or inactive.", typ))
	}
	dr, bad := parseDateRange(q, now)
	if bad != nil {
		return *bad
	}
	rows := []hostRow{}
	var out hostsPage
	for _, u := range s.users {
		row := hostRow{ID: u.ID, Email: u.Email, UserName: u.DisplayName, Type: u.Type, Dept: u.Dept}
		for _, m := range s.hostedLocked(u.ID, dr.from, dr.to) {
			row.Meetings++
			row.Participants += m.Participants
			row.MeetingMinutes += m.DurationMinutes
		}
		switch {
		case typ == "active" && row.Meetings > 0,
			typ == "inactive" && row.Meetings == 0 && u.Status == "active":
			rows = append(rows, row)
			out.TotalMeetings += row.Meetings
			out.TotalParticipants += row.Participants
			out.TotalMeetingMinutes += row.MeetingMinutes
		}
	}
	bind := strings.Join([]string{"hosts", typ, dr.from.Format(time.DateOnly), dr.to.Format(time.DateOnly)}, "|")
	p, bad := s.pageLocked(q, bind, len(rows), now)
	if bad != nil {
		return *bad
	}
	out.From = dr.from.Format(time.DateOnly)
	out.To = dr.to.Format(time.DateOnly)
	out.PageSize = p.size
	out.TotalRecords = len(rows)
	out.PageCount = p.count
	out.PageNumber = p.number
	out.NextPageToken = p.next
	out.Users = rows[p.start:p.end]
	return jsonReply(http.StatusOK, out)
}

// hostedLocked is every meeting userID hosted that starts in from..to:
// exactly past + pastOne.
func (s *Server) hostedLocked(userID string, from, to time.Time) []*Meeting {
	end := to.AddDate(0, 0, 1)
	var out []*Meeting
	for _, m := range s.byHost[userID] {
		if m.Participants >= 1 && !m.Start.Before(from) && m.Start.Before(end) {
			out = append(out, m)
		}
	}
	return out
}

// HostTotals is one user's line of the hosts report (GET /v2/report/users).
type HostTotals struct {
	Meetings, Participants, MeetingMinutes int
}

// HostTotals returns what the hosts report says about user (id or e-mail)
// for the dates from..to inclusive.
func (s *Server) HostTotals(user string, from, to time.Time) HostTotals {
	s.mu.Lock()
	defer s.mu.Unlock()
	var t HostTotals
	u := s.lookupUserLocked(user)
	if u == nil {
		return t
	}
	for _, m := range s.hostedLocked(u.ID, dateOf(from), dateOf(to)) {
		t.Meetings++
		t.Participants += m.Participants
		t.MeetingMinutes += m.DurationMinutes
	}
	return t
}
