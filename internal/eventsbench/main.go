// Command eventsbench measures what Zoom events (issue 13) bring, against the
// fake Zoom server, each figure next to its reference or target, in one run:
//
//	g. freshness and quota: a simulated day of meetings ending over working
//	   hours (each user hosts -meetings-per-user meetings, every report
//	   lagging the end by -report-lag), after -warm-days days of cycles
//	   from a cold start, at 1,000 and 10,000 users on Pro with the
//	   default budget (15,000 Heavy calls a day): the time from a
//	   meeting entering the report to the snapshot's counters including it,
//	   p50/p95, and the Heavy calls of the day, with events (every event the
//	   fake emits decoded with zoom.DecodeEvent and handed to HandleEvent;
//	   sweeps every hour) and without (polling every 5 minutes);
//	h. live gauges: 1,100 meetings (1,000 of tracked hosts) started, joined,
//	   left and ended over the fake's WebSocket, read by a zoom.EventStream:
//	   after each change, the wall time until Snapshot().Live equals the
//	   fake's truth for the tracked hosts;
//	i. disconnect storm: the fake drops the WebSocket every -drop-every for
//	   -storm while meetings end throughout: goroutines and heap before and
//	   after, reconnects, and the counters against the fake's ground truth
//	   once the polling path has caught up (nothing counted twice or lost).
//
// (g) runs on a simulated clock moved by hand: Run's loop waits on the wall
// clock, so the bench calls Refresh every 5 minutes as Run's ticker would
// and, with events, RunDueTargeted when the next targeted fetch falls due,
// as Run's targeted runner does. Per-second pacing is off (the figures are
// per day of simulated time). (h) and (i) run on the wall clock, through
// the real WebSocket client.
//
// Run it with: go run ./internal/eventsbench   (-sizes, -skip-live and
// -skip-storm pick parts).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zoomexporter/zoom_exporter/internal/testenv"
	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
	"github.com/zoomexporter/zoom_exporter/scrape"
	"github.com/zoomexporter/zoom_exporter/zoom"
)

// Targets of issue 13.
const (
	targetP95       = 2 * time.Minute
	targetCallRatio = 0.5
	targetLiveLag   = 2 * time.Second
)

