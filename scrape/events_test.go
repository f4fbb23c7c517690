package scrape

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
	"github.com/zoomexporter/zoom_exporter/zoom"
)

// eventFlow is an injected ScraperConfig.EventsFlowing.
type eventFlow struct {
	mu    sync.Mutex
	ok    bool
	since time.Time
}

func (f *eventFlow) set(ok bool, since time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ok, f.since = ok, since
}

func (f *eventFlow) get() (bool, time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ok, f.since
}

// eventRig is a scraper fed with the fake's events, in process: the
// fake's emitted bodies are decoded as the transports decode them and handed
// to HandleEvent. The clock is moved by hand.
type eventRig struct {
	t    *testing.T
	env  *testEnv
	s    *Scraper
	flow *eventFlow
	reg  *prometheus.Registry
	seen int // fake events handed over so far
	all  []zoom.Event
}

func newEventRig(t *testing.T, opts zoomfake.Options, tweak func(c *ScraperConfig, users []zoomfake.User)) *eventRig {
	t.Helper()
	if opts.EventLogSize == 0 {
		opts.EventLogSize = 1 << 20 // Events() keeps every event: seen indexes it
	}
	env := newTestEnv(t, opts, nil)
	t.Cleanup(env.fake.Close)
	r := &eventRig{t: t, env: env, flow: &eventFlow{}, reg: prometheus.NewPedanticRegistry()}
	r.flow.set(true, env.clock.Now())
	r.s = newTestScraper(t, env, func(c *ScraperConfig) {
		c.Interval = time.Hour // no refresh cycle runs unless a test calls Refresh
		c.EventsFlowing = r.flow.get
		c.Registerer = r.reg
		if tweak != nil {
			tweak(c, env.fake.Users())
		}
	})
	return r
}

// run starts the scraper's Run loop (one refresh at once, then targeted
// fetches as events ask) and waits for the first refresh.
func (r *eventRig) run() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.s.Run(ctx); close(done) }()
	r.t.Cleanup(func() { cancel(); <-done })
	waitFor(r.t, "the first refresh", r.s.Ready)
}

// deliver hands the events the fake emitted since the last call to
// HandleEvent, over transport, and returns them.
func (r *eventRig) deliver(transport string) []zoom.Event {
	r.t.Helper()
	evs := r.env.fake.Events()
	var out []zoom.Event
	for _, fe := range evs[r.seen:] {
		if fe.Suppressed {
			continue
		}
		e, err := zoom.DecodeEvent(fe.Body)
		if err != nil {
			r.t.Fatalf("the fake's %s does not decode: %v", fe.Name, err)
		}
		r.s.HandleEvent(transport, e)
		out = append(out, e)
	}
	r.seen = len(evs)
	r.all = append(r.all, out...)
	return out
}

// advance moves the clock and wakes the targeted-fetch loop, which waits on
// the wall clock otherwise.
func (r *eventRig) advance(d time.Duration) {
	r.env.clock.Advance(d)
	r.s.kickTargeted()
}

func (r *eventRig) fetches(outcome string) int {
	return int(testutil.ToFloat64(r.s.evm.fetches.WithLabelValues(outcome)))
}

func (r *eventRig) allFetches() int {
	return r.fetches(outcomeCounted) + r.fetches(outcomeNotYet) + r.fetches(outcomeGivenUp) + r.fetches(outcomeFailed)
}

// counted is the user's zoom_meetings_total of a type, as published.
func (r *eventRig) counted(userID, typ string) int64 {
	for _, u := range r.s.Snapshot().Users {
		if u.ID == userID || u.Key == userID {
			return u.Counters[typ].Meetings
		}
	}
	r.t.Fatalf("user %s is not in the snapshot", userID)
	return 0
}

