package scrape

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"testing"
)

// Meeting records: written compact, read in both forms, malformed refused.
func TestCountedRecordEncoding(t *testing.T) {
	t.Parallel()
	// The form written before issue 16: type name, big-endian figures.
	v2 := func(name string, d, tm, p uint32, flags uint8) []byte {
		b := append([]byte{byte(len(name))}, name...)
		for _, v := range []uint32{d, tm, p} {
			b = binary.BigEndian.AppendUint32(b, v)
		}
		return append(b, flags)
	}
	for _, c := range []countedMeeting{
		{},
		{Type: 2, Duration: 45, TotalMinutes: 135, Participants: 3, Flags: meetingChat},
		{Type: 9, Duration: MaxMeetingMinutes, TotalMinutes: MaxParticipantMinutes, Participants: MaxParticipants, Flags: 7},
	} {
		b := encodeCounted(c)
		if got, err := decodeCounted(b); err != nil || got != c {
			t.Errorf("%+v: decoded %+v, %v", c, got, err)
		}
		if len(b) > 2+3*binary.MaxVarintLen32 {
			t.Errorf("%+v takes %d bytes", c, len(b))
		}
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want countedMeeting
	}{
		{"scheduled", v2("scheduled", 60, 180, 3, 5), countedMeeting{Type: 2, Duration: 60, TotalMinutes: 180, Participants: 3, Flags: 5}},
		{"unknown", v2("unknown", 1, 1, 1, 0), countedMeeting{Duration: 1, TotalMinutes: 1, Participants: 1}},
		{"a name this version does not know", v2("hologram", 1, 2, 3, 0), countedMeeting{Duration: 1, TotalMinutes: 2, Participants: 3}},
	} {
		if got, err := decodeCounted(tc.b); err != nil || got != tc.want {
			t.Errorf("%s: %+v, %v; want %+v", tc.name, got, err, tc.want)
		}
	}
	good := encodeCounted(countedMeeting{Type: 2, Duration: 300, TotalMinutes: 900, Participants: 3})
	for name, b := range map[string][]byte{
		"empty":             nil,
		"cut":               good[:len(good)-2],
		"a byte too many":   append(good, 0),
		"type code 10":      append([]byte{compactRecord | 10}, good[1:]...),
		"figure over int32": append(binary.AppendUvarint([]byte{compactRecord | 2}, 1<<31), 1, 1, 0),
		"old form cut":      v2("pmi", 1, 1, 1, 0)[:10],
	} {
		if _, err := decodeCounted(b); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

// Counter totals: written compact, read in both forms, malformed refused.
func TestCountersEncoding(t *testing.T) {
	t.Parallel()
	counters := map[string]Totals{
		"scheduled": {Meetings: 12, DurationSeconds: 43200, ParticipantSeconds: 129600, Participants: 36, WithRecording: 4, WithScreenShare: 6, WithChat: 10},
		"unknown":   {Meetings: 1},
		"pmi":       {},
	}
	b := encodeCounters(counters)
	if got, err := decodeCounters(b); err != nil || !maps.Equal(got, counters) {
		t.Errorf("decoded %+v, %v", got, err)
	}
	j, _ := json.Marshal(counters)
	if len(b) > len(j)/3 {
		t.Errorf("%d bytes, JSON took %d", len(b), len(j))
	}
	if got, err := decodeCounters(j); err != nil || !maps.Equal(got, counters) {
		t.Errorf("JSON decoded %+v, %v", got, err)
	}
	for _, empty := range [][]byte{[]byte("null"), []byte("{}"), encodeCounters(nil)} {
		if got, err := decodeCounters(empty); err != nil || got == nil || len(got) != 0 {
			t.Errorf("%q: %+v, %v", empty, got, err)
		}
	}
	for name, bad := range map[string][]byte{
		"cut":       b[:len(b)-1],
		"name past": {binaryCounters, 40, 'a'},
		"twice":     append(encodeCounters(map[string]Totals{"pmi": {}}), encodeCounters(map[string]Totals{"pmi": {}})[1:]...),
		"long name": append([]byte{binaryCounters, 65}, strings.Repeat("x", 65)...),
		"not JSON":  []byte("{"),
	} {
		if _, err := decodeCounters(bad); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

// TestMeetingIDs: the sets of meetings counted key meetings by idOf: the
// same uuid gives the same id, uuids that differ in one byte (Zoom's
// uuids are base64, often alike but for a few characters) give different
// ones, and a million of them none alike.
func TestMeetingIDs(t *testing.T) {
	t.Parallel()
	if idOf("abc/def==") != idOf("abc/def==") {
		t.Fatal("one uuid, two ids")
	}
	seen := make(map[meetingID]string, 1_000_000)
	for i := range 1_000_000 {
		uuid := fmt.Sprintf("%022d==", i) // alike but for a few characters
		if i%2 == 1 {
			uuid = fmt.Sprintf("Ab+/%018x==", i)
		}
		id := idOf(uuid)
		if other, dup := seen[id]; dup {
			t.Fatalf("uuids %q and %q have the same id", other, uuid)
		}
		seen[id] = uuid
	}
	if idOf("") == idOf("\x00") {
		t.Error("the empty uuid and a NUL byte have the same id")
	}
}