func main() {
	sizes := flag.String("sizes", "1000,10000", "user counts for (g); empty skips (g)")
	rates := flag.String("meetings-per-user", "2,0.25", "(g) meetings each user hosts on the simulated day, one day per rate")
	lag := flag.Duration("report-lag", 3*time.Minute, "(g) how long after its end a meeting reaches the report")
	flag.IntVar(&warmDays, "warm-days", 2, "(g) days of 5-minute cycles without new meetings before the measured day, from a cold start: the first day after a cold start at 10,000 users spends Pro's budget on it")
	skipLive := flag.Bool("skip-live", false, "skip (h)")
	liveMeetings := flag.Int("live-meetings", 1000, "(h) meetings of tracked hosts (a tenth more of untracked hosts)")
	skipStorm := flag.Bool("skip-storm", false, "skip (i)")
	storm := flag.Duration("storm", 30*time.Second, "(i) how long the storm lasts")
	dropEvery := flag.Duration("drop-every", 300*time.Millisecond, "(i) how often the fake drops the WebSocket")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the run to this file (an interrupt ends it too)")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
		interrupted := make(chan os.Signal, 1)
		signal.Notify(interrupted, os.Interrupt)
		go func() {
			<-interrupted
			pprof.StopCPUProfile()
			os.Exit(130)
		}()
	}

	began := time.Now()
	var summary []string
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, rate := range splitFloats(*rates) {
		ns := splitInts(*sizes)
		if len(ns) > 0 {
			fmt.Printf("== g. A simulated day at Pro's default budget (15,000 Heavy calls): %.3g meetings per user ending over 08:00-18:00 UTC, reports lagging %v ==\n", rate, *lag)
		}
		for _, n := range ns {
			var res [2]dayResult
			for i, events := range []bool{true, false} {
				r, err := simulateDay(n, rate, *lag, events)
				if err != nil {
					fail(err)
				}
				res[i] = r
			}
			w, wo := res[0], res[1]
			ratio := float64(w.heavy) / float64(wo.heavy)
			fresh := float64(w.fresh) / float64(wo.fresh)
			fmt.Printf("users=%d, %.3g a user: report-to-count p95 %s with events, %s without; Heavy calls of the day %d with events, %d without: ratio %.3f (for freshness, sweeps and calls for hosts with a meeting waiting: %d / %d = %.3f)\n",
				n, rate, fmtDur(w.p95), fmtDur(wo.p95), w.heavy, wo.heavy, ratio, w.fresh, wo.fresh, fresh)
			summary = append(summary,
				fmt.Sprintf("g. users=%d, %.3g meetings a user: report-to-count p95 with events %s, p50 %s, %d of %d not counted by 24:00 (without events: p95 %s, p50 %s, %d not counted)  target p95 <= %v: %s",
					n, rate, fmtDur(w.p95), fmtDur(w.p50), w.notCounted, w.meetings, fmtDur(wo.p95), fmtDur(wo.p50), wo.notCounted, targetP95, verdict(w.p95 <= targetP95)),
				fmt.Sprintf("g. users=%d, %.3g meetings a user: Heavy calls a day with events / without %d / %d = %.3f (for freshness %d / %d = %.3f)  target <= %.1f: %s",
					n, rate, w.heavy, wo.heavy, ratio, w.fresh, wo.fresh, fresh, targetCallRatio, verdict(ratio <= targetCallRatio)))
		}
	}
	if !*skipLive {
		fmt.Printf("== h. Live gauges against the fake's truth over the WebSocket, %d overlapping meetings of tracked hosts ==\n", *liveMeetings)
		r, err := liveGauges(*liveMeetings)
		if err != nil {
			fail(err)
		}
		summary = append(summary, fmt.Sprintf("h. live gauges equal the fake's truth after each of %d changes: max %s, p99 %s  target <= %v: %s",
			r.changes, fmtDur(r.max), fmtDur(r.p99), targetLiveLag, verdict(r.max <= targetLiveLag && r.missed == 0)))
	}
	if !*skipStorm {
		fmt.Printf("== i. Disconnect storm: the WebSocket dropped every %v for %v while meetings end ==\n", *dropEvery, *storm)
		r, err := disconnectStorm(*storm, *dropEvery)
		if err != nil {
			fail(err)
		}
		summary = append(summary, fmt.Sprintf("i. storm: %d drops, %d reconnects; goroutines %d -> %d, heap %.1f -> %.1f MiB; double counted %d, missing %d  target flat, 0, 0: %s",
			r.drops, r.reconnects, r.goroutinesBefore, r.goroutinesAfter, mib(r.heapBefore), mib(r.heapAfter), r.double, r.missing,
			verdict(r.goroutinesAfter <= r.goroutinesBefore && r.double == 0 && r.missing == 0)))
	}
	fmt.Println("== Summary: ours against the targets of issue 13 ==")
	for _, l := range summary {
		fmt.Println(l)
	}
	fmt.Printf("eventsbench took %v\n", time.Since(began).Round(time.Second))
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

func fmtDur(d time.Duration) string {
	if d == forever {
		return "not counted by the day's end"
	}
	if d < time.Second {
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Second).String()
}

func splitFloats(s string) []float64 {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		v, err := strconv.ParseFloat(f, 64)
		if err != nil {
			fmt.Fprintf(os.Stderr, "-meetings-per-user: %q is not a number\n", f)
			os.Exit(2)
		}
		out = append(out, v)
	}
	return out
}

func splitInts(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil {
			fmt.Fprintf(os.Stderr, "-sizes: %q is not a number\n", f)
			os.Exit(2)
		}
		out = append(out, n)
	}
	return out
}

// forever marks a meeting not counted by the end of the simulation.
const forever = time.Duration(math.MaxInt64)

// percentile of sorted durations (nearest rank).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// fastLimits turn per-second pacing off: (g) runs on simulated time, and
// the per-day figures do not depend on it. The daily quota is Pro's.
var fastLimits = zoom.Limits{HeavyPerSecond: 100000, MediumPerSecond: 100000, HeavyPerDay: 30000}

func newClient(srv *httptest.Server, now func() time.Time) (*zoom.Client, error) {
	return zoom.NewClient(zoom.ClientConfig{
		APIURL: srv.URL + "/v2", TokenURL: srv.URL + "/oauth/token",
		AccountID: zoomfake.DefaultAccountID, ClientID: zoomfake.DefaultClientID, ClientSecret: zoomfake.DefaultClientSecret,
		Limits:         fastLimits, // DailyBudget 0: half the daily quota, 15,000
		RetryBaseDelay: 10 * time.Millisecond, Now: now,
	})
}

// counted is a user's zoom_meetings_total over every type.
func counted(u scrape.UserSnapshot) int64 {
	var n int64
	for _, t := range u.Counters {
		n += t.Meetings
	}
	return n
}

// ---- g. freshness and Heavy calls over a simulated day ----

