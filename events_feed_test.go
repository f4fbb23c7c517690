package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/zoomexporter/zoom_exporter/internal/testenv"
	"github.com/zoomexporter/zoom_exporter/scrape"
	"github.com/zoomexporter/zoom_exporter/zoom"
)

// noTokens is a token source for a stream that is never run.
type noTokens struct{}

func (noTokens) AccessToken(context.Context) (string, time.Time, error) {
	return "", time.Time{}, errors.New("no token in this test")
}
func (noTokens) InvalidateToken(string) {}

// TestEventsFeedFlowing: main's EventsFlowing adapter. A webhook has no
// connection: events flow while one arrived within the sweep interval,
// since the first event after the last silence longer than that. A
// WebSocket that is configured but not connected does not make them flow,
// nor stop the webhook's; without any transport configured nothing flows.
func TestEventsFeedFlowing(t *testing.T) {
	t.Parallel()
	const window = time.Hour
	t0 := time.Date(2026, 12, 15, 9, 0, 0, 0, time.UTC)
	event := zoom.Event{Name: zoom.EventMeetingStarted, TS: t0, AccountID: "acct",
		Meeting: zoom.MeetingEvent{UUID: "u==", HostID: "not-tracked", Type: 2, Start: t0}}
	type step struct {
		at      time.Duration // after t0
		arrive  string        // a transport an event arrives by; "" for none
		flowing bool
		since   time.Duration // after t0, when flowing
	}
	tests := []struct {
		name            string
		webhook, stream bool
		steps           []step
	}{
		{"webhook only", true, false, []step{
			{at: 0, flowing: false},
			{at: time.Minute, arrive: zoom.TransportWebhook, flowing: true, since: time.Minute},
			{at: 30 * time.Minute, arrive: zoom.TransportWebhook, flowing: true, since: time.Minute},
			{at: 90 * time.Minute, flowing: true, since: time.Minute},                               // 60 min after the last: within
			{at: 90*time.Minute + time.Second, flowing: false},                                      // silence longer than the window
			{at: 3 * time.Hour, arrive: zoom.TransportWebhook, flowing: true, since: 3 * time.Hour}, // after the gap: a new start
			{at: 3*time.Hour + 59*time.Minute, arrive: zoom.TransportWebhook, flowing: true, since: 3 * time.Hour},
		}},
		{"websocket events do not stand for the webhook", true, true, []step{
			{at: time.Minute, arrive: zoom.TransportWebSocket, flowing: false},
			{at: 2 * time.Minute, arrive: zoom.TransportWebhook, flowing: true, since: 2 * time.Minute},
		}},
		{"a websocket not connected", false, true, []step{
			{at: time.Minute, arrive: zoom.TransportWebSocket, flowing: false},
			{at: 2 * time.Hour, flowing: false},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := testenv.NewClock(t0)
			feed := &eventFeed{now: clock.Now, window: window, webhookPath: "/zoom/webhook"}
			scraper, err := scrape.NewScraper(scrape.ScraperConfig{Now: clock.Now, Interval: time.Minute, EventsFlowing: feed.Flowing})
			if err != nil {
				t.Fatal(err)
			}
			feed.scraper = scraper
			if tt.webhook {
				if feed.webhook, err = zoom.NewWebhookHandler(zoom.WebhookConfig{SecretToken: "x", Handler: feed, Now: clock.Now}); err != nil {
					t.Fatal(err)
				}
			}
			if tt.stream {
				if feed.stream, err = zoom.NewEventStream(zoom.EventStreamConfig{URL: "wss://ws.zoom.us/ws?subscriptionId=x",
					Tokens: noTokens{}, Handler: feed, Now: clock.Now}); err != nil {
					t.Fatal(err)
				}
			}
			for _, s := range tt.steps {
				clock.Set(t0.Add(s.at))
				if s.arrive != "" {
					feed.HandleEvent(s.arrive, event)
				}
				ok, since := feed.Flowing()
				want := time.Time{}
				if s.flowing {
					want = t0.Add(s.since)
				}
				if ok != s.flowing || !since.Equal(want) {
					t.Errorf("at t0+%v: Flowing() = %v, %v; want %v, %v", s.at, ok, since, s.flowing, want)
				}
			}
			// The status page sees the same.
			for _, tr := range feed.Transports() {
				if tr.Name == "Webhook" && tr.Reconnects != -1 {
					t.Errorf("the webhook shows reconnects: %+v", tr)
				}
				if tr.Name == "WebSocket" && (tr.Flowing || tr.Endpoint != "wss://ws.zoom.us/ws?subscriptionId=x&access_token=REDACTED") {
					t.Errorf("the unconnected WebSocket shows as %+v", tr)
				}
			}
		})
	}
}
