package scrape

import (
	"crypto/sha256"
	"strconv"
	"time"

	"github.com/zoomexporter/zoom_exporter/zoom"
)

// TypeName is the `type` label of a Zoom meeting type code (zoom-api.md
// section 2); codes Zoom may add later read "unknown" rather than fail.
func TypeName(code int) string {
	switch code {
	case 1:
		return "instant"
	case 2:
		return "scheduled"
	case 3:
		return "recurring_no_fixed_time"
	case 4:
		return "pmi"
	case 5:
		return "webinar"
	case 6:
		return "recurring_webinar_no_fixed_time"
	case 7:
		return "personal_audio_conference"
	case 8:
		return "recurring_fixed_time"
	case 9:
		return "recurring_webinar_fixed_time"
	}
	return "unknown"
}

// LicenseName is the `license` label of a Zoom user type from GET /users, in
// Zoom's own words (its spec: 1 Basic, 2 Licensed, 4 No Meeting License,
// 99 None; older specs: 3 On-prem). Other codes keep their number.
func LicenseName(userType int) string {
	switch userType {
	case 1:
		return "basic"
	case 2:
		return "licensed"
	case 3:
		return "on_prem"
	case 4:
		return "no_meeting_license"
	case 99:
		return "none"
	}
	return strconv.Itoa(userType)
}

// Totals are figures summed over meetings, in the units we expose.
type Totals struct {
	Meetings           int64
	DurationSeconds    int64 // sum of duration x 60
	ParticipantSeconds int64 // sum of total_minutes x 60
	Participants       int64 // sum of participants_count
	WithRecording      int64
	WithScreenShare    int64
	WithChat           int64
}

// Add adds o to t.
func (t *Totals) Add(o Totals) {
	t.Meetings += o.Meetings
	t.DurationSeconds += o.DurationSeconds
	t.ParticipantSeconds += o.ParticipantSeconds
	t.Participants += o.Participants
	t.WithRecording += o.WithRecording
	t.WithScreenShare += o.WithScreenShare
	t.WithChat += o.WithChat
}

// meetingID stands for a meeting's uuid in the sets of meetings counted:
// the first 16 bytes of the uuid's SHA-256. At 10,000 users x 50 meetings
// the uuids' strings were 16 MB of the scraper's memory; the store keeps
// the uuids themselves, and the ids are made again from them when read.
//
// Two uuids with the same id would be taken for one meeting: the second
// would count as the first one's growth (never twice), and be lost. With
// 128 bits of SHA-256, which Zoom (or whoever answers in its place) cannot
// steer, the odds of any such pair among 10 million meetings are below
// 10^-24.
type meetingID [16]byte

func idOf(uuid string) meetingID {
	sum := sha256.Sum256([]byte(uuid))
	return meetingID(sum[:16])
}

// countedMeeting is what a meeting contributed to the counters so far, so a
// later, larger report adds only the growth. Small on purpose: one is kept
// per meeting of every month still refreshed (16 bytes).
type countedMeeting struct {
	Duration     int32 // minutes
	TotalMinutes int32
	Participants int32
	Type         uint8 // Zoom's type code, 0 for the codes TypeName calls "unknown"
	Flags        uint8 // meetingRecording | meetingScreenShare | meetingChat
}

// typeCode is a meeting type as countedMeeting keeps it: Zoom's code when
// TypeName names it, else 0 ("unknown", as TypeName(0)).
func typeCode(code int) uint8 {
	if TypeName(code) == "unknown" {
		return 0
	}
	return uint8(code)
}

// typeCodeOf is the code of a TypeName, 0 for "unknown" and any other.
func typeCodeOf(name string) uint8 {
	for code := 1; code <= maxTypeCode; code++ {
		if TypeName(code) == name {
			return uint8(code)
		}
	}
	return 0
}

// maxTypeCode is the largest code TypeName names.
const maxTypeCode = 9

const (
	meetingRecording uint8 = 1 << iota
	meetingScreenShare
	meetingChat
)