// The measured day (a Tuesday, mid-month: no month turn, no grace period),
// the working hours its meetings end in, and the days run before it.
var (
	warmDays  = 2
	simDay    = time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	workStart = simDay.Add(8 * time.Hour)
	workEnd   = simDay.Add(18 * time.Hour)
)

const (
	cycle = 5 * time.Minute // --scrape.interval, Run's ticker
)

type plannedMeeting struct {
	host       string
	typ        int
	start, end time.Time
	uuid       string
	counted    time.Time // when the snapshot first included it
}

type action struct {
	at   time.Time
	kind int // 0 start and host joins, 1 a guest joins, 2 end
	m    *plannedMeeting
}

type dayResult struct {
	p50, p95             time.Duration
	meetings, notCounted int
	heavy                int // Heavy calls of the day
	fresh                int // of which sweeps and calls for hosts with an ended meeting not yet counted
}

// userCalls sorts the per-user report calls, in front of the fake: for a
// host with an ended meeting not yet counted (a targeted fetch, or a
// change a sweep found), or for one without (full reconciliation, mostly).
type userCalls struct {
	mu             sync.Mutex
	waiting        map[string]int // host -> ended meetings not yet counted
	forWaiting     int
	forOthers      int
	next           http.Handler
	prefix, suffix string
}

func (c *userCalls) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p := r.URL.EscapedPath(); strings.HasPrefix(p, c.prefix) && strings.HasSuffix(p, c.suffix) {
		host := strings.TrimSuffix(strings.TrimPrefix(p, c.prefix), c.suffix)
		c.mu.Lock()
		if c.waiting[host] > 0 {
			c.forWaiting++
		} else {
			c.forOthers++
		}
		c.mu.Unlock()
	}
	c.next.ServeHTTP(w, r)
}

func (c *userCalls) add(host string, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waiting[host] += n
}

func (c *userCalls) counts() (forWaiting, forOthers int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.forWaiting, c.forOthers
}

// eventTap keeps the bodies of the events the fake emits (its filter runs
// for every event), for HandleEvent.
type eventTap struct {
	mu     sync.Mutex
	bodies [][]byte
}

func (t *eventTap) keep(ev zoomfake.Event) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.bodies = append(t.bodies, ev.Body)
	return true
}

func (t *eventTap) take() [][]byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := t.bodies
	t.bodies = nil
	return out
}

// planDay gives every user n meetings (a fraction: some get one more)
// ending in equal slots of the working hours, 15 to 60 minutes long, with
// the host and one guest (type past lists meetings of two or more).
func planDay(users []zoomfake.User, perUser float64, rng *rand.Rand) []*plannedMeeting {
	types := []int{1, 2, 2, 2, 3, 8}
	var out []*plannedMeeting
	for _, u := range users {
		n := int(perUser)
		if rng.Float64() < perUser-float64(n) {
			n++
		}
		if n == 0 {
			continue
		}
		slot := workEnd.Sub(workStart) / time.Duration(n)
		for k := range n {
			lo := workStart.Add(time.Duration(k) * slot)
			dur := time.Duration(15+rng.IntN(46)) * time.Minute
			// The end lies in the slot, the start too (one meeting at a time).
			end := lo.Add(dur + time.Duration(rng.Int64N(int64(slot-dur)))).Truncate(time.Second)
			out = append(out, &plannedMeeting{host: u.ID, typ: types[rng.IntN(len(types))], start: end.Add(-dur), end: end})
		}
	}
	return out
}

