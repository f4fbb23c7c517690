package zoom

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// eventLabelOther is the event label of every event the exporter does not
// act on: the label stays bounded whatever Zoom sends.
const eventLabelOther = "other"

// eventLabel bounds the event label to the known names.
func eventLabel(name string) string {
	if knownEvents[name] || name == EventURLValidation {
		return name
	}
	return eventLabelOther
}

// EventMetrics are the self-metrics of the event transports. Create one
// with NewEventMetrics and give it to both the webhook handler and the
// event stream: each registers its own series once it exists, so that an
// exporter without a WebSocket shows no zoom_events_connected 0 to alert on.
type EventMetrics struct {
	reg prometheus.Registerer

	received   *prometheus.CounterVec
	rejected   *prometheus.CounterVec
	lastEvent  *prometheus.GaugeVec
	connected  prometheus.Gauge
	reconnects prometheus.Counter
	handovers  prometheus.Counter

	mu         sync.Mutex
	registered bool
	streamOnce bool
	transports map[string]bool
}

// NewEventMetrics returns the metrics of the event transports, registered
// on reg as the transports are created (none when reg is nil).
func NewEventMetrics(reg prometheus.Registerer) *EventMetrics {
	return &EventMetrics{
		reg: reg,
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zoom_events_received_total",
			Help: "Zoom events accepted, by transport (webhook, websocket) and event name (the meeting and webinar started/ended/participant_joined/participant_left events, endpoint.url_validation, or other: events the exporter ignores).",
		}, []string{"transport", "event"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zoom_events_rejected_total",
			Help: "Zoom event deliveries refused or dropped, by reason: bad_signature (unsigned or wrongly signed webhook), stale (webhook timestamp more than 5 minutes off), malformed, too_large, method (webhook not POSTed), queue_full (webhook answered 503 so that Zoom retries), other_account.",
		}, []string{"reason"}),
		lastEvent: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "zoom_events_last_event_timestamp_seconds",
			Help: "Unix time, by the exporter's clock, the last Zoom event (of any name) arrived, by transport; 0 before the first.",
		}, []string{"transport"}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "zoom_events_connected",
			Help: "1 while the Zoom event WebSocket is connected and accepted by Zoom, else 0: events that happen while it is 0 are never delivered.",
		}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zoom_events_reconnects_total",
			Help: "Attempts to connect the Zoom event WebSocket again after it was lost or an attempt failed (planned token handovers are counted in zoom_events_token_handovers_total).",
		}),
		handovers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zoom_events_token_handovers_total",
			Help: "Planned moves of the Zoom event WebSocket to a new access token before the old one expired: the new connection is opened before the old one is closed.",
		}),
		transports: map[string]bool{},
	}
}

func (m *EventMetrics) register(cs ...prometheus.Collector) {
	if m.reg != nil {
		m.reg.MustRegister(cs...)
	}
}

// initTransport registers the shared series and gives a transport its
// zeroes, once per transport.
func (m *EventMetrics) initTransport(transport string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.registered {
		m.registered = true
		m.register(m.received, m.rejected, m.lastEvent)
		for _, r := range rejectReasons {
			m.rejected.WithLabelValues(r)
		}
	}
	if m.transports[transport] {
		return
	}
	m.transports[transport] = true
	for name := range knownEvents {
		m.received.WithLabelValues(transport, name)
	}
	m.received.WithLabelValues(transport, eventLabelOther)
	if transport == TransportWebhook {
		m.received.WithLabelValues(transport, EventURLValidation)
	}
	m.lastEvent.WithLabelValues(transport)
	if transport == TransportWebSocket && !m.streamOnce {
		m.streamOnce = true
		m.register(m.connected, m.reconnects, m.handovers)
	}
}
