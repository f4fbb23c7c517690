package scrape

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
	"github.com/zoomexporter/zoom_exporter/zoom"
)

// liveEqual compares the live gauges with the fake's truth, type by type.
func liveEqual(t *testing.T, when string, live LiveSnapshot, truth zoomfake.LiveTruth) {
	t.Helper()
	if !live.Known {
		t.Fatalf("%s: live state unknown although events flow", when)
	}
	for code := 1; code <= 10; code++ {
		typ := TypeName(code)
		if code == 10 {
			typ = "unknown"
		}
		if live.Meetings[typ] != truth.Meetings[code] || live.Participants[typ] != truth.Participants[code] {
			t.Fatalf("%s: %s: %d meetings, %d participants in progress; the fake has %d and %d",
				when, typ, live.Meetings[typ], live.Participants[typ], truth.Meetings[code], truth.Participants[code])
		}
	}
}

// The live gauges equal the fake's truth for this shard's hosts throughout
// 200 overlapping meetings (webinars among them) with joins and leaves,
// while events arrive twice (both transports, webhook retries) and old
// copies arrive late, out of order.
func TestLiveGaugesFollowTheFake(t *testing.T) {
	t.Parallel()
	var owned map[string]bool
	r := newEventRig(t, zoomfake.Options{Seed: 141, Users: 30}, func(c *ScraperConfig, users []zoomfake.User) {
		owned = make(map[string]bool)
		for i, u := range users {
			owned[u.ID] = i%3 != 0 // another shard has a third of the users
		}
		c.Owns = func(key string) bool { return owned[key] }
	})
	r.s.Refresh(context.Background())
	users := r.env.fake.Users()
	keep := func(host string) bool { return owned[host] }
	rng := rand.New(rand.NewPCG(141, 13))
	types := []int{1, 2, 2, 2, 3, 4, 5, 8, 9}
	type live struct {
		uuid   string
		people []string
	}
	var inProgress []live
	transports := []string{zoom.TransportWebSocket, zoom.TransportWebhook}
	step := func(when string) {
		for _, e := range r.deliver(transports[rng.IntN(2)]) {
			if rng.IntN(4) == 0 {
				r.s.HandleEvent(transports[rng.IntN(2)], e) // the same event again
			}
		}
		if len(r.all) > 0 && rng.IntN(3) == 0 {
			// an old copy, late: a webhook retried
			r.s.HandleEvent(zoom.TransportWebhook, r.all[rng.IntN(len(r.all))])
		}
		liveEqual(t, when, r.s.Snapshot().Live, r.env.fake.LiveTruthFor(keep))
	}
	for i := range 200 {
		r.env.clock.Advance(time.Duration(rng.IntN(90)) * time.Second)
		host := users[rng.IntN(len(users))].ID
		if rng.IntN(10) == 0 {
			host = "OutsideHost0000000000B" // not in the account
		}
		uuid, err := r.env.fake.StartMeeting(zoomfake.MeetingStart{HostID: host, Type: types[rng.IntN(len(types))]})
		if err != nil {
			t.Fatal(err)
		}
		m := live{uuid: uuid}
		for range 1 + rng.IntN(5) {
			p := zoomfake.Participant{}
			if rng.IntN(2) == 0 {
				p.ID = users[rng.IntN(len(users))].ID
			}
			id, err := r.env.fake.JoinParticipant(uuid, p)
			if err != nil {
				t.Fatal(err)
			}
			m.people = append(m.people, id)
		}
		inProgress = append(inProgress, m)
		step("meeting " + uuid + " started")
		// Some leave, some meetings end: they overlap by a few to a dozen.
		for j := range inProgress {
			if len(inProgress[j].people) > 0 && rng.IntN(3) == 0 {
				k := rng.IntN(len(inProgress[j].people))
				if err := r.env.fake.LeaveParticipant(inProgress[j].uuid, inProgress[j].people[k], time.Time{}); err != nil {
					t.Fatal(err)
				}
				inProgress[j].people = append(inProgress[j].people[:k], inProgress[j].people[k+1:]...)
			}
		}
		step("after leaves")
		for j := 0; j < len(inProgress); j++ {
			if rng.IntN(5) == 0 {
				r.end(inProgress[j].uuid)
				inProgress = append(inProgress[:j], inProgress[j+1:]...)
				j--
			}
		}
		step("after ends, meeting " + string(rune('0'+i%10)))
	}
	for _, m := range inProgress {
		r.end(m.uuid)
	}
	step("every meeting ended")
	for typ, n := range r.s.Snapshot().Live.Meetings {
		if n != 0 || r.s.Snapshot().Live.Participants[typ] != 0 {
			t.Errorf("%s: %d meetings in progress after every meeting ended", typ, n)
		}
	}
}