func simulateDay(users int, perUser float64, lag time.Duration, withEvents bool) (dayResult, error) {
	began := time.Now()
	// Most of the heap is the fake's six months of history, which never
	// changes: collecting less often halves the run.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	name := "polling only"
	if withEvents {
		name = "with events"
	}
	warm := simDay.Add(-time.Duration(warmDays) * 24 * time.Hour)
	clk := testenv.NewClock(warm)
	fake := zoomfake.New(zoomfake.Options{Seed: 13, Users: users, Now: clk.Now, ReportLag: lag, EventLogSize: 64})
	defer fake.Close()
	tap := &eventTap{}
	if withEvents {
		fake.SetEventFilter(tap.keep)
	}
	calls := &userCalls{waiting: make(map[string]int), next: fake, prefix: "/v2/report/users/", suffix: "/meetings"}
	srv := httptest.NewServer(calls)
	defer srv.Close()
	client, err := newClient(srv, clk.Now)
	if err != nil {
		return dayResult{}, err
	}
	reg := prometheus.NewRegistry()
	conf := scrape.ScraperConfig{Client: client, Interval: cycle, GracePeriod: 48 * time.Hour, Concurrency: 4,
		FullInterval: 6 * time.Hour, Now: clk.Now, Registerer: reg}
	if withEvents {
		conf.EventsFlowing = func() (bool, time.Time) { return true, warm }
		conf.SweepInterval = time.Hour
	}
	s, err := scrape.NewScraper(conf)
	if err != nil {
		return dayResult{}, err
	}
	ctx := context.Background()

	// The days before: a cold start, then 5-minute cycles, no new meetings.
	for t := warm; t.Before(simDay); t = t.Add(cycle) {
		clk.Set(t)
		s.Refresh(ctx)
	}
	snap := s.Snapshot()
	never := 0
	index := make(map[string]int, len(snap.Users))
	base := make(map[string]int64, len(snap.Users))
	for i, u := range snap.Users {
		index[u.Key] = i
		base[u.Key] = counted(u)
		if u.LastRefresh.IsZero() {
			never++
		}
	}
	fmt.Printf("users=%d %s: the %d days before (cold start, then 5-minute cycles): %d Heavy calls; at 00:00 %d users pending, %d never fetched, effective interval %v\n",
		users, name, warmDays, heavyCalls(fake), snap.PendingUsers, never, snap.EffectiveInterval)

	rng := rand.New(rand.NewPCG(uint64(users), 13))
	meetings := planDay(fake.Users(), perUser, rng)
	var actions []action
	for _, m := range meetings {
		actions = append(actions, action{m.start, 0, m}, action{m.start.Add(time.Minute), 1, m}, action{m.end, 2, m})
	}
	slices.SortStableFunc(actions, func(a, b action) int { return a.at.Compare(b.at) })
	// Ended meetings not yet counted, by host, in end order (the report
	// lists them in that order: the lag is the same for all).
	waiting := make(map[string][]*plannedMeeting)
	nWaiting := 0

	callsAt := heavyCalls(fake)
	sweepsAt := fake.CallCount(zoomfake.EndpointHostsReport)
	forWaitingAt, _ := calls.counts()
	refreshes, targetedRuns := 0, 0
	var seen *scrape.Snapshot
	// check notes, at t, the waiting meetings the last published snapshot
	// counts.
	check := func(t time.Time) {
		snap := s.Snapshot().Usage()
		if snap == seen {
			return
		}
		seen = snap
		for host, ms := range waiting {
			i, ok := index[host]
			if !ok || i >= len(snap.Users) || snap.Users[i].Key != host {
				continue
			}
			done := counted(snap.Users[i]) - base[host]
			for len(ms) > 0 && done > 0 {
				ms[0].counted = t
				base[host]++
				done--
				ms = ms[1:]
				nWaiting--
				calls.add(host, -1)
			}
			if len(ms) == 0 {
				delete(waiting, host)
			} else {
				waiting[host] = ms
			}
		}
	}
	deliver := func() error {
		for _, body := range tap.take() {
			e, err := zoom.DecodeEvent(body)
			if err != nil {
				return fmt.Errorf("the fake's event does not decode: %w", err)
			}
			s.HandleEvent(zoom.TransportWebSocket, e)
		}
		return nil
	}

	end := simDay.Add(24 * time.Hour)
	nextCycle := simDay
	ai := 0
	for t := simDay; t.Before(end); {
		clk.Set(t)
		for ai < len(actions) && !actions[ai].at.After(t) {
			a := actions[ai]
			ai++
			switch a.kind {
			case 0:
				uuid, err := fake.StartMeeting(zoomfake.MeetingStart{HostID: a.m.host, Type: a.m.typ})
				if err != nil {
					return dayResult{}, err
				}
				a.m.uuid = uuid
				if _, err := fake.JoinParticipant(uuid, zoomfake.Participant{ID: a.m.host}); err != nil {
					return dayResult{}, err
				}
			case 1:
				if _, err := fake.JoinParticipant(a.m.uuid, zoomfake.Participant{}); err != nil {
					return dayResult{}, err
				}
			case 2:
				if _, err := fake.EndMeeting(a.m.uuid, time.Time{}); err != nil {
					return dayResult{}, err
				}
				waiting[a.m.host] = append(waiting[a.m.host], a.m)
				nWaiting++
				calls.add(a.m.host, 1)
			}
		}
		if withEvents {
			if err := deliver(); err != nil {
				return dayResult{}, err
			}
		}
		if !t.Before(nextCycle) {
			s.Refresh(ctx) // Run's ticker
			refreshes++
			nextCycle = nextCycle.Add(cycle)
		}
		// Run's targeted runner: what falls due now, then wait for the next.
		var nextTargeted time.Time
		if withEvents {
			targetedRuns++
			nextTargeted = s.RunDueTargeted(ctx)
		}
		check(t)
		// The next instant anything happens.
		next := nextCycle
		if ai < len(actions) && actions[ai].at.Before(next) {
			next = actions[ai].at
		}
		if !nextTargeted.IsZero() && nextTargeted.Before(next) {
			next = nextTargeted
		}
		if !next.After(t) {
			next = t.Add(time.Second) // a fetch due now waits for the bucket: a second on
		}
		t = next
	}
	heavy := heavyCalls(fake) - callsAt
	sweeps := fake.CallCount(zoomfake.EndpointHostsReport) - sweepsAt
	forWaiting, _ := calls.counts()
	forWaiting -= forWaitingAt

	var toCount, fromEnd []time.Duration
	notCounted := 0
	for _, m := range meetings {
		if m.counted.IsZero() {
			notCounted++
			toCount = append(toCount, forever)
			fromEnd = append(fromEnd, forever)
			continue
		}
		toCount = append(toCount, m.counted.Sub(m.end.Add(lag)))
		fromEnd = append(fromEnd, m.counted.Sub(m.end))
	}
	slices.Sort(toCount)
	slices.Sort(fromEnd)
	r := dayResult{p50: percentile(toCount, 0.5), p95: percentile(toCount, 0.95), meetings: len(meetings), notCounted: notCounted,
		heavy: heavy, fresh: sweeps + forWaiting}
	fmt.Printf("users=%d %s: %d meetings ended, %d not counted by 24:00; report-to-count p50 %s, p95 %s, max %s; end-to-count p50 %s, p95 %s\n",
		users, name, len(meetings), notCounted, fmtDur(r.p50), fmtDur(r.p95), fmtDur(toCount[len(toCount)-1]),
		fmtDur(percentile(fromEnd, 0.5)), fmtDur(percentile(fromEnd, 0.95)))
	line := fmt.Sprintf("users=%d %s: Heavy calls 00:00-24:00 %d (hosts-report sweeps %d; user reports %d: %d for hosts with an ended meeting not yet counted, %d for others",
		users, name, heavy, sweeps, heavy-sweeps, forWaiting, heavy-sweeps-forWaiting)
	if withEvents {
		f := targetedFetches(reg)
		line += fmt.Sprintf(", of which targeted fetches %d: counted %d, not yet in report %d, given up %d, failed %d",
			f["counted"]+f["not_yet_in_report"]+f["given_up"]+f["failed"], f["counted"], f["not_yet_in_report"], f["given_up"], f["failed"])
	}
	fmt.Printf("%s); %d refreshes and %d targeted runs, took %v\n", line, refreshes, targetedRuns, time.Since(began).Round(time.Second))
	return r, nil
}

