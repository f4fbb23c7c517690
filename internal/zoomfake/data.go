package zoomfake

import (
	"encoding/base64"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// User is an account user as the fake knows it (ground truth for tests).
type User struct {
	ID          string // 22-character Zoom-like id
	Email       string
	DisplayName string
	FirstName   string
	LastName    string
	Dept        string
	Status      string // active, inactive or pending
	Type        int    // 1 basic, 2 licensed
}

// Meeting is one meeting instance (ground truth for tests). Times are UTC.
type Meeting struct {
	UUID                  string
	ID                    int64
	Type                  int
	Topic                 string
	Start, End            time.Time
	DurationMinutes       int
	TotalMinutes          int
	Participants          int
	ParticipantsMyAccount int
	HasRecording          bool
	HasScreenShare        bool
	HasChat               bool
	HostID                string   // an account user's id, or an outside host's id
	Joined                []string // account user ids who joined (besides the host); pastJoined lists the meeting for them

	// For hosts outside the account only; account hosts take these from the user.
	HostName, HostEmail, HostOrganization string
}

type userRecord struct {
	User
	Timezone  string
	Language  string
	GroupIDs  []string
	Created   time.Time
	LastLogin time.Time // zero for pending users
	PMI       int64
	Series    []int64 // meeting numbers of recurring series

	// Options.Organisation only: how the user uses Zoom.
	idle     bool    // a licence nobody uses: hosts and joins nothing
	perDay   float64 // meetings hosted on an average working day
	webinars bool    // also hosts webinars
}

var (
	firstNames = []string{"Ada", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas",
		"Kemi", "Luca", "Mei", "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tomas", "Uma", "Victor", "Wen", "Yara", "Zoe"}
	lastNames = []string{"Adams", "Becker", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ito", "Jensen",
		"Kowalski", "Lopez", "Moreau", "Nakamura", "Okafor", "Patel", "Rossi", "Schmidt", "Tanaka", "Umar", "Varga", "Weber", "Yilmaz", "Zhang"}
	depts     = []string{"Engineering", "Sales", "Support", "Marketing", "Finance", "HR", ""}
	timezones = []string{"America/New_York", "America/Los_Angeles", "Europe/London", "Europe/Berlin", "Asia/Tokyo", "Australia/Sydney", "UTC"}
	groupIDs  = []string{"grpEngAAAAAAAAAAAAAAAA", "grpSalesAAAAAAAAAAAAAA", "grpMgmtAAAAAAAAAAAAAAA"}
	topics    = []string{"Weekly sync", "Sprint planning", "Customer call", "Design review", "1:1", "All hands",
		"Interview", "Incident review", "Quarterly business review", "Onboarding", "Standup", "Budget / forecast"}
	webinarTopics = []string{"Product launch webinar", "Customer training", "Town hall", "Partner update"}
	partnerOrgs   = []string{"Partner Ltd", "Acme Inc", "Globex", "Initech"}
)

// typeWeights: every documented type plus 10, an undocumented value clients
// must survive.
var typeWeights = []struct{ typ, weight int }{
	{1, 15}, {2, 35}, {3, 5}, {4, 10}, {5, 4}, {6, 2}, {7, 2}, {8, 20}, {9, 4}, {10, 1},
}

func isWebinar(t int) bool { return t == 5 || t == 6 || t == 9 }

// participant counts a generated meeting must have
type participantRule int

const (
	anyParticipants participantRule = iota
	twoOrMore
	exactlyOne
)

type generator struct {
	s   *Server
	rng *rand.Rand
}

// generate builds the account: users, then meetings for the current month up
// to now and the six months before it. Every random draw comes from one RNG
// in a fixed order, so the data depends only on the seed, options and now.
func (s *Server) generate(now time.Time) {
	if s.opts.Organisation {
		s.generateOrganisation(now)
		return
	}
	g := &generator{s: s, rng: rand.New(rand.NewPCG(uint64(s.opts.Seed), 0xda7a))}
	n := s.opts.Users
	for i := 0; i < n+3; i++ {
		status := "active"
		switch {
		case i >= n+2:
			status = "pending"
		case i >= n:
			status = "inactive"
		}
		u := g.user(i, status, now)
		s.users = append(s.users, u)
		s.usersByID[u.ID] = u
		s.usersByEmail[strings.ToLower(u.Email)] = u
	}

	// quiet users host and join nothing this month
	quiet := func(i, monthsBack int) bool { return monthsBack == 0 && i != 0 && i%5 == 4 }
	y, m, _ := now.Date()
	thisMonth := time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
	for monthsBack := 6; monthsBack >= 0; monthsBack-- {
		lo := thisMonth.AddDate(0, -monthsBack, 0)
		full := lo.AddDate(0, 1, 0)
		hi := full
		if monthsBack == 0 {
			hi = now
		}
		frac := float64(hi.Sub(lo)) / float64(full.Sub(lo))
		joinable := func(i int) bool { return !quiet(i, monthsBack) }
		for i := 0; i < n; i++ {
			host := s.users[i]
			hosted := int(math.Round(float64(g.rng.IntN(26)) * frac))
			external := int(math.Round(float64(g.rng.IntN(3)) * frac))
			if quiet(i, monthsBack) {
				continue
			}
			if i == 0 && monthsBack == 0 {
				for k := 0; k < s.opts.HeavyUserMeetings; k++ {
					mt := g.meeting(host, lo, hi, twoOrMore, joinable)
					if mt != nil && k == 0 {
						// a uuid with '/' and '+' in the heavy user's list, for escaping tests
						mt.UUID = g.uuidWith("/+")
					}
					g.add(mt)
				}
				for k := 0; k < 5; k++ {
					g.add(g.meeting(host, lo, hi, exactlyOne, joinable))
				}
			} else {
				for k := 0; k < hosted; k++ {
					g.add(g.meeting(host, lo, hi, anyParticipants, joinable))
				}
			}
			for k := 0; k < external; k++ {
				g.add(g.externalMeeting(host, lo, hi, joinable))
			}
		}
	}
	g.ensureEveryType()
}

func (g *generator) user(i int, status string, now time.Time) *userRecord {
	first := firstNames[g.rng.IntN(len(firstNames))]
	last := lastNames[g.rng.IntN(len(lastNames))]
	typ := 2 // mostly licensed; user 0, the heavy host, always
	if i > 0 && g.rng.IntN(6) == 0 {
		typ = 1
	}
	u := &userRecord{
		User: User{
			ID:          g.zoomID(),
			Email:       fmt.Sprintf("user%02d@example.com", i+1),
			DisplayName: first + " " + last,
			FirstName:   first,
			LastName:    last,
			Dept:        depts[g.rng.IntN(len(depts))],
			Status:      status,
			Type:        typ,
		},
		Timezone: timezones[g.rng.IntN(len(timezones))],
		Language: "en-US",
		Created:  now.AddDate(-1, 0, -g.rng.IntN(700)).Truncate(time.Second),
		PMI:      5_000_000_000 + g.rng.Int64N(4_999_999_999),
		Series:   []int64{g.meetingNumber(), g.meetingNumber()},
	}
	for _, gid := range groupIDs {
		if g.rng.IntN(3) == 0 {
			u.GroupIDs = append(u.GroupIDs, gid)
		}
	}
	if status != "pending" {
		u.LastLogin = now.Add(-time.Duration(g.rng.Int64N(int64(30 * 24 * time.Hour)))).Truncate(time.Second)
	}
	return u
}

// zoomID returns a 22-character id like Zoom's user ids (base64url of 16 bytes).
func (g *generator) zoomID() string {
	b := make([]byte, 16)
	for i := range b {
		b[i] = byte(g.rng.IntN(256))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// uuid returns a fresh meeting uuid: standard base64 of 16 bytes, like
// Zoom's, so it may contain '/', '+' and ends with "==".
func (g *generator) uuid() string {
	for {
		b := make([]byte, 16)
		for i := range b {
			b[i] = byte(g.rng.IntN(256))
		}
		u := base64.StdEncoding.EncodeToString(b)
		if _, taken := g.s.meetings[u]; !taken {
			return u
		}
	}
}

// uuidWith returns a fresh uuid containing every character of chars.
func (g *generator) uuidWith(chars string) string {
	for {
		u := g.uuid()
		ok := true
		for _, c := range chars {
			ok = ok && strings.ContainsRune(u, c)
		}
		if ok {
			return u
		}
	}
}

// meetingNumber returns an 11-digit meeting id, well past 32 bits.
func (g *generator) meetingNumber() int64 {
	return 81_000_000_000 + g.rng.Int64N(18_000_000_000)
}

func (g *generator) pickType() int {
	total := 0
	for _, tw := range typeWeights {
		total += tw.weight
	}
	r := g.rng.IntN(total)
	for _, tw := range typeWeights {
		if r < tw.weight {
			return tw.typ
		}
		r -= tw.weight
	}
	return 2
}

func (g *generator) pickDuration(typ int) int {
	if isWebinar(typ) {
		return 30 + g.rng.IntN(151)
	}
	if g.rng.IntN(100) < 6 {
		return 1 + g.rng.IntN(4) // quick drop-ins
	}
	// 5..120, most meetings well under an hour
	return 5 + int(115*math.Pow(g.rng.Float64(), 1.8))
}

func (g *generator) pickParticipants(typ int, rule participantRule) int {
	switch {
	case rule == exactlyOne:
		return 1
	case isWebinar(typ):
		if g.rng.IntN(10) == 0 {
			return 300 + g.rng.IntN(1700) // the occasional big webinar
		}
		return 5 + g.rng.IntN(296)
	case rule == anyParticipants && g.rng.IntN(100) < 15:
		return 1
	}
	// 2..49, skewed towards small meetings
	return 1 + int(math.Exp(g.rng.Float64()*math.Log(49)))
}

// meeting makes one meeting hosted by host, placed wholly inside [lo, hi);
// nil when the window is too short.
func (g *generator) meeting(host *userRecord, lo, hi time.Time, rule participantRule, joinable func(int) bool) *Meeting {
	maxDur := int(hi.Sub(lo) / time.Minute)
	if maxDur < 1 {
		return nil
	}
	typ := g.pickType()
	dur := min(g.pickDuration(typ), maxDur)
	slack := hi.Sub(lo) - time.Duration(dur)*time.Minute
	start := lo.Add(time.Duration(g.rng.Int64N(int64(slack/time.Second)+1)) * time.Second)
	p := g.pickParticipants(typ, rule)

	m := &Meeting{
		UUID:            g.uuid(),
		ID:              g.idFor(host, typ),
		Type:            typ,
		Topic:           g.topic(host, typ),
		Start:           start,
		End:             start.Add(time.Duration(dur) * time.Minute),
		DurationMinutes: dur,
		Participants:    p,
		HostID:          host.ID,
		HasRecording:    g.rng.IntN(100) < 30,
		HasScreenShare:  g.rng.IntN(100) < 50,
		HasChat:         g.rng.IntN(100) < 60,
	}
	m.TotalMinutes = g.totalMinutes(p, dur)
	if p > 1 {
		m.Joined = g.joiners(host.ID, g.rng.IntN(min(p-1, 4)+1), joinable)
	}
	m.ParticipantsMyAccount = 1 + len(m.Joined)
	return m
}

// externalMeeting is hosted outside the account and joined by user (and
// maybe colleagues): it shows only in pastJoined reports.
func (g *generator) externalMeeting(user *userRecord, lo, hi time.Time, joinable func(int) bool) *Meeting {
	maxDur := int(hi.Sub(lo) / time.Minute)
	if maxDur < 1 {
		return nil
	}
	typ := []int{1, 2, 2, 8, 5}[g.rng.IntN(5)]
	dur := min(g.pickDuration(typ), maxDur)
	slack := hi.Sub(lo) - time.Duration(dur)*time.Minute
	start := lo.Add(time.Duration(g.rng.Int64N(int64(slack/time.Second)+1)) * time.Second)
	first := firstNames[g.rng.IntN(len(firstNames))]
	last := lastNames[g.rng.IntN(len(lastNames))]
	org := partnerOrgs[g.rng.IntN(len(partnerOrgs))]
	joined := append([]string{user.ID}, g.joiners(user.ID, g.rng.IntN(2), joinable)...)
	p := len(joined) + 1 + g.rng.IntN(10)
	if isWebinar(typ) {
		p += 20 + g.rng.IntN(200)
	}
	m := &Meeting{
		UUID:             g.uuid(),
		ID:               g.meetingNumber(),
		Type:             typ,
		Topic:            org + " " + topics[g.rng.IntN(len(topics))],
		Start:            start,
		End:              start.Add(time.Duration(dur) * time.Minute),
		DurationMinutes:  dur,
		Participants:     p,
		HostID:           g.zoomID(),
		Joined:           joined,
		HasRecording:     g.rng.IntN(100) < 30,
		HasScreenShare:   g.rng.IntN(100) < 50,
		HasChat:          g.rng.IntN(100) < 60,
		HostName:         first + " " + last,
		HostEmail:        strings.ToLower(first+"."+last) + "@partner.example",
		HostOrganization: org,
	}
	m.TotalMinutes = g.totalMinutes(p, dur)
	m.ParticipantsMyAccount = len(joined)
	return m
}

// totalMinutes: everyone attends most of the meeting, some leave early.
func (g *generator) totalMinutes(participants, dur int) int {
	if participants <= 1 {
		return dur
	}
	f := 0.55 + 0.45*g.rng.Float64()
	return max(dur, int(math.Round(float64(participants*dur)*f)))
}

// joiners picks up to k distinct active account users other than exclude.
func (g *generator) joiners(exclude string, k int, joinable func(int) bool) []string {
	var out []string
	n := g.s.opts.Users
	for tries := 0; len(out) < k && tries < 4*k+4; tries++ {
		i := g.rng.IntN(n)
		id := g.s.users[i].ID
		if id == exclude || !joinable(i) || slices.Contains(out, id) {
			continue
		}
		out = append(out, id)
	}
	return out
}

// idFor reuses the host's personal meeting id or a series id where Zoom
// would, so several instances (uuids) share one meeting number.
func (g *generator) idFor(host *userRecord, typ int) int64 {
	switch typ {
	case 4, 7:
		return host.PMI
	case 3, 6, 8, 9:
		if len(host.Series) > 0 {
			return host.Series[g.rng.IntN(len(host.Series))]
		}
	}
	return g.meetingNumber()
}

func (g *generator) topic(host *userRecord, typ int) string {
	switch {
	case typ == 4:
		return host.FirstName + "'s Personal Meeting Room"
	case typ == 1:
		return host.DisplayName + "'s Zoom Meeting"
	case isWebinar(typ):
		return webinarTopics[g.rng.IntN(len(webinarTopics))]
	}
	return topics[g.rng.IntN(len(topics))]
}

// add stores a generated meeting (nil is ignored).
func (g *generator) add(m *Meeting) {
	if m != nil {
		g.s.insertLocked(m)
	}
}

// ensureEveryType relabels a few meetings so that every type 1-10 occurs
// (types 1-9 documented, 10 unknown), whatever the draws were. It walks the
// meetings in start order so the choice is deterministic.
func (g *generator) ensureEveryType() {
	all := g.s.sortedMeetingsLocked()
	count := map[int]int{}
	for _, m := range all {
		count[m.Type]++
	}
	next := 0
	for t := 1; t <= 10; t++ {
		for count[t] == 0 && next < len(all) {
			m := all[next]
			next++
			if count[m.Type] > 1 {
				count[m.Type]--
				m.Type = t
				count[t]++
			}
		}
	}
}

// insertLocked adds m to the store and the indexes.
func (s *Server) insertLocked(m *Meeting) {
	s.meetings[m.UUID] = m
	s.byHost[m.HostID] = append(s.byHost[m.HostID], m)
	for _, id := range m.Joined {
		s.byJoiner[id] = append(s.byJoiner[id], m)
	}
}

func (s *Server) reindexLocked() {
	clear(s.byHost)
	clear(s.byJoiner)
	for _, m := range s.sortedMeetingsLocked() {
		s.byHost[m.HostID] = append(s.byHost[m.HostID], m)
		for _, id := range m.Joined {
			s.byJoiner[id] = append(s.byJoiner[id], m)
		}
	}
}

// sortedMeetingsLocked returns every meeting in report order.
func (s *Server) sortedMeetingsLocked() []*Meeting {
	all := make([]*Meeting, 0, len(s.meetings))
	for _, m := range s.meetings {
		all = append(all, m)
	}
	sortMeetings(all)
	return all
}

// sortMeetings puts meetings in report order: start_time, then uuid.
func sortMeetings(ms []*Meeting) {
	slices.SortFunc(ms, func(a, b *Meeting) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return strings.Compare(a.UUID, b.UUID)
	})
}

func (s *Server) lookupUserLocked(idOrEmail string) *userRecord {
	// Every ground-truth read names a user first: ended live meetings whose
	// report lag has passed join the data here (events.go).
	s.settleReportsLocked()
	if u, ok := s.usersByID[idOrEmail]; ok {
		return u
	}
	return s.usersByEmail[strings.ToLower(idOrEmail)]
}

func cloneMeeting(m *Meeting) Meeting {
	c := *m
	c.Joined = slices.Clone(m.Joined)
	return c
}

// Users returns the active users in listing order.
func (s *Server) Users() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []User
	for _, u := range s.users {
		if u.Status == "active" {
			out = append(out, u.User)
		}
	}
	return out
}

// AllUsers returns every user (active, inactive, pending) in listing order.
func (s *Server) AllUsers() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]User, 0, len(s.users))
	for _, u := range s.users {
		out = append(out, u.User)
	}
	return out
}

