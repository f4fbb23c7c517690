package scrape

// Zoom events (issue 13). One handler serves both transports (zoom/webhook.go,
// zoom/websocket.go); the polling path stays the reference truth and works
// alone. Events drive two things:
//
//   - Live state: meetings and participants in progress by meeting type, for
//     tracked hosts only. It is known only while ScraperConfig.EventsFlowing
//     reports ok; when it stops, the live state is dropped (Known false, no
//     gauges served), and when it reports ok again the state restarts empty
//     from `since`. Meetings that started before `since` (less admitSlack)
//     stay unknown until they end (the gap is documented, not guessed at);
//     one that started after is taken in from any of its events, since each
//     carries the start time. A meeting whose end was missed is dropped
//     maxMeetingLength after its start. Events are ordered per meeting and
//     participant by their event_ts, and ended meetings are remembered for
//     endedMemory, so that a retried webhook, the same event over both
//     transports, or events out of order change nothing twice.
//
//   - Targeted fetches: meeting.ended / webinar.ended of a tracked host mark
//     the host's month (of the meeting's start, UTC) for a fetch of that
//     month's report alone, targetedSchedule after the event: 30 s, then 1,
//     2, 4 and 8 minutes apart, a last try 30 minutes after the event (Zoom's
//     reports lag the end by up to ~30 minutes); the first try skips the
//     early ones that the last meetings showed too early (lagWindow). A try
//     that finds every meeting it waits for ends it; after the last try the
//     month is left dirty for the next refresh cycle. Fetches go through the
//     same client, budget bucket and pacing as refreshes, before other work,
//     and are counted per uuid as always: nothing counts twice. They run
//     under the refresh lock: one that falls due during a refresh cycle runs
//     when the cycle ends (or in it). With --scrape.report-type=past
//     (meetings of two or more participants), the end of a meeting followed
//     whole with one person in it fetches nothing: the report will never
//     list it.

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/zoomexporter/zoom_exporter/internal/sanitize"
	"github.com/zoomexporter/zoom_exporter/zoom"
)

// Bounds of the live state and of targeted fetches (README, "Zoom events").
const (
	// maxMeetingLength: Zoom ends a meeting after 30 hours on paid plans
	// (24 on Basic). A meeting still in progress that long lost its end
	// event and is dropped.
	maxMeetingLength = 30 * time.Hour
	// maxEventAge: an event that happened longer ago than this (a webhook
	// Zoom retried for 85 minutes) is too old to say what is live, and the
	// sweeps have its meeting.
	maxEventAge = 2 * time.Hour
	// admitSlack: a meeting that started this little before `since` is
	// taken in. start_time is to the second, and a webhook flow begins
	// when its first event arrives, a moment after the event happened:
	// without slack the meeting whose start opens the flow would be lost.
	admitSlack = 5 * time.Second
	// maxEventAhead: event_ts further ahead of our clock is taken as now,
	// so that one skewed event cannot outrank every later one.
	maxEventAhead = 5 * time.Minute
	// endedMemory is how long an ended meeting's uuid is remembered: longer
	// than maxEventAge, so any copy of its events is either recognised or
	// too old.
	endedMemory = 3 * time.Hour
	// Memory bounds. Past maxLiveMeetings or maxLiveParticipants the live
	// state is no longer exact: it is unknown until the next reconnect.
	maxLiveMeetings     = 100000
	maxLiveParticipants = 1000000
	maxEndedRemembered  = 1000000
	// maxTargetedMeetings bounds the meetings targeted fetches wait for;
	// beyond it, ended meetings are left to the sweeps.
	maxTargetedMeetings = 100000
	// watchGivenUp: a meeting given up by targeted fetches is watched this
	// long for zoom_event_to_count_seconds, until a refresh counts it.
	watchGivenUp = 24 * time.Hour
)

// targetedSchedule are the tries of a targeted fetch, after the event. The
// first, 5 s after it, counts a meeting within seconds when the report is
// quick; the learnt lag (lagWindow) skips it when reports lag minutes.
var targetedSchedule = []time.Duration{
	5 * time.Second, 30 * time.Second, 90 * time.Second, 210 * time.Second, 450 * time.Second, 930 * time.Second, 30 * time.Minute,
}

// Outcomes of a targeted fetch: the outcome label of
// zoom_events_targeted_fetches_total.
const (
	outcomeCounted = "counted"           // every meeting it waited for is counted
	outcomeNotYet  = "not_yet_in_report" // some are not in the report yet: tried again later
	outcomeGivenUp = "given_up"          // still missing at the last try: left to the refresh cycles
	outcomeFailed  = "failed"            // the call failed: tried again while tries remain
)

const eventMetricHelp = " Zoom's reports list a meeting minutes after it ends."

