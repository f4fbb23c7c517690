package zoomfake

// Live meetings and the Zoom events they emit. Payloads follow the examples
// in zoom/testdata/events (payloads.md): envelope event, event_ts (Unix ms),
// payload.account_id, payload.object. Every event goes to the connected
// WebSocket clients (websocket.go) and, when configured, to the webhook URL
// (webhook.go). The fake keeps the ground truth: LiveTruth for what is in
// progress, the reports (after Options.ReportLag) for what ended.
//
// Typical use:
//
//	fake := zoomfake.New(zoomfake.Options{Now: clock.Now, WebhookURL: hookURL, WebhookSecretToken: secret})
//	defer fake.Close()
//	srv := httptest.NewServer(fake)
//	wsURL := fake.WebSocketURL(srv.URL) // the client appends &access_token=<token>
//	uuid, _ := fake.StartMeeting(zoomfake.MeetingStart{HostID: fake.Users()[0].ID, Type: 2})
//	pid, _ := fake.JoinParticipant(uuid, zoomfake.Participant{ID: fake.Users()[0].ID})
//	_ = fake.LeaveParticipant(uuid, pid, time.Time{})
//	ended, _ := fake.EndMeeting(uuid, time.Time{}) // in the reports after ReportLag

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults of the event options.
const (
	DefaultSubscriptionID       = "fakeSubscriptionId0000A"
	DefaultWebSocketIdleTimeout = 90 * time.Second
	DefaultWebSocketBuffer      = 4096
	DefaultEventPollInterval    = 20 * time.Millisecond
	DefaultEventLogSize         = 10000
	DefaultWebhookTimeout       = 3 * time.Second
	DefaultWebhookQueueSize     = 10000
	// DefaultScheduledDuration is object.duration (scheduled minutes) when
	// MeetingStart.Duration is 0.
	DefaultScheduledDuration = 60
)

// DefaultWebhookRetryDelays are Zoom's: 5, 20 and 60 minutes after the
// previous attempt.
var DefaultWebhookRetryDelays = []time.Duration{5 * time.Minute, 20 * time.Minute, 60 * time.Minute}

// Errors of the live-meeting API.
var (
	ErrUnknownMeeting     = errors.New("no such meeting in progress")
	ErrUnknownParticipant = errors.New("no such participant in the meeting")
	ErrDuplicate          = errors.New("already in use")
	ErrBadTime            = errors.New("time out of order")
)

// MeetingStart describes a meeting to start with StartMeeting.
type MeetingStart struct {
	// HostID is an account user's id or e-mail. Any other value is a host
	// outside the account: the events carry it, LiveTruth ignores the
	// meeting and no user's report lists it as hosted.
	HostID string
	// AccountID is payload.account_id; "" is the fake's account. Meetings of
	// another account emit events but reach neither LiveTruth nor reports.
	AccountID string
	Type      int       // Zoom type; 0 means 2. Webinars (5, 6, 9) emit webinar.* events
	Topic     string    // default: like generated meetings
	UUID      string    // default: a fresh Zoom-like uuid
	ID        int64     // meeting number; default: like generated meetings (PMI, series)
	Duration  int       // scheduled minutes, object.duration (default DefaultScheduledDuration)
	Timezone  string    // object.timezone; default the host's ("" outside the account)
	At        time.Time // start; zero is now
}

// Participant is someone in a live meeting.
type Participant struct {
	// UserID is the per-meeting participant id (participant.user_id), the
	// key LeaveParticipant takes; default a fresh numeric id.
	UserID          string
	ParticipantUUID string // default fresh
	// ID is the Zoom user id of a signed-in user, "" for a guest. An
	// account user's id or e-mail here fills ID, Name and Email.
	ID    string
	Name  string    // user_name; default "Guest <UserID>"
	Email string    // may be empty, as for guests
	At    time.Time // join time; zero is now
}

