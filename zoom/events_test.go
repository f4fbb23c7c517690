package zoom

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const eventsDir = "testdata/events"

func readEventFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(eventsDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// exampleFields is what an example file says, read with a generic decoder:
// the expected values come from the files, not from DecodeEvent.
type exampleFields struct {
	Event   string `json:"event"`
	EventTS int64  `json:"event_ts"`
	Payload struct {
		AccountID string `json:"account_id"`
		Object    struct {
			ID          string `json:"id"`
			UUID        string `json:"uuid"`
			HostID      string `json:"host_id"`
			Topic       string `json:"topic"`
			Type        int    `json:"type"`
			StartTime   string `json:"start_time"`
			EndTime     string `json:"end_time"`
			Participant *struct {
				UserID    string `json:"user_id"`
				ID        string `json:"id"`
				UUID      string `json:"participant_uuid"`
				Name      string `json:"user_name"`
				Email     string `json:"email"`
				JoinTime  string `json:"join_time"`
				LeaveTime string `json:"leave_time"`
			} `json:"participant"`
		} `json:"object"`
	} `json:"payload"`
}

func parseTimeOrZero(t *testing.T, s string) time.Time {
	t.Helper()
	if s == "" {
		return time.Time{}
	}
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v.UTC()
}

// TestDecodeEventExamples decodes every event example of Zoom's (verbatim
// or reconstructed from Zoom's specs) and checks each field against the file.
func TestDecodeEventExamples(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(eventsDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for _, path := range files {
		name := filepath.Base(path)
		if !strings.HasPrefix(name, "meeting.") && !strings.HasPrefix(name, "webinar.") && name != "endpoint.url_validation.json" {
			continue // frames, headers, dashboards: not event bodies
		}
		seen = append(seen, name)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			body := readEventFile(t, name)
			var want exampleFields
			if err := json.Unmarshal(body, &want); err != nil {
				t.Fatal(err)
			}
			e, err := DecodeEvent(body)
			if err != nil {
				t.Fatalf("DecodeEvent: %v", err)
			}
			if e.Name != want.Event || !e.TS.Equal(time.UnixMilli(want.EventTS)) {
				t.Errorf("name, ts = %q, %v; want %q, %v", e.Name, e.TS, want.Event, time.UnixMilli(want.EventTS))
			}
			if name == "endpoint.url_validation.json" {
				if e.Known() || e.Meeting != (MeetingEvent{}) {
					t.Errorf("url_validation decoded as a meeting event: %+v", e)
				}
				return
			}
			if !e.Known() {
				t.Fatalf("%s is not Known", e.Name)
			}
			if e.Webinar() != strings.HasPrefix(name, "webinar.") {
				t.Errorf("Webinar() = %v", e.Webinar())
			}
			o := want.Payload.Object
			m := e.Meeting
			if e.AccountID != want.Payload.AccountID || m.UUID != o.UUID || m.ID != o.ID || m.HostID != o.HostID ||
				m.Type != o.Type || m.Topic != o.Topic || !m.Start.Equal(parseTimeOrZero(t, o.StartTime)) || !m.End.Equal(parseTimeOrZero(t, o.EndTime)) {
				t.Errorf("meeting = %+v (account %q); file says %+v (account %q)", m, e.AccountID, o, want.Payload.AccountID)
			}
			if strings.HasSuffix(name, "ended.json") && m.End.IsZero() {
				t.Error("an ended event without End")
			}
			if (o.Participant == nil) != (m.Participant == nil) {
				t.Fatalf("participant = %+v; file has %+v", m.Participant, o.Participant)
			}
			if p, wp := m.Participant, o.Participant; p != nil {
				if p.UserID != wp.UserID || p.ID != wp.ID || p.UUID != wp.UUID || p.Name != wp.Name || p.Email != wp.Email ||
					!p.JoinTime.Equal(parseTimeOrZero(t, wp.JoinTime)) || !p.LeaveTime.Equal(parseTimeOrZero(t, wp.LeaveTime)) {
					t.Errorf("participant = %+v; file says %+v", *p, *wp)
				}
				if p.Key() != wp.UUID {
					t.Errorf("Key() = %q, want participant_uuid %q", p.Key(), wp.UUID)
				}
			}
		})
	}
	if len(seen) != 9 {
		t.Errorf("decoded %d example files (%v), want the 8 events and endpoint.url_validation", len(seen), seen)
	}
}

// TestDecodeEventSignatureVectorBody decodes the compact body of the
// signature test vector, byte for byte what Zoom signs.
func TestDecodeEventSignatureVectorBody(t *testing.T) {
	t.Parallel()
	v := loadSignatureVector(t)
	e, err := DecodeEvent([]byte(v.Body))
	if err != nil || e.Name != EventMeetingStarted || e.Meeting.ID != "1234567890" {
		t.Fatalf("DecodeEvent = %+v, %v", e, err)
	}
}