// Meetings returns exactly what the per-user report would list over all its
// pages for user (id or e-mail), the dates from..to inclusive (each read as a
// calendar date in its own location) and reportType ("" means past). Nil for
// an unknown user or report type. Date-range limits are not applied.
func (s *Server) Meetings(userID string, from, to time.Time, reportType string) []Meeting {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.lookupUserLocked(userID)
	if u == nil {
		return nil
	}
	if reportType == "" {
		reportType = "past"
	}
	if !validReportType(reportType) {
		return nil
	}
	var out []Meeting
	for _, m := range s.reportMeetingsLocked(u.ID, dateOf(from), dateOf(to), reportType) {
		out = append(out, cloneMeeting(m))
	}
	return out
}

// MeetingByUUID returns a copy of one meeting.
func (s *Server) MeetingByUUID(uuid string) (Meeting, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settleReportsLocked()
	m, ok := s.meetings[uuid]
	if !ok {
		return Meeting{}, false
	}
	return cloneMeeting(m), true
}

// AddMeeting stores m (replacing a meeting with the same UUID); it is in the
// reports from now on. Missing fields are filled in: UUID, ID, Type (2),
// End or DurationMinutes from each other, Participants (1), TotalMinutes,
// ParticipantsMyAccount. HostID and Joined may also be e-mails.
func (s *Server) AddMeeting(m Meeting) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := &generator{s: s, rng: s.randomRNG}
	s.normalizeLocked(&m, g)
	_, replacing := s.meetings[m.UUID]
	stored := cloneMeeting(&m)
	s.meetings[m.UUID] = &stored
	if replacing {
		s.reindexLocked()
	} else {
		s.insertLocked(&stored)
	}
}

