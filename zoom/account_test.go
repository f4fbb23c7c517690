package zoom

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
)

// TestParseStorageSize: every unit Zoom writes (and the binary spellings),
// exactly, and everything else refused with the value and the reason.
func TestParseStorageSize(t *testing.T) {
	t.Parallel()
	const (
		kb = 1 << 10
		mb = 1 << 20
		gb = 1 << 30
		tb = 1 << 40
		pb = 1 << 50
	)
	tests := []struct {
		in        string
		want      int64
		unlimited bool
		err       string // substring of the error; "" for none
	}{
		// Zoom's examples (its spec: "3 MB", "3 TB", "Unlimited"; its plan answers: "0").
		{"3 MB", 3 * mb, false, ""},
		{"3 TB", 3 * tb, false, ""},
		{"Unlimited", 0, true, ""},
		{"0", 0, false, ""},
		// Every unit.
		{"512 B", 512, false, ""},
		{"1 byte", 1, false, ""},
		{"10 bytes", 10, false, ""},
		{"2 KB", 2 * kb, false, ""},
		{"1.5 GB", 3 * gb / 2, false, ""},
		{"1 PB", pb, false, ""},
		{"1 KiB", kb, false, ""},
		{"1 MiB", mb, false, ""},
		{"2 GiB", 2 * gb, false, ""},
		{"1 TiB", tb, false, ""},
		{"1 PiB", pb, false, ""},
		// Exact fractions, rounded to the byte, halves up.
		{"0.5 KB", 512, false, ""},
		{"0.1 KB", 102, false, ""},  // 102.4
		{"0.15 KB", 154, false, ""}, // 153.6
		{"1.5 B", 2, false, ""},     // a half: up
		{"2.4 B", 2, false, ""},
		{"63.27 GB", 6327 * gb / 100, false, ""}, // .48 of a byte: down
		{"1.46484375 GB", 1500 * mb, false, ""},
		// Spellings.
		{"1.5 gb", 3 * gb / 2, false, ""},
		{"3MB", 3 * mb, false, ""},
		{"  3 MB  ", 3 * mb, false, ""},
		{"3\tMB", 3 * mb, false, ""},
		{"1,024 MB", gb, false, ""},
		{"1,024.5 MB", 1024*mb + mb/2, false, ""},
		{"0.00", 0, false, ""},
		{"0 MB", 0, false, ""},
		{"unlimited", 0, true, ""},
		{" UNLIMITED ", 0, true, ""},
		{"8191 PB", 8191 * pb, false, ""},
		// Refused.
		{"", 0, false, "empty"},
		{"   ", 0, false, "empty"},
		{"-1 GB", 0, false, "negative"},
		{"1.5", 0, false, "no unit"},
		{"12 XB", 0, false, `unknown unit "XB"`},
		{"1 G", 0, false, "unknown unit"},
		{"1 EB", 0, false, "unknown unit"},
		{"1e3 GB", 0, false, "not a number"},
		{"1,00 GB", 0, false, "not a number"},
		{"1.5.2 GB", 0, false, "not a number"},
		{".5 GB", 0, false, "not a number"},
		{"1. GB", 0, false, "not a number"},
		{"GB", 0, false, "not a number"},
		{"NaN", 0, false, "not a number"},
		{"Infinity", 0, false, "not a number"},
		{"１ GB", 0, false, "not a number"},
		{"lots", 0, false, "not a number"},
		{"8192 PB", 0, false, "larger than 2^63-1 bytes"},
		{strings.Repeat("9", 41) + " B", 0, false, "too many digits"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, unlimited, err := ParseStorageSize(tt.in)
			if tt.err != "" {
				var se *StorageSizeError
				if err == nil || !errors.As(err, &se) || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), fmt.Sprintf("%q", strings.TrimSpace(tt.in))) {
					t.Fatalf("ParseStorageSize(%q) = %d, %v, %v; want an error naming the value and %q", tt.in, got, unlimited, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want || unlimited != tt.unlimited {
				t.Fatalf("ParseStorageSize(%q) = %d, %v, %v; want %d, %v", tt.in, got, unlimited, err, tt.want, tt.unlimited)
			}
		})
	}
}