// meeting starts a meeting hosted by host, joined by the host and guests
// more, and returns its uuid.
func (r *eventRig) meeting(host string, typ, guests int) string {
	r.t.Helper()
	uuid, err := r.env.fake.StartMeeting(zoomfake.MeetingStart{HostID: host, Type: typ})
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.env.fake.JoinParticipant(uuid, zoomfake.Participant{ID: host}); err != nil {
		r.t.Fatal(err)
	}
	for range guests {
		if _, err := r.env.fake.JoinParticipant(uuid, zoomfake.Participant{}); err != nil {
			r.t.Fatal(err)
		}
	}
	return uuid
}

func (r *eventRig) end(uuid string) {
	r.t.Helper()
	if _, err := r.env.fake.EndMeeting(uuid, time.Time{}); err != nil {
		r.t.Fatal(err)
	}
}

// histogram returns zoom_event_to_count_seconds' count and sum.
func (r *eventRig) histogram() (uint64, float64) {
	r.t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		r.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "zoom_event_to_count_seconds" {
			h := mf.GetMetric()[0].GetHistogram()
			return h.GetSampleCount(), h.GetSampleSum()
		}
	}
	r.t.Fatal("zoom_event_to_count_seconds is not registered")
	return 0, 0
}

func (r *eventRig) pendingTargeted() int {
	q := &r.s.targeted
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.entries)
}

// waitFor waits, up to a deadline, for cond to hold.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

// A meeting.ended moves its host's counters within one targeted fetch after
// the report lag, with --scrape.interval=1h: tries at 5 s, 30 s and 90 s
// find nothing (the report lags 2 minutes), the try at 210 s counts it. The same
// event again, over either transport, fetches and counts nothing more.
func TestEndedEventCountsWithinOneTargetedFetchAfterTheLag(t *testing.T) {
	t.Parallel()
	r := newEventRig(t, zoomfake.Options{Seed: 131, Users: 6, ReportLag: 2 * time.Minute}, nil)
	r.run()
	host := r.env.fake.Users()[2].ID
	before := r.counted(host, "scheduled")
	calls := r.env.fake.UserReportCalls(host)

	uuid := r.meeting(host, 2, 1)
	r.advance(10 * time.Minute)
	r.end(uuid)
	endedAt := r.env.clock.Now()
	r.deliver(zoom.TransportWebSocket)
	if due := r.s.targeted.nextDue(); !due.Equal(endedAt.Add(5 * time.Second)) {
		t.Fatalf("first targeted fetch due at %s, want 5s after the event (%s)", due, endedAt.Add(5*time.Second))
	}

	steps := []struct {
		at      time.Duration // after the event
		outcome string
		counted int64
	}{
		{5 * time.Second, outcomeNotYet, 0},
		{30 * time.Second, outcomeNotYet, 0},
		{90 * time.Second, outcomeNotYet, 0},
		{210 * time.Second, outcomeCounted, 1},
	}
	for i, st := range steps {
		r.advance(endedAt.Add(st.at).Sub(r.env.clock.Now()))
		waitFor(t, "targeted fetch "+st.outcome, func() bool { return r.allFetches() == i+1 })
		if got := r.fetches(st.outcome); got < 1 {
			t.Errorf("after %s: no %s fetch", st.at, st.outcome)
		}
		if got := r.counted(host, "scheduled") - before; got != st.counted {
			t.Errorf("after %s: counter moved by %d, want %d", st.at, got, st.counted)
		}
	}
	if n := r.env.fake.UserReportCalls(host) - calls; n != len(steps) {
		t.Errorf("%d report calls for the host, want %d", n, len(steps))
	}
	if n, sum := r.histogram(); n != 1 || sum != 210 {
		t.Errorf("zoom_event_to_count_seconds: %d observations summing %vs, want one of 210s", n, sum)
	}

	// The same event over both transports (a webhook retried, or sent
	// beside the WebSocket): nothing more to fetch or count.
	ended := r.all[len(r.all)-1]
	if ended.Name != zoom.EventMeetingEnded {
		t.Fatalf("last event is %s", ended.Name)
	}
	for _, tr := range []string{zoom.TransportWebhook, zoom.TransportWebSocket} {
		r.s.HandleEvent(tr, ended)
	}
	if n := r.pendingTargeted(); n != 0 {
		t.Errorf("%d targeted fetches scheduled by a duplicate event", n)
	}
	r.s.Refresh(context.Background())
	if got := r.counted(host, "scheduled") - before; got != 1 {
		t.Errorf("after a duplicate event and a refresh the counter moved by %d, want 1", got)
	}
	if problems, err := testutil.GatherAndLint(r.reg); err != nil || len(problems) > 0 {
		t.Errorf("promlint: %v %v", problems, err)
	}
}