// LiveMeeting is a meeting in progress as the fake knows it.
type LiveMeeting struct {
	UUID, HostID, AccountID, Topic string
	ID                             int64
	Type                           int
	Start                          time.Time
	// Counted is true when LiveTruth counts the meeting: the fake's own
	// account and a host in it.
	Counted      bool
	Participants []Participant // in the meeting now, in join order
}

// LiveTruth is what is in progress, by Zoom meeting type.
type LiveTruth struct {
	Meetings     map[int]int // meetings in progress
	Participants map[int]int // participants in them now (each connection once)
}

// Event is one emitted event, as delivered.
type Event struct {
	Name string    // the event field ("" when the body has none)
	At   time.Time // event_ts (zero when the body has none)
	// Body is the JSON exactly as delivered: the webhook body and the
	// content string of the WebSocket message frame.
	Body []byte
	// Suppressed: the filter (SetEventFilter) kept it from every transport.
	Suppressed bool
}

// EventStats counts what the event side did; see the field comments.
type EventStats struct {
	Emitted    int // events emitted, raw ones included
	Suppressed int // of which the filter dropped

	WebSocketConnections int // open now
	WebSocketAccepted    int // connections that got build_connection success
	WebSocketRefused     int // connections refused (token, subscription, closed server)
	WebSocketClosedIdle  int // closed for no heartbeat within WebSocketIdleTimeout
	WebSocketClosedToken int // closed because the token expired or was revoked
	WebSocketDropped     int // dropped by DropEventConnections or Close
	WebSocketOverflowed  int // closed because the client fell WebSocketBuffer frames behind
	WebSocketFrames      int // frames sent to clients, all modules
	WebSocketMessages    int // message frames sent (one per event per client)
	WebSocketHeartbeats  int // heartbeat replies sent
	WebSocketIgnored     int // client frames that were not heartbeats
	WebSocketUndelivered int // events emitted while no client was connected

	WebhookQueued    int // deliveries accepted into the queue
	WebhookAttempts  int // POSTs made by the sender, retries included
	WebhookDelivered int // deliveries answered 2xx
	WebhookRetried   int // retries scheduled (5xx or network error)
	WebhookFailed    int // deliveries given up: 3xx/4xx, or retries exhausted
	WebhookDropped   int // events not queued: queue full
}

// liveState is guarded by Server.mu.
type liveState struct {
	meetings map[string]*liveMeeting
	pending  []pendingReport // ended, waiting for ReportLag; by visible time
	rng      *rand.Rand
	seq      int // participant ids
}

type pendingReport struct {
	m       *Meeting
	visible time.Time
}

type liveSession struct {
	p    Participant
	join time.Time
}

type liveMeeting struct {
	uuid, hostID, accountID, topic, timezone string
	id                                       int64
	typ, duration                            int
	start                                    time.Time
	host                                     *userRecord // nil outside the account
	own                                      bool        // the fake's account

	present  []*liveSession // in the meeting now, join order
	seconds  float64        // summed length of finished sessions
	people   []string       // distinct participants who joined (ID, else UserID)
	accounts []string       // distinct account users who joined, join order
}

func (m *liveMeeting) counted() bool { return m.own && m.host != nil }

func (m *liveMeeting) find(userID string) int {
	return slices.IndexFunc(m.present, func(s *liveSession) bool { return s.p.UserID == userID })
}

