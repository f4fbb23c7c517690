package statuspage

import (
	"fmt"
	"time"
)

// EventsSource is implemented by a Source whose exporter receives Zoom
// events: the page then shows a card for each transport. A Source without
// it (or with no transport) shows none.
type EventsSource interface {
	EventTransports() []EventTransport
}

// EventTransport is the state of one event transport, for the page. It
// never holds a token: Endpoint is the WebSocket URL as the stream shows
// it (access_token=REDACTED), or the webhook's path.
type EventTransport struct {
	Name     string // "WebSocket" or "Webhook"
	Endpoint string
	// Flowing: the WebSocket is connected and accepted by Zoom, or the
	// webhook received an event within the sweep interval.
	Flowing bool
	// Since is when the unbroken coverage began (the connection, or the
	// first webhook event after the last gap); zero when not flowing.
	Since     time.Time
	LastEvent time.Time // the last event handed on; zero before the first
	LastError string    // the WebSocket's last error, redacted; "" for none
	// Reconnects counts the WebSocket's reconnection attempts; -1 for a
	// transport without connections (the webhook).
	Reconnects int
}

// eventView is one transport's card.
type eventView struct {
	Name       string
	Endpoint   string
	Flowing    bool
	Since      moment
	LastEvent  moment
	LastError  string
	Reconnects string // "" for the webhook
}

// eventViews formats the transports of src, if it has any.
func eventViews(src Source, now time.Time) []eventView {
	es, ok := src.(EventsSource)
	if !ok {
		return nil
	}
	var out []eventView
	for _, t := range es.EventTransports() {
		v := eventView{
			Name: t.Name, Endpoint: t.Endpoint, Flowing: t.Flowing,
			Since: at(t.Since, now), LastEvent: at(t.LastEvent, now), LastError: t.LastError,
		}
		if !t.Flowing {
			v.Since = moment{Zero: true}
		}
		if t.Reconnects >= 0 {
			v.Reconnects = fmt.Sprint(t.Reconnects)
		}
		out = append(out, v)
	}
	return out
}

// eventsHTML is the events card, one per transport, in the cards row.
const eventsHTML = `{{define "events"}}{{range .}}<section class="card events" id="events-{{.Name}}">
<h2>Zoom events: {{.Name}}</h2>
<dl>
<dt>State</dt><dd class="events-state">{{if .Flowing}}<span class="badge ok">{{if .Reconnects}}connected{{else}}flowing{{end}}</span> since {{template "when" .Since}}{{else}}<span class="badge failed">{{if .Reconnects}}disconnected{{else}}no recent event{{end}}</span> live figures are unknown; refreshes keep the counters right{{end}}</dd>
<dt>Endpoint</dt><dd><code>{{.Endpoint}}</code></dd>
<dt>Last event</dt><dd>{{template "when" .LastEvent}}</dd>
{{if .Reconnects}}<dt>Reconnects</dt><dd class="events-reconnects">{{.Reconnects}}</dd>
<dt>Last error</dt><dd class="events-error">{{if .LastError}}<code>{{.LastError}}</code>{{else}}<span class="muted">none</span>{{end}}</dd>{{end}}
</dl>
</section>
{{end}}{{end}}`

// DefaultWebhookPath is --web.webhook-path's default.
const DefaultWebhookPath = "/zoom/webhook"

// ValidateWebhookPath checks --web.webhook-path as ValidateTelemetryPath
// checks the metrics path, and that it is not the metrics path either: the
// webhook is the one path that takes POSTs.
func ValidateWebhookPath(p, telemetryPath string) error {
	const flag = "--web.webhook-path"
	if err := validatePath(flag, p, DefaultWebhookPath); err != nil {
		return err
	}
	if p == telemetryPath {
		return fmt.Errorf("%s %q is the metrics path (--web.telemetry-path); use another path such as %s", flag, p, DefaultWebhookPath)
	}
	return nil
}