func heavyCalls(f *zoomfake.Server) int {
	return f.CallCount(zoomfake.EndpointUserMeetings) + f.CallCount(zoomfake.EndpointHostsReport)
}

// targetedFetches reads zoom_events_targeted_fetches_total by outcome.
func targetedFetches(reg *prometheus.Registry) map[string]int {
	out := map[string]int{}
	mfs, err := reg.Gather()
	if err != nil {
		return out
	}
	for _, mf := range mfs {
		if mf.GetName() != "zoom_events_targeted_fetches_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" {
					out[l.GetValue()] = int(m.GetCounter().GetValue())
				}
			}
		}
	}
	return out
}

// ---- h. live gauges against the fake's truth ----

type liveResult struct {
	changes    int
	max, p99   time.Duration
	missed     int
	peakTruth  int
	eventsSeen int64
}

// feed hands the stream's events to the scraper and counts them; it tells
// the scraper the events flow while the stream is connected.
type feed struct {
	scraper *scrape.Scraper
	stream  *zoom.EventStream
	events  atomic.Int64
}

func (f *feed) HandleEvent(transport string, e zoom.Event) {
	f.events.Add(1)
	f.scraper.HandleEvent(transport, e)
}

func (f *feed) flowing() (bool, time.Time) {
	if f.stream == nil {
		return false, time.Time{}
	}
	st := f.stream.Status()
	return st.Connected && !st.ConnectedSince.IsZero(), st.ConnectedSince
}

// wallRig is the fake, a scraper and an event stream on the wall clock
// (from a pinned date).
type wallRig struct {
	fake   *zoomfake.Server
	srv    *httptest.Server
	s      *scrape.Scraper
	stream *zoom.EventStream
	feed   *feed
	cancel context.CancelFunc
	done   sync.WaitGroup
}