// eventPathMetrics are the self-metrics of events acted on.
type eventPathMetrics struct {
	toCount prometheus.Histogram
	fetches *prometheus.CounterVec
}

func newEventPathMetrics(reg prometheus.Registerer) (*eventPathMetrics, error) {
	m := &eventPathMetrics{
		toCount: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "zoom_event_to_count_seconds",
			Help: "Time from a meeting.ended or webinar.ended event of a tracked host arriving to the meeting being counted in zoom_meetings_total, by a targeted fetch or a refresh." + eventMetricHelp,
			// 1s to 1h: a targeted fetch tries 30s after the event; a meeting
			// given up after 30 minutes waits for a sweep.
			Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600},
		}),
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zoom_events_targeted_fetches_total",
			Help: "Report fetches of one host and month after a meeting.ended or webinar.ended event, by outcome: counted (every meeting awaited is counted), not_yet_in_report (tried again later), given_up (still missing at the last try, 30 minutes after the event: left to the refresh cycles), failed (the call failed)." + eventMetricHelp,
		}, []string{"outcome"}),
	}
	for _, o := range []string{outcomeCounted, outcomeNotYet, outcomeGivenUp, outcomeFailed} {
		m.fetches.WithLabelValues(o)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.toCount, m.fetches} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// LiveSnapshot is what is in progress now, from Zoom events.
type LiveSnapshot struct {
	// Enabled: an event transport is configured (ScraperConfig.EventsFlowing).
	Enabled bool
	// Known: events flow (and the state stayed within its bounds), so the
	// numbers below are current for meetings that started since Since.
	// While false they are nil and must not be served.
	Known bool
	Since time.Time
	// By meeting type (TypeName), for hosts this exporter tracks; every
	// named type is present, 0 when nothing of it is in progress.
	Meetings     map[string]int
	Participants map[string]int // each connection once
}

// liveState is the live state. Its lock is never held while calling Zoom
// or another lock of the Scraper, except for EventsFlowing.
type liveState struct {
	mu       sync.Mutex
	known    bool
	since    time.Time
	overflow bool // a bound was hit since `since`: unknown until the next reconnect
	meetings map[string]*liveMeeting
	people   int                // participant records held, for maxLiveParticipants
	byType   map[string]*[2]int // meetings, participants in progress
	expiry   time.Time          // earliest start+maxMeetingLength; zero: none

	// Ended (or expired) meetings, kept across reconnects for endedMemory,
	// oldest first.
	ended      map[string]time.Time
	endedOrder []endedMeeting

	// participantEvents: participant events arrive at all (they are
	// subscribed), so a meeting seen whole without a second person had one.
	participantEvents bool

	version         uint64 // bumped on every change of what LiveSnapshot shows
	composed        *Snapshot
	composedBase    *Snapshot
	composedVersion uint64
	overflowLogged  bool
}

type endedMeeting struct {
	uuid string
	at   time.Time
}

type liveMeeting struct {
	typ     string
	start   time.Time
	present int
	people  map[string]presence // by Participant.Key
	// first is the first person who joined (Zoom id, else user_id, as
	// participants_count counts them); many: someone else joined too.
	first string
	many  bool
}

// presence is a participant's last known state, ordered by event_ts.
type presence struct {
	in bool
	at time.Time
}

// namedTypes are the meeting types the live gauges always show.
var namedTypes = func() []string {
	var out []string
	for code := 1; TypeName(code) != "unknown"; code++ {
		out = append(out, TypeName(code))
	}
	return out
}()

// targetedQueue holds the months targeted fetches wait on, by user and
// month.
type targetedQueue struct {
	mu      sync.Mutex
	entries map[targetKey]*targetedEntry
	total   int // meetings waited for or watched
	full    bool
	kick    chan struct{}
	lag     lagWindow
	// budgetAt: no targeted fetch before, the bucket being empty. One
	// time for all, so that a starved budget is looked at once per token,
	// not once per waiting month.
	budgetAt time.Time
}

// lagWindow learns how long the reports lag: the tries that found the last
// meetings, as indexes in targetedSchedule. A new meeting's first try is
// their median, so that a report lag of minutes does not cost a call at 30
// seconds and at 90 for every meeting. One new meeting in probeEvery is a
// probe: it tries one step earlier, so that a lag that shrinks is seen at
// the cost of one call in probeEvery. What a try teaches is where it found
// a meeting, except a meeting found at a first try that was not a probe:
// it might have been found earlier, which only probes tell, so a probe
// that finds its meeting counts probeWeight times. A meeting found later
// than its first try teaches a lag that grows. Every try after the first
// follows the schedule to its last, 30 minutes after the event, whatever
// was learnt.
type lagWindow struct {
	found   [16]int
	n       int
	next    int
	started int // first tries handed out, to pick the probes
}

