// Package demo runs the built-in simulated Zoom account of --demo: the fake
// Zoom server of our tests, on loopback, with new meetings arriving as time
// passes, and live meetings starting, filling, emptying and ending every few
// seconds, announced as Zoom's events on the fake's WebSocket, so a newcomer
// sees live metrics without a Zoom account.
package demo

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
)

// Account is a running simulated account.
type Account struct {
	APIURL, TokenURL                  string
	AccountID, ClientID, ClientSecret string
	// WebSocketURL is the event subscription's endpoint (ws:// on
	// loopback), for --zoom.events-websocket-url.
	WebSocketURL string
	Fake         *zoomfake.Server
}

// Options shape the simulated account.
type Options struct {
	// Users is how many active users the organisation has (default
	// DefaultUsers); 2 deactivated and 1 pending user come on top.
	Users int
	// MeetingEvery is how often a new meeting ends somewhere in the account
	// (default 10s).
	MeetingEvery time.Duration
	// Now is the account's clock (default time.Now).
	Now func() time.Time
	// Seed chooses the organisation (default: a new one each run).
	Seed int64
	// NewTicker replaces time.NewTicker for tests: a meeting is added on
	// each tick of NewTicker(MeetingEvery); stop releases it.
	NewTicker func(d time.Duration) (ticks <-chan time.Time, stop func())
	// LiveEvery is how often the live meetings move on a step: a meeting
	// may start or end, people join and leave (default DefaultLiveEvery).
	LiveEvery time.Duration
	// NewLiveTicker is NewTicker for the live meetings' steps.
	NewLiveTicker func(d time.Duration) (ticks <-chan time.Time, stop func())
	// ReportLag is how long after a live meeting ends it reaches the
	// reports (default DefaultReportLag), as Zoom's reports lag.
	ReportLag time.Duration
}

// Live meetings of the demo: a handful at once, each a minute or a few
// long, so that the live panels move every few seconds.
const (
	DefaultLiveEvery = 3 * time.Second
	DefaultReportLag = 20 * time.Second
	liveMin          = 2 // meetings in progress the demo keeps at least
	liveMax          = 8
	liveShortest     = 45 * time.Second
	liveLongest      = 4 * time.Minute
	liveMaxPeople    = 12
)

// DefaultUsers is the demo organisation's size: enough users that the
// meetings arriving every few seconds spread to a few an hour per host, few
// enough that the first refresh (one report call per host and month read, at
// the Pro plan's 10 calls a second) ends within the demo's 15s interval.
const DefaultUsers = 60

// LoopbackURL is where the demo's fake Zoom listens (on a port of its own).
const LoopbackURL = "http://127.0.0.1"

// Start serves a simulated account on 127.0.0.1 until ctx ends.
func Start(ctx context.Context, o Options, logger log.Logger) (*Account, error) {
	if o.Users <= 0 {
		o.Users = DefaultUsers
	}
	if o.MeetingEvery <= 0 {
		o.MeetingEvery = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Seed == 0 {
		o.Seed = time.Now().UnixNano()
	}
	realTicker := func(d time.Duration) (<-chan time.Time, func()) {
		t := time.NewTicker(d)
		return t.C, t.Stop
	}
	if o.NewTicker == nil {
		o.NewTicker = realTicker
	}
	if o.LiveEvery <= 0 {
		o.LiveEvery = DefaultLiveEvery
	}
	if o.NewLiveTicker == nil {
		o.NewLiveTicker = realTicker
	}
	if o.ReportLag <= 0 {
		o.ReportLag = DefaultReportLag
	}
	// The history of a plausible organisation (previous months included,
	// which the exporter reads in the grace period after a month turns), so
	// the account looks lived-in on any date, the 1st included.
	fake := zoomfake.New(zoomfake.Options{Seed: o.Seed, Users: o.Users, Organisation: true, Now: o.Now, ReportLag: o.ReportLag})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: fake, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			level.Error(logger).Log("msg", "Demo Zoom server stopped", "err", err)
		}
	}()
	ticks, stopTicks := o.NewTicker(o.MeetingEvery)
	go func() {
		defer stopTicks()
		for {
			select {
			case <-ctx.Done():
				shutdownCtx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				_ = srv.Shutdown(shutdownCtx)
				return
			case <-ticks:
				fake.AddRandomMeetings(o.Now(), 1)
			}
		}
	}()
	liveTicks, stopLive := o.NewLiveTicker(o.LiveEvery)
	go func() {
		defer stopLive()
		defer fake.Close() // drops the event connections
		live := newLiveSim(fake, o.Seed, o.Now)
		for {
			select {
			case <-ctx.Done():
				return
			case <-liveTicks:
				live.step()
			}
		}
	}()
	base := "http://" + ln.Addr().String()
	level.Warn(logger).Log("msg", "DEMO MODE: serving a SIMULATED Zoom account; every metric is made-up data, not from Zoom", "users", o.Users, "fake_zoom_api", base+"/v2")
	return &Account{
		APIURL:       base + "/v2",
		TokenURL:     base + "/oauth/token",
		AccountID:    zoomfake.DefaultAccountID,
		ClientID:     zoomfake.DefaultClientID,
		ClientSecret: zoomfake.DefaultClientSecret,
		WebSocketURL: fake.WebSocketURL(base),
		Fake:         fake,
	}, nil
}

