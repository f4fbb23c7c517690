package scrape

// Tests against the shapes real Zoom publishes and was recorded sending, as
// kept in testdata/zoomspec (SOURCES.md says where each came from).

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/zoomexporter/zoom_exporter/internal/testenv"
	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
	"github.com/zoomexporter/zoom_exporter/zoom"
)

// TestLicenseNames: the license label says Zoom's own words for each user
// type (Zoom's spec: 1 Basic, 2 Licensed, 4 No zoom.Meeting License, 99 None;
// older specs: 3 On-prem).
func TestLicenseNames(t *testing.T) {
	t.Parallel()
	for typ, want := range map[int]string{1: "basic", 2: "licensed", 3: "on_prem", 4: "no_meeting_license", 99: "none", 7: "7"} {
		if got := LicenseName(typ); got != want {
			t.Errorf("LicenseName(%d) = %q, want %q", typ, got, want)
		}
	}
}

// fixtureZoom serves Zoom's own bodies: GET /users from users_list.json,
// the hosts report as the two page_number pages reconstructed from the 2019
// recording, and each host's report from the spec's meeting, as one page.
type fixtureZoom struct {
	t        *testing.T
	users    []byte
	hostsP1  []byte
	hostsP2  []byte
	meeting  json.RawMessage
	mu       sync.Mutex
	reported []string // {userId} of each per-user report call
	pages    []string // page_number of each hosts report call
}

// readFixture reads one of Zoom's own bodies, kept with the client.
func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "zoom", "testdata", "zoomspec", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestShortListingFailsTheSweep: a hosts report with fewer rows than its
// total_records fails the sweep, so no user is taken as unchanged on its
// word: users are fetched instead, and the data equals the truth.
func TestShortListingFailsTheSweep(t *testing.T) {
	t.Parallel()
	clock := testenv.NewClock(testNow)
	fake := zoomfake.New(zoomfake.Options{Seed: 13, Users: 8, Now: clock.Now})
	fake.InjectFault(zoomfake.Fault{Kind: zoomfake.FaultShortPage, Path: "/v2/report/users$"})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	env := newTestEnvFor(t, fake, srv, clock, nil)
	s := newTestScraper(t, env, nil)
	s.Refresh(context.Background())
	snap := s.Snapshot()
	if snap.Up {
		t.Error("zoom_up is 1 after a sweep that could not be trusted")
	}
	from, to := monthWindow(testNow)
	for _, u := range fake.Users() {
		sameTotals(t, "month "+u.Email, userByKey(t, snap, u.ID).Month, truth(fake.Meetings(u.ID, from, to, zoom.ReportPast)))
	}
}

func newFixtureZoom(t *testing.T) *fixtureZoom {
	var spec struct {
		Meetings []json.RawMessage `json:"meetings"`
	}
	if err := json.Unmarshal(readFixture(t, "report_user_meetings.json"), &spec); err != nil || len(spec.Meetings) != 1 {
		t.Fatalf("report_user_meetings.json: %v", err)
	}
	// The directory lists the hosts of the recorded report, shaped like
	// the spec's user.
	var dir map[string]any
	if err := json.Unmarshal(readFixture(t, "users_list.json"), &dir); err != nil {
		t.Fatal(err)
	}
	template := dir["users"].([]any)[0].(map[string]any)
	var listed []any
	for i, id := range []string{"BzBAAAAAAAfprg", "0CAAAAA6jxcA", "RECONSTRUCTED3"} {
		u := map[string]any{}
		for k, v := range template {
			u[k] = v
		}
		u["id"], u["email"] = id, []string{"user1@example.com", "user2@example.com", "user3@example.com"}[i]
		listed = append(listed, u)
	}
	dir["users"], dir["total_records"], dir["page_count"], dir["next_page_token"] = listed, 3, 1, ""
	users, err := json.Marshal(dir)
	if err != nil {
		t.Fatal(err)
	}
	return &fixtureZoom{t: t, users: users, meeting: spec.Meetings[0],
		hostsP1: readFixture(t, "report_users_page_number_p1.json"), hostsP2: readFixture(t, "report_users_page_number_p2.json")}
}