// probeEvery: one new meeting in probeEvery probes a shorter lag; one that
// finds its meeting counts probeWeight times in the window.
const (
	probeEvery  = 8
	probeWeight = 4
)

func (w *lagWindow) learn(step, weight int) {
	for range weight {
		w.found[w.next] = step
		w.next = (w.next + 1) % len(w.found)
		w.n = min(w.n+1, len(w.found))
	}
}

// firstTry is a new meeting's first try, and whether it is a probe.
func (w *lagWindow) firstTry() (step int, probe bool) {
	if w.n == 0 {
		return 0, false
	}
	steps := slices.Clone(w.found[:w.n])
	slices.Sort(steps)
	step = steps[w.n/2]
	w.started++
	if step > 0 && w.started%probeEvery == 0 {
		return step - 1, true
	}
	return step, false
}

type targetKey struct{ user, month string }

// awaited is a meeting a targeted fetch waits for.
type awaited struct {
	received time.Time // when its ended event arrived
	from     int       // its first try: an index in targetedSchedule
	probe    bool      // its first try probes a shorter lag (lagWindow)
}

type targetedEntry struct {
	month     time.Time
	waiting   map[string]awaited   // by uuid
	givenUp   map[string]time.Time // no longer fetched for; watched until counted
	last      time.Time            // last try
	notBefore time.Time            // the budget had nothing left
}

func (s *Scraper) initEvents() {
	s.live.meetings = make(map[string]*liveMeeting)
	s.live.ended = make(map[string]time.Time)
	s.live.byType = make(map[string]*[2]int)
	s.targeted.entries = make(map[targetKey]*targetedEntry)
	s.targeted.kick = make(chan struct{}, 1)
	// Users restored from the store are tracked until the first listing.
	var restored []*userState
	for key, u := range s.users {
		if s.ownsKey(key) {
			restored = append(restored, u)
		}
	}
	s.indexHosts(restored)
}

// indexHosts publishes the Zoom host ids of the tracked users, for
// HandleEvent. Called under the refresh lock.
func (s *Scraper) indexHosts(tracked []*userState) {
	idx := make(map[string]string, len(tracked))
	for _, u := range tracked {
		if u.apiUser != "" {
			idx[u.apiUser] = u.key // the Zoom id once known, else as configured
		}
		if u.info.ID != "" {
			idx[u.info.ID] = u.key
		}
	}
	s.hosts.Store(&idx)
}

// trackedHost returns the key of the tracked user with Zoom id hostID.
// Users of another shard, and users neither listed nor configured, are not
// tracked.
func (s *Scraper) trackedHost(hostID string) (string, bool) {
	idx := s.hosts.Load()
	if idx == nil {
		return "", false
	}
	key, ok := (*idx)[hostID]
	if ok && len(s.conf.Users) == 0 && !s.owns(hostID) {
		return "", false // discovered users are sharded by id: already so, checked again
	}
	return key, ok
}

// HandleEvent acts on one decoded Zoom event (zoom.EventHandler): it updates
// the live state and, for meeting.ended and webinar.ended, schedules a
// targeted fetch. It is safe for concurrent use, returns at once (it never
// waits for Zoom or a refresh) and is idempotent. Events of other names,
// without a uuid or host, of a meeting type Zoom does not define, or of a
// host this exporter does not track change nothing.
func (s *Scraper) HandleEvent(transport string, e zoom.Event) {
	m := e.Meeting
	if !e.Known() || m.UUID == "" || m.HostID == "" || len(m.UUID) > MaxIDBytes || TypeName(m.Type) == "unknown" {
		level.Debug(s.logger).Log("msg", "Ignoring a Zoom event the exporter does not act on", "transport", sanitize.Field(transport),
			"event", sanitize.Field(e.Name), "type", m.Type)
		return
	}
	participant := strings.Contains(e.Name, ".participant_")
	if participant && (m.Participant == nil || m.Participant.Key() == "") {
		return
	}
	key, tracked := s.trackedHost(m.HostID)
	if !tracked {
		return
	}
	now := s.now().UTC()
	at := e.TS
	switch {
	case at.IsZero() || at.After(now.Add(maxEventAhead)):
		at = now
	case now.Sub(at) > maxEventAge:
		return
	}
	ended := e.Name == zoom.EventMeetingEnded || e.Name == zoom.EventWebinarEnded
	first, solo := s.live.handle(e, at, now, s.conf.EventsFlowing, s.logger)
	// Type past lists meetings of two or more participants: a meeting seen
	// whole with one person will never be in it.
	if ended && first && !(solo && s.conf.ReportType == zoom.ReportPast) {
		s.enqueueTargeted(key, m, at, now)
	}
}

