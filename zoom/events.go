package zoom

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/zoomexporter/zoom_exporter/internal/sanitize"
)

// The events the exporter acts on (zoom/testdata/events/payloads.md), and
// the webhook endpoint's validation challenge. Zoom sends the same bodies
// over webhooks and WebSockets.
const (
	EventMeetingStarted           = "meeting.started"
	EventMeetingEnded             = "meeting.ended"
	EventMeetingParticipantJoined = "meeting.participant_joined"
	EventMeetingParticipantLeft   = "meeting.participant_left"
	EventWebinarStarted           = "webinar.started"
	EventWebinarEnded             = "webinar.ended"
	EventWebinarParticipantJoined = "webinar.participant_joined"
	EventWebinarParticipantLeft   = "webinar.participant_left"
	EventURLValidation            = "endpoint.url_validation"
)

// Transports, as HandleEvent and the transport label name them.
const (
	TransportWebhook   = "webhook"
	TransportWebSocket = "websocket"
)

// knownEvents are the events handed to an EventHandler; every other event
// is counted as "other" and ignored.
var knownEvents = map[string]bool{
	EventMeetingStarted: true, EventMeetingEnded: true,
	EventMeetingParticipantJoined: true, EventMeetingParticipantLeft: true,
	EventWebinarStarted: true, EventWebinarEnded: true,
	EventWebinarParticipantJoined: true, EventWebinarParticipantLeft: true,
}

// Bounds of what an event may carry (README, "Zoom events").
const (
	// maxEventBytes bounds one event body or WebSocket frame. Zoom's are
	// under 2 KiB.
	maxEventBytes = 1 << 20
	// maxEventText bounds free text (topic, names, e-mails): cut, with a
	// note of how much was cut.
	maxEventText = 256
	// maxEventID bounds identifiers (uuid, host_id, user ids, account id).
	// They are keys: one that is too long or holds control characters is
	// refused, never cut, since two cut keys could collide. Zoom's are
	// under 64 bytes.
	maxEventID = 128
)

// Event is one Zoom event, decoded and bounded.
type Event struct {
	Name      string    // e.g. meeting.ended; bounded
	TS        time.Time // event_ts (Unix ms): when it happened, not when it arrived
	AccountID string
	// Meeting is set for the eight known events (Known); the zero value for
	// any other event.
	Meeting MeetingEvent
}

// MeetingEvent is payload.object of a meeting or webinar event.
type MeetingEvent struct {
	UUID   string // the meeting instance; may hold '/', '+', '='
	ID     string // the meeting number: a string in events, a number elsewhere; "" when absent
	HostID string
	Type   int    // Zoom's meeting type (webinars 5, 6, 9)
	Topic  string // bounded, control characters removed
	Start  time.Time
	End    time.Time // meeting.ended / webinar.ended only; zero otherwise
	// Participant is set for the participant_joined/_left events only.
	Participant *Participant
}

// Participant is payload.object.participant.
type Participant struct {
	UserID    string // user_id: per meeting instance
	ID        string // id: the Zoom user id when signed in, "" for guests
	UUID      string // participant_uuid; "" when absent
	Name      string // user_name; bounded
	Email     string // bounded; "" for some external users
	JoinTime  time.Time
	LeaveTime time.Time
}

// Key identifies the participant within its meeting instance:
// participant_uuid when present, else user_id (never id or email, which
// are empty for guests). The same person may join and leave several times.
func (p *Participant) Key() string {
	if p.UUID != "" {
		return p.UUID
	}
	return p.UserID
}

// Known reports whether e is one of the eight meeting and webinar events
// the exporter acts on.
func (e Event) Known() bool { return knownEvents[e.Name] }

// Webinar reports whether e is a webinar event.
func (e Event) Webinar() bool { return strings.HasPrefix(e.Name, "webinar.") }