func (s *Server) normalizeLocked(m *Meeting, g *generator) {
	if m.UUID == "" {
		m.UUID = g.uuid()
	}
	if m.ID == 0 {
		m.ID = g.meetingNumber()
	}
	if m.Type == 0 {
		m.Type = 2
	}
	m.Start, m.End = m.Start.UTC(), m.End.UTC()
	switch {
	case m.End.IsZero() || !m.End.After(m.Start):
		m.DurationMinutes = max(m.DurationMinutes, 1)
		m.End = m.Start.Add(time.Duration(m.DurationMinutes) * time.Minute)
	case m.DurationMinutes <= 0:
		m.DurationMinutes = max(1, int(m.End.Sub(m.Start).Round(time.Minute)/time.Minute))
	}
	if u := s.lookupUserLocked(m.HostID); u != nil {
		m.HostID = u.ID
	}
	joined := make([]string, 0, len(m.Joined))
	for _, id := range m.Joined {
		if u := s.lookupUserLocked(id); u != nil {
			id = u.ID
		}
		joined = append(joined, id)
	}
	m.Joined = joined
	if m.Participants < 1 {
		m.Participants = 1
	}
	if m.TotalMinutes <= 0 {
		m.TotalMinutes = m.Participants * m.DurationMinutes
	}
	if m.ParticipantsMyAccount <= 0 {
		m.ParticipantsMyAccount = len(m.Joined)
		if _, inAccount := s.usersByID[m.HostID]; inAccount {
			m.ParticipantsMyAccount++
		}
	}
}