func newWallRig(users int, opts zoomfake.Options, conf scrape.ScraperConfig, backoff func(int) time.Duration, runScraper bool) (*wallRig, error) {
	clock := testenv.NewRunningClock(testenv.MidMonth)
	opts.Users, opts.Now = users, clock.Now
	r := &wallRig{fake: zoomfake.New(opts), feed: &feed{}}
	r.srv = httptest.NewServer(r.fake)
	client, err := newClient(r.srv, clock.Now)
	if err != nil {
		return nil, err
	}
	conf.Client, conf.Now, conf.EventsFlowing = client, clock.Now, r.feed.flowing
	if r.s, err = scrape.NewScraper(conf); err != nil {
		return nil, err
	}
	r.feed.scraper = r.s
	if r.stream, err = zoom.NewEventStream(zoom.EventStreamConfig{
		URL: r.fake.WebSocketURL(r.srv.URL), Tokens: client, Handler: r.feed,
		AccountID: zoomfake.DefaultAccountID, Now: clock.Now, Backoff: backoff,
	}); err != nil {
		return nil, err
	}
	r.feed.stream = r.stream
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	if runScraper {
		r.done.Go(func() { r.s.Run(ctx) })
		if err := waitUntil(time.Minute, r.s.Ready); err != nil {
			return nil, fmt.Errorf("the first refresh: %w", err)
		}
	} else {
		r.s.Refresh(ctx)
	}
	r.done.Go(func() { r.stream.Run(ctx) })
	if err := waitUntil(10*time.Second, r.stream.Connected); err != nil {
		return nil, fmt.Errorf("the event stream: %w", err)
	}
	return r, nil
}

func (r *wallRig) close() {
	r.cancel()
	r.done.Wait()
	r.fake.Close()
	r.srv.Close()
}

// waitUntil polls cond until it holds or d passes.
func waitUntil(d time.Duration, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		time.Sleep(100 * time.Microsecond)
	}
	return nil
}

// liveStep is one change of a meeting: start (and the host joins), a join,
// a leave, or the end.
type liveStep struct {
	m    *liveMeeting
	kind int // 0 start, 1 join, 2 leave, 3 end
}

type liveMeeting struct {
	host    string
	typ     int
	uuid    string
	present []string
}