// TestAccountSpecBodiesDecode decodes Zoom's published example bodies of the
// two account reports with the client's types, and reads every size.
func TestAccountSpecBodiesDecode(t *testing.T) {
	t.Parallel()
	var cloud cloudRecordingReport
	if err := json.Unmarshal(readFixture(t, "report_cloud_recording.json"), &cloud); err != nil {
		t.Fatal(err)
	}
	want := CloudRecordingDay{Date: "2021-12-05", Usage: "3 MB", PlanUsage: "3 TB", FreeUsage: "Unlimited"}
	if len(cloud.Storage) != 1 || cloud.Storage[0] != want {
		t.Fatalf("cloud recording rows %+v, want [%+v]", cloud.Storage, want)
	}
	for _, v := range []string{want.Usage, want.PlanUsage, want.FreeUsage} {
		if _, _, err := ParseStorageSize(v); err != nil {
			t.Errorf("Zoom's own example %q: %v", v, err)
		}
	}
	var daily dailyReport
	if err := json.Unmarshal(readFixture(t, "report_daily.json"), &daily); err != nil {
		t.Fatal(err)
	}
	wantDay := DailyUsage{Date: "2022-03-01", NewUsers: 3, Meetings: 2, Participants: 4, MeetingMinutes: 34}
	if daily.Year != 2022 || daily.Month != 3 || len(daily.Dates) != 1 || daily.Dates[0] != wantDay {
		t.Fatalf("daily report %+v, want 2022-03 [%+v]", daily, wantDay)
	}
}