func (z *fixtureZoom) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	switch p := r.URL.Path; {
	case p == "/oauth/token":
		_, _ = w.Write([]byte(`{"access_token":"fixture-token","token_type":"bearer","expires_in":3600,"scope":"report:read:admin user:read:admin","api_url":"https://api.zoom.us"}`))
	case p == "/v2/users":
		_, _ = w.Write(z.users)
	case p == "/v2/report/users":
		z.mu.Lock()
		z.pages = append(z.pages, r.URL.Query().Get("page_number"))
		z.mu.Unlock()
		if r.URL.Query().Get("page_number") == "2" {
			_, _ = w.Write(z.hostsP2)
			return
		}
		_, _ = w.Write(z.hostsP1)
	case strings.HasPrefix(p, "/v2/report/users/"):
		user := strings.TrimSuffix(strings.TrimPrefix(p, "/v2/report/users/"), "/meetings")
		z.mu.Lock()
		z.reported = append(z.reported, user)
		z.mu.Unlock()
		// The spec's meeting, one per host (the uuid made the host's own).
		var m map[string]any
		_ = json.Unmarshal(z.meeting, &m)
		m["uuid"] = "spec/" + user + "=="
		body, _ := json.Marshal(map[string]any{"page_count": 1, "page_number": 1, "page_size": 300, "total_records": 1, "next_page_token": "",
			"from": r.URL.Query().Get("from"), "to": r.URL.Query().Get("to"), "meetings": []any{m}})
		_, _ = w.Write(body)
	default:
		http.NotFound(w, r)
	}
}

// TestRefreshAgainstZoomShapes runs a full refresh against Zoom's own
// bodies: the hosts report pages by page_number (no token), so the sweep
// must read page 2 to see the third host; the hosts the sweep shows active
// are fetched and counted from the spec's meeting.
func TestRefreshAgainstZoomShapes(t *testing.T) {
	t.Parallel()
	zoom := newFixtureZoom(t)
	srv := httptest.NewServer(zoom)
	t.Cleanup(srv.Close)
	env := newTestEnvFor(t, nil, srv, testenv.NewClock(testNow), nil)
	s := newTestScraper(t, env, nil)
	s.Refresh(context.Background())
	snap := s.Snapshot()
	if !snap.Up {
		t.Fatalf("refresh against Zoom's shapes failed: %+v", snap.Users)
	}
	zoom.mu.Lock()
	pages, reported := slices.Clone(zoom.pages), slices.Clone(zoom.reported)
	zoom.mu.Unlock()
	if !slices.Contains(pages, "2") {
		t.Errorf("the sweep asked for hosts report pages %q, never page_number 2", pages)
	}
	// user1 and the third host hosted meetings (page 1 and page 2); user2's
	// row says 0 meetings: its report is known empty without a call.
	slices.Sort(reported)
	if want := []string{"BzBAAAAAAAfprg", "RECONSTRUCTED3"}; !slices.Equal(slices.Compact(reported), want) {
		t.Errorf("per-user reports fetched for %v, want %v", reported, want)
	}
	for _, id := range []string{"BzBAAAAAAAfprg", "RECONSTRUCTED3"} {
		got := userByKey(t, snap, id).Counters["scheduled"]
		want := Totals{Meetings: 1, DurationSeconds: 6 * 60, ParticipantSeconds: 11 * 60, Participants: 2}
		if got != want {
			t.Errorf("%s counters %+v, want %+v (the spec's meeting)", id, got, want)
		}
	}
}

// TestPageNumberPagedListings: against a fake that pages every listing by
// page_number (no next_page_token), every page of every listing is read and
// the refresh equals the fake's truth.
func TestPageNumberPagedListings(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, zoomfake.Options{Seed: 12, Users: 320, HeavyUserMeetings: 650, PageNumberPaging: true}, nil)
	s := newTestScraper(t, env, func(c *ScraperConfig) { c.Concurrency = 8 })
	s.Refresh(context.Background())
	snap := s.Snapshot()
	if !snap.Up {
		t.Fatal("refresh against a page_number-paged fake failed")
	}
	users := env.fake.Users()
	if len(snap.Users) != len(users) {
		t.Fatalf("tracked %d users; GET /users lists %d over two pages", len(snap.Users), len(users))
	}
	from, to := monthWindow(testNow)
	heavy := users[0]
	if n := len(env.fake.Meetings(heavy.ID, from, to, zoom.ReportPast)); n <= zoom.PageSize {
		t.Fatalf("the heavy user has %d meetings, want more than a page", n)
	}
	for _, u := range users {
		sameTotals(t, "month "+u.Email, userByKey(t, snap, u.ID).Month, truth(env.fake.Meetings(u.ID, from, to, zoom.ReportPast)))
	}
}