// participantJoined is meeting.participant_joined.json with its object
// changed by edit (the object as a generic map).
func participantJoined(t *testing.T, edit func(obj map[string]any)) []byte {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(readEventFile(t, "meeting.participant_joined.json"), &doc); err != nil {
		t.Fatal(err)
	}
	edit(doc["payload"].(map[string]any)["object"].(map[string]any))
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDecodeEventIDForms: Zoom sends the meeting id as a string in events
// and as a number elsewhere; both decode to the same string.
func TestDecodeEventIDForms(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		id      any // nil: absent
		remove  bool
		want    string
		wantErr string
	}{
		{"string", "1234567890", false, "1234567890", ""},
		{"number", json.Number("1234567890"), false, "1234567890", ""},
		{"eleven-digit number", json.Number("93201235621"), false, "93201235621", ""},
		{"absent (optional in participant_joined)", nil, true, "", ""},
		{"null", nil, false, "", ""},
		{"fraction", json.Number("12.5"), false, "", "payload.object.id: 12.5 is neither a string nor a non-negative integer"},
		{"negative", json.Number("-4"), false, "", "payload.object.id: -4 is neither"},
		{"bool", true, false, "", "payload.object.id: true is neither"},
		{"object", map[string]any{"x": 1}, false, "", "payload.object.id:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := participantJoined(t, func(obj map[string]any) {
				if tt.remove {
					delete(obj, "id")
				} else {
					obj["id"] = tt.id
				}
			})
			e, err := DecodeEvent(body)
			if tt.wantErr != "" {
				var ee *EventError
				if !errors.As(err, &ee) || ee.Reason != ReasonMalformed || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want a malformed error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || e.Meeting.ID != tt.want {
				t.Fatalf("ID = %q, %v; want %q", e.Meeting.ID, err, tt.want)
			}
		})
	}
}

// TestDecodeEventRefusals: every refusal is malformed (or too_large) and
// names the field at fault.
func TestDecodeEventRefusals(t *testing.T) {
	t.Parallel()
	joined := func(edit func(obj map[string]any)) []byte { return participantJoined(t, edit) }
	started := string(readEventFile(t, "meeting.started.json"))
	tests := []struct {
		name       string
		body       []byte
		wantReason string
		wantErr    string
	}{
		{"empty", nil, ReasonMalformed, "not JSON"},
		{"not JSON", []byte("event=meeting.ended"), ReasonMalformed, "not JSON"},
		{"truncated", []byte(started[:len(started)/2]), ReasonMalformed, "not JSON"},
		{"trailing garbage", []byte(started + "x"), ReasonMalformed, "not JSON"},
		{"an array", []byte(`[` + started + `]`), ReasonMalformed, "not a JSON object"},
		{"a string", []byte(`"meeting.ended"`), ReasonMalformed, "not a JSON object"},
		{"no event", []byte(`{"event_ts":1,"payload":{}}`), ReasonMalformed, "event: missing"},
		{"empty event", []byte(`{"event":"","event_ts":1}`), ReasonMalformed, "event: empty"},
		{"event a number", []byte(`{"event":7,"event_ts":1}`), ReasonMalformed, "event: JSON number where a string belongs"},
		{"no event_ts", []byte(`{"event":"meeting.ended","payload":{"object":{}}}`), ReasonMalformed, "event_ts: missing"},
		{"event_ts a string", []byte(`{"event":"meeting.ended","event_ts":"1626234051572"}`), ReasonMalformed, "event_ts: \"1626234051572\" is not a positive integer"},
		{"event_ts negative", []byte(`{"event":"meeting.ended","event_ts":-5}`), ReasonMalformed, "event_ts: -5 is not a positive integer"},
		{"no payload", []byte(`{"event":"meeting.ended","event_ts":1}`), ReasonMalformed, "payload: missing"},
		{"payload a string", []byte(`{"event":"meeting.ended","event_ts":1,"payload":"x"}`), ReasonMalformed, "payload: not a JSON object"},
		{"no object", []byte(`{"event":"meeting.ended","event_ts":1,"payload":{"account_id":"a"}}`), ReasonMalformed, "payload.object: missing"},
		{"account_id a number", []byte(`{"event":"meeting.ended","event_ts":1,"payload":{"account_id":5,"object":{}}}`), ReasonMalformed, "payload.account_id: JSON number where a string belongs"},
		{"no uuid", joined(func(o map[string]any) { delete(o, "uuid") }), ReasonMalformed, "payload.object.uuid: missing"},
		{"no host_id", joined(func(o map[string]any) { delete(o, "host_id") }), ReasonMalformed, "payload.object.host_id: missing"},
		{"no type", joined(func(o map[string]any) { delete(o, "type") }), ReasonMalformed, "payload.object.type: missing"},
		{"type a string", joined(func(o map[string]any) { o["type"] = "8" }), ReasonMalformed, "payload.object.type: JSON string where an integer belongs"},
		{"type a fraction", joined(func(o map[string]any) { o["type"] = 8.5 }), ReasonMalformed, "payload.object.type: JSON number 8.5 where an integer belongs"},
		{"uuid too long", joined(func(o map[string]any) { o["uuid"] = strings.Repeat("u", 129) }), ReasonMalformed, "payload.object.uuid: 129 bytes, longer than the 128"},
		{"uuid with a newline", joined(func(o map[string]any) { o["uuid"] = "abc\ndef" }), ReasonMalformed, "payload.object.uuid: holds control characters"},
		{"host_id invalid UTF-8", []byte(strings.Replace(started, `"Wk9PTV9VU0VSX0lE"`, "\"\xff\xfe\"", 1)), ReasonMalformed, "payload.object.host_id: not valid UTF-8"},
		{"bad start_time", joined(func(o map[string]any) { o["start_time"] = "13/07/2021 21:44" }), ReasonMalformed, `payload.object.start_time: "13/07/2021 21:44" is not an RFC 3339 time`},
		{"no participant", joined(func(o map[string]any) { delete(o, "participant") }), ReasonMalformed, "payload.object.participant: missing"},
		{"participant a list", joined(func(o map[string]any) { o["participant"] = []any{} }), ReasonMalformed, "payload.object.participant: not a JSON object"},
		{"participant without key", joined(func(o map[string]any) {
			p := o["participant"].(map[string]any)
			delete(p, "participant_uuid")
			delete(p, "user_id")
		}), ReasonMalformed, "payload.object.participant: neither participant_uuid nor user_id"},
		{"bad join_time", joined(func(o map[string]any) { o["participant"].(map[string]any)["join_time"] = "yesterday" }), ReasonMalformed, "payload.object.participant.join_time:"},
		{"participant name a number", joined(func(o map[string]any) { o["participant"].(map[string]any)["user_name"] = 5 }), ReasonMalformed, "payload.object.participant.user_name: JSON number where a string belongs"},
		{"over a MiB", append(append([]byte(`{"event":"x","pad":"`), bytes.Repeat([]byte("a"), maxEventBytes)...), `"}`...), ReasonTooLarge, "more than the 1048576 allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, err := DecodeEvent(tt.body)
			var ee *EventError
			if !errors.As(err, &ee) {
				t.Fatalf("DecodeEvent = %+v, %v; want an *EventError", e, err)
			}
			if ee.Reason != tt.wantReason || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %q (reason %s); want reason %s and %q", err, ee.Reason, tt.wantReason, tt.wantErr)
			}
			if len(err.Error()) > 600 {
				t.Errorf("error of %d bytes: not bounded", len(err.Error()))
			}
		})
	}
}