// TestAccountCallsAgainstFake: the account calls read what the fake serves,
// go through the same budget and request metrics, and report Zoom's errors
// as Zoom gives them.
func TestAccountCallsAgainstFake(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, zoomfake.Options{Seed: 8, Users: 5, HeavyUserMeetings: 30}, nil)
	ctx := context.Background()

	for status, want := range map[string]int{StatusInactive: 2, StatusPending: 1, StatusActive: 5} {
		users, err := env.client.UsersWithStatus(ctx, status)
		if err != nil || len(users) != want {
			t.Fatalf("%s users: %d, %v; want %d", status, len(users), err, want)
		}
		for _, u := range users {
			if u.Status != status || (status == StatusPending) != (u.ID == "") || (status == StatusPending) != (u.LastLoginTime == "") {
				t.Errorf("%s user %+v: pending users have no id and never signed in, others have both", status, u)
			}
		}
	}
	if _, err := env.client.UsersWithStatus(ctx, "deleted"); err == nil || !strings.Contains(err.Error(), `"deleted"`) {
		t.Errorf("unknown status: %v", err)
	}

	yesterday := time.Date(testNow.Year(), testNow.Month(), testNow.Day()-1, 0, 0, 0, 0, time.UTC)
	before := env.client.Budget().UsedToday
	rows, err := env.client.CloudRecordingUsage(ctx, yesterday.AddDate(0, 0, -6), testNow)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 7 || rows[6].Date != yesterday.Format(time.DateOnly) {
		t.Fatalf("cloud recording rows %+v: want the 7 dates up to yesterday", rows)
	}
	truth := env.fake.CloudRecordingStorage(yesterday)
	if got := rows[6]; got.Usage != truth.Usage || got.PlanUsage != truth.Plan || got.FreeUsage != truth.Free {
		t.Errorf("yesterday's row %+v, want %+v", got, truth)
	}
	days, err := env.client.DailyUsageReport(ctx, testNow.Year(), testNow.Month())
	if err != nil {
		t.Fatal(err)
	}
	fakeDays := env.fake.DailyUsage(testNow.Year(), testNow.Month())
	if len(days) != len(fakeDays) || len(days) != testNow.Day() {
		t.Fatalf("%d daily rows, want %d", len(days), testNow.Day())
	}
	for i, d := range days {
		f := fakeDays[i]
		if d.Date != f.Date.Format(time.DateOnly) || d.Meetings != int64(f.Meetings) || d.Participants != int64(f.Participants) ||
			d.MeetingMinutes != int64(f.MeetingMinutes) || d.NewUsers != int64(f.NewUsers) {
			t.Errorf("daily row %d = %+v, want %+v", i, d, f)
		}
	}
	if spent := env.client.Budget().UsedToday - before; spent != 2 {
		t.Errorf("the two reports spent %d Heavy calls of the budget, want 2", spent)
	}
	for _, ep := range []string{EndpointCloudRecording, EndpointDailyUsage} {
		if got := testutil.ToFloat64(env.client.metrics.requests.WithLabelValues(ep, "200")); got != 1 {
			t.Errorf("zoom_api_requests_total{endpoint=%q,code=\"200\"} = %v, want 1", ep, got)
		}
	}

	// Zoom's refusals, as it words them.
	_, err = env.client.DailyUsageReport(ctx, testNow.Year(), testNow.Month()-7)
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 400 || apiErr.Code != 300 || !strings.Contains(err.Error(), "6 months") {
		t.Errorf("a month too old: %v", err)
	}
	env.fake.SetScopes([]string{"report:read:user:admin"})
	_, err = env.client.CloudRecordingUsage(ctx, yesterday, yesterday)
	if scope, missing := MissingScope(err); !missing || scope != "report:read:admin" {
		t.Errorf("MissingScope(%v) = %q, %v", err, scope, missing)
	}
	_, api := env.client.LastFailures()
	if api == nil || api.Endpoint != EndpointCloudRecording || !strings.Contains(api.Hint, "report:read:admin") {
		t.Errorf("last API failure %+v: want the cloud recording endpoint and the scope to add", api)
	}
	env.fake.SetScopes([]string{"report:read:cloud_recording:admin"}) // the granular scope is enough
	if _, err := env.client.CloudRecordingUsage(ctx, yesterday, yesterday); err != nil {
		t.Errorf("with the granular scope: %v", err)
	}
	if _, api := env.client.LastFailures(); api != nil {
		t.Errorf("the endpoint works again, yet the last failure is kept: %+v", api)
	}
}

// TestMissingScope tells Zoom's missing-scope answer from its other errors.
func TestMissingScope(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		err       error
		wantScope string
		missing   bool
	}{
		{"4711 naming the scope", &APIError{Status: 400, Code: 4711, Message: "Invalid access token, does not contain scopes:[report:read:admin]."}, "report:read:admin", true},
		{"wrapped", fmt.Errorf("daily usage report: %w", &APIError{Status: 400, Code: 4711, Message: "Invalid access token, does not contain scopes:[report:read:daily_usage:admin]."}), "report:read:daily_usage:admin", true},
		{"the message without the code", &APIError{Status: 400, Message: "Invalid access token, does not contain scopes:[user:read:admin]."}, "user:read:admin", true},
		{"4711 naming none", &APIError{Status: 400, Code: 4711, Message: "Invalid access token."}, "", true},
		{"no permission", &APIError{Status: 400, Code: 200, Message: "No permission."}, "", false},
		{"5xx", &APIError{Status: 503, Message: "Service Unavailable"}, "", false},
		{"not Zoom's", errors.New("does not contain scopes:[x]"), "", false},
		{"nil", nil, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			scope, missing := MissingScope(tt.err)
			if scope != tt.wantScope || missing != tt.missing {
				t.Errorf("MissingScope = %q, %v; want %q, %v", scope, missing, tt.wantScope, tt.missing)
			}
		})
	}
}