// A meeting still missing from the report 30 minutes after its end is given
// up after the last try and left dirty: the next refresh cycle counts it,
// once, and the histogram sees it then.
func TestTargetedFetchGivesUpAfterTheLimit(t *testing.T) {
	t.Parallel()
	r := newEventRig(t, zoomfake.Options{Seed: 132, Users: 6, ReportLag: 45 * time.Minute}, nil)
	r.run()
	host := r.env.fake.Users()[3].ID
	before := r.counted(host, "scheduled")
	calls := r.env.fake.UserReportCalls(host)
	uuid := r.meeting(host, 2, 2)
	r.advance(5 * time.Minute)
	r.end(uuid)
	endedAt := r.env.clock.Now()
	r.deliver(zoom.TransportWebhook)

	for i, at := range targetedSchedule {
		r.advance(endedAt.Add(at).Sub(r.env.clock.Now()))
		waitFor(t, "a targeted fetch", func() bool { return r.allFetches() == i+1 })
	}
	if got, want := r.fetches(outcomeNotYet), len(targetedSchedule)-1; got != want {
		t.Errorf("%d not_yet_in_report fetches, want %d", got, want)
	}
	if got := r.fetches(outcomeGivenUp); got != 1 {
		t.Errorf("%d given_up fetches, want 1", got)
	}
	if n := r.env.fake.UserReportCalls(host) - calls; n != len(targetedSchedule) {
		t.Errorf("%d report calls, want %d", n, len(targetedSchedule))
	}
	r.advance(time.Hour) // the last try was at 30 minutes: nothing more is due
	if due := r.s.targeted.nextDue(); !due.IsZero() {
		t.Errorf("a targeted fetch is still due at %s after giving up", due)
	}
	r.s.refreshing.Lock()
	dirty := r.s.users[host].dirty[monthKey(endedAt)]
	r.s.refreshing.Unlock()
	if !dirty {
		t.Error("the month is not left dirty for the refresh cycles")
	}

	r.s.Refresh(context.Background()) // the normal path: the report has it now
	if got := r.counted(host, "scheduled") - before; got != 1 {
		t.Errorf("after the refresh the counter moved by %d, want 1", got)
	}
	if n, sum := r.histogram(); n != 1 || sum < float64(45*60) {
		t.Errorf("zoom_event_to_count_seconds: %d observations summing %vs, want one over the 45-minute lag", n, sum)
	}
	if n := r.pendingTargeted(); n != 0 {
		t.Errorf("%d targeted entries left once counted", n)
	}
}

// A targeted fetch that fails is tried again and does not mark the user
// failed: the user's health is the refresh cycles' to tell.
func TestTargetedFetchFailureIsRetried(t *testing.T) {
	t.Parallel()
	r := newEventRig(t, zoomfake.Options{Seed: 133, Users: 6}, nil)
	r.run()
	host := r.env.fake.Users()[1].ID
	before := r.counted(host, "scheduled")
	uuid := r.meeting(host, 2, 1)
	r.advance(20 * time.Minute)
	r.end(uuid)
	r.deliver(zoom.TransportWebSocket)
	// Every attempt of the client (one and its three retries) fails.
	r.env.fake.InjectFault(zoomfake.Fault{Kind: zoomfake.FaultServerError, Status: 503, Count: 4, Path: "/v2/report/users/" + host + "/meetings"})

	r.advance(30 * time.Second)
	waitFor(t, "the failed fetch", func() bool { return r.fetches(outcomeFailed) == 1 })
	for _, u := range r.s.Snapshot().Users {
		if u.ID == host && u.LastError != "" {
			t.Errorf("a failed targeted fetch marked the user failed: %s", u.LastError)
		}
	}
	r.advance(time.Minute)
	waitFor(t, "the retry", func() bool { return r.fetches(outcomeCounted) == 1 })
	if got := r.counted(host, "scheduled") - before; got != 1 {
		t.Errorf("counter moved by %d, want 1", got)
	}
}

