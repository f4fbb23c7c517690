package scrape

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
	"github.com/zoomexporter/zoom_exporter/zoom"

	"github.com/zoomexporter/zoom_exporter/internal/testenv"
)

// truth sums the fake's meetings the way the metric contract says.
func truth(meetings []zoomfake.Meeting) map[string]Totals {
	out := make(map[string]Totals)
	for _, m := range meetings {
		t := out[TypeName(m.Type)]
		t.Add(Totals{
			Meetings:           1,
			DurationSeconds:    int64(m.DurationMinutes) * 60,
			ParticipantSeconds: int64(m.TotalMinutes) * 60,
			Participants:       int64(m.Participants),
			WithRecording:      b2i(m.HasRecording),
			WithScreenShare:    b2i(m.HasScreenShare),
			WithChat:           b2i(m.HasChat),
		})
		out[TypeName(m.Type)] = t
	}
	return out
}

func sameTotals(t *testing.T, what string, got, want map[string]Totals) {
	t.Helper()
	for typ, w := range want {
		if got[typ] != w {
			t.Errorf("%s type %s = %+v, want %+v", what, typ, got[typ], w)
		}
	}
	for typ, g := range got {
		if _, ok := want[typ]; !ok && g != (Totals{}) {
			t.Errorf("%s has type %s = %+v, which the truth lacks", what, typ, g)
		}
	}
}

func userByKey(t *testing.T, snap *Snapshot, key string) UserSnapshot {
	t.Helper()
	for _, u := range snap.Users {
		if u.Key == key {
			return u
		}
	}
	t.Fatalf("user %s not in the snapshot", key)
	return UserSnapshot{}
}

func newTestScraper(t *testing.T, env *testEnv, tweak func(*ScraperConfig)) *Scraper {
	t.Helper()
	conf := ScraperConfig{
		Client:      env.client,
		Interval:    time.Minute,
		GracePeriod: 48 * time.Hour,
		ReportType:  zoom.ReportPast,
		Concurrency: 4,
		Now:         env.clock.Now,
	}
	if tweak != nil {
		tweak(&conf)
	}
	s, err := NewScraper(conf)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRefreshMatchesTruthAndCountsGrowthOnce(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, zoomfake.Options{Seed: 21, Users: 22, HeavyUserMeetings: 650}, nil)
	s := newTestScraper(t, env, nil)
	ctx := context.Background()
	s.Refresh(ctx)
	snap := s.Snapshot()
	if !snap.Up {
		t.Fatalf("refresh not up: %+v", snap.Users)
	}
	users := env.fake.Users()
	if len(snap.Users) != len(users) {
		t.Fatalf("tracked %d users, want every active user (%d)", len(snap.Users), len(users))
	}
	from, to := monthWindow(testNow)
	for _, u := range users {
		want := truth(env.fake.Meetings(u.ID, from, to, zoom.ReportPast))
		got := userByKey(t, snap, u.ID)
		sameTotals(t, "month "+u.Email, got.Month, want)
		sameTotals(t, "counters "+u.Email, got.Counters, want) // day 20: only this month is refreshed
		if got.Email != u.Email || !got.LastRefresh.Equal(testNow) {
			t.Errorf("user %s: email %q, last refresh %v", u.ID, got.Email, got.LastRefresh)
		}
	}

	// A new meeting, and growth of a meeting already counted.
	host := users[3]
	existing := env.fake.Meetings(host.ID, from, to, zoom.ReportPast)[0]
	before := userByKey(t, snap, host.ID).Counters
	env.fake.AddMeeting(zoomfake.Meeting{
		UUID: "new/meeting+1==", ID: 98765432101, Type: 2, HostID: host.ID,
		Start: testNow.Add(-2 * time.Hour), End: testNow.Add(-time.Hour),
		DurationMinutes: 60, TotalMinutes: 240, Participants: 4, HasRecording: true,
	})
	env.fake.UpdateMeeting(existing.UUID, func(m *zoomfake.Meeting) {
		m.TotalMinutes += 30
		m.Participants += 2
		m.HasChat = true
	})
	env.clock.Advance(time.Minute)
	s.Refresh(ctx)
	after := userByKey(t, s.Snapshot(), host.ID).Counters

	wantAdd := map[string]Totals{}
	add := func(typ string, d Totals) {
		t := wantAdd[typ]
		t.Add(d)
		wantAdd[typ] = t
	}
	add("scheduled", Totals{Meetings: 1, DurationSeconds: 3600, ParticipantSeconds: 240 * 60, Participants: 4, WithRecording: 1})
	add(TypeName(existing.Type), Totals{ParticipantSeconds: 30 * 60, Participants: 2, WithChat: b2i(!existing.HasChat)})
	for typ, d := range wantAdd {
		got := after[typ]
		want := before[typ]
		want.Add(d)
		if got != want {
			t.Errorf("counters %s after growth = %+v, want %+v", typ, got, want)
		}
	}
	// Month gauges follow the report exactly.
	sameTotals(t, "month after growth", userByKey(t, s.Snapshot(), host.ID).Month, truth(env.fake.Meetings(host.ID, from, to, zoom.ReportPast)))

	// A third refresh with nothing new adds nothing.
	s.Refresh(ctx)
	sameTotals(t, "counters after an idle refresh", userByKey(t, s.Snapshot(), host.ID).Counters, after)
}