func liveGauges(tracked int) (liveResult, error) {
	began := time.Now()
	const shards = 2
	owns := func(key string) bool { return scrape.ShardOf(key, shards) == 0 }
	// Enough users for every meeting to have a host of its own.
	users := 2*(tracked+tracked/10) + 200
	r, err := newWallRig(users, zoomfake.Options{Seed: 22, EventLogSize: 64},
		scrape.ScraperConfig{Interval: time.Hour, GracePeriod: 48 * time.Hour, Concurrency: 8, Owns: owns, SweepInterval: 2 * time.Hour},
		nil, false)
	if err != nil {
		return liveResult{}, err
	}
	defer r.close()

	var mine, others []string
	for _, u := range r.fake.Users() {
		if owns(u.ID) {
			mine = append(mine, u.ID)
		} else {
			others = append(others, u.ID)
		}
	}
	if len(mine) < tracked || len(others) < tracked/10 {
		return liveResult{}, fmt.Errorf("not enough users: %d tracked, %d others", len(mine), len(others))
	}
	rng := rand.New(rand.NewPCG(22, 1000))
	types := []int{1, 2, 2, 3, 4, 5, 8, 9}
	var ms []*liveMeeting
	for _, h := range append(mine[:tracked], others[:tracked/10]...) {
		ms = append(ms, &liveMeeting{host: h, typ: types[rng.IntN(len(types))]})
	}
	// Phase 1 starts every meeting with a few joins, interleaved; phase 2
	// joins, leaves and ends them, interleaved: all are in progress at the
	// turn.
	var phase1, phase2 [][]liveStep
	for _, m := range ms {
		a := []liveStep{{m, 0}}
		for range rng.IntN(4) {
			a = append(a, liveStep{m, 1})
		}
		b := []liveStep{}
		for range rng.IntN(3) {
			b = append(b, liveStep{m, 1})
		}
		for range rng.IntN(3) {
			b = append(b, liveStep{m, 2})
		}
		b = append(b, liveStep{m, 3})
		phase1, phase2 = append(phase1, a), append(phase2, b)
	}
	var steps []liveStep
	for _, ph := range [][][]liveStep{phase1, phase2} {
		for len(ph) > 0 {
			i := rng.IntN(len(ph))
			steps = append(steps, ph[i][0])
			if ph[i] = ph[i][1:]; len(ph[i]) == 0 {
				ph[i] = ph[len(ph)-1]
				ph = ph[:len(ph)-1]
			}
		}
	}

	want := func() (map[string]int, map[string]int, int) {
		t := r.fake.LiveTruthFor(owns)
		m, p := map[string]int{}, map[string]int{}
		total := 0
		for code, n := range t.Meetings {
			m[scrape.TypeName(code)] += n
			total += n
		}
		for code, n := range t.Participants {
			p[scrape.TypeName(code)] += n
		}
		return m, p, total
	}
	equal := func(wm, wp map[string]int) bool {
		live := r.s.Snapshot().Live
		if !live.Known {
			return false
		}
		for typ, n := range live.Meetings {
			if wm[typ] != n || wp[typ] != live.Participants[typ] {
				return false
			}
		}
		for typ, n := range wm {
			if live.Meetings[typ] != n {
				return false
			}
		}
		for typ, n := range wp {
			if live.Participants[typ] != n {
				return false
			}
		}
		return true
	}

	emittedBefore := r.fake.EventStats().Emitted
	eventsBefore := r.feed.events.Load()
	var lags []time.Duration
	res := liveResult{}
	for _, st := range steps {
		m := st.m
		switch st.kind {
		case 0:
			uuid, err := r.fake.StartMeeting(zoomfake.MeetingStart{HostID: m.host, Type: m.typ})
			if err != nil {
				return res, err
			}
			m.uuid = uuid
			pid, err := r.fake.JoinParticipant(uuid, zoomfake.Participant{ID: m.host})
			if err != nil {
				return res, err
			}
			m.present = append(m.present, pid)
		case 1:
			pid, err := r.fake.JoinParticipant(m.uuid, zoomfake.Participant{})
			if err != nil {
				return res, err
			}
			m.present = append(m.present, pid)
		case 2:
			if len(m.present) == 0 {
				continue
			}
			i := rng.IntN(len(m.present))
			if err := r.fake.LeaveParticipant(m.uuid, m.present[i], time.Time{}); err != nil {
				return res, err
			}
			m.present = slices.Delete(m.present, i, i+1)
		case 3:
			if _, err := r.fake.EndMeeting(m.uuid, time.Time{}); err != nil {
				return res, err
			}
		}
		start := time.Now()
		wm, wp, total := want()
		res.peakTruth = max(res.peakTruth, total)
		if err := waitUntil(5*time.Second, func() bool { return equal(wm, wp) }); err != nil {
			res.missed++
			lags = append(lags, 5*time.Second)
			continue
		}
		lags = append(lags, time.Since(start))
	}
	slices.Sort(lags)
	res.changes = len(lags)
	res.max, res.p99 = lags[len(lags)-1], percentile(lags, 0.99)
	res.eventsSeen = r.feed.events.Load() - eventsBefore
	fmt.Printf("%d meetings (%d of tracked hosts, %d of another shard's), %d changes, %d events emitted, %d received over the WebSocket; peak %d tracked meetings in progress\n",
		len(ms), tracked, tracked/10, res.changes, r.fake.EventStats().Emitted-emittedBefore, res.eventsSeen, res.peakTruth)
	fmt.Printf("wall time from each change to Snapshot().Live equal to the fake's LiveTruthFor(tracked): p50 %s, p99 %s, max %s; not equal within 5 s: %d; took %v\n",
		fmtDur(percentile(lags, 0.5)), fmtDur(res.p99), fmtDur(res.max), res.missed, time.Since(began).Round(time.Second))
	return res, nil
}

// ---- i. disconnect storm ----

type stormResult struct {
	drops, reconnects                 int
	goroutinesBefore, goroutinesAfter int
	heapBefore, heapAfter             uint64
	double, missing                   int
}