// handle applies e to the live state. For an ended event it reports
// whether this is the first time the meeting ended, and whether the meeting
// was followed from its start with a single person in it.
func (l *liveState) handle(e zoom.Event, at, now time.Time, flowing func() (bool, time.Time), logger interface{ Log(...any) error }) (firstEnd, solo bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.syncLocked(now, flowing)
	m := e.Meeting
	if _, done := l.ended[m.UUID]; done {
		return false, false // ended: every later event of it is a copy or out of order
	}
	lm := l.meetings[m.UUID]
	switch e.Name {
	case zoom.EventMeetingEnded, zoom.EventWebinarEnded:
		solo = lm != nil && !lm.many && l.participantEvents
		l.endLocked(m.UUID, now)
		return true, solo
	case zoom.EventMeetingStarted, zoom.EventWebinarStarted:
		if lm == nil {
			start := m.Start
			if start.IsZero() {
				start = at
			}
			l.admitLocked(m.UUID, TypeName(m.Type), start, now, logger)
		}
	default: // participant joined or left
		l.participantEvents = true
		if lm == nil {
			// Started after `since`: all of it was seen, its start event
			// may be late or lost. Before: unknown, left out.
			if m.Start.IsZero() {
				return false, false
			}
			if lm = l.admitLocked(m.UUID, TypeName(m.Type), m.Start, now, logger); lm == nil {
				return false, false
			}
		}
		joined := e.Name == zoom.EventMeetingParticipantJoined || e.Name == zoom.EventWebinarParticipantJoined
		if joined {
			person := m.Participant.ID
			if person == "" {
				person = m.Participant.UserID
			}
			if lm.first == "" {
				lm.first = person
			} else if person != lm.first {
				lm.many = true
			}
		}
		l.participantLocked(lm, m.Participant.Key(), joined, at, logger)
	}
	return false, false
}

// admitLocked starts tracking a meeting that started at start, if the live
// state is known and the meeting started within it; nil otherwise.
func (l *liveState) admitLocked(uuid, typ string, start, now time.Time, logger interface{ Log(...any) error }) *liveMeeting {
	if !l.known || start.Before(l.since.Add(-admitSlack)) || !now.Before(start.Add(maxMeetingLength)) {
		return nil
	}
	if len(l.meetings) >= maxLiveMeetings {
		l.overflowLocked(logger, "meetings", maxLiveMeetings)
		return nil
	}
	lm := &liveMeeting{typ: typ, start: start, people: make(map[string]presence)}
	l.meetings[uuid] = lm
	l.count(typ)[0]++
	if exp := start.Add(maxMeetingLength); l.expiry.IsZero() || exp.Before(l.expiry) {
		l.expiry = exp
	}
	l.version++
	return lm
}

func (l *liveState) participantLocked(lm *liveMeeting, key string, joined bool, at time.Time, logger interface{ Log(...any) error }) {
	p, seen := lm.people[key]
	// A copy, or older than what is known of this participant. At the same
	// instant a leave wins: a copy of the join must not undo it.
	if seen && (at.Before(p.at) || (at.Equal(p.at) && (joined || !p.in))) {
		return
	}
	if !seen {
		if l.people >= maxLiveParticipants {
			l.overflowLocked(logger, "participants", maxLiveParticipants)
			return
		}
		l.people++
	}
	lm.people[key] = presence{in: joined, at: at}
	switch {
	case joined && !p.in:
		lm.present++
		l.count(lm.typ)[1]++
	case !joined && p.in:
		lm.present--
		l.count(lm.typ)[1]--
	default:
		return
	}
	l.version++
}

func (l *liveState) count(typ string) *[2]int {
	c := l.byType[typ]
	if c == nil {
		c = new([2]int)
		l.byType[typ] = c
	}
	return c
}

// endLocked takes a meeting out of the live state and remembers it ended.
func (l *liveState) endLocked(uuid string, now time.Time) {
	if lm := l.meetings[uuid]; lm != nil {
		c := l.count(lm.typ)
		c[0]--
		c[1] -= lm.present
		l.people -= len(lm.people)
		delete(l.meetings, uuid)
		l.version++
	}
	l.ended[uuid] = now
	l.endedOrder = append(l.endedOrder, endedMeeting{uuid, now})
	if len(l.endedOrder) > maxEndedRemembered {
		l.forgetEnded(1)
	}
}

func (l *liveState) forgetEnded(n int) {
	for _, e := range l.endedOrder[:n] {
		if at, ok := l.ended[e.uuid]; ok && at.Equal(e.at) {
			delete(l.ended, e.uuid)
		}
	}
	clear(l.endedOrder[:n]) // the backing array is reused until append moves it
	l.endedOrder = l.endedOrder[n:]
}