// UpdateMeeting applies fn to the meeting with uuid (its UUID cannot change)
// and reports whether it existed. Use it to make a meeting grow, e.g. more
// participants or minutes.
func (s *Server) UpdateMeeting(uuid string, fn func(*Meeting)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.meetings[uuid]
	if !ok || fn == nil {
		return ok
	}
	c := cloneMeeting(m)
	fn(&c)
	c.UUID = uuid
	c.Start, c.End = c.Start.UTC(), c.End.UTC()
	c.Joined = slices.Clone(c.Joined)
	*m = c
	s.reindexLocked()
	return true
}

// AddRandomMeetings adds n realistic meetings hosted by random active users,
// each ending at or before now (starting within the three hours before), and
// returns copies of them. The draws come from a seeded RNG of their own.
// With Options.Organisation each meeting ends at now and its host is the
// least recently busy of a few users drawn, never an idle licence.
func (s *Server) AddRandomMeetings(now time.Time, n int) []Meeting {
	s.mu.Lock()
	defer s.mu.Unlock()
	now = now.UTC().Truncate(time.Second)
	g := &generator{s: s, rng: s.randomRNG}
	all := func(int) bool { return true }
	var out []Meeting
	for k := 0; k < n; k++ {
		if s.opts.Organisation {
			m := g.liveMeeting(now)
			s.insertLocked(m)
			out = append(out, cloneMeeting(m))
			continue
		}
		host := s.users[g.rng.IntN(s.opts.Users)]
		m := g.meeting(host, now.Add(-3*time.Hour), now, anyParticipants, all)
		if m == nil {
			continue
		}
		s.insertLocked(m)
		out = append(out, cloneMeeting(m))
	}
	return out
}