// Events for hosts this exporter does not track fetch nothing and show in no
// live gauge: a user not configured, a user of another shard, a host
// outside the account.
func TestEventsOfUntrackedHostsAreIgnored(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		tweak func(c *ScraperConfig, users []zoomfake.User)
		host  func(users []zoomfake.User) string
	}{
		{"not configured",
			func(c *ScraperConfig, users []zoomfake.User) { c.Users = []string{users[0].ID, users[1].Email} },
			func(users []zoomfake.User) string { return users[2].ID }},
		{"another shard",
			func(c *ScraperConfig, users []zoomfake.User) {
				c.Owns = func(key string) bool { return key != users[2].ID }
			},
			func(users []zoomfake.User) string { return users[2].ID }},
		{"outside the account",
			func(*ScraperConfig, []zoomfake.User) {},
			func([]zoomfake.User) string { return "OutsideHost0000000000A" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newEventRig(t, zoomfake.Options{Seed: 134, Users: 6}, tt.tweak)
			r.run()
			users := r.env.fake.Users()
			host := tt.host(users)
			calls := r.env.fake.UserReportCalls(host)
			uuid := r.meeting(host, 2, 3)
			r.deliver(zoom.TransportWebSocket)
			live := r.s.Snapshot().Live
			if !live.Known {
				t.Fatal("live state unknown although events flow")
			}
			for typ, n := range live.Meetings {
				if n != 0 || live.Participants[typ] != 0 {
					t.Errorf("%s: %d meetings, %d participants in progress, want none", typ, n, live.Participants[typ])
				}
			}
			r.advance(10 * time.Minute)
			r.end(uuid)
			r.deliver(zoom.TransportWebSocket)
			if n := r.pendingTargeted(); n != 0 {
				t.Fatalf("%d targeted fetches scheduled for an untracked host", n)
			}
			for _, at := range targetedSchedule {
				r.advance(at)
			}
			r.s.refreshing.Lock() // waits for a fetch under way: the targeted loop is idle between fetches
			//lint:ignore SA2001 the lock is taken only to wait for the fetch under way
			r.s.refreshing.Unlock()
			if n := r.env.fake.UserReportCalls(host) - calls; n != 0 {
				t.Errorf("%d report calls for an untracked host", n)
			}
			if n := r.allFetches(); n != 0 {
				t.Errorf("%d targeted fetches", n)
			}
		})
	}
}

// Type past lists meetings of two or more participants: the end of a
// meeting seen whole with its host alone fetches nothing; one with a guest
// is fetched.
func TestSoloMeetingEndFetchesNothing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		guests int
		want   int // targeted entries after the end
	}{
		{"host alone", 0, 0},
		{"host and a guest", 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newEventRig(t, zoomfake.Options{Seed: 135, Users: 6}, nil)
			r.run()
			host := r.env.fake.Users()[1].ID
			uuid := r.meeting(host, 2, tt.guests)
			r.advance(5 * time.Minute)
			r.end(uuid)
			r.deliver(zoom.TransportWebSocket)
			if n := r.pendingTargeted(); n != tt.want {
				t.Errorf("%d targeted fetches scheduled, want %d", n, tt.want)
			}
		})
	}
}

