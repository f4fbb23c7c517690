package main

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
	"github.com/zoomexporter/zoom_exporter/scrape"
)

// TestAccountCollectorsEndToEnd runs the binary against a fake Zoom whose
// app lacks the daily report's scope: the licenses and cloud_recording
// collectors serve the fake's ground truth, the daily collector is disabled
// with one log line, zoom_collector_up{collector="daily"} 0 and a line on
// /status naming the scope, and zoom_up stays 1. Collectors switched off by
// flag, or left to shard 0, call nothing.
func TestAccountCollectorsEndToEnd(t *testing.T) {
	t.Parallel()

	t.Run("a scope missing", func(t *testing.T) {
		t.Parallel()
		fake, clock := pinnedFake(zoomfake.Options{Seed: 140, Users: 10, HeavyUserMeetings: 40})
		fake.SetScopes([]string{"user:read:admin", "report:read:user:admin", "report:read:list_users:admin", "report:read:cloud_recording:admin"})
		srv := httptest.NewServer(fake)
		t.Cleanup(srv.Close)
		p := startExporter(t, fakeEnv(clock, zoomfake.DefaultClientSecret), fakeArgs(srv)...)
		w := newWatcher(t, p)
		w.until(60*time.Second, "zoom_up 1 and the account collectors' outcome", func(f map[string]*dto.MetricFamily) bool {
			return up(f) == 1 && len(series(f["zoom_collector_up"])) == 3
		})
		fams := w.waitRefreshes(2, 60*time.Second)

		want := expected{}
		for c, v := range map[string]float64{scrape.CollectorLicenses: 1, scrape.CollectorCloudRecording: 1, scrape.CollectorDaily: 0} {
			want.add("zoom_collector_up", "collector="+c, v)
		}
		counts := map[string]float64{}
		for _, u := range fake.AllUsers() {
			counts[fmt.Sprintf("license=%s,status=%s", scrape.LicenseName(u.Type), u.Status)]++
		}
		want["zoom_account_users"] = counts
		for _, u := range fake.Users() {
			_, login, _ := fake.UserDetails(u.ID)
			want.add("zoom_user_last_login_timestamp_seconds", "user="+u.Email, float64(login.Unix()))
		}
		now := clock.Now()
		yesterday := time.Date(now.Year(), now.Month(), now.Day()-1, 0, 0, 0, 0, time.UTC)
		st := fake.CloudRecordingStorage(yesterday)
		want.add("zoom_cloud_recording_storage_used_bytes", "", float64(st.UsedBytes))
		want.add("zoom_cloud_recording_storage_plan_bytes", "", float64(st.PlanBytes))
		want.add("zoom_cloud_recording_storage_free_bytes", "", float64(st.FreeBytes))
		want.add("zoom_cloud_recording_storage_date_timestamp_seconds", "", float64(yesterday.Unix()))
		if n := compareFamilies(t, fams, want); n > 0 {
			t.Errorf("%d account series differ from the fake's ground truth", n)
		}
		for _, name := range []string{"zoom_account_month_meetings", "zoom_account_day_meetings"} {
			if fams[name] != nil {
				t.Errorf("%s served without the daily report's scope", name)
			}
		}
		if n := strings.Count(p.output.String(), `msg="Collector disabled: the Zoom app lacks a scope; the other collectors go on" collector=daily scope=report:read:admin`); n != 1 {
			t.Errorf("%d log lines disabling the daily collector after %d refreshes, want 1:\n%s", n, refreshes(p), p.output.String())
		}
		if n := fake.CallCount(zoomfake.EndpointDailyReport); n != 1 {
			t.Errorf("%d daily report calls, want the one refused (next try in 6 hours)", n)
		}
		if page, ok := statusPage(t, p); ok {
			_, line, _ := strings.Cut(page, `id="collector-daily"`)
			line, _, _ = strings.Cut(line, "</dd>")
			if !strings.Contains(line, "disabled") || !strings.Contains(line, "<code>report:read:admin</code>") || !strings.Contains(line, "--no-collector.daily") {
				t.Errorf("/status has no line saying the daily collector is disabled for report:read:admin: %q", line)
			}
		}
	})

	t.Run("switched off, or on another shard", func(t *testing.T) {
		t.Parallel()
		for _, args := range [][]string{
			{"--no-collector.licenses", "--no-collector.cloud_recording", "--no-collector.daily"},
			{"--shard=1", "--total-shards=2"},
		} {
			fake, clock := pinnedFake(zoomfake.Options{Seed: 141, Users: 6, HeavyUserMeetings: 30})
			srv := httptest.NewServer(fake)
			t.Cleanup(srv.Close)
			p := startExporter(t, fakeEnv(clock, zoomfake.DefaultClientSecret), fakeArgs(srv, args...)...)
			w := newWatcher(t, p)
			fams := w.waitRefreshes(2, 60*time.Second)
			for _, ep := range []string{zoomfake.EndpointDailyReport, zoomfake.EndpointCloudRecording} {
				if n := fake.CallCount(ep); n != 0 {
					t.Errorf("%v: %d calls to %s", args, n, ep)
				}
			}
			if n, cycles := fake.CallCount(zoomfake.EndpointUsers), refreshes(p); n > cycles+1 {
				t.Errorf("%v: %d user listings in %d refreshes: inactive or pending users listed", args, n, cycles)
			}
			for _, name := range []string{"zoom_account_users", "zoom_cloud_recording_storage_used_bytes", "zoom_account_month_meetings"} {
				if fams[name] != nil {
					t.Errorf("%v: %s served", args, name)
				}
			}
			logins := len(series(fams["zoom_user_last_login_timestamp_seconds"]))
			if sharded := args[0] == "--shard=1"; sharded != (logins > 0) {
				t.Errorf("%v: %d last sign-ins served", args, logins)
			}
		}
	})
}