func flagsOf(m zoom.Meeting) uint8 {
	var f uint8
	if m.HasRecording {
		f |= meetingRecording
	}
	if m.HasScreenShare {
		f |= meetingScreenShare
	}
	if m.HasChat {
		f |= meetingChat
	}
	return f
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// figures returns a meeting's contribution to Totals.
func figures(m zoom.Meeting) Totals {
	return Totals{
		Meetings:           1,
		DurationSeconds:    int64(clampMinutes(m.Duration)) * 60,
		ParticipantSeconds: int64(clampParticipantMinutes(m.TotalMinutes)) * 60,
		Participants:       int64(clampParticipants(m.ParticipantsCount)),
		WithRecording:      b2i(m.HasRecording),
		WithScreenShare:    b2i(m.HasScreenShare),
		WithChat:           b2i(m.HasChat),
	}
}

// growth compares a meeting with what it already contributed. It returns
// what to add to the counters (never negative: a counter never decreases)
// and the new record, the larger of each figure.
func growth(prev countedMeeting, m zoom.Meeting) (Totals, countedMeeting) {
	next := prev
	var add Totals
	if d := clampMinutes(m.Duration); d > prev.Duration {
		add.DurationSeconds = int64(d-prev.Duration) * 60
		next.Duration = d
	}
	if tm := clampParticipantMinutes(m.TotalMinutes); tm > prev.TotalMinutes {
		add.ParticipantSeconds = int64(tm-prev.TotalMinutes) * 60
		next.TotalMinutes = tm
	}
	if p := clampParticipants(m.ParticipantsCount); p > prev.Participants {
		add.Participants = int64(p - prev.Participants)
		next.Participants = p
	}
	newFlags := flagsOf(m) &^ prev.Flags
	add.WithRecording = b2i(newFlags&meetingRecording != 0)
	add.WithScreenShare = b2i(newFlags&meetingScreenShare != 0)
	add.WithChat = b2i(newFlags&meetingChat != 0)
	next.Flags |= newFlags
	return add, next
}

// Bounds of one meeting's figures from Zoom (README, "Status page and
// reliability"), far above anything Zoom allows (meetings end after 30
// hours; the largest webinars hold 50,000): a negative or absurd figure
// (2^63 minutes) is clamped, and counted in Snapshot.ClampedFigures, so it
// neither wraps a counter around nor swamps a histogram's sum. They fit
// the int32 of a stored record.
const (
	MaxMeetingMinutes     = 7 * 24 * 60 // a week
	MaxParticipants       = 100_000
	MaxParticipantMinutes = MaxParticipants * MaxMeetingMinutes
)

func clampTo(v, hi int) int32 { return int32(min(max(v, 0), hi)) }

func clampMinutes(v int) int32            { return clampTo(v, MaxMeetingMinutes) }
func clampParticipantMinutes(v int) int32 { return clampTo(v, MaxParticipantMinutes) }
func clampParticipants(v int) int32       { return clampTo(v, MaxParticipants) }

// clampedFigures is how many of a meeting's figures are out of bounds.
func clampedFigures(m zoom.Meeting) int {
	n := 0
	for _, f := range []struct{ v, hi int }{{m.Duration, MaxMeetingMinutes}, {m.TotalMinutes, MaxParticipantMinutes}, {m.ParticipantsCount, MaxParticipants}} {
		if f.v < 0 || f.v > f.hi {
			n++
		}
	}
	return n
}

func record(m zoom.Meeting) countedMeeting {
	return countedMeeting{
		Type:         typeCode(m.Type),
		Duration:     clampMinutes(m.Duration),
		TotalMinutes: clampParticipantMinutes(m.TotalMinutes),
		Participants: clampParticipants(m.ParticipantsCount),
		Flags:        flagsOf(m),
	}
}

// Histogram bucket bounds: meeting length from a quick call to an all-day
// event, and sizes from a one-on-one to a large webinar.
var (
	DurationBuckets     = []float64{300, 900, 1800, 2700, 3600, 5400, 7200, 10800, 14400, 28800}
	ParticipantsBuckets = []float64{2, 3, 5, 10, 25, 50, 100, 250, 500, 1000}
)

// Histogram is a cumulative distribution, in the form
// prometheus.MustNewConstHistogram takes.
type Histogram struct {
	Count   uint64
	Sum     float64
	Buckets map[float64]uint64 // upper bound -> cumulative count
}

func newHistogram(bounds []float64) *Histogram {
	h := &Histogram{Buckets: make(map[float64]uint64, len(bounds))}
	for _, b := range bounds {
		h.Buckets[b] = 0
	}
	return h
}

func (h *Histogram) observe(v float64) {
	h.Count++
	h.Sum += v
	for b := range h.Buckets {
		if v <= b {
			h.Buckets[b]++
		}
	}
}

func (h *Histogram) clone() Histogram {
	c := Histogram{Count: h.Count, Sum: h.Sum, Buckets: make(map[float64]uint64, len(h.Buckets))}
	for b, n := range h.Buckets {
		c.Buckets[b] = n
	}
	return c
}

// monthStart is 00:00 UTC on the first day of t's UTC month.
func monthStart(t time.Time) time.Time {
	y, m, _ := t.UTC().Date()
	return time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
}

func monthKey(t time.Time) string { return t.UTC().Format("2006-01") }