// The first try follows the report lag the last meetings showed: with a
// steady lag of 3 minutes the first meeting takes the tries at 30 s, 90 s
// and 210 s, and the next ones take one or two, each still counted at the
// first try after the lag.
func TestTargetedFetchLearnsTheReportLag(t *testing.T) {
	t.Parallel()
	const lag = 3 * time.Minute
	r := newEventRig(t, zoomfake.Options{Seed: 136, Users: 6, ReportLag: lag}, nil)
	r.run()
	host := r.env.fake.Users()[4].ID
	before := r.counted(host, "scheduled")
	// The first try at or after the lag: where every meeting is found.
	found := 0
	for targetedSchedule[found] < lag {
		found++
	}
	const meetings = 9
	var tries []int
	for i := range meetings {
		uuid := r.meeting(host, 2, 1)
		r.advance(10 * time.Minute)
		r.end(uuid)
		r.deliver(zoom.TransportWebSocket)
		n := 0
		for due := r.s.targeted.nextDue(); !due.IsZero(); due = r.s.targeted.nextDue() {
			done := r.allFetches() + 1
			r.advance(due.Sub(r.env.clock.Now()))
			waitFor(t, "a targeted fetch", func() bool { return r.allFetches() == done })
			n++
		}
		tries = append(tries, n)
		if got := r.counted(host, "scheduled") - before; got != int64(i+1) {
			t.Fatalf("meeting %d: counter moved by %d, want %d", i+1, got, i+1)
		}
	}
	if tries[0] != found+1 {
		t.Errorf("the first meeting took %d tries, want %d", tries[0], found+1)
	}
	later := 0
	for _, n := range tries[1:] {
		later += n
	}
	// One try each once the lag is learnt, and one more for each probe
	// of a shorter lag.
	if limit := (meetings - 1) + (meetings-1+probeEvery-1)/probeEvery; later > limit {
		t.Errorf("tries per meeting %v: %d after the first, want at most %d", tries, later, limit)
	}
	if n, sum := r.histogram(); n != meetings || sum != float64(meetings)*targetedSchedule[found].Seconds() {
		t.Errorf("zoom_event_to_count_seconds: %d observations summing %vs, want %d at %v", n, sum, meetings, targetedSchedule[found])
	}
	t.Logf("tries per meeting: %v", tries)
}

// The learnt first try follows the report lag down and up, and costs one
// extra try in probeEvery meetings while the lag holds still.
func TestLagWindowFollowsTheLag(t *testing.T) {
	t.Parallel()
	const phase = 128
	// simulate gives n meetings in a row whose report shows them from
	// schedule step lag, and returns the first try of the last one and
	// the tries all took.
	simulate := func(w *lagWindow, n, lag int) (last, tries int) {
		for range n {
			from, probe := w.firstTry()
			found := max(from, lag)
			tries += found - from + 1
			switch {
			case probe && found == from:
				w.learn(found, probeWeight)
			case probe || found != from:
				w.learn(found, 1)
			}
			last = from
		}
		return last, tries
	}
	cases := []struct {
		name              string
		lags              []int // phases of `phase` meetings each
		wantLast          int
		wantTriesLastStep int // tries of the last phase, at most
	}{
		{"steady at 3", []int{3, 3}, 3, phase + phase/probeEvery},
		// Three successful probes a step: 24 meetings.
		{"shrinks from 4 to 1", []int{4, 1}, 1, phase + phase/probeEvery + 3*24},
		// Nine meetings found late a step at most.
		{"grows from 1 to 5", []int{1, 5}, 5, phase + phase/probeEvery + 9*4},
		{"to 0: no probe below the first step", []int{2, 0}, 0, phase + phase/probeEvery + 2*24},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var w lagWindow
			var last, tries int
			for _, lag := range c.lags {
				last, tries = simulate(&w, phase, lag)
			}
			if last != c.wantLast {
				t.Errorf("first try after the lag settled at %d: %d, want %d", c.lags[len(c.lags)-1], last, c.wantLast)
			}
			if tries > c.wantTriesLastStep {
				t.Errorf("%d tries for the last %d meetings, want at most %d", tries, phase, c.wantTriesLastStep)
			}
		})
	}
}