func (s *Server) initEvents() {
	o := &s.opts
	if o.SubscriptionID == "" {
		o.SubscriptionID = DefaultSubscriptionID
	}
	if o.WebSocketIdleTimeout == 0 {
		o.WebSocketIdleTimeout = DefaultWebSocketIdleTimeout
	}
	if o.WebSocketInvalidToken == "" {
		o.WebSocketInvalidToken = "Invalid Token"
	}
	if o.WebSocketBuffer <= 0 {
		o.WebSocketBuffer = DefaultWebSocketBuffer
	}
	if o.EventPollInterval <= 0 {
		o.EventPollInterval = DefaultEventPollInterval
	}
	if o.EventLogSize <= 0 {
		o.EventLogSize = DefaultEventLogSize
	}
	if o.WebhookRetryDelays == nil {
		o.WebhookRetryDelays = DefaultWebhookRetryDelays
	}
	o.WebhookRetryDelays = slices.Clone(o.WebhookRetryDelays)
	if o.WebhookTimeout <= 0 {
		o.WebhookTimeout = DefaultWebhookTimeout
	}
	if o.WebhookQueueSize <= 0 {
		o.WebhookQueueSize = DefaultWebhookQueueSize
	}
	s.live = liveState{
		meetings: map[string]*liveMeeting{},
		rng:      rand.New(rand.NewPCG(uint64(o.Seed), 0x11fe)),
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.hub = &eventHub{
		conns:         map[*wsConn]struct{}{},
		webhookURL:    o.WebhookURL,
		webhookSecret: o.WebhookSecretToken,
		wake:          make(chan struct{}, 1),
		ctx:           ctx,
		cancel:        cancel,
	}
}

// StartMeeting starts a meeting and emits meeting.started (webinar.started
// for webinar types). It returns the meeting's uuid. The host is not a
// participant until JoinParticipant adds it (Zoom sends participant_joined
// for the host too).
func (s *Server) StartMeeting(ms MeetingStart) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := &generator{s: s, rng: s.live.rng}
	at := s.at(ms.At)
	if ms.Type == 0 {
		ms.Type = 2
	}
	m := &liveMeeting{
		uuid: ms.UUID, hostID: ms.HostID, accountID: ms.AccountID, topic: ms.Topic,
		timezone: ms.Timezone, id: ms.ID, typ: ms.Type, duration: ms.Duration, start: at,
		own: ms.AccountID == "" || ms.AccountID == s.opts.AccountID,
	}
	if m.accountID == "" {
		m.accountID = s.opts.AccountID
	}
	if m.own {
		m.host = s.lookupUserLocked(ms.HostID)
	}
	if m.host != nil {
		m.hostID = m.host.ID
		if m.timezone == "" {
			m.timezone = m.host.Timezone
		}
	}
	if m.hostID == "" {
		return "", fmt.Errorf("zoomfake: StartMeeting: empty HostID")
	}
	if m.uuid == "" {
		m.uuid = s.freshUUIDLocked(g)
	} else if s.uuidTakenLocked(m.uuid) {
		return "", fmt.Errorf("zoomfake: StartMeeting: uuid %q: %w", m.uuid, ErrDuplicate)
	}
	if m.id == 0 {
		if m.host != nil {
			m.id = g.idFor(m.host, m.typ)
		} else {
			m.id = g.meetingNumber()
		}
	}
	if m.topic == "" {
		if m.host != nil {
			m.topic = g.topic(m.host, m.typ)
		} else {
			m.topic = "Partner meeting"
		}
	}
	if m.duration == 0 {
		m.duration = DefaultScheduledDuration
	}
	s.live.meetings[m.uuid] = m
	s.emitLocked(m, "started", at, nil)
	return m.uuid, nil
}

