package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
)

// liveWithin is how soon after a change in the fake the exporter's live
// gauges must show it.
const liveWithin = 2 * time.Second

// TestEventsWebSocketEndToEnd runs the exporter with
// --zoom.events-websocket-url on the fake's /ws: the live gauges follow the
// fake's meetings in progress (started, joined, left, ended; webinars; a
// meeting of another account and one of a host outside it left out) within
// 2 s of each change. A dropped connection is reconnected
// (zoom_events_reconnects_total grows) and the live state restarts from
// the reconnection: meetings that started before it are left out. While the
// stream cannot reconnect, zoom_events_connected is 0 and the live gauges
// are not served. The access token never shows in the log, /metrics or
// /status, which shows the stream with its URL redacted.
func TestEventsWebSocketEndToEnd(t *testing.T) {
	t.Parallel()
	fake, clock := pinnedFake(zoomfake.Options{Seed: 17, Users: 8, HeavyUserMeetings: 20})
	t.Cleanup(fake.Close)
	spy := &tokenSpy{fake: fake}
	srv := httptest.NewServer(spy)
	t.Cleanup(srv.Close)
	p := startExporter(t, fakeEnv(clock, zoomfake.DefaultClientSecret),
		append(zoomArgs(srv.URL), "--zoom.events-websocket-url="+fake.WebSocketURL(srv.URL),
			"--scrape.interval=1h", "--log.level=debug")...)
	users := fake.Users()

	scrapeOK := func() (map[string]*dto.MetricFamily, bool) {
		fams, err := tryScrape(p.base, "", "")
		return fams, err == nil
	}
	connected := func(fams map[string]*dto.MetricFamily) float64 { return series(fams["zoom_events_connected"])[""] }
	reconnects := func(fams map[string]*dto.MetricFamily) float64 {
		return series(fams["zoom_events_reconnects_total"])[""]
	}
	pollFast(t, 30*time.Second, "the event stream to connect", func() (bool, string) {
		fams, ok := scrapeOK()
		return ok && connected(fams) == 1 && liveOf(fams).known == 1, "not connected yet"
	})

	// check waits until the live gauges equal the fake's meetings in
	// progress that keep selects (nil: all), and returns how long it took.
	var worst time.Duration
	var checks int
	check := func(step string, keep func(zoomfake.LiveMeeting) bool) {
		t.Helper()
		wantM, wantP := liveWant(fake, keep)
		took := pollFast(t, liveWithin, step+": the live gauges to equal the fake's", func() (bool, string) {
			fams, ok := scrapeOK()
			if !ok {
				return false, "scrape failed"
			}
			live := liveOf(fams)
			ok = live.known == 1 && live.served && sameByType(live.meetings, wantM) && sameByType(live.participants, wantP)
			return ok, fmt.Sprintf("known %v; meetings %s, want %s; participants %s, want %s",
				live.known, nonZero(live.meetings), nonZero(wantM), nonZero(live.participants), nonZero(wantP))
		})
		worst, checks = max(worst, took), checks+1
	}
	start := func(host string, typ int, accountID string) string {
		t.Helper()
		uuid, err := fake.StartMeeting(zoomfake.MeetingStart{HostID: host, Type: typ, AccountID: accountID})
		if err != nil {
			t.Fatal(err)
		}
		return uuid
	}
	join := func(uuid string, who zoomfake.Participant) string {
		t.Helper()
		id, err := fake.JoinParticipant(uuid, who)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	end := func(uuid string) {
		t.Helper()
		if _, err := fake.EndMeeting(uuid, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}

	// Connected: every change shows within 2 s.
	m1 := start(users[0].ID, 2, "")
	check("a scheduled meeting starts", nil)
	join(m1, zoomfake.Participant{ID: users[0].ID})
	guest := join(m1, zoomfake.Participant{})
	check("two people join it", nil)
	m2 := start(users[1].ID, 5, "")
	for range 3 {
		join(m2, zoomfake.Participant{})
	}
	check("a webinar starts, three join", nil)
	m3 := start(users[2].ID, 8, "")
	join(m3, zoomfake.Participant{ID: users[5].ID})
	check("a recurring meeting starts, a colleague joins", nil)
	if err := fake.LeaveParticipant(m1, guest, time.Time{}); err != nil {
		t.Fatal(err)
	}
	check("the guest leaves", nil)
	end(m3)
	check("the recurring meeting ends", nil)
	join(start(users[3].ID, 2, "another-account"), zoomfake.Participant{})
	join(start("outsider-host-id", 1, ""), zoomfake.Participant{})
	check("another account's meeting and an outside host's", nil)
	t.Logf("live gauges equal to the fake's truth %v at worst after a change (%d changes)", worst.Round(time.Millisecond), checks)

	// A dropped connection: reconnected, the live state restarts then.
	before := scrapeMetrics(t, p.base)
	dropped := clock.Now()
	if n := fake.DropEventConnections(); n != 1 {
		t.Fatalf("the fake dropped %d event connections, want the exporter's 1", n)
	}
	pollFast(t, 30*time.Second, "the stream to reconnect", func() (bool, string) {
		fams, ok := scrapeOK()
		return ok && reconnects(fams) > reconnects(before) && connected(fams) == 1,
			fmt.Sprintf("reconnects %v, connected %v", reconnects(fams), connected(fams))
	})
	sinceDrop := func(m zoomfake.LiveMeeting) bool { return m.Start.After(dropped) }
	check("after the reconnection, earlier meetings are unknown", sinceDrop)
	m4 := start(users[4].ID, 1, "")
	join(m4, zoomfake.Participant{ID: users[4].ID})
	join(m4, zoomfake.Participant{})
	end(m1) // began before the drop: its end changes nothing
	check("a meeting started after the reconnection", sinceDrop)

	// An outage: the stream cannot reconnect (the app's token is refused).
	fake.SetCredentialsValid(false)
	fake.RevokeTokens()
	before = scrapeMetrics(t, p.base)
	outage := clock.Now()
	fake.DropEventConnections()
	pollFast(t, 30*time.Second, "the stream to be down with the live gauges unserved and reconnections failing", func() (bool, string) {
		fams, ok := scrapeOK()
		live := liveOf(fams)
		return ok && connected(fams) == 0 && live.known == 0 && !live.served && reconnects(fams) >= reconnects(before)+2,
			fmt.Sprintf("connected %v, live known %v, served %v, reconnects %v (were %v)", connected(fams), live.known, live.served, reconnects(fams), reconnects(before))
	})
	lost := start(users[6].ID, 2, "") // never delivered
	join(lost, zoomfake.Participant{})
	fake.SetCredentialsValid(true)
	pollFast(t, 90*time.Second, "the stream to reconnect after the outage", func() (bool, string) {
		fams, ok := scrapeOK()
		return ok && connected(fams) == 1, fmt.Sprintf("connected %v", connected(fams))
	})
	sinceOutage := func(m zoomfake.LiveMeeting) bool { return m.Start.After(outage) && m.UUID != lost }
	check("after the outage, nothing known in progress", sinceOutage)
	join(start(users[7].ID, 4, ""), zoomfake.Participant{ID: users[7].ID})
	check("a PMI meeting after the outage", sinceOutage)
	final := scrapeMetrics(t, p.base)
	t.Logf("live gauges equal to the fake's truth %v at worst after a change (%d changes); %v reconnects",
		worst.Round(time.Millisecond), checks, reconnects(final))
	if st := fake.EventStats(); st.WebSocketUndelivered == 0 {
		t.Errorf("the fake delivered every event: the outage did not happen (stats %+v)", st)
	}

	// /status shows the stream; no page or log line shows a token.
	code, status := fetch(t, p.base+"/status")
	for _, want := range []string{"Zoom events: WebSocket", "access_token=REDACTED", "subscriptionId=" + zoomfake.DefaultSubscriptionID, "Reconnects"} {
		if code != http.StatusOK || !strings.Contains(status, want) {
			t.Errorf("/status (HTTP %d) lacks %q", code, want)
		}
	}
	tokens := spy.seen()
	if len(tokens) < 2 {
		t.Fatalf("the stream connected with %d tokens; the outage should have made it take a new one", len(tokens))
	}
	_, metrics := fetch(t, p.base+"/metrics")
	for where, text := range map[string]string{"the log": p.output.String(), "/status": status, "/metrics": metrics} {
		for _, tok := range tokens {
			if strings.Contains(text, tok) {
				t.Errorf("%s shows an access token", where)
			}
		}
	}
	if !strings.Contains(p.output.String(), "level=debug") {
		t.Error("no debug line in the log: --log.level=debug was not in effect")
	}
}
