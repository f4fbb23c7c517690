package demo

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/zoomexporter/zoom_exporter/internal/testenv"
	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
)

// gracePeriod is the exporter's default --scrape.grace-period: for this long
// after a month turns, it reads the previous month too.
const gracePeriod = 48 * time.Hour

// window is a range of calendar dates the exporter reads, from and to inclusive.
type window struct{ from, to time.Time }

// windowsRead are the report windows the exporter reads at now: the current
// month from the 1st to today, and the previous month in the grace period.
func windowsRead(now time.Time) []window {
	first := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	w := []window{{first, now}}
	if now.Sub(first) < gracePeriod {
		w = append(w, window{first.AddDate(0, -1, 0), first.AddDate(0, 0, -1)})
	}
	return w
}

// accountView is what the exporter would show of an account at one instant,
// with its default report type (past: hosted, two or more participants).
type accountView struct {
	active       int
	perHost      map[string]int // meetings in the windows read, by e-mail (hosts only)
	total        int
	webinars     int
	idleLicensed int      // active licensed users who hosted and joined nothing in the windows
	crammed      []string // users hosting two meetings at once, or more than maxPerHour in a clock hour
	late         int      // meetings ending after now
}

// maxPerHour is how many meetings one host may start in a clock hour.
const maxPerHour = 4

func viewAt(fake *zoomfake.Server, now time.Time) accountView {
	v := accountView{perHost: map[string]int{}}
	for _, u := range fake.Users() {
		v.active++
		var hosted []zoomfake.Meeting // every meeting u hosted, one participant or more
		joined := 0
		for _, w := range windowsRead(now) {
			past := fake.Meetings(u.ID, w.from, w.to, "past")
			if len(past) > 0 {
				v.perHost[u.Email] += len(past)
			}
			v.total += len(past)
			for _, m := range past {
				switch m.Type {
				case 5, 6, 9:
					v.webinars++
				}
			}
			hosted = append(hosted, past...)
			hosted = append(hosted, fake.Meetings(u.ID, w.from, w.to, "pastOne")...)
			joined += len(fake.Meetings(u.ID, w.from, w.to, "pastJoined"))
		}
		if joined == 0 && u.Type == 2 {
			v.idleLicensed++
		}
		slices.SortFunc(hosted, func(a, b zoomfake.Meeting) int { return a.Start.Compare(b.Start) })
		perHour := map[time.Time]int{}
		for i, m := range hosted {
			if m.End.After(now) {
				v.late++
			}
			perHour[m.Start.Truncate(time.Hour)]++
			if i > 0 && m.Start.Before(hosted[i-1].End) {
				v.crammed = append(v.crammed, fmt.Sprintf("%s hosts %s from %v while %s runs until %v", u.Email, m.UUID, m.Start, hosted[i-1].UUID, hosted[i-1].End))
			}
		}
		for hour, n := range perHour {
			if n > maxPerHour {
				v.crammed = append(v.crammed, fmt.Sprintf("%s starts %d meetings in the hour from %v", u.Email, n, hour))
			}
		}
	}
	return v
}