// JoinParticipant adds p to the live meeting uuid, emits
// meeting.participant_joined (webinar.participant_joined) and returns the
// participant's UserID, the key LeaveParticipant takes.
func (s *Server) JoinParticipant(uuid string, p Participant) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.live.meetings[uuid]
	if !ok {
		return "", fmt.Errorf("zoomfake: JoinParticipant: meeting %q: %w", uuid, ErrUnknownMeeting)
	}
	at := s.at(p.At)
	if at.Before(m.start) {
		return "", fmt.Errorf("zoomfake: JoinParticipant: join at %s before the start %s: %w", isoTime(at), isoTime(m.start), ErrBadTime)
	}
	if p.UserID == "" {
		s.live.seq++
		p.UserID = strconv.Itoa(16778240 + s.live.seq)
	} else if m.find(p.UserID) >= 0 {
		return "", fmt.Errorf("zoomfake: JoinParticipant: participant %q in meeting %q: %w", p.UserID, uuid, ErrDuplicate)
	}
	if p.ParticipantUUID == "" {
		p.ParticipantUUID = s.participantUUIDLocked()
	}
	var u *userRecord
	if p.ID != "" {
		u = s.lookupUserLocked(p.ID)
	}
	if u != nil {
		p.ID = u.ID
		if p.Name == "" {
			p.Name = u.DisplayName
		}
		if p.Email == "" {
			p.Email = u.Email
		}
		if !slices.Contains(m.accounts, u.ID) {
			m.accounts = append(m.accounts, u.ID)
		}
	}
	if p.Name == "" {
		p.Name = "Guest " + p.UserID
	}
	p.At = at
	key := p.ID
	if key == "" {
		key = p.UserID
	}
	if !slices.Contains(m.people, key) {
		m.people = append(m.people, key)
	}
	m.present = append(m.present, &liveSession{p: p, join: at})
	s.emitLocked(m, "participant_joined", at, &eventParticipant{
		UserID: p.UserID, UserName: p.Name, ID: p.ID, ParticipantUUID: p.ParticipantUUID,
		JoinTime: isoTime(at), Email: p.Email, ParticipantUserID: p.ID,
	})
	return p.UserID, nil
}

// LeaveParticipant takes the participant userID out of the live meeting
// uuid at at (zero: now) and emits meeting.participant_left
// (webinar.participant_left).
func (s *Server) LeaveParticipant(uuid, userID string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.live.meetings[uuid]
	if !ok {
		return fmt.Errorf("zoomfake: LeaveParticipant: meeting %q: %w", uuid, ErrUnknownMeeting)
	}
	i := m.find(userID)
	if i < 0 {
		return fmt.Errorf("zoomfake: LeaveParticipant: participant %q in meeting %q: %w", userID, uuid, ErrUnknownParticipant)
	}
	at = s.at(at)
	if at.Before(m.present[i].join) {
		return fmt.Errorf("zoomfake: LeaveParticipant: leave at %s before the join %s: %w", isoTime(at), isoTime(m.present[i].join), ErrBadTime)
	}
	s.leaveLocked(m, i, at, "left the meeting.")
	return nil
}

func (s *Server) leaveLocked(m *liveMeeting, i int, at time.Time, reason string) {
	sess := m.present[i]
	m.present = slices.Delete(m.present, i, i+1)
	m.seconds += at.Sub(sess.join).Seconds()
	p := sess.p
	// Zoom's leave_reason: "<name> left the meeting.<br>Reason: <why>".
	what := "meeting"
	if isWebinar(m.typ) {
		what = "webinar"
	}
	s.emitLocked(m, "participant_left", at, &eventParticipant{
		UserID: p.UserID, UserName: p.Name, ID: p.ID, ParticipantUUID: p.ParticipantUUID,
		LeaveTime: isoTime(at), LeaveReason: p.Name + " left the " + what + ".<br>Reason: " + reason,
		Email: p.Email, ParticipantUserID: p.ID,
	})
}