// EventHandler receives the decoded events of both transports. One handler
// serves both, so it must be safe for concurrent use, quick (a WebSocket
// frame waits for it) and idempotent: Zoom retries webhooks, the same event
// may arrive over both transports, and a token handover may deliver an
// event on the old and the new connection.
type EventHandler interface {
	HandleEvent(transport string, e Event)
}

// EventHandlerFunc adapts a function to EventHandler.
type EventHandlerFunc func(transport string, e Event)

// HandleEvent calls f.
func (f EventHandlerFunc) HandleEvent(transport string, e Event) { f(transport, e) }

// Rejection reasons: the values of zoom_events_rejected_total's reason label.
const (
	ReasonBadSignature = "bad_signature" // webhook: unsigned or wrongly signed
	ReasonStale        = "stale"         // webhook: timestamp more than MaxSkew off
	ReasonMalformed    = "malformed"     // not JSON, or not an event we can read
	ReasonTooLarge     = "too_large"     // body or frame over its bound
	ReasonMethod       = "method"        // webhook: not a POST
	ReasonQueueFull    = "queue_full"    // webhook: answered 503 so that Zoom retries
	ReasonOtherAccount = "other_account" // signed, but for another account
)

var rejectReasons = []string{ReasonBadSignature, ReasonStale, ReasonMalformed, ReasonTooLarge, ReasonMethod, ReasonQueueFull, ReasonOtherAccount}

// EventError says why an event was refused. Its text names the field at
// fault and never quotes more of the event than a bounded value.
type EventError struct {
	Reason string // ReasonMalformed or ReasonTooLarge
	Field  string // JSON path, e.g. payload.object.uuid; "" for the whole body
	Msg    string
}

func (e *EventError) Error() string {
	if e.Field == "" {
		return "zoom event: " + e.Msg
	}
	return "zoom event: " + e.Field + ": " + e.Msg
}