// Options.Organisation: the demo's account, a plausible organisation on
// every date.

// orgTypeWeights are the types of the organisation's own meetings: no
// webinars (its webinar hosts hold those) and no undocumented type.
var orgTypeWeights = []struct{ typ, weight int }{
	{1, 15}, {2, 38}, {3, 5}, {4, 12}, {7, 1}, {8, 24},
}

// webinarTypeWeights: mostly one-off webinars, some series.
var webinarTypeWeights = []struct{ typ, weight int }{{5, 6}, {9, 3}, {6, 1}}

// utcOffsets are standard-time offsets of the users' timezones: working
// hours only need to look plausible, and the demo binary must not need tzdata.
var utcOffsets = map[string]int{
	"America/New_York": -5, "America/Los_Angeles": -8, "Europe/London": 0, "Europe/Berlin": 1,
	"Asia/Tokyo": 9, "Australia/Sydney": 10, "UTC": 0,
}

const (
	slotLength    = 15 * time.Minute // meetings start on a quarter hour, up to 3 minutes late
	lateness      = 3 * time.Minute
	workdayStart  = 8 * time.Hour // local time of the first slot
	workdaySlots  = 40            // 08:00 to 17:45
	weekendFactor = 0.1           // a weekend day holds a tenth of a working day's meetings
	maxPerDay     = 12
)