// EndMeeting ends the live meeting uuid at at (zero: now): everyone still
// in it leaves (participant_left, "Host ended the meeting."), then
// meeting.ended (webinar.ended) is emitted. A meeting of the fake's account
// then reaches the reports Options.ReportLag after at, with these figures:
// participants_count the distinct participants who joined (by user id, else
// per-meeting id; 1, the host, if nobody joined), total_minutes their summed
// time (the duration if nobody joined), duration the rounded length (at
// least 1), participants_count_my_account the distinct account users who
// joined plus the host, and pastJoined listing it for the account users who
// joined. It returns the meeting as the reports will show it.
func (s *Server) EndMeeting(uuid string, at time.Time) (Meeting, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.live.meetings[uuid]
	if !ok {
		return Meeting{}, fmt.Errorf("zoomfake: EndMeeting: meeting %q: %w", uuid, ErrUnknownMeeting)
	}
	at = s.at(at)
	for _, sess := range m.present {
		if at.Before(sess.join) {
			return Meeting{}, fmt.Errorf("zoomfake: EndMeeting: end at %s before participant %q joined at %s: %w", isoTime(at), sess.p.UserID, isoTime(sess.join), ErrBadTime)
		}
	}
	if at.Before(m.start) {
		return Meeting{}, fmt.Errorf("zoomfake: EndMeeting: end at %s before the start %s: %w", isoTime(at), isoTime(m.start), ErrBadTime)
	}
	for len(m.present) > 0 {
		s.leaveLocked(m, 0, at, "Host ended the meeting.")
	}
	delete(s.live.meetings, uuid)
	s.emitLocked(m, "ended", at, nil)

	dur := max(1, int(at.Sub(m.start).Round(time.Minute)/time.Minute))
	out := &Meeting{
		UUID:            m.uuid,
		ID:              m.id,
		Type:            m.typ,
		Topic:           m.topic,
		Start:           m.start.Truncate(time.Second),
		End:             at.Truncate(time.Second),
		DurationMinutes: dur,
		Participants:    max(1, len(m.people)),
		TotalMinutes:    dur,
		HostID:          m.hostID,
	}
	if len(m.people) > 0 {
		out.TotalMinutes = max(1, int((time.Duration(m.seconds*float64(time.Second))).Round(time.Minute)/time.Minute))
	}
	for _, id := range m.accounts {
		if id != m.hostID {
			out.Joined = append(out.Joined, id)
		}
	}
	out.ParticipantsMyAccount = len(out.Joined)
	if m.host != nil {
		out.ParticipantsMyAccount++
	} else {
		out.HostName, out.HostEmail, out.HostOrganization = "Outside Host", "host@partner.example", partnerOrgs[0]
	}
	if !m.own {
		return cloneMeeting(out), nil // another account's meeting is in no report of ours
	}
	pr := pendingReport{m: out, visible: at.Add(s.opts.ReportLag)}
	i, _ := slices.BinarySearchFunc(s.live.pending, pr.visible, func(p pendingReport, t time.Time) int {
		if p.visible.After(t) {
			return 1
		}
		return -1 // equal times keep end order
	})
	s.live.pending = slices.Insert(s.live.pending, i, pr)
	s.settleReportsLocked()
	return cloneMeeting(out), nil
}

// settleReportsLocked moves ended meetings whose report lag has passed into
// the data the reports read.
func (s *Server) settleReportsLocked() {
	if len(s.live.pending) == 0 {
		return
	}
	now := s.now()
	n := 0
	for n < len(s.live.pending) && !now.Before(s.live.pending[n].visible) {
		m := s.live.pending[n].m
		if _, replacing := s.meetings[m.UUID]; replacing {
			s.meetings[m.UUID] = m
			s.reindexLocked()
		} else {
			s.insertLocked(m)
		}
		n++
	}
	s.live.pending = slices.Delete(s.live.pending, 0, n)
}

// at is t in UTC, or now when t is zero.
func (s *Server) at(t time.Time) time.Time {
	if t.IsZero() {
		return s.now()
	}
	return t.UTC()
}

func (s *Server) uuidTakenLocked(uuid string) bool {
	if _, ok := s.meetings[uuid]; ok {
		return true
	}
	if _, ok := s.live.meetings[uuid]; ok {
		return true
	}
	return slices.ContainsFunc(s.live.pending, func(p pendingReport) bool { return p.m.UUID == uuid })
}

func (s *Server) freshUUIDLocked(g *generator) string {
	for {
		if u := g.uuid(); !s.uuidTakenLocked(u) {
			return u
		}
	}
}