// While events flow, the full reconciliation fetches only what may have
// changed unseen: a user is reconciled once a full interval after a fetch
// that counted or grew a meeting, and a user without meetings costs
// nothing once events have flowed a full interval before its last fetch. A
// break in the flow brings every user's reconciliation back. Without
// events every user is reconciled every full interval (the reference).
func TestReconciliationUnderEventsFetchesOnlyWhatMayHaveChanged(t *testing.T) {
	t.Parallel()
	const (
		full  = 6 * time.Hour
		cycle = 30 * time.Minute
	)
	for _, withEvents := range []bool{true, false} {
		name := map[bool]string{true: "events flowing", false: "polling only"}[withEvents]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := newEventRig(t, zoomfake.Options{Seed: 137, Users: 8, ReportLag: time.Minute}, func(c *ScraperConfig, _ []zoomfake.User) {
				c.Interval, c.FullInterval = cycle, full
				if withEvents {
					c.SweepInterval = 2 * time.Hour
				} else {
					c.EventsFlowing = nil
				}
			})
			ctx := context.Background()
			t0 := r.env.clock.Now()
			reportCalls := func() int { return r.env.fake.CallCount(zoomfake.EndpointUserMeetings) }
			// cycles runs refresh cycles, and the targeted fetches due
			// between them, until the clock reaches until; it returns the
			// per-user report calls they made.
			cycles := func(until time.Duration) int {
				before := reportCalls()
				for r.env.clock.Now().Before(t0.Add(until)) {
					r.s.Refresh(ctx)
					next := r.env.clock.Now().Add(cycle)
					for due := r.s.RunDueTargeted(ctx); !due.IsZero() && due.Before(next); due = r.s.RunDueTargeted(ctx) {
						r.env.clock.Set(due)
					}
					r.env.clock.Set(next)
				}
				return reportCalls() - before
			}
			first := cycles(cycle) // the cold start
			if first == 0 {
				t.Fatal("the cold start fetched no report")
			}
			cycles(12*time.Hour + cycle) // two reconciliations: events have flowed a full interval before the second
			quiet := cycles(24*time.Hour + cycle)
			if withEvents && quiet != 0 {
				t.Errorf("12 quiet hours with events flowing: %d report calls, want 0", quiet)
			}
			if !withEvents && quiet < first {
				t.Errorf("12 quiet hours polling: %d report calls, want every user reconciled (%d at the cold start) at least once", quiet, first)
			}

			// One meeting: its targeted fetch (events) or the sweep's
			// change (polling), then, with events, exactly one
			// reconciliation of its host.
			host := r.env.fake.Users()[3].ID
			hostBefore := r.env.fake.UserReportCalls(host)
			before := r.counted(host, "scheduled")
			uuid := r.meeting(host, 2, 1)
			r.env.clock.Advance(10 * time.Minute)
			r.end(uuid)
			r.deliver(zoom.TransportWebSocket)
			busy := cycles(36*time.Hour + cycle)
			if got := r.counted(host, "scheduled") - before; got != 1 {
				t.Fatalf("the meeting moved the host's counter by %d, want 1", got)
			}
			hostCalls := r.env.fake.UserReportCalls(host) - hostBefore
			if withEvents {
				tries := r.allFetches()
				if hostCalls != tries+1 || busy != hostCalls {
					t.Errorf("12 hours after one meeting: %d report calls, %d of them for its host, want only the host's %d targeted tries and one reconciliation", busy, hostCalls, tries)
				}
			}

			// A break in the flow: every user is reconciled again.
			r.flow.set(true, r.env.clock.Now())
			if again := cycles(42*time.Hour + cycle); withEvents && again < first {
				t.Errorf("after a break in the events: %d report calls in a full interval, want every user reconciled (%d at the cold start)", again, first)
			}
		})
	}
}