func malformed(field, format string, args ...any) *EventError {
	return &EventError{Reason: ReasonMalformed, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// rawEvent is the envelope every event shares.
type rawEvent struct {
	Event   *string         `json:"event"`
	EventTS json.RawMessage `json:"event_ts"`
	Payload json.RawMessage `json:"payload"`
}

type rawPayload struct {
	AccountID string          `json:"account_id"`
	Object    json.RawMessage `json:"object"`
}

type rawObject struct {
	ID          json.RawMessage `json:"id"`
	UUID        string          `json:"uuid"`
	HostID      string          `json:"host_id"`
	Topic       string          `json:"topic"`
	Type        *int            `json:"type"`
	StartTime   string          `json:"start_time"`
	EndTime     string          `json:"end_time"`
	Participant json.RawMessage `json:"participant"`
}

type rawParticipant struct {
	UserID    json.RawMessage `json:"user_id"`
	ID        string          `json:"id"`
	UUID      string          `json:"participant_uuid"`
	Name      string          `json:"user_name"`
	Email     string          `json:"email"`
	JoinTime  string          `json:"join_time"`
	LeaveTime string          `json:"leave_time"`
}

// DecodeEvent decodes one event body (a webhook body, or the content of a
// WebSocket message). It refuses, with an *EventError, what is not one JSON
// object, has no event name, or, for the eight known events, lacks what the
// exporter keys on (event_ts, uuid, host_id, type; for participant events a
// participant with a participant_uuid or user_id) or holds a time that is
// not RFC 3339. Any other event decodes to its Name and TS only: its payload
// is not read. Free text is bounded; unknown fields are ignored.
func DecodeEvent(body []byte) (Event, error) {
	if len(body) > maxEventBytes {
		return Event{}, &EventError{Reason: ReasonTooLarge, Msg: fmt.Sprintf("%d bytes, more than the %d allowed", len(body), maxEventBytes)}
	}
	var raw rawEvent
	if err := unmarshalStrict(body, &raw, ""); err != nil {
		return Event{}, err
	}
	if raw.Event == nil {
		return Event{}, malformed("event", "missing: not a Zoom event")
	}
	name := *raw.Event
	if name == "" {
		return Event{}, malformed("event", "empty")
	}
	e := Event{Name: sanitize.Field(name)}
	known := knownEvents[name]
	if len(raw.EventTS) > 0 && !isNull(raw.EventTS) {
		ms, err := strconv.ParseInt(string(raw.EventTS), 10, 64)
		if err != nil || ms <= 0 {
			return Event{}, malformed("event_ts", "%s is not a positive integer of Unix milliseconds", sanitize.Field(string(raw.EventTS)))
		}
		e.TS = time.UnixMilli(ms).UTC()
	} else if known {
		return Event{}, malformed("event_ts", "missing")
	}
	if !known {
		return e, nil
	}

	if len(raw.Payload) == 0 || isNull(raw.Payload) {
		return Event{}, malformed("payload", "missing")
	}
	var payload rawPayload
	if err := unmarshalStrict(raw.Payload, &payload, "payload"); err != nil {
		return Event{}, err
	}
	var err error
	if e.AccountID, err = eventID("payload.account_id", payload.AccountID, false); err != nil {
		return Event{}, err
	}
	if len(payload.Object) == 0 || isNull(payload.Object) {
		return Event{}, malformed("payload.object", "missing")
	}
	var obj rawObject
	if err := unmarshalStrict(payload.Object, &obj, "payload.object"); err != nil {
		return Event{}, err
	}
	m := &e.Meeting
	if m.UUID, err = eventID("payload.object.uuid", obj.UUID, true); err != nil {
		return Event{}, err
	}
	if m.HostID, err = eventID("payload.object.host_id", obj.HostID, true); err != nil {
		return Event{}, err
	}
	if m.ID, err = numberOrString("payload.object.id", obj.ID); err != nil {
		return Event{}, err
	}
	if obj.Type == nil {
		return Event{}, malformed("payload.object.type", "missing")
	}
	m.Type = *obj.Type
	m.Topic = sanitize.Text(obj.Topic, maxEventText)
	if m.Start, err = eventTime("payload.object.start_time", obj.StartTime); err != nil {
		return Event{}, err
	}
	if m.End, err = eventTime("payload.object.end_time", obj.EndTime); err != nil {
		return Event{}, err
	}

	if !strings.Contains(name, ".participant_") {
		return e, nil
	}
	if len(obj.Participant) == 0 || isNull(obj.Participant) {
		return Event{}, malformed("payload.object.participant", "missing")
	}
	var rp rawParticipant
	if err := unmarshalStrict(obj.Participant, &rp, "payload.object.participant"); err != nil {
		return Event{}, err
	}
	p := &Participant{Name: sanitize.Text(rp.Name, maxEventText), Email: sanitize.Text(rp.Email, maxEventText)}
	if p.UserID, err = numberOrString("payload.object.participant.user_id", rp.UserID); err != nil {
		return Event{}, err
	}
	if p.ID, err = eventID("payload.object.participant.id", rp.ID, false); err != nil {
		return Event{}, err
	}
	if p.UUID, err = eventID("payload.object.participant.participant_uuid", rp.UUID, false); err != nil {
		return Event{}, err
	}
	if p.Key() == "" {
		return Event{}, malformed("payload.object.participant", "neither participant_uuid nor user_id: the participant cannot be told apart")
	}
	if p.JoinTime, err = eventTime("payload.object.participant.join_time", rp.JoinTime); err != nil {
		return Event{}, err
	}
	if p.LeaveTime, err = eventTime("payload.object.participant.leave_time", rp.LeaveTime); err != nil {
		return Event{}, err
	}
	m.Participant = p
	return e, nil
}

// unmarshalStrict decodes one JSON object into v, naming the field at
// fault: a type mismatch is refused, not left as a zero value.
func unmarshalStrict(data []byte, v any, path string) error {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		what := "not a JSON object"
		if path == "" && !json.Valid(data) {
			what = "not JSON"
		}
		return malformed(path, "%s", what)
	}
	err := json.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		field := typeErr.Field
		if path != "" && field != "" {
			field = path + "." + field
		} else if field == "" {
			field = path
		}
		return malformed(field, "JSON %s where %s belongs", typeErr.Value, jsonKind(typeErr.Type.Kind().String()))
	}
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) {
		return malformed(path, "not JSON: %s (at byte %d)", sanitize.Field(syntaxErr.Error()), syntaxErr.Offset)
	}
	return malformed(path, "%s", sanitize.Message(err.Error()))
}