// spread is the number of meetings by host, lowest first, for messages.
func (v accountView) spread() []int {
	var out []int
	for _, n := range v.perHost {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func (v accountView) top() (string, int) {
	var who string
	var most int
	for email, n := range v.perHost {
		if n > most || n == most && email < who {
			who, most = email, n
		}
	}
	return who, most
}

// noTicks is a NewTicker that never ticks: the account as Start built it.
func noTicks(time.Duration) (<-chan time.Time, func()) { return nil, func() {} }

func startAt(t *testing.T, seed int64, now time.Time) *Account {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	clock := testenv.NewClock(now)
	acct, err := Start(ctx, Options{Seed: seed, Now: clock.Now, NewTicker: noTicks, NewLiveTicker: noTicks}, log.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	return acct
}

// The demo account looks like an organisation whatever the date: the
// windows the exporter reads hold meetings of many users, none of whom holds
// a large share or hosts two meetings at once, webinars, and idle licences.
func TestDemoLooksLikeAnOrganisation(t *testing.T) {
	for _, tt := range []struct {
		name     string
		now      time.Time
		minHosts int  // users with meetings in the windows read
		thin     bool // the month so far is a weekend and a morning: few meetings, maybe no webinar yet
	}{
		// grace period: the previous month, in full, is read too
		{name: "1st at 00:05", now: time.Date(2026, 12, 1, 0, 5, 0, 0, time.UTC), minHosts: 50},
		{name: "1st at 13:00", now: time.Date(2027, 3, 1, 13, 0, 0, 0, time.UTC), minHosts: 50},
		{name: "2nd at 23:59, the grace period's last minute", now: time.Date(2027, 1, 2, 23, 59, 0, 0, time.UTC), minHosts: 50},
		{name: "3rd at 12:00", now: time.Date(2027, 3, 3, 12, 0, 0, 0, time.UTC), minHosts: 35},
		{name: "3rd at 12:00, after a weekend", now: time.Date(2026, 8, 3, 12, 0, 0, 0, time.UTC), minHosts: 20, thin: true},
		{name: "15th at 12:00", now: time.Date(2026, 12, 15, 12, 0, 0, 0, time.UTC), minHosts: 50},
		{name: "leap day", now: time.Date(2028, 2, 29, 10, 0, 0, 0, time.UTC), minHosts: 50},
		{name: "Dec 31 at 23:59", now: time.Date(2026, 12, 31, 23, 59, 0, 0, time.UTC), minHosts: 50},
	} {
		for _, seed := range []int64{1, 2, 3} {
			t.Run(fmt.Sprintf("%s/seed %d", tt.name, seed), func(t *testing.T) {
				t.Parallel()
				v := viewAt(startAt(t, seed, tt.now).Fake, tt.now)
				if v.active != DefaultUsers {
					t.Errorf("%d active users, want %d", v.active, DefaultUsers)
				}
				if len(v.perHost) < tt.minHosts {
					t.Errorf("%d users with meetings in the windows read, want at least %d; meetings by host %v", len(v.perHost), tt.minHosts, v.spread())
				}
				who, most := v.top()
				if tt.thin {
					// a heavy host's Monday morning, not a month crammed into minutes
					if most > 8 {
						t.Errorf("%s holds %d of %d meetings; meetings by host %v", who, most, v.total, v.spread())
					}
				} else if most*10 > v.total {
					t.Errorf("%s holds %d of %d meetings, more than 10%%; meetings by host %v", who, most, v.total, v.spread())
				}
				if v.webinars == 0 && !tt.thin {
					t.Errorf("no webinar in the windows read")
				}
				if v.idleLicensed < 3 || v.idleLicensed > DefaultUsers/5 && !tt.thin {
					t.Errorf("%d idle licensed users, want a few (3 to %d)", v.idleLicensed, DefaultUsers/5)
				}
				for _, c := range v.crammed {
					t.Error(c)
				}
				if v.late > 0 {
					t.Errorf("%d meetings end after now", v.late)
				}
			})
		}
	}
}

// The demo adds one meeting, just ended, on each tick of a ticker of period
// MeetingEvery, and spreads them over the organisation's hosts.
func TestDemoAddsAMeetingEveryTick(t *testing.T) {
	const every, ticks = 7 * time.Second, 600 // 70 minutes
	start := time.Date(2026, 12, 1, 0, 5, 0, 0, time.UTC)
	clock := testenv.NewClock(start)
	tick := make(chan time.Time)
	stopped := make(chan struct{})
	var period time.Duration
	newTicker := func(d time.Duration) (<-chan time.Time, func()) {
		period = d
		return tick, func() { close(stopped) }
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	acct, err := Start(ctx, Options{Seed: 1, Now: clock.Now, MeetingEvery: every, NewTicker: newTicker, NewLiveTicker: noTicks}, log.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	if period != every {
		t.Fatalf("ticker period %v, want MeetingEvery %v", period, every)
	}
	before := viewAt(acct.Fake, start)
	var want []time.Time
	for i := 0; i < ticks; i++ {
		clock.Advance(every)
		want = append(want, clock.Now())
		tick <- clock.Now() // returns once the demo took the tick
	}
	// The demo handles ticks one at a time: once it stops, every tick sent
	// has been handled.
	cancel()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("the demo did not stop after its context ended")
	}

	now := clock.Now()
	var got []time.Time
	byHost := map[string]int{}
	for _, u := range acct.Fake.Users() {
		for _, w := range windowsRead(now) {
			for _, typ := range []string{"past", "pastOne"} {
				for _, m := range acct.Fake.Meetings(u.ID, w.from, w.to, typ) {
					if m.End.After(start) {
						got = append(got, m.End)
						byHost[u.Email]++
					}
				}
			}
		}
	}
	// The demo reads its clock as it handles a tick, which may be after the
	// test moved it on for the next one: each meeting ends at an instant the
	// clock showed, in order, one per tick.
	slices.SortFunc(got, time.Time.Compare)
	if len(got) != ticks {
		t.Fatalf("%d meetings ended after the start, want one per tick: %d", len(got), ticks)
	}
	for i, end := range got {
		if !slices.Contains(want[i:], end) {
			t.Fatalf("meeting %d ends at %v, not at or after tick %d's instant %v on the clock", i, end, i, want[i])
		}
	}
	after := viewAt(acct.Fake, now)
	if after.idleLicensed != before.idleLicensed {
		t.Errorf("idle licensed users went from %d to %d: new meetings went to idle licences", before.idleLicensed, after.idleLicensed)
	}
	// 600 meetings over about 55 hosts: about 11 each in 70 minutes, none
	// singled out.
	var counts []int
	for _, n := range byHost {
		counts = append(counts, n)
	}
	slices.Sort(counts)
	if len(byHost) < 50 || counts[len(counts)-1] > 20 {
		t.Errorf("%d hosts got the new meetings, at most %d each; want them spread (counts %v)", len(byHost), counts[len(counts)-1], counts)
	}
}