func TestConfiguredUsersByEmailAndID(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, zoomfake.Options{Seed: 2, Users: 6}, nil)
	users := env.fake.Users()
	s := newTestScraper(t, env, func(c *ScraperConfig) {
		c.Users = []string{strings.ToUpper(users[1].Email), users[2].ID, "ghost@example.com"}
	})
	s.Refresh(context.Background())
	snap := s.Snapshot()
	if len(snap.Users) != 3 {
		t.Fatalf("tracked %v, want the 3 configured users", snap.Users)
	}
	if snap.Up {
		t.Error("up although ghost@example.com cannot be refreshed")
	}
	ghost := userByKey(t, snap, "ghost@example.com")
	if ghost.Listed || !strings.Contains(ghost.LastError, "1001") {
		t.Errorf("ghost = %+v, want unlisted with Zoom's 1001 error", ghost)
	}
	alice := userByKey(t, snap, strings.ToUpper(users[1].Email))
	if alice.Email != users[1].Email || alice.License == "" {
		t.Errorf("configured-by-email user = %+v", alice)
	}
}

func TestFailedUserKeepsDataAndRecovers(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, zoomfake.Options{Seed: 9, Users: 5}, nil)
	s := newTestScraper(t, env, nil)
	ctx := context.Background()
	s.Refresh(ctx)
	victim := env.fake.Users()[2]
	good := userByKey(t, s.Snapshot(), victim.ID)

	env.fake.InjectFault(zoomfake.Fault{Kind: zoomfake.FaultServerError, Status: 500, Path: "/v2/report/users/" + victim.ID})
	env.fake.AddMeeting(zoomfake.Meeting{ // a change the hosts report shows: the victim must be fetched
		UUID: "victim/new==", ID: 90000000001, Type: 2, HostID: victim.ID,
		Start: testNow.Add(-2 * time.Hour), End: testNow.Add(-time.Hour), DurationMinutes: 60, TotalMinutes: 120, Participants: 2,
	})
	env.clock.Advance(5 * time.Minute)
	s.Refresh(ctx)
	snap := s.Snapshot()
	if snap.Up {
		t.Error("up while a user fails")
	}
	failed := userByKey(t, snap, victim.ID)
	if !failed.LastRefresh.Equal(good.LastRefresh) || failed.LastError == "" {
		t.Errorf("failed user: last refresh %v (want %v kept), error %q", failed.LastRefresh, good.LastRefresh, failed.LastError)
	}
	sameTotals(t, "failed user's month", failed.Month, good.Month) // the new meeting is not half-counted
	sameTotals(t, "failed user's counters", failed.Counters, good.Counters)
	other := userByKey(t, snap, env.fake.Users()[1].ID)
	if !other.LastRefresh.Equal(env.clock.Now()) {
		t.Errorf("another user was held back: last refresh %v", other.LastRefresh)
	}

	env.fake.ClearFaults()
	env.clock.Advance(5 * time.Minute)
	s.Refresh(ctx)
	snap = s.Snapshot()
	if !snap.Up || !userByKey(t, snap, victim.ID).LastRefresh.Equal(env.clock.Now()) {
		t.Errorf("no recovery: up=%v user=%+v", snap.Up, userByKey(t, snap, victim.ID))
	}
}