// While events do not flow the live state is unknown (nothing is served),
// and when they flow again it starts empty: meetings that started before
// the reconnect stay unknown, never guessed at or counted below zero.
func TestLiveStateUnknownWhileEventsDoNotFlow(t *testing.T) {
	t.Parallel()
	r := newEventRig(t, zoomfake.Options{Seed: 142, Users: 8}, nil)
	r.s.Refresh(context.Background())
	users := r.env.fake.Users()
	before := []string{r.meeting(users[1].ID, 2, 2), r.meeting(users[2].ID, 2, 1)}
	r.deliver(zoom.TransportWebSocket)
	if got := r.s.Snapshot().Live; !got.Known || got.Meetings["scheduled"] != 2 || got.Participants["scheduled"] != 5 {
		t.Fatalf("before the break: %+v, want 2 meetings and 5 participants", got)
	}

	r.flow.set(false, time.Time{})
	got := r.s.Snapshot().Live
	if !got.Enabled || got.Known || got.Meetings != nil || got.Participants != nil {
		t.Fatalf("events not flowing: %+v, want enabled, unknown, no numbers", got)
	}
	// An event that still arrives (a webhook) does not make it known.
	during := r.meeting(users[3].ID, 2, 0)
	r.deliver(zoom.TransportWebhook)
	if r.s.Snapshot().Live.Known {
		t.Fatal("live state known while events do not flow")
	}

	r.env.clock.Advance(time.Minute)
	r.flow.set(true, r.env.clock.Now())
	got = r.s.Snapshot().Live
	if !got.Known || !got.Since.Equal(r.env.clock.Now()) {
		t.Fatalf("after the reconnect: %+v, want known since now", got)
	}
	for typ, n := range got.Meetings {
		if n != 0 || got.Participants[typ] != 0 {
			t.Fatalf("after the reconnect %s shows %d meetings, %d participants: the state must start empty", typ, n, got.Participants[typ])
		}
	}
	// Events of meetings that started before the reconnect change nothing.
	if _, err := r.env.fake.JoinParticipant(before[0], zoomfake.Participant{}); err != nil {
		t.Fatal(err)
	}
	r.end(before[1])
	r.end(during)
	after := r.meeting(users[4].ID, 2, 2)
	r.deliver(zoom.TransportWebSocket)
	got = r.s.Snapshot().Live
	if got.Meetings["scheduled"] != 1 || got.Participants["scheduled"] != 3 {
		t.Errorf("rebuilt: %d meetings, %d participants, want only the meeting started since: 1 and 3", got.Meetings["scheduled"], got.Participants["scheduled"])
	}
	r.end(before[0])
	r.end(after)
	r.deliver(zoom.TransportWebSocket)
	got = r.s.Snapshot().Live
	for typ, n := range got.Meetings {
		if n != 0 || got.Participants[typ] != 0 {
			t.Errorf("every meeting ended: %s shows %d meetings, %d participants", typ, n, got.Participants[typ])
		}
	}
}

// A meeting whose end was missed is dropped 30 hours after its start, and
// late copies of its events do not bring it back.
func TestLiveMeetingExpiresWhenItsEndIsMissed(t *testing.T) {
	t.Parallel()
	r := newEventRig(t, zoomfake.Options{Seed: 143, Users: 6}, nil)
	r.s.Refresh(context.Background())
	users := r.env.fake.Users()
	lost := r.meeting(users[1].ID, 5, 3) // a webinar
	started := r.deliver(zoom.TransportWebSocket)
	r.env.fake.SetEventFilter(func(e zoomfake.Event) bool { return false }) // its end is lost
	r.end(lost)
	r.env.fake.SetEventFilter(nil)
	if got := r.s.Snapshot().Live; got.Meetings["webinar"] != 1 || got.Participants["webinar"] != 4 {
		t.Fatalf("before: %d webinars, %d participants, want 1 and 4", got.Meetings["webinar"], got.Participants["webinar"])
	}

	r.env.clock.Advance(maxMeetingLength - time.Second)
	if got := r.s.Snapshot().Live; got.Meetings["webinar"] != 1 {
		t.Fatalf("just under 30 h: %d webinars, want 1", got.Meetings["webinar"])
	}
	r.env.clock.Advance(time.Second)
	got := r.s.Snapshot().Live
	if got.Meetings["webinar"] != 0 || got.Participants["webinar"] != 0 {
		t.Fatalf("at 30 h: %d webinars, %d participants, want none", got.Meetings["webinar"], got.Participants["webinar"])
	}
	for _, e := range started {
		r.s.HandleEvent(zoom.TransportWebhook, e)
	}
	if got := r.s.Snapshot().Live; got.Meetings["webinar"] != 0 || got.Participants["webinar"] != 0 {
		t.Errorf("late copies brought an expired webinar back: %d, %d", got.Meetings["webinar"], got.Participants["webinar"])
	}
}

