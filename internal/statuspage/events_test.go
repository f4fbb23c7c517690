package statuspage

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

// eventsSource is a Source with Zoom event transports.
type eventsSource struct {
	*fakeSource
	transports []EventTransport
}

func (e eventsSource) EventTransports() []EventTransport { return e.transports }

// TestStatusPageEvents: a card per event transport says whether events
// flow and since when, the last event, and for the WebSocket its
// reconnects and last error, with the URL as given (the stream redacts
// the token); hostile text is shown as text. Without transports, no card.
func TestStatusPageEvents(t *testing.T) {
	t.Parallel()
	const hostileErr = `read: connection reset <script>alert(3)</script>`
	tests := []struct {
		name       string
		transports []EventTransport
		want       map[string][]string // card id -> texts it must hold
		absent     []string            // texts the page must not hold
	}{
		{
			name: "websocket connected, webhook flowing",
			transports: []EventTransport{
				{Name: "WebSocket", Endpoint: "wss://ws.zoom.us/ws?subscriptionId=abc&access_token=REDACTED", Flowing: true,
					Since: fixedNow.Add(-90 * time.Minute), LastEvent: fixedNow.Add(-3 * time.Second), Reconnects: 2, LastError: hostileErr},
				{Name: "Webhook", Endpoint: "/zoom/webhook", Flowing: true, Since: fixedNow.Add(-time.Hour), LastEvent: fixedNow.Add(-time.Minute), Reconnects: -1},
			},
			want: map[string][]string{
				"events-WebSocket": {"Zoom events: WebSocket", "connected since 2026-11-24 18:30:00 UTC (1h30m ago)",
					"access_token=REDACTED", "Last event 2026-11-24 19:59:57 UTC (3s ago)", "Reconnects 2", hostileErr},
				"events-Webhook": {"Zoom events: Webhook", "flowing since 2026-11-24 19:00:00 UTC (1h0m ago)", "/zoom/webhook", "Last event 2026-11-24 19:59:00 UTC (1m0s ago)"},
			},
		},
		{
			name: "websocket down, webhook quiet",
			transports: []EventTransport{
				{Name: "WebSocket", Endpoint: "wss://ws.zoom.us/ws?access_token=REDACTED", Since: fixedNow.Add(-time.Hour), Reconnects: 7, LastError: "dial: refused"},
				{Name: "Webhook", Endpoint: "/hook", Reconnects: -1},
			},
			want: map[string][]string{
				"events-WebSocket": {"disconnected live figures are unknown", "Last event never", "Reconnects 7", "dial: refused"},
				"events-Webhook":   {"no recent event", "Last event never"},
			},
			absent: []string{"18:59:59"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newTestHandler(eventsSource{sampleSource(), tt.transports}, 5*time.Minute)
			resp := get(t, h, http.MethodGet)
			doc := parse(t, resp.Body)
			for id, texts := range tt.want {
				card := text(byID(t, doc, id))
				for _, w := range texts {
					if !strings.Contains(card, w) {
						t.Errorf("card %s lacks %q:\n%s", id, w, card)
					}
				}
			}
			if hook := text(byID(t, doc, "events-Webhook")); strings.Contains(hook, "Reconnects") || strings.Contains(hook, "Last error") {
				t.Errorf("the webhook card shows connection fields:\n%s", hook)
			}
			if len(findAll(doc, tag("script"))) > 0 {
				t.Error("hostile error text became a script element")
			}
			page := text(doc)
			for _, a := range tt.absent {
				if strings.Contains(page, a) {
					t.Errorf("page shows %q", a)
				}
			}
		})
	}

	// A Source without transports shows no events card.
	for _, src := range []Source{sampleSource(), eventsSource{sampleSource(), nil}} {
		doc := parse(t, get(t, newTestHandler(src, 5*time.Minute), http.MethodGet).Body)
		if cards := findAll(doc, func(n *html.Node) bool { return strings.Contains(attr(n, "class"), "events") }); len(cards) != 0 {
			t.Errorf("%T: %d events cards, want none", src, len(cards))
		}
	}
}

func TestValidateWebhookPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path, metrics string
		want          []string // in the error; none: valid
	}{
		{"/zoom/webhook", "/metrics", nil},
		{"/hooks/zoom-1", "/metrics", nil},
		{"/metrics", "/metrics", []string{`"/metrics" is the metrics path`, "/zoom/webhook"}},
		{"/zoom/metrics", "/zoom/metrics", []string{"is the metrics path"}},
		{"", "/metrics", []string{"must not be empty", "/zoom/webhook"}},
		{"zoom/webhook", "/metrics", []string{`must start with "/"`}},
		{"/status", "/metrics", []string{`"/status" is taken`}},
		{"/-/webhook", "/metrics", []string{"anything under /-/"}},
		{"/", "/metrics", []string{"landing page"}},
		{"/zoom/webhook/", "/metrics", []string{"not a clean path", "did you mean /zoom/webhook?"}},
		{"/zoom/{x}", "/metrics", []string{"only letters, digits"}},
	}
	for _, tt := range tests {
		err := ValidateWebhookPath(tt.path, tt.metrics)
		if len(tt.want) == 0 {
			if err != nil {
				t.Errorf("%q: %v", tt.path, err)
			}
			mux := http.NewServeMux()
			for _, own := range []string{tt.metrics, PathStatus, PathHealthy, PathReady, "/{$}"} {
				mux.Handle(own, http.NotFoundHandler())
			}
			mux.Handle(tt.path, http.NotFoundHandler()) // panics on a conflict
			continue
		}
		if err == nil {
			t.Errorf("%q: accepted", tt.path)
			continue
		}
		for _, w := range append(tt.want, "--web.webhook-path") {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: error %q lacks %q", tt.path, err, w)
			}
		}
	}
}