func TestMonthTurnAndGracePeriod(t *testing.T) {
	t.Parallel()
	clock := testenv.NewClock(time.Date(2026, 11, 30, 23, 0, 0, 0, time.UTC))
	fake := zoomfake.New(zoomfake.Options{Seed: 4, Users: 4, Now: clock.Now})
	// Count report calls by their from= date, to see which months are asked for.
	var mu sync.Mutex
	callsFrom := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/meetings") {
			mu.Lock()
			callsFrom[r.URL.Query().Get("from")]++
			mu.Unlock()
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	reportCallsFor := func(from string) int {
		mu.Lock()
		defer mu.Unlock()
		return callsFrom[from]
	}
	env := newTestEnvFor(t, fake, srv, clock, nil)
	s := newTestScraper(t, env, nil)
	ctx := context.Background()
	host := env.fake.Users()[0]

	s.Refresh(ctx)
	nov := userByKey(t, s.Snapshot(), host.ID)
	if nov.Month == nil || nov.Counters == nil {
		t.Fatal("no November data")
	}

	// The month turns; a meeting that ended at 23:50 reaches the November
	// report only now.
	clock.Set(time.Date(2026, 12, 1, 0, 30, 0, 0, time.UTC))
	env.fake.AddMeeting(zoomfake.Meeting{
		UUID: "late/november==", ID: 91234567890, Type: 1, HostID: host.ID,
		Start: time.Date(2026, 11, 30, 23, 10, 0, 0, time.UTC), End: time.Date(2026, 11, 30, 23, 50, 0, 0, time.UTC),
		DurationMinutes: 40, TotalMinutes: 80, Participants: 2,
	})
	novCalls := reportCallsFor("2026-11-01")
	s.Refresh(ctx)
	dec := userByKey(t, s.Snapshot(), host.ID)
	if len(dec.Month) != 0 {
		t.Errorf("month gauges did not start again in December: %+v", dec.Month)
	}
	if s.Snapshot().Month != time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC) {
		t.Errorf("snapshot month = %v", s.Snapshot().Month)
	}
	want := nov.Counters["instant"]
	want.Add(Totals{Meetings: 1, DurationSeconds: 2400, ParticipantSeconds: 4800, Participants: 2})
	if dec.Counters["instant"] != want {
		t.Errorf("instant counter after the late meeting = %+v, want %+v", dec.Counters["instant"], want)
	}
	if reportCallsFor("2026-11-01") == novCalls {
		t.Error("the previous month was not refreshed during the grace period")
	}
	for typ, c := range nov.Counters {
		if dec.Counters[typ].Meetings < c.Meetings {
			t.Errorf("counter %s went down across the month turn", typ)
		}
	}

	// After the grace period only December is asked for.
	clock.Set(time.Date(2026, 12, 3, 1, 0, 0, 0, time.UTC))
	novCalls = reportCallsFor("2026-11-01")
	s.Refresh(ctx)
	if n := reportCallsFor("2026-11-01"); n != novCalls {
		t.Errorf("November refreshed %d more times after the grace period", n-novCalls)
	}
	if got := userByKey(t, s.Snapshot(), host.ID).Counters["instant"]; got != want {
		t.Errorf("instant counter after the grace period = %+v, want %+v", got, want)
	}
}