// jsonKind names a Go kind in JSON's words, with its article.
func jsonKind(kind string) string {
	switch {
	case strings.HasPrefix(kind, "int"), strings.HasPrefix(kind, "uint"):
		return "an integer"
	case strings.HasPrefix(kind, "float"):
		return "a number"
	}
	return "a " + kind
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// eventID checks an identifier: bounded, printable, never cut.
func eventID(field, s string, required bool) (string, error) {
	switch {
	case s == "" && required:
		return "", malformed(field, "missing")
	case len(s) > maxEventID:
		return "", malformed(field, "%d bytes, longer than the %d an identifier may have", len(s), maxEventID)
	case !utf8.ValidString(s) || strings.ContainsRune(s, utf8.RuneError):
		// The JSON decoder turns invalid bytes into U+FFFD: two different
		// broken keys would become one.
		return "", malformed(field, "not valid UTF-8")
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return "", malformed(field, "holds control characters")
	}
	return s, nil
}

// numberOrString reads an id Zoom sends as a string in events and as a
// number elsewhere (meeting numbers, some user_ids); "" when absent.
func numberOrString(field string, raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || isNull(raw) {
		return "", nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", malformed(field, "not a JSON string")
		}
		return eventID(field, s, false)
	}
	if _, err := strconv.ParseUint(string(raw), 10, 64); err != nil {
		return "", malformed(field, "%s is neither a string nor a non-negative integer", sanitize.Field(string(raw)))
	}
	return string(raw), nil
}

// eventTime parses an RFC 3339 time; "" is the zero time.
func eventTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, malformed(field, "%q is not an RFC 3339 time such as 2021-07-13T21:44:51Z", sanitize.Field(s))
	}
	return t.UTC(), nil
}

// intake counts the events of one transport and picks those handed on.
type intake struct {
	transport string
	accountID string
	metrics   *EventMetrics
	now       func() time.Time
}

// accept counts e and reports whether to hand it to the handler: the eight
// known events, of the configured account when one is set. Other events
// are counted (event="other") and ignored.
func (in *intake) accept(e Event) bool {
	if e.Known() && in.accountID != "" && e.AccountID != in.accountID {
		in.metrics.rejected.WithLabelValues(ReasonOtherAccount).Inc()
		return false
	}
	in.metrics.received.WithLabelValues(in.transport, eventLabel(e.Name)).Inc()
	in.metrics.lastEvent.WithLabelValues(in.transport).Set(float64(in.now().UnixNano()) / 1e9)
	return e.Known()
}

// logLimiter lets a log line of one kind through at warn level once per
// period; the rest go to debug, so that a flood of forged requests or a
// disconnect storm cannot flood the log. The counters count them all.
type logLimiter struct {
	every time.Duration
	now   func() time.Time

	mu         sync.Mutex
	last       map[string]time.Time
	suppressed map[string]int
}

func newLogLimiter(every time.Duration, now func() time.Time) *logLimiter {
	return &logLimiter{every: every, now: now, last: map[string]time.Time{}, suppressed: map[string]int{}}
}

// allow reports whether a line of kind may be logged at warn level, and
// how many were sent to debug since the last one.
func (l *logLimiter) allow(kind string) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if last, seen := l.last[kind]; seen && now.Sub(last) < l.every && now.Sub(last) > -l.every {
		l.suppressed[kind]++
		return false, 0
	}
	l.last[kind] = now
	suppressed = l.suppressed[kind]
	l.suppressed[kind] = 0
	return true, suppressed
}
