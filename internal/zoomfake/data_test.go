package zoomfake

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zoomexporter/zoom_exporter/internal/testenv"
)

func allMeetings(s *Server, from, to time.Time) []Meeting {
	var out []Meeting
	for _, u := range s.Users() {
		for m := from; !m.After(to); m = m.AddDate(0, 1, 0) {
			last := m.AddDate(0, 1, -1)
			out = append(out, s.Meetings(u.ID, m, last, "pastJoined")...)
		}
	}
	return out
}

func TestDeterminism(t *testing.T) {
	now := func() time.Time { return testNow }
	a := New(Options{Seed: 42, Now: now})
	b := New(Options{Seed: 42, Now: now})
	c := New(Options{Seed: 43, Now: now})
	if !reflect.DeepEqual(a.AllUsers(), b.AllUsers()) {
		t.Fatal("users differ for one seed")
	}
	from, to := day("2026-05-01"), day("2026-11-01")
	ma, mb := allMeetings(a, from, to), allMeetings(b, from, to)
	if len(ma) == 0 || !reflect.DeepEqual(ma, mb) {
		t.Fatal("meetings differ for one seed")
	}
	if reflect.DeepEqual(a.AllUsers(), c.AllUsers()) {
		t.Error("another seed gives the same users")
	}
	ra, rb := a.AddRandomMeetings(testNow, 5), b.AddRandomMeetings(testNow, 5)
	if !reflect.DeepEqual(ra, rb) {
		t.Error("AddRandomMeetings differs for one seed")
	}
}

func TestSyntheticData(t *testing.T) {
	s := New(Options{Seed: 3, Now: func() time.Time { return testNow }})
	users := s.Users()
	if len(users) != DefaultUsers || len(s.AllUsers()) != DefaultUsers+3 {
		t.Fatalf("%d active, %d in all", len(users), len(s.AllUsers()))
	}
	all := allMeetings(s, day("2026-05-01"), day("2026-11-01"))
	seen := map[string]bool{}
	types := map[int]int{}
	var rec, share, chat, solo, big, withSlash, withPlus, withEq int
	for _, m := range all {
		if seen[m.UUID] {
			continue // a meeting appears once per account user who hosted or joined it
		}
		seen[m.UUID] = true
		types[m.Type]++
		if m.ID <= 1<<32 {
			t.Fatalf("meeting id %d fits 32 bits", m.ID)
		}
		if !m.End.After(m.Start) || m.End.After(testNow) || m.DurationMinutes < 1 {
			t.Fatalf("times: %+v", m)
		}
		if m.Participants < 1 || m.ParticipantsMyAccount > m.Participants || m.TotalMinutes < m.DurationMinutes {
			t.Fatalf("figures: %+v", m)
		}
		if m.HasRecording {
			rec++
		}
		if m.HasScreenShare {
			share++
		}
		if m.HasChat {
			chat++
		}
		if m.Participants == 1 {
			solo++
		}
		if m.Participants > 200 {
			big++
		}
		if strings.Contains(m.UUID, "/") {
			withSlash++
		}
		if strings.Contains(m.UUID, "+") {
			withPlus++
		}
		if strings.HasSuffix(m.UUID, "==") {
			withEq++
		}
	}
	n := len(seen)
	for typ := 1; typ <= 10; typ++ {
		if types[typ] == 0 {
			t.Errorf("type %d missing (types %v)", typ, types)
		}
	}
	ratio := func(k int) float64 { return float64(k) / float64(n) }
	if r := ratio(rec); r < 0.2 || r > 0.4 {
		t.Errorf("recording ratio %.2f", r)
	}
	if r := ratio(share); r < 0.4 || r > 0.6 {
		t.Errorf("screen share ratio %.2f", r)
	}
	if r := ratio(chat); r < 0.5 || r > 0.7 {
		t.Errorf("chat ratio %.2f", r)
	}
	if solo == 0 || big == 0 || withSlash == 0 || withPlus == 0 || withEq != n {
		t.Errorf("solo %d, big %d, '/' %d, '+' %d, '==' %d of %d", solo, big, withSlash, withPlus, withEq, n)
	}
	quiet := 0
	for _, u := range users {
		if len(s.Meetings(u.ID, day("2026-11-01"), day("2026-11-30"), "pastJoined")) == 0 {
			quiet++
		}
	}
	if quiet == 0 {
		t.Error("every user has meetings this month")
	}
}