// generateOrganisation builds the Organisation account. Each user's day
// draws from an RNG of its own (seed, user, local date), so a day's
// meetings do not depend on when the account is built: Now only cuts them.
func (s *Server) generateOrganisation(now time.Time) {
	g := &generator{s: s, rng: rand.New(rand.NewPCG(uint64(s.opts.Seed), 0x0a9))}
	n := s.opts.Users
	names := g.rng.Perm(len(firstNames) * len(lastNames))
	for i := 0; i < n+3; i++ {
		status := "active"
		switch {
		case i >= n+2:
			status = "pending"
		case i >= n:
			status = "inactive"
		}
		u := g.user(i, status, now)
		if i < len(names) { // distinct names and addresses, as a directory has
			first, last := firstNames[names[i]%len(firstNames)], lastNames[names[i]/len(firstNames)]
			u.FirstName, u.LastName, u.DisplayName = first, last, first+" "+last
			u.Email = strings.ToLower(first + "." + last + "@example.com")
		}
		s.users = append(s.users, u)
		s.usersByID[u.ID] = u
		s.usersByEmail[strings.ToLower(u.Email)] = u
	}
	g.assignRoles(n, now)

	y, m, _ := now.Date()
	from := time.Date(y, m, 1, 0, 0, 0, 0, time.UTC).AddDate(0, -6, 0)
	joinable := func(i int) bool { return !s.users[i].idle }
	pcg := rand.NewPCG(0, 0) // reseeded for each user's day
	day := &generator{s: s, rng: rand.New(pcg)}
	for i, u := range s.users[:n] {
		if u.idle {
			continue
		}
		off := time.Duration(utcOffsets[u.Timezone]) * time.Hour
		// local calendar days, as the UTC dates of local wall-clock times
		for d := dateOf(from.Add(off)); !d.After(dateOf(now.Add(off))); d = d.AddDate(0, 0, 1) {
			pcg.Seed(uint64(s.opts.Seed), 0x0a9<<48^uint64(i)<<32^uint64(d.Unix()/86400))
			for _, mt := range day.workday(u, d.Add(-off), d.Weekday(), joinable) {
				if !mt.Start.Before(from) && !mt.End.After(now) {
					g.add(mt)
				}
			}
		}
	}
}