// Events the exporter cannot act on change nothing and never panic: unknown
// names, no uuid or host, meeting types Zoom does not define, participant
// events without a participant. (Forged and malformed bodies never get
// here: the transports refuse them.)
func TestEventsThatCannotBeActedOnChangeNothing(t *testing.T) {
	t.Parallel()
	r := newEventRig(t, zoomfake.Options{Seed: 144, Users: 6}, nil)
	r.s.Refresh(context.Background())
	host := r.env.fake.Users()[1].ID
	now := r.env.clock.Now()
	good := zoom.MeetingEvent{UUID: "aDYlohsHRtCd4ii1uC2+hA==", ID: "85746065432", HostID: host, Type: 2, Start: now, End: now.Add(time.Minute)}
	with := func(name string, f func(m *zoom.MeetingEvent)) zoom.Event {
		m := good
		f(&m)
		return zoom.Event{Name: name, TS: now, Meeting: m}
	}
	tests := []struct {
		name string
		e    zoom.Event
	}{
		{"unknown name", with("meeting.sharing_started", func(*zoom.MeetingEvent) {})},
		{"empty name", with("", func(*zoom.MeetingEvent) {})},
		{"no uuid", with(zoom.EventMeetingEnded, func(m *zoom.MeetingEvent) { m.UUID = "" })},
		{"no host", with(zoom.EventMeetingStarted, func(m *zoom.MeetingEvent) { m.HostID = "" })},
		{"uuid over the bound", with(zoom.EventMeetingEnded, func(m *zoom.MeetingEvent) { m.UUID = strings.Repeat("u", MaxIDBytes+1) })},
		{"type 0", with(zoom.EventMeetingStarted, func(m *zoom.MeetingEvent) { m.Type = 0 })},
		{"negative type", with(zoom.EventMeetingEnded, func(m *zoom.MeetingEvent) { m.Type = -7 })},
		{"absurd type", with(zoom.EventMeetingStarted, func(m *zoom.MeetingEvent) { m.Type = 1 << 40 })},
		{"joined without participant", with(zoom.EventMeetingParticipantJoined, func(*zoom.MeetingEvent) {})},
		{"left without key", with(zoom.EventWebinarParticipantLeft, func(m *zoom.MeetingEvent) { m.Participant = &zoom.Participant{Name: "x"} })},
		{"zero value", zoom.Event{}},
		{"too old", zoom.Event{Name: zoom.EventMeetingEnded, TS: now.Add(-maxEventAge - time.Minute), Meeting: good}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := r.s.Snapshot()
			r.s.live.mu.Lock()
			version := r.s.live.version
			r.s.live.mu.Unlock()
			for _, tr := range []string{zoom.TransportWebSocket, zoom.TransportWebhook, "", "\x00bogus"} {
				r.s.HandleEvent(tr, tt.e)
			}
			r.s.live.mu.Lock()
			changed := r.s.live.version != version || len(r.s.live.ended) != 0
			r.s.live.mu.Unlock()
			if changed || r.s.Snapshot() != before {
				t.Error("the live state changed")
			}
			if n := r.pendingTargeted(); n != 0 {
				t.Errorf("%d targeted fetches scheduled", n)
			}
		})
	}
}