// participantUUIDLocked returns an upper-case UUID like Zoom's participant_uuid.
func (s *Server) participantUUIDLocked() string {
	r := s.live.rng
	return fmt.Sprintf("%08X-%04X-%04X-%04X-%012X", r.Uint32(), r.Uint32()&0xffff, r.Uint32()&0xffff, r.Uint32()&0xffff, r.Uint64()&0xffffffffffff)
}

// LiveMeetings returns the meetings in progress, by start then uuid.
func (s *Server) LiveMeetings() []LiveMeeting {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]LiveMeeting, 0, len(s.live.meetings))
	for _, m := range s.live.meetings {
		lm := LiveMeeting{
			UUID: m.uuid, HostID: m.hostID, AccountID: m.accountID, Topic: m.topic,
			ID: m.id, Type: m.typ, Start: m.start, Counted: m.counted(),
		}
		for _, sess := range m.present {
			lm.Participants = append(lm.Participants, sess.p)
		}
		out = append(out, lm)
	}
	slices.SortFunc(out, func(a, b LiveMeeting) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return strings.Compare(a.UUID, b.UUID)
	})
	return out
}

// LiveTruth counts what is in progress in the fake's account, hosted by its
// users: what live gauges fed by every event of the account should show.
func (s *Server) LiveTruth() LiveTruth { return s.LiveTruthFor(nil) }

// LiveTruthFor is LiveTruth restricted to hosts for which keep returns true
// (nil keeps all), e.g. one shard's users.
func (s *Server) LiveTruthFor(keep func(hostID string) bool) LiveTruth {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := LiveTruth{Meetings: map[int]int{}, Participants: map[int]int{}}
	for _, m := range s.live.meetings {
		if !m.counted() || (keep != nil && !keep(m.hostID)) {
			continue
		}
		t.Meetings[m.typ]++
		if n := len(m.present); n > 0 {
			t.Participants[m.typ] += n
		}
	}
	return t
}

// Event payloads. Field order follows Zoom's examples.

type eventEnvelope struct {
	Event   string       `json:"event"`
	EventTS int64        `json:"event_ts"`
	Payload eventPayload `json:"payload"`
}

type eventPayload struct {
	AccountID string      `json:"account_id"`
	Object    eventObject `json:"object"`
}

type eventObject struct {
	ID          string            `json:"id"` // a string in events, unlike REST
	UUID        string            `json:"uuid"`
	HostID      string            `json:"host_id"`
	Topic       string            `json:"topic"`
	Type        int               `json:"type"`
	StartTime   string            `json:"start_time"`
	Timezone    string            `json:"timezone"`
	Duration    int               `json:"duration"` // scheduled, not actual
	EndTime     string            `json:"end_time,omitempty"`
	Participant *eventParticipant `json:"participant,omitempty"`
}

type eventParticipant struct {
	UserID            string `json:"user_id"`
	UserName          string `json:"user_name"`
	ID                string `json:"id"`
	ParticipantUUID   string `json:"participant_uuid"`
	JoinTime          string `json:"join_time,omitempty"`
	LeaveTime         string `json:"leave_time,omitempty"`
	LeaveReason       string `json:"leave_reason,omitempty"`
	Email             string `json:"email"`
	RegistrantID      string `json:"registrant_id"`
	ParticipantUserID string `json:"participant_user_id"`
	CustomerKey       string `json:"customer_key"`
	PhoneNumber       string `json:"phone_number"`
}

// emitLocked builds the event what ("started", "participant_joined", ...)
// of meeting m and publishes it; s.mu is held, so events leave in the
// order the state changed.
func (s *Server) emitLocked(m *liveMeeting, what string, at time.Time, p *eventParticipant) {
	prefix := "meeting."
	if isWebinar(m.typ) {
		prefix = "webinar."
	}
	obj := eventObject{
		ID: strconv.FormatInt(m.id, 10), UUID: m.uuid, HostID: m.hostID, Topic: m.topic, Type: m.typ,
		StartTime: isoTime(m.start), Timezone: m.timezone, Duration: m.duration, Participant: p,
	}
	if what == "ended" {
		obj.EndTime = isoTime(at)
	}
	body := marshalNoEscape(eventEnvelope{
		Event:   prefix + what,
		EventTS: at.UnixMilli(),
		Payload: eventPayload{AccountID: m.accountID, Object: obj},
	})
	s.publish(Event{Name: prefix + what, At: at.UTC(), Body: body})
}

