package zoomfake

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

// eventsDir holds the research examples of Zoom's events and frames.
var eventsDir = filepath.Join("..", "..", "zoom", "testdata", "events")

// newEventEnv is newEnv whose background event work ends with the test.
func newEventEnv(t *testing.T, opts Options) *env {
	t.Helper()
	e := newEnv(t, opts)
	t.Cleanup(e.fake.Close)
	return e
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func readExample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(eventsDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// shape maps every key path of a JSON document to its JSON kind.
func shape(t *testing.T, doc []byte) map[string]string {
	t.Helper()
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		t.Fatalf("%v: %s", err, doc)
	}
	out := map[string]string{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			out[prefix] = "object"
			for k, c := range x {
				walk(prefix+"."+k, c)
			}
		case []any:
			out[prefix] = "array"
		case string:
			out[prefix] = "string"
		case float64:
			out[prefix] = "number"
		case bool:
			out[prefix] = "bool"
		default:
			out[prefix] = "null"
		}
	}
	walk("", v)
	return out
}

// eventsNamed returns the emitted events with that name.
func eventsNamed(f *Server, name string) []Event {
	var out []Event
	for _, ev := range f.Events() {
		if ev.Name == name {
			out = append(out, ev)
		}
	}
	return out
}

// meetingLife runs a meeting of type typ from start to end with one guest
// who joins and leaves and the host, who stays to the end.
func meetingLife(t *testing.T, f *Server, hostID string, typ int, start time.Time) string {
	t.Helper()
	uuid, err := f.StartMeeting(MeetingStart{HostID: hostID, Type: typ, At: start})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.JoinParticipant(uuid, Participant{ID: hostID, At: start}); err != nil {
		t.Fatal(err)
	}
	guest, err := f.JoinParticipant(uuid, Participant{Name: "Guest Attendee", At: start.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.LeaveParticipant(uuid, guest, start.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.EndMeeting(uuid, start.Add(20*time.Minute)); err != nil {
		t.Fatal(err)
	}
	return uuid
}

func TestEventPayloadShapesMatchZoomExamples(t *testing.T) {
	e := newEventEnv(t, Options{})
	host := e.fake.Users()[1]
	start := testNow.Add(-time.Hour).Add(123 * time.Millisecond)
	meetingLife(t, e.fake, host.ID, 8, start)
	meetingLife(t, e.fake, host.ID, 5, start)

	for _, name := range []string{
		"meeting.started", "meeting.participant_joined", "meeting.participant_left", "meeting.ended",
		"webinar.started", "webinar.participant_joined", "webinar.participant_left", "webinar.ended",
	} {
		t.Run(name, func(t *testing.T) {
			evs := eventsNamed(e.fake, name)
			if len(evs) == 0 {
				t.Fatalf("no %s emitted", name)
			}
			want := shape(t, readExample(t, name+".json"))
			for _, ev := range evs {
				if got := shape(t, ev.Body); !maps.Equal(got, want) {
					t.Errorf("%s keys/kinds differ from Zoom's example\n got %v\nwant %v\nbody %s", name, got, want, ev.Body)
				}
			}
		})
	}
}

func TestEventPayloadValues(t *testing.T) {
	e := newEventEnv(t, Options{})
	host := e.fake.Users()[2]
	start := testNow.Add(-time.Hour).Add(123 * time.Millisecond)
	uuid := meetingLife(t, e.fake, host.ID, 2, start)
	m, ok := e.fake.MeetingByUUID(uuid)
	if !ok {
		t.Fatal("ended meeting not in the data with ReportLag 0")
	}

	type object struct {
		ID          any    `json:"id"`
		UUID        string `json:"uuid"`
		HostID      string `json:"host_id"`
		Type        int    `json:"type"`
		StartTime   string `json:"start_time"`
		EndTime     string `json:"end_time"`
		Participant *struct {
			UserID      string `json:"user_id"`
			ID          string `json:"id"`
			JoinTime    string `json:"join_time"`
			LeaveTime   string `json:"leave_time"`
			LeaveReason string `json:"leave_reason"`
			Email       string `json:"email"`
		} `json:"participant"`
	}
	type body struct {
		Event   string `json:"event"`
		EventTS int64  `json:"event_ts"`
		Payload struct {
			AccountID string `json:"account_id"`
			Object    object `json:"object"`
		} `json:"payload"`
	}
	var names []string
	for _, ev := range e.fake.Events() {
		var b body
		if err := json.Unmarshal(ev.Body, &b); err != nil {
			t.Fatal(err)
		}
		names = append(names, b.Event)
		o := b.Payload.Object
		if b.EventTS != ev.At.UnixMilli() || ev.Name != b.Event {
			t.Errorf("%s: event_ts %d, Event %v", b.Event, b.EventTS, ev)
		}
		if b.Payload.AccountID != DefaultAccountID || o.UUID != uuid || o.HostID != host.ID || o.Type != 2 {
			t.Errorf("%s: account %q uuid %q host %q type %d", b.Event, b.Payload.AccountID, o.UUID, o.HostID, o.Type)
		}
		if o.ID != strconv.FormatInt(m.ID, 10) { // a string, unlike REST
			t.Errorf("%s: id %#v, want the string %q", b.Event, o.ID, strconv.FormatInt(m.ID, 10))
		}
		if o.StartTime != "2026-11-24T11:00:00Z" {
			t.Errorf("%s: start_time %q", b.Event, o.StartTime)
		}
		if b.Event == "meeting.ended" && o.EndTime != "2026-11-24T11:20:00Z" {
			t.Errorf("end_time %q", o.EndTime)
		}
	}
	// The host stays to the end: EndMeeting makes it leave before meeting.ended.
	want := []string{"meeting.started", "meeting.participant_joined", "meeting.participant_joined",
		"meeting.participant_left", "meeting.participant_left", "meeting.ended"}
	if !slices.Equal(names, want) {
		t.Fatalf("events %v, want %v", names, want)
	}
	if at := e.fake.Events()[0].At; !at.Equal(start) {
		t.Errorf("meeting.started event_ts %v, want the start %v (ms kept)", at, start)
	}
	left := eventsNamed(e.fake, "meeting.participant_left")
	var last body
	_ = json.Unmarshal(left[1].Body, &last)
	p := last.Payload.Object.Participant
	if p == nil || p.ID != host.ID || p.Email != host.Email || p.LeaveTime != "2026-11-24T11:20:00Z" ||
		p.LeaveReason != host.DisplayName+" left the meeting.<br>Reason: Host ended the meeting." {
		t.Errorf("host's participant_left: %+v", p)
	}
}

func TestLiveTruthFollowsStartJoinLeaveEnd(t *testing.T) {
	e := newEventEnv(t, Options{})
	users := e.fake.Users()
	var meeting, webinar, foreign, outside, guest string
	truth := func(m, p map[int]int) LiveTruth { return LiveTruth{Meetings: m, Participants: p} }
	steps := []struct {
		name string
		do   func() error
		want LiveTruth
	}{
		{"nothing", func() error { return nil }, truth(map[int]int{}, map[int]int{})},
		{"meeting starts", func() (err error) {
			meeting, err = e.fake.StartMeeting(MeetingStart{HostID: users[0].Email, Type: 2})
			return err
		}, truth(map[int]int{2: 1}, map[int]int{})},
		{"host joins", func() error {
			_, err := e.fake.JoinParticipant(meeting, Participant{ID: users[0].ID})
			return err
		}, truth(map[int]int{2: 1}, map[int]int{2: 1})},
		{"guest joins", func() (err error) {
			guest, err = e.fake.JoinParticipant(meeting, Participant{Name: "G"})
			return err
		}, truth(map[int]int{2: 1}, map[int]int{2: 2})},
		{"webinar starts with two attendees", func() error {
			var err error
			if webinar, err = e.fake.StartMeeting(MeetingStart{HostID: users[1].ID, Type: 9}); err != nil {
				return err
			}
			for range 2 {
				if _, err := e.fake.JoinParticipant(webinar, Participant{}); err != nil {
					return err
				}
			}
			return nil
		}, truth(map[int]int{2: 1, 9: 1}, map[int]int{2: 2, 9: 2})},
		{"another account's meeting is not counted", func() (err error) {
			if foreign, err = e.fake.StartMeeting(MeetingStart{HostID: users[2].ID, AccountID: "other-account"}); err != nil {
				return err
			}
			_, err = e.fake.JoinParticipant(foreign, Participant{})
			return err
		}, truth(map[int]int{2: 1, 9: 1}, map[int]int{2: 2, 9: 2})},
		{"a host outside the account is not counted", func() (err error) {
			if outside, err = e.fake.StartMeeting(MeetingStart{HostID: "outsideHostAAAAAAAAAAA", Type: 1}); err != nil {
				return err
			}
			_, err = e.fake.JoinParticipant(outside, Participant{})
			return err
		}, truth(map[int]int{2: 1, 9: 1}, map[int]int{2: 2, 9: 2})},
		{"guest leaves", func() error { return e.fake.LeaveParticipant(meeting, guest, time.Time{}) },
			truth(map[int]int{2: 1, 9: 1}, map[int]int{2: 1, 9: 2})},
		{"meeting ends with the host in it", func() error { _, err := e.fake.EndMeeting(meeting, time.Time{}); return err },
			truth(map[int]int{9: 1}, map[int]int{9: 2})},
		{"webinar ends", func() error { _, err := e.fake.EndMeeting(webinar, time.Time{}); return err },
			truth(map[int]int{}, map[int]int{})},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		got := e.fake.LiveTruth()
		if !maps.Equal(got.Meetings, st.want.Meetings) || !maps.Equal(got.Participants, st.want.Participants) {
			t.Fatalf("after %s: LiveTruth %+v, want %+v", st.name, got, st.want)
		}
	}
	live := e.fake.LiveMeetings()
	if len(live) != 2 || live[0].Counted || live[1].Counted {
		t.Errorf("LiveMeetings %+v, want the two uncounted meetings", live)
	}
	shard := e.fake.LiveTruthFor(func(string) bool { return false })
	if len(shard.Meetings) != 0 {
		t.Errorf("LiveTruthFor(none) = %+v", shard)
	}
}

func TestLiveMeetingErrors(t *testing.T) {
	e := newEventEnv(t, Options{})
	host := e.fake.Users()[0].ID
	uuid, err := e.fake.StartMeeting(MeetingStart{HostID: host, At: testNow.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	pid, err := e.fake.JoinParticipant(uuid, Participant{At: testNow.Add(-30 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	generated := e.fake.Meetings(host, day("2026-11-01"), day("2026-11-30"), "past")[0].UUID
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"uuid of a live meeting", second(e.fake.StartMeeting(MeetingStart{HostID: host, UUID: uuid})), ErrDuplicate},
		{"uuid of a past meeting", second(e.fake.StartMeeting(MeetingStart{HostID: host, UUID: generated})), ErrDuplicate},
		{"no host", second(e.fake.StartMeeting(MeetingStart{})), nil},
		{"join unknown meeting", second(e.fake.JoinParticipant("nope", Participant{})), ErrUnknownMeeting},
		{"join before start", second(e.fake.JoinParticipant(uuid, Participant{At: testNow.Add(-2 * time.Hour)})), ErrBadTime},
		{"same participant twice", second(e.fake.JoinParticipant(uuid, Participant{UserID: pid})), ErrDuplicate},
		{"leave unknown participant", e.fake.LeaveParticipant(uuid, "nobody", time.Time{}), ErrUnknownParticipant},
		{"leave before join", e.fake.LeaveParticipant(uuid, pid, testNow.Add(-45*time.Minute)), ErrBadTime},
		{"end before a join", second(e.fake.EndMeeting(uuid, testNow.Add(-40*time.Minute))), ErrBadTime},
		{"end unknown meeting", second(e.fake.EndMeeting("nope", time.Time{})), ErrUnknownMeeting},
	}
	for _, c := range cases {
		if c.err == nil || (c.want != nil && !errors.Is(c.err, c.want)) {
			t.Errorf("%s: error %v, want %v", c.name, c.err, c.want)
		}
	}
	if n := len(e.fake.Events()); n != 2 {
		t.Errorf("%d events after refused calls, want the 2 of the successful ones", n)
	}
}

func second[T any](_ T, err error) error { return err }

func TestEndMeetingReachesReportAfterLag(t *testing.T) {
	const lag = 5 * time.Minute
	e := newEventEnv(t, Options{ReportLag: lag})
	users := e.fake.Users()
	host, colleague := users[3], users[4]
	start := testNow.Add(-30 * time.Minute)

	uuid, err := e.fake.StartMeeting(MeetingStart{HostID: host.ID, Type: 2, At: start})
	if err != nil {
		t.Fatal(err)
	}
	mustJoin := func(p Participant) string {
		t.Helper()
		id, err := e.fake.JoinParticipant(uuid, p)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	mustJoin(Participant{ID: host.ID, At: start})
	mustJoin(Participant{ID: colleague.Email, At: start.Add(5 * time.Minute)})
	guest := mustJoin(Participant{Name: "Guest", At: start.Add(10 * time.Minute)})
	if err := e.fake.LeaveParticipant(uuid, guest, start.Add(20*time.Minute)); err != nil {
		t.Fatal(err)
	}
	before := e.fake.HostTotals(host.ID, day("2026-11-01"), day("2026-11-30"))
	ended, err := e.fake.EndMeeting(uuid, testNow)
	if err != nil {
		t.Fatal(err)
	}
	// host 30 min + colleague 25 + guest 10
	want := Meeting{UUID: uuid, ID: ended.ID, Type: 2, Topic: ended.Topic, Start: start, End: testNow,
		DurationMinutes: 30, TotalMinutes: 65, Participants: 3, ParticipantsMyAccount: 2,
		HostID: host.ID, Joined: []string{colleague.ID}}
	if fmt.Sprint(ended) != fmt.Sprint(want) {
		t.Fatalf("EndMeeting = %+v\nwant %+v", ended, want)
	}

	tok := e.token()
	q := monthQuery("2026-11-01", "2026-11-30")
	find := func(user string, q url.Values) *reportMeeting {
		all, _ := e.listAll(tok, user, q)
		for i := range all {
			if all[i].UUID == uuid {
				return &all[i]
			}
		}
		return nil
	}
	for _, wait := range []time.Duration{0, lag - time.Second} {
		e.clock.Set(testNow.Add(wait))
		if find(host.ID, q) != nil {
			t.Fatalf("meeting in the host's report %v after the end, before the %v lag", wait, lag)
		}
		if _, ok := e.fake.MeetingByUUID(uuid); ok {
			t.Fatalf("MeetingByUUID finds the meeting %v after the end", wait)
		}
		if got := e.fake.HostTotals(host.ID, day("2026-11-01"), day("2026-11-30")); got != before {
			t.Fatalf("HostTotals moved before the lag: %+v, was %+v", got, before)
		}
	}
	e.clock.Set(testNow.Add(lag))
	rm := find(host.ID, q)
	if rm == nil {
		t.Fatal("meeting not in the host's report once the lag passed")
	}
	if rm.ParticipantsCount != 3 || rm.Duration != 30 || rm.TotalMinutes != 65 || rm.ParticipantsCountMyAccount != 2 ||
		rm.StartTime != "2026-11-24T11:30:00Z" || rm.EndTime != "2026-11-24T12:00:00Z" || rm.Type != 2 {
		t.Errorf("report entry %+v", rm)
	}
	if find(colleague.ID, monthQuery("2026-11-01", "2026-11-30", "type", "pastJoined")) == nil {
		t.Error("meeting not in the colleague's pastJoined report")
	}
	got := e.fake.HostTotals(host.ID, day("2026-11-01"), day("2026-11-30"))
	if got.Meetings != before.Meetings+1 || got.Participants != before.Participants+3 || got.MeetingMinutes != before.MeetingMinutes+30 {
		t.Errorf("HostTotals %+v, was %+v", got, before)
	}
}

func TestEndMeetingReportFiguresWithoutParticipants(t *testing.T) {
	e := newEventEnv(t, Options{})
	host := e.fake.Users()[0].ID
	uuid, err := e.fake.StartMeeting(MeetingStart{HostID: host, At: testNow.Add(-10 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.fake.EndMeeting(uuid, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if m.Participants != 1 || m.TotalMinutes != 10 || m.DurationMinutes != 10 || m.ParticipantsMyAccount != 1 {
		t.Errorf("host alone: %+v", m)
	}
	if got := e.fake.Meetings(host, testNow, testNow, "pastOne"); !slices.ContainsFunc(got, func(x Meeting) bool { return x.UUID == uuid }) {
		t.Error("a one-participant meeting is not in pastOne at once with ReportLag 0")
	}
}

func TestAnotherAccountsMeetingReachesNoReport(t *testing.T) {
	e := newEventEnv(t, Options{})
	host := e.fake.Users()[0].ID
	uuid, err := e.fake.StartMeeting(MeetingStart{HostID: host, AccountID: "other", At: testNow.Add(-10 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.fake.EndMeeting(uuid, testNow); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.fake.MeetingByUUID(uuid); ok {
		t.Error("another account's meeting is in our data")
	}
	for _, ev := range e.fake.Events() {
		var b struct {
			Payload struct {
				AccountID string `json:"account_id"`
			} `json:"payload"`
		}
		_ = json.Unmarshal(ev.Body, &b)
		if b.Payload.AccountID != "other" {
			t.Errorf("%s: account_id %q, want other", ev.Name, b.Payload.AccountID)
		}
	}
}

func TestEventFilterAndRawEvents(t *testing.T) {
	e := newEventEnv(t, Options{})
	e.fake.SetEventFilter(func(ev Event) bool { return ev.Name != "meeting.started" })
	if _, err := e.fake.StartMeeting(MeetingStart{HostID: e.fake.Users()[0].ID}); err != nil {
		t.Fatal(err)
	}
	e.fake.EmitRaw([]byte(`{"event":"meeting.nonsense","event_ts":1700000000000,`))
	e.fake.EmitRaw([]byte(`{"event":"meeting.unknown_type","event_ts":1700000000000,"payload":{}}`))
	evs := e.fake.Events()
	if len(evs) != 3 || !evs[0].Suppressed || evs[1].Suppressed || evs[1].Name != "" || evs[2].Name != "meeting.unknown_type" ||
		!evs[2].At.Equal(time.UnixMilli(1700000000000)) {
		t.Fatalf("events %+v", evs)
	}
	if st := e.fake.EventStats(); st.Emitted != 3 || st.Suppressed != 1 || st.WebSocketUndelivered != 2 {
		t.Errorf("stats %+v", st)
	}
	if got := e.fake.LiveTruth(); got.Meetings[2] != 1 {
		t.Errorf("a suppressed event still changes the truth: %+v", got)
	}
}
