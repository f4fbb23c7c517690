package zoom

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/zoomexporter/zoom_exporter/internal/testenv"
	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
)

// Tests against the shapes real Zoom publishes and was recorded sending, as
// kept in testdata/zoomspec (SOURCES.md says where each came from).

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "zoomspec", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSpecBodiesDecode decodes the example bodies of Zoom's OpenAPI spec
// with the exporter's own types and checks every field it reads.
func TestSpecBodiesDecode(t *testing.T) {
	t.Parallel()
	var meetings meetingsPage
	if err := json.Unmarshal(readFixture(t, "report_user_meetings.json"), &meetings); err != nil {
		t.Fatalf("report_user_meetings.json: %v", err)
	}
	if len(meetings.Meetings) != 1 {
		t.Fatalf("report_user_meetings.json: %d meetings", len(meetings.Meetings))
	}
	wantMeeting := Meeting{UUID: "4444AAAiAAAAAiAiAiiAii==", Type: 2, Duration: 6, TotalMinutes: 11, ParticipantsCount: 2, UserEmail: "jchill@example.com"}
	if got := meetings.Meetings[0]; got != wantMeeting {
		t.Errorf("meeting decoded as %+v, want %+v", got, wantMeeting)
	}
	if got := meetings.paging; got.NextPageToken != "w7587w4eiyfsudgk" || got.PageNumber != 1 || got.PageCount != 1 || got.TotalRecords == nil || *got.TotalRecords != 20 {
		t.Errorf("meetings paging decoded as %+v", got)
	}

	var hosts hostsPage
	if err := json.Unmarshal(readFixture(t, "report_users_active.json"), &hosts); err != nil {
		t.Fatalf("report_users_active.json: %v", err)
	}
	wantHost := HostActivity{ID: "2pyjK5VNQHadb2BY6Z4GbA", Email: "jchill@example.com", Meetings: 45, Participants: 56, MeetingMinutes: 342}
	if len(hosts.Users) != 1 || hosts.Users[0] != wantHost {
		t.Errorf("hosts decoded as %+v, want [%+v]", hosts.Users, wantHost)
	}

	var users usersPage
	if err := json.Unmarshal(readFixture(t, "users_list.json"), &users); err != nil {
		t.Fatalf("users_list.json: %v", err)
	}
	wantUser := User{ID: "KDcuGIm1QgePTO8WbOqwIQ", Email: "jchill@example.com", DisplayName: "Jill Chill", Type: 1, Dept: "Developers", Status: "active",
		LastLoginTime: "2022-03-25T05:40:55Z"}
	if len(users.Users) != 1 || users.Users[0] != wantUser {
		t.Errorf("users decoded as %+v, want [%+v]", users.Users, wantUser)
	}

	// The recorded 2019 hosts report: page_number paging, no token, and
	// (as recorded) fewer rows than its total_records.
	var recorded hostsPage
	if err := json.Unmarshal(readFixture(t, "report_users_page_number.json"), &recorded); err != nil {
		t.Fatalf("report_users_page_number.json: %v", err)
	}
	if recorded.NextPageToken != "" || recorded.PageNumber != 1 || len(recorded.Users) != 2 || recorded.TotalRecords == nil || *recorded.TotalRecords != 3 {
		t.Errorf("recorded hosts report decoded as %+v", recorded)
	}
	if err := complete(endpointActiveHosts, []*hostsPage{&recorded}); err == nil {
		t.Error("a listing with 2 rows of the 3 its total_records announces was trusted")
	}
}