// marshalNoEscape is json.Marshal without HTML escaping: Zoom sends
// leave_reason's "<br>" as is.
func marshalNoEscape(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic("zoomfake: marshal event: " + err.Error()) // our own types: cannot happen
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// EmitRaw delivers body as an event, as is: the webhook body (properly
// signed) and the WebSocket message content. For malformed or unknown
// events, events of another account, or anything hand-made. It changes no
// ground truth.
func (s *Server) EmitRaw(body []byte) {
	ev := Event{Body: slices.Clone(body)}
	var head struct {
		Event   string `json:"event"`
		EventTS int64  `json:"event_ts"`
	}
	if json.Unmarshal(body, &head) == nil {
		ev.Name = head.Event
		if head.EventTS != 0 {
			ev.At = time.UnixMilli(head.EventTS).UTC()
		}
	}
	s.publish(ev)
}

// SetEventFilter makes events for which keep returns false go nowhere (a
// lost event: Zoom does not always send meeting.started, and a missed
// meeting.ended must expire somehow). Nil delivers everything. keep runs
// under the fake's locks: it must not call the Server.
func (s *Server) SetEventFilter(keep func(Event) bool) {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	s.hub.filter = keep
}

// Events returns the events emitted so far (the most recent, up to
// Options.EventLogSize), oldest first.
func (s *Server) Events() []Event {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	out := make([]Event, len(s.hub.log))
	for i, ev := range s.hub.log {
		ev.Body = slices.Clone(ev.Body)
		out[i] = ev
	}
	return out
}

// EventStats returns the event counters.
func (s *Server) EventStats() EventStats {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	st := s.hub.stats
	st.WebSocketConnections = len(s.hub.conns)
	return st
}

// Close ends the fake's background event work: WebSocket connections are
// dropped and the webhook sender stops (queued deliveries are abandoned).
// The REST API keeps working. Tests call it in Cleanup.
func (s *Server) Close() {
	h := s.hub
	h.mu.Lock()
	if !h.closed {
		h.closed = true
		for c := range h.conns {
			h.stats.WebSocketDropped++
			h.removeLocked(c, nil, true)
		}
		h.queue = nil
		h.cancel()
	}
	h.mu.Unlock()
	h.wg.Wait()
}

// eventHub delivers events. Its lock is taken after Server.mu, never
// before.
type eventHub struct {
	mu     sync.Mutex
	closed bool
	filter func(Event) bool
	log    []Event
	stats  EventStats

	// WebSocket
	conns         map[*wsConn]struct{}
	reaperRunning bool
	sweeps        int // reaper passes, for tests

	// webhook
	webhookURL, webhookSecret string
	queue                     deliveryQueue
	deliverySeq               uint64
	workerRunning             bool
	workerPolls               int // worker passes, for tests
	wake                      chan struct{}
	attempts                  []WebhookAttempt

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // reaper and webhook worker
}

// publish records ev and hands it to every transport.
func (s *Server) publish(ev Event) {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stats.Emitted++
	if h.filter != nil && !h.filter(ev) {
		ev.Suppressed = true
		h.stats.Suppressed++
	}
	h.log = appendBounded(h.log, ev, s.opts.EventLogSize)
	if ev.Suppressed || h.closed {
		return
	}
	s.deliverWebSocketLocked(ev.Body)
	s.enqueueWebhookLocked(ev)
}

func appendBounded[T any](list []T, v T, limit int) []T {
	if len(list) >= limit {
		// drop the oldest half at once so appends stay cheap
		list = slices.Delete(list, 0, len(list)-limit/2)
	}
	return append(list, v)
}
