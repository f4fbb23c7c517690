package demo

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/zoomexporter/zoom_exporter/internal/testenv"
	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
)

// TestDemoLiveMeetings steps the live meetings 200 times, 3 s apart (10
// minutes): there are always between liveMin and liveMax meetings in
// progress, the counts move, every kind of event is emitted (webinars
// included), the simulation agrees with the fake's own live state, and
// every ended meeting reaches the reports once the report lag has passed.
func TestDemoLiveMeetings(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 12, 15, 12, 0, 0, 0, time.UTC)
	clock := testenv.NewClock(start)
	fake := zoomfake.New(zoomfake.Options{Seed: 1, Users: DefaultUsers, Organisation: true, Now: clock.Now, ReportLag: DefaultReportLag})
	t.Cleanup(fake.Close)
	sim := newLiveSim(fake, 1, clock.Now)

	meetingCounts, peopleCounts := map[int]bool{}, map[int]bool{}
	for i := range 200 {
		clock.Advance(DefaultLiveEvery)
		sim.step()
		truth := fake.LiveTruth()
		var meetings, people int
		for _, n := range truth.Meetings {
			meetings += n
		}
		for _, n := range truth.Participants {
			people += n
		}
		if meetings < liveMin || meetings > liveMax {
			t.Fatalf("step %d: %d meetings in progress, want %d to %d", i, meetings, liveMin, liveMax)
		}
		if meetings != len(sim.meetings) {
			t.Fatalf("step %d: the fake has %d meetings in progress, the demo %d", i, meetings, len(sim.meetings))
		}
		meetingCounts[meetings], peopleCounts[people] = true, true
	}
	if len(meetingCounts) < 3 || len(peopleCounts) < 5 {
		t.Errorf("the live figures hardly move: meetings in progress took %d values, participants %d", len(meetingCounts), len(peopleCounts))
	}

	events := map[string]int{}
	for _, e := range fake.Events() {
		events[e.Name]++
	}
	for _, name := range []string{"meeting.started", "meeting.ended", "meeting.participant_joined", "meeting.participant_left",
		"webinar.started", "webinar.participant_joined"} {
		if events[name] == 0 {
			t.Errorf("no %s event in 10 minutes; events: %v", name, events)
		}
	}
	ended := events["meeting.ended"] + events["webinar.ended"]
	if ended < 5 {
		t.Fatalf("%d meetings ended in 10 minutes, want several", ended)
	}

	// Ended meetings reach the reports after the lag, not before.
	inReports := func() int {
		n := 0
		day := time.Date(start.Year(), start.Month(), start.Day(), 0, 0, 0, 0, time.UTC)
		for _, u := range fake.Users() {
			for _, typ := range []string{"past", "pastOne"} {
				for _, m := range fake.Meetings(u.ID, day, day, typ) {
					if !m.Start.Before(start) {
						n++
					}
				}
			}
		}
		return n
	}
	before := inReports()
	clock.Advance(DefaultReportLag)
	if after := inReports(); after != ended || before >= ended {
		t.Errorf("meetings started by the demo in the reports: %d before the last lag passed, %d after; %d ended", before, after, ended)
	}
}

// TestDemoStartsLiveMeetingsOnTicks: Start steps the live meetings on each
// tick of a ticker of period LiveEvery, and gives the fake's WebSocket URL
// on loopback; when the context ends, the ticker is released.
func TestDemoStartsLiveMeetingsOnTicks(t *testing.T) {
	t.Parallel()
	clock := testenv.NewClock(time.Date(2027, 3, 3, 9, 30, 0, 0, time.UTC))
	tick := make(chan time.Time)
	stopped := make(chan struct{})
	var period time.Duration
	newTicker := func(d time.Duration) (<-chan time.Time, func()) {
		period = d
		return tick, func() { close(stopped) }
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	acct, err := Start(ctx, Options{Seed: 2, Now: clock.Now, NewTicker: noTicks, NewLiveTicker: newTicker}, log.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	if period != DefaultLiveEvery {
		t.Errorf("live ticker period %v, want %v", period, DefaultLiveEvery)
	}
	if !strings.HasPrefix(acct.WebSocketURL, "ws://127.0.0.1:") || !strings.Contains(acct.WebSocketURL, "/ws?subscriptionId=") {
		t.Errorf("WebSocket URL %q: want the fake's /ws on 127.0.0.1", acct.WebSocketURL)
	}
	for range 3 {
		clock.Advance(DefaultLiveEvery)
		tick <- clock.Now()
	}
	cancel()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("the demo did not stop after its context ended")
	}
	var started int
	for _, e := range acct.Fake.Events() {
		var head struct{ Event string }
		if json.Unmarshal(e.Body, &head) == nil && strings.HasSuffix(head.Event, ".started") {
			started++
		}
	}
	if started < liveMin {
		t.Errorf("%d meetings started after 3 ticks, want at least %d", started, liveMin)
	}
}