// TestDailyQuotaFromSuccessHeaders: zoom_api_daily_quota_remaining follows
// X-RateLimit-Remaining of successful Heavy answers that carry no
// X-RateLimit-Type, as real Zoom sends them; other shapes leave it alone.
func TestDailyQuotaFromSuccessHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		status  int
		headers map[string]string
		want    map[string]float64 // category -> gauge; absent: not set
	}{
		{"real success: Heavy without Type", 200, map[string]string{"X-RateLimit-Category": "Heavy", "X-RateLimit-Limit": "30000", "X-RateLimit-Remaining": "29990"}, map[string]float64{"Heavy": 29990}},
		{"success with Type Daily-limit", 200, map[string]string{"X-RateLimit-Category": "Heavy", "X-RateLimit-Type": "Daily-limit", "X-RateLimit-Limit": "30000", "X-RateLimit-Remaining": "12"}, map[string]float64{"Heavy": 12}},
		{"success with Type QPS (a per-second count)", 200, map[string]string{"X-RateLimit-Category": "Heavy", "X-RateLimit-Type": "QPS", "X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "9"}, nil},
		{"Medium success", 200, map[string]string{"X-RateLimit-Category": "Medium", "X-RateLimit-Limit": "20", "X-RateLimit-Remaining": "19"}, nil},
		{"no headers", 200, nil, nil},
		{"unreadable Remaining", 200, map[string]string{"X-RateLimit-Category": "Heavy", "X-RateLimit-Remaining": "lots"}, nil},
		{"negative Remaining", 200, map[string]string{"X-RateLimit-Category": "Heavy", "X-RateLimit-Remaining": "-3"}, nil},
		{"recorded 429 of another counter, no Type", 429, map[string]string{"X-RateLimit-Category": "Light", "X-RateLimit-Limit": "6000", "X-RateLimit-Remaining": "5893"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/oauth/token" {
					w.Header().Set("Content-Type", "application/json")
					_, _ = w.Write([]byte(`{"access_token":"t","token_type":"bearer","expires_in":3600}`))
					return
				}
				for k, v := range tt.headers {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				if tt.status == 200 {
					_, _ = w.Write([]byte(`{"users":[],"total_records":0,"next_page_token":""}`))
					return
				}
				_, _ = w.Write([]byte(`{"code":429,"message":"You have exceeded the daily rate limit (100) of Meeting Create/Update API requests permitted for this particular user. You may resume these requests at GMT 00:00:00."}`))
			}))
			t.Cleanup(srv.Close)
			env := newTestEnvFor(t, nil, srv, testenv.NewClock(testNow), nil)
			if _, err := env.client.ActiveHosts(context.Background(), monthStart(testNow), testNow); (err == nil) != (tt.status == 200) {
				t.Errorf("ActiveHosts: %v", err)
			}
			for _, cat := range []string{"Heavy", "Medium", "Light", "unknown"} {
				want, set := tt.want[cat]
				got := testutil.ToFloat64(env.client.metrics.quotaRemaining.WithLabelValues(cat))
				if set && got != want || !set && got != 0 {
					t.Errorf("zoom_api_daily_quota_remaining{category=%q} = %v, want %v (set: %v)", cat, got, want, set)
				}
			}
		})
	}

	// Against the fake, whose successes look like real Zoom's: the gauge
	// counts down with every Heavy call.
	env := newTestEnv(t, zoomfake.Options{Seed: 3, Users: 3, DailyHeavyLimit: 100}, nil)
	from, to := monthWindow(testNow)
	for _, u := range env.fake.Users() {
		if _, err := env.client.UserMeetings(context.Background(), u.ID, from, to, ReportPast); err != nil {
			t.Fatal(err)
		}
		spent := env.fake.HeavyCallsToday()
		if got := testutil.ToFloat64(env.client.metrics.quotaRemaining.WithLabelValues("Heavy")); got != float64(100-spent) {
			t.Errorf("after %d Heavy calls the gauge is %v, want %d", spent, got, 100-spent)
		}
	}
}

// TestAPIURLOfTheTokenIsNotFollowed: Zoom's token answer may name a
// regional api_url; the exporter keeps calling the API URL it was given,
// so a token endpoint can never send the bearer token elsewhere.
func TestAPIURLOfTheTokenIsNotFollowed(t *testing.T) {
	t.Parallel()
	var elsewhere int
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere++ }))
	t.Cleanup(other.Close)
	users := readFixture(t, "users_list.json")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/oauth/token" {
			_, _ = w.Write([]byte(`{"access_token":"t","token_type":"bearer","expires_in":3600,"api_url":"` + other.URL + `"}`))
			return
		}
		// The spec's example, made a complete one-page listing.
		page := strings.NewReplacer(`"total_records": 8482`, `"total_records": 1`, `"page_count": 100`, `"page_count": 1`,
			`"next_page_token": "8V8HigQkzm2O5r9RUn31D9ZyJHgrmFfbLa2"`, `"next_page_token": ""`).Replace(string(users))
		_, _ = w.Write([]byte(page))
	}))
	t.Cleanup(srv.Close)
	env := newTestEnvFor(t, nil, srv, testenv.NewClock(testNow), nil)
	if _, err := env.client.ActiveUsers(context.Background()); err != nil {
		t.Fatal(err)
	}
	if elsewhere != 0 {
		t.Errorf("%d requests went to the token answer's api_url", elsewhere)
	}
}

// TestShortListingNotTrusted: a hosts report with fewer rows than its
// total_records is an IncompleteListingError, not a short answer.
func TestShortListingNotTrusted(t *testing.T) {
	t.Parallel()
	clock := testenv.NewClock(testNow)
	fake := zoomfake.New(zoomfake.Options{Seed: 13, Users: 8, Now: clock.Now})
	fake.InjectFault(zoomfake.Fault{Kind: zoomfake.FaultShortPage, Path: "/v2/report/users$"})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	env := newTestEnvFor(t, fake, srv, clock, nil)
	_, err := env.client.ActiveHosts(context.Background(), monthStart(testNow), testNow)
	var incomplete *IncompleteListingError
	if !errors.As(err, &incomplete) || incomplete.Rows+1 != incomplete.TotalRecords || !strings.Contains(err.Error(), "total_records") {
		t.Fatalf("ActiveHosts on a short listing: %v; want an IncompleteListingError one row short", err)
	}
}
