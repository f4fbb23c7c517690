package main

import (
	"fmt"
	"regexp"
	"testing"
	"time"
)

// TestEventsDemoGoesLive: --demo connects to its simulated account's event
// WebSocket on its own (no flag), and its live meetings show in the live
// gauges, which move as meetings start and end and people come and go.
func TestEventsDemoGoesLive(t *testing.T) {
	t.Parallel()
	p := startExporter(t, nil, "--demo")
	seen := map[string]bool{} // distinct (meetings, participants) in progress
	var last string
	waitFor(t, 60*time.Second, "the demo's live gauges to move", func() bool {
		fams, err := tryScrape(p.base, "", "")
		if err != nil {
			return false
		}
		live := liveOf(fams)
		if series(fams["zoom_events_connected"])[""] != 1 || live.known != 1 || !live.served {
			return false
		}
		var meetings, people float64
		for _, v := range live.meetings {
			meetings += v
		}
		for _, v := range live.participants {
			people += v
		}
		if meetings > 0 {
			last = fmt.Sprintf("%v meetings, %v participants", meetings, people)
			seen[last] = true
		}
		return len(seen) >= 3
	})
	t.Logf("the demo's live figures took %d values, the last %s", len(seen), last)
	fams := scrapeMetrics(t, p.base)
	if got := series(fams["zoom_events_received_total"])["event=meeting.started,transport=websocket"]; got < 2 {
		t.Errorf("the demo's stream received %v meeting.started events, want at least 2", got)
	}
	for _, m := range tokenInURL.FindAllStringSubmatch(p.output.String(), -1) {
		if m[1] != "REDACTED" {
			t.Errorf("the demo's log shows a URL with its access token: %s", m[0])
		}
	}
}

// tokenInURL finds an access token in a URL.
var tokenInURL = regexp.MustCompile(`access_token=([^&\s"]+)`)