// heapInUse is the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func disconnectStorm(length, every time.Duration) (stormResult, error) {
	began := time.Now()
	const users = 300
	// A quick reconnect (20-40 ms) makes the most reconnects in the storm:
	// each is a chance to leak.
	backoff := func(int) time.Duration { return 20*time.Millisecond + rand.N(20*time.Millisecond) }
	r, err := newWallRig(users, zoomfake.Options{Seed: 23, ReportLag: time.Second, EventLogSize: 64},
		scrape.ScraperConfig{Interval: 5 * time.Second, GracePeriod: 48 * time.Hour, Concurrency: 4, SweepInterval: time.Minute},
		backoff, true)
	if err != nil {
		return stormResult{}, err
	}
	defer r.close()
	hosts := r.fake.Users()
	monthFrom := time.Date(testenv.MidMonth.Year(), testenv.MidMonth.Month(), 1, 0, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(23, 23))
	next := 0
	// meeting runs one short meeting: started, host and a guest in, ended
	// after d.
	var wg sync.WaitGroup
	var meetingErr atomic.Value
	meeting := func(d time.Duration) {
		h := hosts[next%len(hosts)].ID
		next++
		wg.Go(func() {
			uuid, err := r.fake.StartMeeting(zoomfake.MeetingStart{HostID: h, Type: 2})
			if err == nil {
				_, err = r.fake.JoinParticipant(uuid, zoomfake.Participant{ID: h})
			}
			if err == nil {
				_, err = r.fake.JoinParticipant(uuid, zoomfake.Participant{})
			}
			time.Sleep(d) // the meeting's length, on the wall clock
			if err == nil {
				_, err = r.fake.EndMeeting(uuid, time.Time{})
			}
			if err != nil {
				meetingErr.Store(err)
			}
		})
	}
	// Settle: a few meetings through the stream, counted.
	for range 10 {
		meeting(200 * time.Millisecond)
	}
	wg.Wait()
	exact := func() (double, missing int) {
		r.fake.MeetingByUUID("") // moves the meetings past their report lag into the reports
		snap := r.s.Snapshot()
		for _, u := range snap.Users {
			want := int64(len(r.fake.Meetings(u.Key, monthFrom, testenv.MidMonth.AddDate(0, 0, 2), zoom.ReportPast)))
			got := counted(u)
			if got > want {
				double += int(got - want)
			} else {
				missing += int(want - got)
			}
		}
		return
	}
	if err := waitUntil(time.Minute, func() bool { d, m := exact(); return d == 0 && m == 0 }); err != nil {
		return stormResult{}, fmt.Errorf("counters before the storm: %w", err)
	}
	res := stormResult{goroutinesBefore: runtime.NumGoroutine(), heapBefore: heapInUse()}
	reconnectsBefore := r.stream.Status().Reconnects
	undeliveredBefore := r.fake.EventStats().WebSocketUndelivered
	eventsBefore := r.feed.events.Load()
	emittedBefore := r.fake.EventStats().Emitted
	fmt.Printf("before: %d goroutines, heap %.1f MiB, stream connected %v\n", res.goroutinesBefore, mib(res.heapBefore), r.stream.Connected())

	stop := make(chan struct{})
	var dropper sync.WaitGroup
	dropper.Go(func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if r.fake.DropEventConnections() > 0 {
					res.drops++
				}
			}
		}
	})
	started := 0
	end := time.Now().Add(length)
	for time.Now().Before(end) {
		meeting(time.Duration(200+rng.IntN(800)) * time.Millisecond)
		started++
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	dropper.Wait()
	wg.Wait()
	if err, _ := meetingErr.Load().(error); err != nil {
		return res, err
	}
	if err := waitUntil(10*time.Second, r.stream.Connected); err != nil {
		return res, fmt.Errorf("reconnecting after the storm: %w", err)
	}
	res.reconnects = r.stream.Status().Reconnects - reconnectsBefore
	st := r.fake.EventStats()
	fmt.Printf("storm: %d meetings ended, %d drops, %d reconnects; %d events emitted, %d received, %d emitted while disconnected (never delivered)\n",
		started, res.drops, res.reconnects, st.Emitted-emittedBefore, r.feed.events.Load()-eventsBefore, st.WebSocketUndelivered-undeliveredBefore)

	caught := time.Now()
	err = waitUntil(2*time.Minute, func() bool { d, m := exact(); return d == 0 && m == 0 })
	res.double, res.missing = exact()
	if err != nil {
		fmt.Printf("counters did not reach the fake's truth within 2 minutes\n")
	} else {
		fmt.Printf("counters equal the fake's ground truth %v after the storm (targeted fetches and the polling path)\n", time.Since(caught).Round(time.Millisecond))
	}
	// Goroutines of the dropped connections end as their reads fail.
	_ = waitUntil(10*time.Second, func() bool { return runtime.NumGoroutine() <= res.goroutinesBefore })
	res.goroutinesAfter, res.heapAfter = runtime.NumGoroutine(), heapInUse()
	fmt.Printf("after: %d goroutines, heap %.1f MiB (%+.1f KiB, %d meetings more counted); double counted %d, missing %d; took %v\n",
		res.goroutinesAfter, mib(res.heapAfter), (float64(res.heapAfter)-float64(res.heapBefore))/1024, started, res.double, res.missing,
		time.Since(began).Round(time.Second))
	return res, nil
}