func (l *liveState) overflowLocked(logger interface{ Log(...any) error }, what string, bound int) {
	if !l.overflow {
		l.overflow = true
		l.version++
	}
	if !l.overflowLogged {
		l.overflowLogged = true
		level.Warn(logger).Log("msg", "Too many live "+what+" to follow; the live gauges are unknown until the event stream reconnects", "bound", bound)
	}
}

// syncLocked follows EventsFlowing (a break drops the state, a new flow
// starts it empty) and expires meetings whose end was missed.
func (l *liveState) syncLocked(now time.Time, flowing func() (bool, time.Time)) {
	ok, since := false, time.Time{}
	if flowing != nil {
		ok, since = flowing()
	}
	switch {
	case !ok && l.known:
		l.resetLocked(false, time.Time{})
	case ok && (!l.known || !since.Equal(l.since)):
		l.resetLocked(true, since)
	}
	n := 0
	for n < len(l.endedOrder) && !now.Before(l.endedOrder[n].at.Add(endedMemory)) {
		n++
	}
	if n > 0 {
		l.forgetEnded(n)
	}
	if l.expiry.IsZero() || now.Before(l.expiry) {
		return
	}
	l.expiry = time.Time{}
	for uuid, lm := range l.meetings {
		exp := lm.start.Add(maxMeetingLength)
		if !now.Before(exp) {
			l.endLocked(uuid, now)
		} else if l.expiry.IsZero() || exp.Before(l.expiry) {
			l.expiry = exp
		}
	}
}

func (l *liveState) resetLocked(known bool, since time.Time) {
	l.known, l.since, l.overflow = known, since, false
	clear(l.meetings)
	clear(l.byType)
	l.people = 0
	l.expiry = time.Time{}
	l.version++
}

// withLive returns base with the live state of now, the same pointer as
// long as neither changed, so that scrapes share one gathered copy.
func (s *Scraper) withLive(base *Snapshot) *Snapshot {
	l := &s.live
	l.mu.Lock()
	defer l.mu.Unlock()
	l.syncLocked(s.now().UTC(), s.conf.EventsFlowing)
	if l.composed != nil && l.composedBase == base && l.composedVersion == l.version {
		return l.composed
	}
	snap := *base
	snap.usage = base.Usage() // base may share an earlier snapshot's usage (publish.go)
	snap.Live = LiveSnapshot{Enabled: true, Known: l.known && !l.overflow}
	if snap.Live.Known {
		snap.Live.Since = l.since
		snap.Live.Meetings = make(map[string]int, len(namedTypes)+1)
		snap.Live.Participants = make(map[string]int, len(namedTypes)+1)
		for _, typ := range namedTypes {
			snap.Live.Meetings[typ], snap.Live.Participants[typ] = 0, 0
		}
		for typ, c := range l.byType {
			snap.Live.Meetings[typ], snap.Live.Participants[typ] = max(c[0], 0), max(c[1], 0)
		}
	}
	l.composed, l.composedBase, l.composedVersion = &snap, base, l.version
	return &snap
}

// Usage returns the snapshot without the live state, as the last refresh
// (or targeted fetch) published it: the same pointer while only the live
// state changes, which it does with every event. A cache of the usage
// metrics keys on it, and serves the live gauges apart.
func (snap *Snapshot) Usage() *Snapshot {
	if snap.usage != nil {
		return snap.usage
	}
	return snap
}

// sweepCadence is the gap between sweeps: SweepInterval while events flow
// and have flowed since the last sweep, so that events lost in a break are
// reconciled by the next cycle's sweep; else Interval.
func (s *Scraper) sweepCadence() time.Duration {
	if s.conf.EventsFlowing == nil || s.conf.SweepInterval <= s.conf.Interval {
		return s.conf.Interval
	}
	ok, since := s.conf.EventsFlowing()
	if !ok || s.lastSweep.IsZero() || s.lastSweep.Before(since) {
		return s.conf.Interval
	}
	return s.conf.SweepInterval
}

// enqueueTargeted schedules a targeted fetch of the month of m's start for
// the user key.
func (s *Scraper) enqueueTargeted(key string, m zoom.MeetingEvent, at, now time.Time) {
	start := m.Start
	if start.IsZero() {
		start = m.End
	}
	if start.IsZero() {
		start = at
	}
	month := monthStart(start.UTC())
	cur := monthStart(now)
	if !month.Equal(cur) && !month.Equal(cur.AddDate(0, -1, 0)) {
		return // a meeting lasts 30 hours at most: no other month can be its
	}
	q := &s.targeted
	q.mu.Lock()
	k := targetKey{key, monthKey(month)}
	e := q.entries[k]
	switch {
	case e != nil && (hasKey(e.waiting, m.UUID) || hasKey(e.givenUp, m.UUID)):
		q.mu.Unlock()
		return
	case q.total >= maxTargetedMeetings:
		full := q.full
		q.full = true
		q.mu.Unlock()
		if !full {
			level.Warn(s.logger).Log("msg", "Too many ended meetings wait for a targeted fetch; leaving the others to the refresh cycles", "bound", maxTargetedMeetings)
		}
		return
	case e == nil:
		e = &targetedEntry{month: month, waiting: make(map[string]awaited), givenUp: make(map[string]time.Time)}
		q.entries[k] = e
	}
	from, probe := q.lag.firstTry()
	e.waiting[m.UUID] = awaited{received: now, from: from, probe: probe}
	q.total++
	q.mu.Unlock()
	s.kickTargeted()
}