func TestScrapeNeverWaitsForARefresh(t *testing.T) {
	t.Parallel()
	clock := testenv.NewClock(testNow)
	fake := zoomfake.New(zoomfake.Options{Seed: 8, Users: 3, Now: clock.Now})
	var (
		mu    sync.Mutex
		block chan struct{}
	)
	entered := make(chan struct{}, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		b := block
		mu.Unlock()
		if b != nil && strings.HasPrefix(r.URL.Path, "/v2/report/") {
			entered <- struct{}{}
			<-b
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	env := newTestEnvFor(t, fake, srv, clock, nil)
	s := newTestScraper(t, env, nil)
	s.Refresh(context.Background())
	first := s.Snapshot()

	mu.Lock()
	block = make(chan struct{})
	mu.Unlock()
	clock.Advance(5 * time.Minute) // the next cycle is due: it sweeps the hosts report
	done := make(chan struct{})
	go func() {
		s.Refresh(context.Background())
		close(done)
	}()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the second refresh never reached Zoom's reports")
	}
	// The refresh is stuck inside a report call: reads get the last snapshot at once.
	for range 100 {
		if s.Snapshot() != first {
			t.Fatal("a half-done refresh was published")
		}
	}
	mu.Lock()
	close(block)
	block = nil
	mu.Unlock()
	<-done
	if s.Snapshot() == first {
		t.Error("the finished refresh was not published")
	}
}

// A user missing from one listing is retired, not forgotten: its counters
// stay (a counter never goes down) and go on when it comes back.
func TestUserMissingFromAListingKeepsItsCounters(t *testing.T) {
	t.Parallel()
	clock := testenv.NewClock(testNow)
	fake := zoomfake.New(zoomfake.Options{Seed: 41, Users: 5, Now: clock.Now})
	var mu sync.Mutex
	hide := ""
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		h := hide
		mu.Unlock()
		if h != "" && r.URL.Path == "/v2/users" {
			// One listing without the user, as when it is deactivated:
			// one row and one record fewer.
			rec := httptest.NewRecorder()
			fake.ServeHTTP(rec, r)
			var listing map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &listing); err != nil {
				t.Errorf("the fake's /users: %v", err)
				return
			}
			users, _ := listing["users"].([]any)
			kept := users[:0]
			for _, u := range users {
				if u.(map[string]any)["id"] != h {
					kept = append(kept, u)
				}
			}
			listing["users"] = kept
			listing["total_records"] = listing["total_records"].(float64) - float64(len(users)-len(kept))
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(listing)
			return
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	env := newTestEnvFor(t, fake, srv, clock, nil)
	s := newTestScraper(t, env, nil)
	ctx := context.Background()
	s.Refresh(ctx)
	var victim zoomfake.User
	from, to := monthWindow(testNow)
	for _, u := range fake.Users() {
		if len(fake.Meetings(u.ID, from, to, zoom.ReportPast)) > 0 {
			victim = u
			break
		}
	}
	before := userByKey(t, s.Snapshot(), victim.ID)
	mu.Lock()
	hide = victim.ID
	mu.Unlock()
	clock.Advance(5 * time.Minute)
	s.Refresh(ctx)
	retired := userByKey(t, s.Snapshot(), victim.ID)
	if !retired.Retired || retired.Month != nil {
		t.Errorf("missing user: retired %v, month %v; want retired without month gauges", retired.Retired, retired.Month)
	}
	sameTotals(t, "retired user's counters", retired.Counters, before.Counters)

	mu.Lock()
	hide = ""
	mu.Unlock()
	clock.Advance(5 * time.Minute)
	s.Refresh(ctx)
	back := userByKey(t, s.Snapshot(), victim.ID)
	if back.Retired {
		t.Error("the user came back but is still retired")
	}
	sameTotals(t, "counters after the user came back", back.Counters, before.Counters) // nothing counted twice
}