// assignRoles gives the active users, in a shuffled order, how they use
// Zoom: about 8% idle licences, 10% heavy hosts, 3% webinar hosts, 35% light
// hosts, the rest regular. Idle, heavy and webinar hosts hold licences.
func (g *generator) assignRoles(n int, now time.Time) {
	idle, heavy, web, light := n*8/100, max(1, n/10), max(1, (n+20)/30), n*35/100
	for rank, i := range g.rng.Perm(n) {
		u := g.s.users[i]
		switch {
		case rank < idle:
			u.idle, u.Type = true, 2
			u.LastLogin = now.AddDate(0, 0, -60-g.rng.IntN(120)).Truncate(time.Second)
		case rank < idle+heavy:
			u.perDay, u.Type = 4+2*g.rng.Float64(), 2
		case rank < idle+heavy+web:
			u.perDay, u.Type, u.webinars, u.Dept = 1+g.rng.Float64(), 2, true, "Marketing"
		case rank < idle+heavy+web+light:
			u.perDay = 0.15 + 0.6*g.rng.Float64()
		default:
			u.perDay = 1.2 + 1.8*g.rng.Float64()
		}
	}
}

// workday returns what user u does on the local day that begins at dayStart:
// the meetings it hosts, one at a time, on quarter-hour slots of working
// hours (a webinar on some weekdays for webinar hosts), and now and then a
// meeting hosted outside the account that it joins.
func (g *generator) workday(u *userRecord, dayStart time.Time, wd time.Weekday, joinable func(int) bool) []*Meeting {
	weekend := wd == time.Saturday || wd == time.Sunday
	rate := u.perDay
	if weekend {
		rate *= weekendFactor
	}
	k := min(g.poisson(rate), maxPerDay)
	webinar := -1
	if u.webinars && !weekend && g.rng.IntN(100) < 40 {
		k++
		webinar = g.rng.IntN(k)
	}
	var all [workdaySlots]int // k distinct slots, in order
	for i := range all {
		all[i] = i
	}
	for i := 0; i < k; i++ {
		j := i + g.rng.IntN(workdaySlots-i)
		all[i], all[j] = all[j], all[i]
	}
	slots := all[:k]
	slices.Sort(slots)
	var out []*Meeting
	var busyUntil time.Time
	for j, slot := range slots {
		start := dayStart.Add(workdayStart + time.Duration(slot)*slotLength + time.Duration(g.rng.Int64N(int64(lateness/time.Second)))*time.Second)
		typ := g.pickFrom(orgTypeWeights)
		if j == webinar {
			typ = g.pickFrom(webinarTypeWeights)
		}
		m := g.orgMeeting(u, typ, start, joinable)
		if start.Before(busyUntil) {
			continue // still in the previous meeting: this one does not happen
		}
		busyUntil = m.End
		out = append(out, m)
	}
	if !weekend && g.rng.IntN(100) < 8 {
		out = append(out, g.externalMeeting(u, dayStart.Add(9*time.Hour), dayStart.Add(17*time.Hour), joinable))
	}
	return out
}