func hasKey[K comparable, V any](m map[K]V, k K) bool {
	_, ok := m[k]
	return ok
}

func (s *Scraper) kickTargeted() {
	select {
	case s.targeted.kick <- struct{}{}:
	default:
	}
}

// nextTry is the first try of a meeting after last (zero: none yet); false
// after its last try.
func (a awaited) nextTry(last time.Time) (time.Time, bool) {
	for _, d := range targetedSchedule[min(a.from, len(targetedSchedule)-1):] {
		if t := a.received.Add(d); last.IsZero() || t.After(last) {
			return t, true
		}
	}
	return time.Time{}, false
}

// tryAt is the index of the try that was due at now: the last one not
// after it.
func (a awaited) tryAt(now time.Time) int {
	i := min(a.from, len(targetedSchedule)-1)
	for i+1 < len(targetedSchedule) && !a.received.Add(targetedSchedule[i+1]).After(now) {
		i++
	}
	return i
}

// dueAt is when e's next fetch is due; zero when it waits for nothing.
func (e *targetedEntry) dueAt() time.Time {
	var due time.Time
	for _, a := range e.waiting {
		t, ok := a.nextTry(e.last)
		if !ok {
			t = e.last // past its last try without one after it
		}
		if due.IsZero() || t.Before(due) {
			due = t
		}
	}
	if !due.IsZero() && due.Before(e.notBefore) {
		due = e.notBefore
	}
	return due
}

// nextDue is when the next targeted fetch is due; zero when none waits.
func (q *targetedQueue) nextDue() time.Time {
	q.mu.Lock()
	defer q.mu.Unlock()
	var next time.Time
	for _, e := range q.entries {
		if t := e.dueAt(); !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if !next.IsZero() && next.Before(q.budgetAt) {
		next = q.budgetAt
	}
	return next
}

// due lists the entries due at now.
func (q *targetedQueue) due(now time.Time) []targetKey {
	q.mu.Lock()
	defer q.mu.Unlock()
	if now.Before(q.budgetAt) {
		return nil
	}
	var out []targetKey
	for k, e := range q.entries {
		if t := e.dueAt(); !t.IsZero() && !t.After(now) {
			out = append(out, k)
		}
	}
	// The oldest months first, then by user: a stable order.
	slices.SortFunc(out, func(a, b targetKey) int {
		return cmp.Or(cmp.Compare(a.month, b.month), cmp.Compare(a.user, b.user))
	})
	return out
}

// starved reports whether the bucket was found empty for now.
func (q *targetedQueue) starved(now time.Time) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return now.Before(q.budgetAt)
}

// runTargeted runs targeted fetches as they fall due, until ctx ends.
func (s *Scraper) runTargeted(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next := s.RunDueTargeted(ctx)
		// The injected clock may not follow the wall clock: wait at most a
		// minute, and wake at once for a new event (kickTargeted).
		wait := time.Minute
		if !next.IsZero() {
			wait = min(max(next.Sub(s.now()), time.Millisecond), time.Minute)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-s.targeted.kick:
		case <-timer.C:
		}
	}
}

// RunDueTargeted runs the targeted fetches due now, publishes what they
// counted, and returns when the next one falls due (zero: none waits).
// Run calls it as they fall due; a benchmark on a simulated clock calls it
// at that time.
func (s *Scraper) RunDueTargeted(ctx context.Context) time.Time {
	if !s.targetedIdle() {
		s.refreshing.Lock()
		outcomes := s.runTargetedLocked(ctx, s.now().UTC())
		if len(outcomes) > 0 {
			s.republish()
		}
		s.refreshing.Unlock()
		s.countOutcomes(outcomes) // once what they counted is served
	}
	return s.targeted.nextDue()
}

// targetedIdle reports whether no targeted fetch is due now.
func (s *Scraper) targetedIdle() bool {
	next := s.targeted.nextDue()
	return next.IsZero() || next.After(s.now())
}