// liveSim moves the demo's live meetings on, one step at a time.
type liveSim struct {
	fake     *zoomfake.Server
	now      func() time.Time
	rng      *rand.Rand
	hosts    []string // active users' ids
	meetings []*liveMeeting
}

type liveMeeting struct {
	uuid, host string
	ends       time.Time
	people     []string // participant UserIDs in the meeting now
}

func newLiveSim(fake *zoomfake.Server, seed int64, now func() time.Time) *liveSim {
	l := &liveSim{fake: fake, now: now, rng: rand.New(rand.NewPCG(uint64(seed), 0x11e))}
	for _, u := range fake.Users() {
		if u.Status == "active" {
			l.hosts = append(l.hosts, u.ID)
		}
	}
	return l
}

// liveTypes are the types of the live meetings: mostly scheduled and
// instant meetings, some recurring and PMI, now and then a webinar.
var liveTypes = []int{2, 2, 2, 1, 1, 8, 3, 4, 5}

// step ends the meetings whose time is up, starts one when there are few,
// and lets people join and leave. Errors (a host that vanished, a clock
// that went back) only skip that change: the demo goes on.
func (l *liveSim) step() {
	if len(l.hosts) == 0 {
		return
	}
	now := l.now()
	kept := l.meetings[:0]
	for _, m := range l.meetings {
		if now.Before(m.ends) {
			kept = append(kept, m)
			continue
		}
		_, _ = l.fake.EndMeeting(m.uuid, time.Time{})
	}
	l.meetings = kept
	for len(l.meetings) < liveMin {
		if !l.start(now) {
			break
		}
	}
	if len(l.meetings) < liveMax && l.rng.IntN(3) == 0 {
		l.start(now)
	}
	for _, m := range l.meetings {
		switch r := l.rng.IntN(10); {
		case r < 4 && len(m.people) < liveMaxPeople:
			p := zoomfake.Participant{}
			if l.rng.IntN(3) > 0 { // most participants are colleagues
				p.ID = l.hosts[l.rng.IntN(len(l.hosts))]
			}
			if id, err := l.fake.JoinParticipant(m.uuid, p); err == nil {
				m.people = append(m.people, id)
			}
		case r < 6 && len(m.people) > 2:
			i := 1 + l.rng.IntN(len(m.people)-1) // the host stays
			if l.fake.LeaveParticipant(m.uuid, m.people[i], time.Time{}) == nil {
				m.people = slices.Delete(m.people, i, i+1)
			}
		}
	}
}

// start starts a meeting by a host who is in none, and lets the host in;
// false when it could not.
func (l *liveSim) start(now time.Time) bool {
	busy := func(id string) bool {
		return slices.ContainsFunc(l.meetings, func(m *liveMeeting) bool { return m.host == id })
	}
	var host string
	for range 5 {
		if h := l.hosts[l.rng.IntN(len(l.hosts))]; !busy(h) {
			host = h
			break
		}
	}
	if host == "" {
		return false
	}
	uuid, err := l.fake.StartMeeting(zoomfake.MeetingStart{HostID: host, Type: liveTypes[l.rng.IntN(len(liveTypes))]})
	if err != nil {
		return false
	}
	m := &liveMeeting{uuid: uuid, host: host, ends: now.Add(liveShortest + time.Duration(l.rng.Int64N(int64(liveLongest-liveShortest))))}
	if id, err := l.fake.JoinParticipant(uuid, zoomfake.Participant{ID: host}); err == nil {
		m.people = append(m.people, id)
	}
	l.meetings = append(l.meetings, m)
	return true
}