// With the bucket empty and many ended meetings waiting, the targeted
// fetches wait for the bucket once for all: the runner wakes about once
// per token the bucket gains, not once per waiting month, and spends
// every token it gains.
func TestStarvedTargetedFetchesWaitForTheBucketOnceForAll(t *testing.T) {
	t.Parallel()
	// 480 Heavy calls a day: the bucket gains one every 3 minutes and
	// holds 60; the cold start of 90 users empties it.
	env := newTestEnv(t, zoomfake.Options{Seed: 139, Users: 90, ReportLag: time.Second}, func(c *zoom.ClientConfig) { c.DailyBudget = 480 })
	t.Cleanup(env.fake.Close)
	flow := &eventFlow{}
	flow.set(true, env.clock.Now())
	s := newTestScraper(t, env, func(c *ScraperConfig) {
		c.Interval, c.SweepInterval, c.EventsFlowing = time.Hour, 2*time.Hour, flow.get
	})
	ctx := context.Background()
	s.Refresh(ctx)
	if tokens := s.bucket.available(env.clock.Now(), 480); tokens > 0 {
		t.Fatalf("the cold start left %d tokens in the bucket; the test needs none", tokens)
	}
	r := &eventRig{t: t, env: env, s: s, flow: flow}
	var uuids []string
	for _, u := range env.fake.Users()[:40] {
		uuids = append(uuids, r.meeting(u.ID, 2, 1))
	}
	env.clock.Advance(10 * time.Minute)
	// They end 5 s apart, each fetch falling due at its own time.
	for _, uuid := range uuids {
		r.end(uuid)
		r.deliver(zoom.TransportWebSocket)
		env.clock.Advance(5 * time.Second)
		s.RunDueTargeted(ctx)
	}

	calls := env.fake.CallCount(zoomfake.EndpointUserMeetings)
	start := env.clock.Now()
	held := max(s.bucket.available(start, 480), 0) // gained while the meetings ran
	wakeups := 0
	for next := s.RunDueTargeted(ctx); !next.IsZero() && next.Before(start.Add(time.Hour)); next = s.RunDueTargeted(ctx) {
		env.clock.Set(next)
		wakeups++
	}
	fetched := env.fake.CallCount(zoomfake.EndpointUserMeetings) - calls
	// An hour gains 20 tokens.
	if want := held + 20; fetched < want-1 || fetched > want {
		t.Errorf("%d targeted fetches in an hour of a starved bucket, want the %d tokens it held and the 20 it gains", fetched, held)
	}
	if wakeups > 2*fetched+5 {
		t.Errorf("the runner woke %d times for %d fetches, want about once per token", wakeups, fetched)
	}
	t.Logf("%d fetches, %d wakeups", fetched, wakeups)
}

// While events flow, a refresh that changed nothing keeps the usage data
// the live snapshot points to: the serving cache, keyed on Usage(), stays
// valid while the live gauges move.
func TestUnchangedRefreshKeepsUsageWhileEventsFlow(t *testing.T) {
	t.Parallel()
	r := newEventRig(t, zoomfake.Options{Seed: 141, Users: 6}, nil)
	ctx := context.Background()
	r.s.Refresh(ctx)
	first := r.s.Snapshot().Usage()
	uuid := r.meeting(r.env.fake.Users()[1].ID, 2, 1) // live only: not in any report yet
	r.deliver(zoom.TransportWebSocket)
	r.env.clock.Advance(time.Minute)
	r.s.Refresh(ctx)
	snap := r.s.Snapshot()
	if snap.Usage() != first {
		t.Error("a refresh that changed no usage data published new usage data")
	}
	if n := snap.Live.Meetings["scheduled"]; !snap.Live.Known || n != 1 {
		t.Errorf("live: known %v, %d scheduled meetings in progress, want 1", snap.Live.Known, n)
	}
	r.env.clock.Advance(10 * time.Minute)
	r.end(uuid)
	r.deliver(zoom.TransportWebSocket)
	r.env.clock.Advance(time.Hour) // past the report lag and every targeted try
	r.s.Refresh(ctx)
	if r.s.Snapshot().Usage() == first {
		t.Error("a refresh that counted a meeting kept the old usage data")
	}
}