// runTargetedLocked runs the targeted fetches due at now and returns their
// outcomes, for countOutcomes once what they counted is published. Called
// under the refresh lock.
func (s *Scraper) runTargetedLocked(ctx context.Context, now time.Time) []string {
	var outcomes []string
	for _, k := range s.targeted.due(now) {
		if ctx.Err() != nil || s.targeted.starved(now) {
			break
		}
		if o := s.targetedFetch(ctx, k, now); o != "" {
			outcomes = append(outcomes, o)
		}
	}
	return outcomes
}

func (s *Scraper) countOutcomes(outcomes []string) {
	for _, o := range outcomes {
		s.evm.fetches.WithLabelValues(o).Inc()
	}
}

// targetedFetch fetches one user's month for the meetings it waits for and
// returns the outcome; "" when it made no try.
func (s *Scraper) targetedFetch(ctx context.Context, k targetKey, now time.Time) string {
	u := s.users[k.user]
	q := &s.targeted
	if u == nil || !u.retiredSince.IsZero() {
		q.drop(k)
		return ""
	}
	q.mu.Lock()
	e := q.entries[k]
	q.mu.Unlock()
	if e == nil {
		return ""
	}
	w, ok := s.windowOf(e.month, now)
	if !ok {
		q.drop(k)
		return ""
	}
	// The month's counted meetings must be in memory, or counting could
	// count twice.
	if _, ok := s.loadMonths([]reportWindow{w}, now); !ok {
		s.afterTry(k, u, now)
		return outcomeFailed
	}
	if s.resolve(k, u, now, false) {
		return "" // counted meanwhile, by a refresh
	}
	cost := max(1, u.pages[k.month])
	b := s.client.Budget()
	if tokens := min(s.bucket.available(now, b.Budget), b.Remaining()); tokens < cost {
		// Wait for the bucket to hold enough (or for the next budget day).
		refill := func(n int) time.Duration {
			if b.Remaining() < n {
				return max(b.ResetsAt.Sub(now), time.Second)
			}
			return max(time.Duration(float64(n-tokens)/max(float64(b.Budget), 1)*float64(24*time.Hour)), time.Second)
		}
		q.mu.Lock()
		e.notBefore = now.Add(refill(cost))
		if tokens < 1 {
			q.budgetAt = now.Add(refill(1)) // nothing else can go before
		}
		q.mu.Unlock()
		return ""
	}
	s.bucket.spend(cost)
	// A failed targeted fetch is an extra that failed: the user's health
	// (zoom_up, its last error) stays the refresh cycles' to tell.
	s.mu.Lock()
	lastErr, lastAPIErr := u.lastError, u.lastAPIErr
	before := maps.Clone(u.counted[k.month])
	s.mu.Unlock()
	if !s.refreshUser(ctx, u, []reportWindow{w}, now) {
		s.mu.Lock()
		u.lastError, u.lastAPIErr = lastErr, lastAPIErr
		s.mu.Unlock()
		s.afterTry(k, u, now)
		return outcomeFailed
	}
	s.expectInSweep(u, k.month, before, s.awaitedSinceSweep(k))
	if s.resolve(k, u, now, true) {
		return outcomeCounted
	}
	if s.afterTry(k, u, now) {
		return outcomeGivenUp
	}
	return outcomeNotYet
}

// expectInSweep records, as the hosts-report totals u's month was fetched
// at, the last sweep's totals plus the meetings this fetch counted that the
// sweep could not show: awaited ones whose end came after it (refreshUser
// recorded the sweep's totals alone). Otherwise the next sweep would see
// the meetings just counted as a change and fetch the month again: a
// second Heavy call for every meeting events brought. Anything else the
// fetch counted or saw grow (the sweep may have shown it) keeps the
// sweep's totals, and so does a hosts report that sums otherwise: the next
// sweep sees a change and fetches, no worse than without.
func (s *Scraper) expectInSweep(u *userState, mk string, before map[meetingID]countedMeeting, awaited map[meetingID]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen, swept := u.seenHost[mk]
	if !swept || u.fetchedHost[mk] != seen {
		return
	}
	for id, rec := range u.counted[mk] {
		old, had := before[id]
		switch {
		case had && old == rec:
			continue
		case had || !awaited[id]:
			return
		}
		seen.meetings++
		seen.participants += int(rec.Participants)
		seen.minutes += int(rec.Duration)
	}
	u.fetchedHost[mk] = seen
}

// awaitedSinceSweep are the meetings k waits for whose ended event came
// after the last sweep of the month: that sweep cannot have shown them.
func (s *Scraper) awaitedSinceSweep(k targetKey) map[meetingID]bool {
	swept := s.sweptAt[k.month]
	q := &s.targeted
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make(map[meetingID]bool)
	if e := q.entries[k]; e != nil {
		for uuid, a := range e.waiting {
			if a.received.After(swept) {
				out[idOf(uuid)] = true
			}
		}
	}
	return out
}