// Early in a month there is little room; generation must not fail.
func TestGenerationAtMonthStart(t *testing.T) {
	for _, now := range []time.Time{
		time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 12, 1, 0, 3, 0, 0, time.UTC),
		time.Date(2026, 3, 31, 23, 59, 59, 0, time.UTC),
	} {
		s := New(Options{Seed: 1, Users: 3, HeavyUserMeetings: 50, Now: func() time.Time { return now }})
		for _, m := range allMeetings(s, dateOf(now).AddDate(0, -6, 0), now) {
			if m.End.After(now) {
				t.Errorf("%v: meeting ends at %v", now, m.End)
			}
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	clock := testenv.NewClock(testNow)
	fake := New(Options{Seed: 1, Now: clock.Now, RateLimits: true})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	e := &env{t: t, fake: fake, srv: srv, clock: clock}
	tok := e.token()
	users := fake.Users()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v2"+heavyPathFor(users[(g+i)%len(users)].ID), nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				if resp, err := http.DefaultClient.Do(req); err == nil {
					resp.Body.Close()
				}
				fake.AddRandomMeetings(clock.Now(), 1)
				clock.Advance(100 * time.Millisecond)
				_ = fake.Meetings(users[g].ID, day("2026-11-01"), day("2026-11-30"), "pastJoined")
			}
		}(g)
	}
	wg.Wait()
}

func heavyPathFor(id string) string {
	return meetingsPath(id, monthQuery("2026-11-01", "2026-11-30"))
}

// An Organisation account's past does not depend on when it is built: the
// same seed built later holds the same meetings up to the earlier instant,
// so the demo's history is one organisation's, only cut at Now.
func TestOrganisationHistoryDoesNotDependOnBuildTime(t *testing.T) {
	early := time.Date(2026, 11, 30, 18, 0, 0, 0, time.UTC)
	for _, later := range []time.Time{
		early.Add(6*time.Hour + 5*time.Minute), // the 1st at 00:05
		early.AddDate(0, 0, 3),
	} {
		a := New(Options{Seed: 5, Users: 30, Organisation: true, Now: func() time.Time { return early }})
		b := New(Options{Seed: 5, Users: 30, Organisation: true, Now: func() time.Time { return later }})
		from := dateOf(early).AddDate(0, -5, 0)
		var n int
		for _, u := range a.Users() {
			got := a.Meetings(u.Email, from, early, "pastJoined")
			var want []Meeting
			for _, m := range b.Meetings(u.Email, from, early, "pastJoined") {
				if !m.End.After(early) {
					want = append(want, m)
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("built at %v and at %v: %s's meetings up to %v differ (%d and %d)", early, later, u.Email, early, len(got), len(want))
			}
			n += len(got)
		}
		if n == 0 {
			t.Fatal("no meetings to compare")
		}
	}
}

// Meetings added to an Organisation account end at now, have their host's
// shape (a Basic user's last at most 40 minutes) and never go to an idle
// licence; the generated account keeps the roles the demo relies on.
func TestOrganisationRolesAndLiveMeetings(t *testing.T) {
	now := time.Date(2027, 3, 10, 15, 0, 0, 0, time.UTC)
	s := New(Options{Seed: 9, Users: 60, Organisation: true, Now: func() time.Time { return now }})
	roles := map[string]int{}
	for _, u := range s.users[:60] {
		switch {
		case u.idle:
			roles["idle"]++
			if u.Type != 2 || len(s.byHost[u.ID])+len(s.byJoiner[u.ID]) != 0 {
				t.Errorf("idle licence %s: type %d, %d meetings hosted, %d joined", u.Email, u.Type, len(s.byHost[u.ID]), len(s.byJoiner[u.ID]))
			}
		case u.webinars:
			roles["webinar"]++
		case u.perDay >= 4:
			roles["heavy"]++
		case u.perDay < 1:
			roles["light"]++
		default:
			roles["regular"]++
		}
	}
	if want := map[string]int{"idle": 4, "heavy": 6, "webinar": 2, "light": 21, "regular": 27}; !reflect.DeepEqual(roles, want) {
		t.Errorf("roles %v, want %v", roles, want)
	}
	emails := map[string]bool{}
	for _, u := range s.AllUsers() {
		if emails[u.Email] {
			t.Errorf("e-mail %s twice", u.Email)
		}
		emails[u.Email] = true
	}
	for i := 0; i < 200; i++ {
		at := now.Add(time.Duration(i) * 10 * time.Second)
		for _, m := range s.AddRandomMeetings(at, 1) {
			host := s.usersByID[m.HostID]
			switch {
			case host == nil || host.idle || host.Status != "active":
				t.Fatalf("meeting %s hosted by %+v", m.UUID, host)
			case !m.End.Equal(at) || m.End.Sub(m.Start) != time.Duration(m.DurationMinutes)*time.Minute:
				t.Fatalf("meeting added at %v: %v to %v, %d minutes", at, m.Start, m.End, m.DurationMinutes)
			case host.Type == 1 && m.DurationMinutes > 40:
				t.Fatalf("Basic user %s hosts %d minutes", host.Email, m.DurationMinutes)
			case isWebinar(m.Type) && !host.webinars:
				t.Fatalf("%s hosts a webinar without being a webinar host", host.Email)
			}
		}
	}
}