// orgMeeting is one meeting hosted by host in the Organisation account.
func (g *generator) orgMeeting(host *userRecord, typ int, start time.Time, joinable func(int) bool) *Meeting {
	p := g.pickParticipants(typ, anyParticipants)
	dur := g.pickDuration(typ)
	if host.Type == 1 {
		dur = min(dur, 40) // Zoom's Basic plan ends meetings at 40 minutes
	}
	recording := 30
	if isWebinar(typ) {
		recording = 70
	}
	m := &Meeting{
		UUID:            g.uuid(),
		ID:              g.idFor(host, typ),
		Type:            typ,
		Topic:           g.topic(host, typ),
		Start:           start,
		End:             start.Add(time.Duration(dur) * time.Minute),
		DurationMinutes: dur,
		Participants:    p,
		HostID:          host.ID,
		HasRecording:    g.rng.IntN(100) < recording,
		HasScreenShare:  g.rng.IntN(100) < 50,
		HasChat:         g.rng.IntN(100) < 60,
	}
	m.TotalMinutes = g.totalMinutes(p, dur)
	if p > 1 {
		m.Joined = g.joiners(host.ID, g.rng.IntN(min(p-1, 4)+1), joinable)
	}
	m.ParticipantsMyAccount = 1 + len(m.Joined)
	return m
}

// liveMeeting is a meeting that ends at now, hosted by whichever of three
// users drawn (never an idle licence) finished its last meeting earliest, so
// the live stream spreads evenly over the organisation.
func (g *generator) liveMeeting(now time.Time) *Meeting {
	s := g.s
	var hosts []*userRecord
	for _, u := range s.users[:s.opts.Users] {
		if !u.idle {
			hosts = append(hosts, u)
		}
	}
	if len(hosts) == 0 { // cannot happen with assignRoles; never divide by zero
		hosts = s.users[:s.opts.Users]
	}
	var host *userRecord
	var hostFree time.Time
	for range 3 {
		u := hosts[g.rng.IntN(len(hosts))]
		free := s.lastEndLocked(u.ID)
		if host == nil || free.Before(hostFree) {
			host, hostFree = u, free
		}
	}
	typ := g.pickFrom(orgTypeWeights)
	if host.webinars && g.rng.IntN(100) < 10 {
		typ = g.pickFrom(webinarTypeWeights)
	}
	m := g.orgMeeting(host, typ, now, func(i int) bool { return !s.users[i].idle })
	m.Start, m.End = now.Add(-m.End.Sub(m.Start)), now
	return m
}

// lastEndLocked is when the user's latest hosted meeting ended (zero: none).
func (s *Server) lastEndLocked(userID string) time.Time {
	var last time.Time
	for _, m := range s.byHost[userID] {
		if m.End.After(last) {
			last = m.End
		}
	}
	return last
}

func (g *generator) pickFrom(weights []struct{ typ, weight int }) int {
	total := 0
	for _, tw := range weights {
		total += tw.weight
	}
	r := g.rng.IntN(total)
	for _, tw := range weights {
		if r < tw.weight {
			return tw.typ
		}
		r -= tw.weight
	}
	return weights[0].typ
}

// poisson draws how many events happen when rate are expected (Knuth's
// method; rates here are small).
func (g *generator) poisson(rate float64) int {
	limit, k, p := math.Exp(-rate), 0, g.rng.Float64()
	for p > limit {
		k++
		p *= g.rng.Float64()
	}
	return k
}