// With events flowing, sweeps run every SweepInterval once a sweep followed
// the start of the flow; without events, and in the first cycle after a
// reconnect, every cycle as before.
func TestSweepCadenceFollowsTheEvents(t *testing.T) {
	t.Parallel()
	r := newEventRig(t, zoomfake.Options{Seed: 145, Users: 8}, func(c *ScraperConfig, _ []zoomfake.User) {
		c.Interval, c.SweepInterval = 5*time.Minute, time.Hour
	})
	start := r.env.clock.Now()
	steps := []struct {
		at    time.Duration // since start
		flow  string        // "ok", "down", or "reconnect" (ok since now)
		sweep bool
	}{
		{0, "ok", true}, // the first sweep
		{5 * time.Minute, "ok", false},
		{10 * time.Minute, "ok", false},
		{15 * time.Minute, "down", true}, // no events: every cycle
		{20 * time.Minute, "down", true},
		{22 * time.Minute, "reconnect", false}, // no cycle here: the flow comes back
		{25 * time.Minute, "ok", true},         // events may have been lost before the reconnect
		{30 * time.Minute, "ok", false},
		{80 * time.Minute, "ok", false}, // 60 minutes after the last sweep: 85
		{85 * time.Minute, "ok", true},
	}
	for _, st := range steps {
		r.env.clock.Set(start.Add(st.at))
		switch st.flow {
		case "down":
			r.flow.set(false, time.Time{})
		case "reconnect":
			r.flow.set(true, r.env.clock.Now())
			continue
		}
		before := r.env.fake.CallCount(zoomfake.EndpointHostsReport)
		r.s.Refresh(context.Background())
		if swept := r.env.fake.CallCount(zoomfake.EndpointHostsReport) > before; swept != st.sweep {
			t.Errorf("cycle at +%s (events %s): swept %v, want %v", st.at, st.flow, swept, st.sweep)
		}
	}
}

// Targeted fetches come first in the budget: a refresh cycle runs the due
// ones before its own work and leaves what the waiting ones will cost; and
// a month a targeted fetch counted is not fetched again by the next sweep.
func TestTargetedFetchesComeFirstInTheBudget(t *testing.T) {
	t.Parallel()
	r := newEventRig(t, zoomfake.Options{Seed: 146, Users: 6, HeavyUserMeetings: 5}, func(c *ScraperConfig, _ []zoomfake.User) {
		c.Interval = time.Minute
	})
	ctx := context.Background()
	r.s.Refresh(ctx)
	users := r.env.fake.Users()
	// Users 1 to 4 hosted meetings the next sweep will see; user 5's ended
	// meeting comes as an event, its fetch due in 30 s; user 0's event
	// arrives just before the cycle, its fetch not due yet.
	for _, u := range users[1:5] {
		r.env.fake.AddMeeting(zoomfake.Meeting{HostID: u.ID, Start: r.env.clock.Now().Add(-time.Hour), DurationMinutes: 30, Participants: 3})
	}
	ended := r.meeting(users[5].ID, 2, 2)
	r.env.clock.Advance(5 * time.Minute)
	r.end(ended)
	r.deliver(zoom.TransportWebSocket)
	r.env.clock.Advance(time.Minute)
	waiting := r.meeting(users[0].ID, 2, 2)
	r.end(waiting)
	r.deliver(zoom.TransportWebSocket)

	// The budget bucket holds 4 calls.
	const tokens = 4
	r.s.refreshing.Lock()
	r.s.bucket.tokens, r.s.bucket.last = tokens, r.env.clock.Now()
	r.s.refreshing.Unlock()
	used := r.env.client.Budget().UsedToday
	before := r.counted(users[5].ID, "scheduled")
	r.s.Refresh(ctx)

	if got := r.counted(users[5].ID, "scheduled") - before; got != 1 || r.fetches(outcomeCounted) != 1 {
		t.Errorf("the due targeted fetch did not come first: counter moved by %d, %d fetches counted", got, r.fetches(outcomeCounted))
	}
	// 1 call for user 5, 1 kept for user 0: the cycle had 2, a sweep and
	// one of the five changed users (1 to 4, and 0 whose meeting is in the
	// report). User 5, counted, is not among them.
	if n := r.env.client.Budget().UsedToday - used; n != tokens-1 {
		t.Errorf("%d calls spent, want %d", n, tokens-1)
	}
	if got, want := r.s.Snapshot().PendingUsers, 5-1; got != want {
		t.Errorf("%d users wait for budget, want %d", got, want)
	}
	r.s.refreshing.Lock()
	dirty := r.s.users[users[5].ID].dirty
	r.s.refreshing.Unlock()
	if len(dirty) != 0 {
		t.Errorf("the sweep marked user 5 changed again after its targeted fetch: %v", dirty)
	}
}