// TestDecodeEventBoundsText: free text is cut and cleaned, never refused.
func TestDecodeEventBoundsText(t *testing.T) {
	t.Parallel()
	huge := strings.Repeat("Ω", 60<<10) // 120 KiB
	body := participantJoined(t, func(o map[string]any) {
		o["topic"] = huge
		p := o["participant"].(map[string]any)
		p["user_name"] = "Jill\n\x1b[31mChill\u2028"
		p["email"] = strings.Repeat("e", 10000) + "@example.com"
	})
	e, err := DecodeEvent(body)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(e.Meeting.Topic); n > maxEventText+64 || !strings.Contains(e.Meeting.Topic, "more bytes cut") {
		t.Errorf("topic of %d bytes: %q", n, e.Meeting.Topic[max(0, n-40):])
	}
	if got := e.Meeting.Participant.Name; got != "Jill  [31mChill " {
		t.Errorf("name = %q", got)
	}
	if n := len(e.Meeting.Participant.Email); n > maxEventText+64 {
		t.Errorf("email of %d bytes", n)
	}
}

// TestDecodeEventUnknown: other events decode to their name and time, their
// payload unread, and are not Known.
func TestDecodeEventUnknown(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, wantName string
	}{
		{"meeting.created", `{"event":"meeting.created","event_ts":1626230691572,"payload":{"object":{"id":5}}}`, "meeting.created"},
		{"odd payload", `{"event":"recording.completed","event_ts":1626230691572,"payload":[1,2,3]}`, "recording.completed"},
		{"no event_ts", `{"event":"user.updated"}`, "user.updated"},
		{"long name is bounded", `{"event":"` + strings.Repeat("n", 1000) + `"}`, strings.Repeat("n", 128) + "…(872 more bytes cut)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, err := DecodeEvent([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if e.Name != tt.wantName || e.Known() || e.Meeting != (MeetingEvent{}) {
				t.Errorf("DecodeEvent = %+v", e)
			}
			if eventLabel(e.Name) != eventLabelOther {
				t.Errorf("label %q, want other", eventLabel(e.Name))
			}
		})
	}
}

// TestParticipantKey: participant_uuid, else user_id (numeric or not).
func TestParticipantKey(t *testing.T) {
	t.Parallel()
	body := participantJoined(t, func(o map[string]any) {
		p := o["participant"].(map[string]any)
		delete(p, "participant_uuid")
		p["user_id"] = json.Number("16778240")
	})
	e, err := DecodeEvent(body)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.Meeting.Participant.Key(); got != "16778240" {
		t.Errorf("Key() = %q, want the user_id", got)
	}
}