// windowOf is the report window of month at now: the current month (to
// today) or the previous one; false for any other.
func (s *Scraper) windowOf(month, now time.Time) (reportWindow, bool) {
	cur := monthStart(now)
	switch {
	case month.Equal(cur):
		today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
		return reportWindow{month: cur, from: cur, to: today, current: true}, true
	case month.Equal(cur.AddDate(0, -1, 0)):
		return reportWindow{month: month, from: month, to: cur.AddDate(0, 0, -1)}, true
	}
	return reportWindow{}, false
}

// resolve observes the meetings of k that are counted now and forgets
// them; it reports whether k waits for nothing more. found: a try of k
// just found them, which teaches the report lag.
func (s *Scraper) resolve(k targetKey, u *userState, now time.Time, found bool) bool {
	q := &s.targeted
	q.mu.Lock()
	defer q.mu.Unlock()
	e := q.entries[k]
	if e == nil {
		return true
	}
	counted := func(received time.Time) {
		s.evm.toCount.Observe(max(now.Sub(received), 0).Seconds())
		q.total--
	}
	for uuid, a := range e.waiting {
		if !u.hasCounted(uuid) {
			continue
		}
		counted(a.received)
		delete(e.waiting, uuid)
		switch step := a.tryAt(now); {
		case !found:
		case a.probe && step == a.from:
			q.lag.learn(step, probeWeight)
		case a.probe || step != a.from:
			q.lag.learn(step, 1)
		}
	}
	for uuid, received := range e.givenUp {
		if u.hasCounted(uuid) {
			counted(received)
			delete(e.givenUp, uuid)
		}
	}
	if len(e.waiting) == 0 && len(e.givenUp) == 0 {
		delete(q.entries, k)
		q.full = false
	}
	return len(e.waiting) == 0
}

// afterTry records a try of k at now and gives up the meetings past their
// last try, leaving their month dirty for the refresh cycles. It reports
// whether any was given up.
func (s *Scraper) afterTry(k targetKey, u *userState, now time.Time) bool {
	q := &s.targeted
	q.mu.Lock()
	e := q.entries[k]
	gaveUp := false
	if e != nil {
		e.last = now
		for uuid, a := range e.waiting {
			if _, more := a.nextTry(now); !more {
				delete(e.waiting, uuid)
				e.givenUp[uuid] = a.received
				gaveUp = true
			}
		}
	}
	q.mu.Unlock()
	if gaveUp {
		s.mu.Lock()
		u.dirty[k.month] = true
		s.mu.Unlock()
	}
	return gaveUp
}

func (q *targetedQueue) drop(k targetKey) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if e := q.entries[k]; e != nil {
		q.total -= len(e.waiting) + len(e.givenUp)
		delete(q.entries, k)
		q.full = false
	}
}

// hasCounted reports whether a meeting is counted for u, in any month in
// memory.
func (u *userState) hasCounted(uuid string) bool {
	id := idOf(uuid)
	for _, recs := range u.counted {
		if _, ok := recs[id]; ok {
			return true
		}
	}
	return false
}

// resolveTargetedLocked, at the end of a refresh cycle, observes the
// meetings the cycle counted, and forgets what is no longer followed.
// Called under the refresh lock.
func (s *Scraper) resolveTargetedLocked(now time.Time) {
	q := &s.targeted
	q.mu.Lock()
	keys := make([]targetKey, 0, len(q.entries))
	for k := range q.entries {
		keys = append(keys, k)
	}
	q.mu.Unlock()
	for _, k := range keys {
		u := s.users[k.user]
		if _, ok := s.windowOf(monthStartOfKey(k.month), now); u == nil || !u.retiredSince.IsZero() || !ok {
			q.drop(k)
			continue
		}
		s.resolve(k, u, now, false)
		q.mu.Lock()
		if e := q.entries[k]; e != nil {
			for uuid, received := range e.givenUp {
				if !now.Before(received.Add(watchGivenUp)) {
					delete(e.givenUp, uuid)
					q.total--
				}
			}
			if len(e.waiting) == 0 && len(e.givenUp) == 0 {
				delete(q.entries, k)
			}
		}
		q.mu.Unlock()
	}
}

// monthStartOfKey parses a monthKey back; the zero time if it is not one.
func monthStartOfKey(mk string) time.Time {
	t, err := time.Parse("2006-01", mk)
	if err != nil {
		return time.Time{}
	}
	return t
}

// targetedReserveLocked is what the targeted fetches waiting now are
// expected to cost: the refresh cycle leaves it in the bucket for them.
func (s *Scraper) targetedReserveLocked() int {
	q := &s.targeted
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for k, e := range q.entries {
		if len(e.waiting) == 0 {
			continue
		}
		pages := 1
		if u := s.users[k.user]; u != nil {
			pages = max(1, u.pages[k.month])
		}
		n += pages
	}
	return n
}