// Participant events are ordered by their time, whatever order they arrive
// in: a late copy of a join never undoes the leave after it, and a
// participant is never counted below zero.
func TestParticipantEventsOrderedByTime(t *testing.T) {
	t.Parallel()
	r := newEventRig(t, zoomfake.Options{Seed: 147, Users: 6}, nil)
	r.s.Refresh(context.Background())
	host := r.env.fake.Users()[1].ID
	t0 := r.env.clock.Now()
	type ev struct {
		joined bool
		at     time.Duration // after t0
		key    string
	}
	tests := []struct {
		name   string
		events []ev
		want   int
	}{
		{"join", []ev{{true, 1, "a"}}, 1},
		{"join, leave", []ev{{true, 1, "a"}, {false, 2, "a"}}, 0},
		{"join twice", []ev{{true, 1, "a"}, {true, 1, "a"}}, 1},
		{"late join copy after leave", []ev{{true, 1, "a"}, {false, 2, "a"}, {true, 1, "a"}}, 0},
		{"join and leave in one instant, then the join again", []ev{{true, 1, "a"}, {false, 1, "a"}, {true, 1, "a"}}, 0},
		{"leave arrives first", []ev{{false, 2, "a"}, {true, 1, "a"}}, 0},
		{"leave never seen joined", []ev{{false, 2, "a"}, {false, 3, "b"}}, 0},
		{"back again", []ev{{true, 1, "a"}, {false, 2, "a"}, {true, 3, "a"}}, 1},
		{"two people", []ev{{true, 1, "a"}, {true, 2, "b"}, {false, 3, "a"}, {false, 1, "b"}}, 1},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			uuid := "OrderTest" + string(rune('A'+i)) + "xxxxxxxxxxxx=="
			meeting := zoom.MeetingEvent{UUID: uuid, HostID: host, Type: 3, Start: t0}
			r.s.HandleEvent(zoom.TransportWebSocket, zoom.Event{Name: zoom.EventMeetingStarted, TS: t0, Meeting: meeting})
			for _, e := range tt.events {
				name := zoom.EventMeetingParticipantLeft
				if e.joined {
					name = zoom.EventMeetingParticipantJoined
				}
				m := meeting
				m.Participant = &zoom.Participant{UserID: e.key, UUID: "P-" + e.key}
				r.s.HandleEvent(zoom.TransportWebhook, zoom.Event{Name: name, TS: t0.Add(e.at * time.Second), Meeting: m})
			}
			if got := r.s.Snapshot().Live.Participants["recurring_no_fixed_time"]; got != tt.want {
				t.Errorf("%d participants in progress, want %d", got, tt.want)
			}
			r.s.HandleEvent(zoom.TransportWebSocket, zoom.Event{Name: zoom.EventMeetingEnded, TS: t0.Add(time.Minute), Meeting: meeting})
			if got := r.s.Snapshot().Live; got.Participants["recurring_no_fixed_time"] != 0 || got.Meetings["recurring_no_fixed_time"] != 0 {
				t.Errorf("after the end: %d meetings, %d participants", got.Meetings["recurring_no_fixed_time"], got.Participants["recurring_no_fixed_time"])
			}
		})
	}
}

// The snapshot stays the same pointer while nothing changes, so that
// scrapes share one gathered copy; an event makes a new one whose Usage is
// still the refresh's; without an event transport there is no live state.
func TestSnapshotPointerFollowsTheLiveState(t *testing.T) {
	t.Parallel()
	r := newEventRig(t, zoomfake.Options{Seed: 148, Users: 6}, nil)
	r.s.Refresh(context.Background())
	first := r.s.Snapshot()
	if again := r.s.Snapshot(); again != first {
		t.Error("a new snapshot without any change")
	}
	r.meeting(r.env.fake.Users()[1].ID, 2, 1)
	r.deliver(zoom.TransportWebSocket)
	after := r.s.Snapshot()
	if after == first || after.Live.Meetings["scheduled"] != 1 {
		t.Fatalf("the event is not in a new snapshot: %+v", after.Live)
	}
	if after.Usage() != first.Usage() || after.Usage().Live.Enabled {
		t.Error("Usage changed with the live state, or carries it")
	}
	if r.s.Snapshot() != after {
		t.Error("a new snapshot without any change")
	}

	plain := newTestScraper(t, r.env, nil)
	plain.Refresh(context.Background())
	if snap := plain.Snapshot(); snap.Live.Enabled || snap.Usage() != snap {
		t.Errorf("without an event transport: %+v", snap.Live)
	}
}
