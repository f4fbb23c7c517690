package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/zoomexporter/zoom_exporter/internal/testenv"
	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
	"github.com/zoomexporter/zoom_exporter/scrape"
	"github.com/zoomexporter/zoom_exporter/zoom"
)

// f. A day of calls with every collector on (issue 14): users at Pro's
// default budget (15,000 Heavy calls a day, half the plan's quota), 5-minute
// cycles, 5% of users with new meetings each cycle, the account collectors
// (licenses, cloud_recording, daily) on. One simulated day mid-month and one
// on the 1st (grace period: both months swept, the daily report read for
// both), each after a 6-hour warm-up so that the day starts as a running
// exporter's does, not as a cold start. The clocks are moved by hand (no
// per-second limits: they change when calls leave, not how many).

// statusCalls counts GET /users by status and Heavy calls by endpoint, in
// front of the fake.
type statusCalls struct {
	mu    sync.Mutex
	users map[string]int
}

func (c *statusCalls) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/users" {
			c.mu.Lock()
			c.users[r.URL.Query().Get("status")]++
			c.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

func (c *statusCalls) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.users))
	for k, v := range c.users {
		out[k] = v
	}
	return out
}

// accountDays runs part f for each instant named: the start of the day
// measured (00:00 UTC).
func accountDays(users int) error {
	for _, day := range []struct {
		name  string
		start time.Time
	}{
		{"mid-month", time.Date(2026, 11, 15, 0, 0, 0, 0, time.UTC)},
		{"the 1st, grace period", time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)},
	} {
		if err := accountDay(users, day.name, day.start); err != nil {
			return err
		}
	}
	return nil
}

func accountDay(users int, name string, dayStart time.Time) error {
	const warmup = 6 * time.Hour
	clk := testenv.NewClock(dayStart.Add(-warmup))
	fake := zoomfake.New(zoomfake.Options{Seed: 14, Users: users, Plan: zoomfake.PlanPro, Now: clk.Now})
	calls := &statusCalls{users: make(map[string]int)}
	srv := httptest.NewServer(calls.wrap(fake))
	defer srv.Close()
	limits, _ := zoom.PlanLimits("pro")
	// Pro's daily quota and the default budget (half of it); a fast pace,
	// as the clocks do not run.
	limits.HeavyPerSecond, limits.MediumPerSecond = 1000, 1000
	client, err := zoom.NewClient(zoom.ClientConfig{
		APIURL: srv.URL + "/v2", TokenURL: srv.URL + "/oauth/token",
		AccountID: zoomfake.DefaultAccountID, ClientID: zoomfake.DefaultClientID, ClientSecret: zoomfake.DefaultClientSecret,
		Limits: limits, RetryBaseDelay: 200 * time.Millisecond, Now: clk.Now,
	})
	if err != nil {
		return err
	}
	s, err := scrape.NewScraper(scrape.ScraperConfig{Client: client, Interval: 5 * time.Minute, GracePeriod: 48 * time.Hour,
		Concurrency: 16, Now: clk.Now,
		Account: scrape.AccountConfig{Licenses: true, CloudRecording: true, Daily: true, AccountWide: true}})
	if err != nil {
		return err
	}
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(uint64(users), 44))
	all := fake.Users()
	heavy := func() map[string]int {
		return map[string]int{
			"reports": fake.CallCount(zoomfake.EndpointUserMeetings), "hosts": fake.CallCount(zoomfake.EndpointHostsReport),
			"cloud": fake.CallCount(zoomfake.EndpointCloudRecording), "daily": fake.CallCount(zoomfake.EndpointDailyReport),
		}
	}
	var before map[string]int
	var usersBefore map[string]int
	started := time.Now()
	cycles, meetings := 0, 0
	for at := clk.Now(); at.Before(dayStart.Add(24 * time.Hour)); at = at.Add(5 * time.Minute) {
		clk.Set(at)
		if at.Equal(dayStart) {
			before, usersBefore = heavy(), calls.snapshot()
		}
		for i, idx := range rng.Perm(len(all))[:users/20] {
			end := at.Add(-time.Minute)
			fake.AddMeeting(zoomfake.Meeting{
				UUID: fmt.Sprintf("day/%d/%d/%d==", users, at.Unix(), i), ID: 97000000000 + int64(meetings), Type: 2, HostID: all[idx].ID,
				Start: end.Add(-30 * time.Minute), End: end, DurationMinutes: 30, TotalMinutes: 90, Participants: 3,
			})
			meetings++
		}
		s.Refresh(ctx)
		if !at.Before(dayStart) {
			cycles++
		}
	}
	after, usersAfter := heavy(), calls.snapshot()
	d := map[string]int{}
	total := 0
	for k, v := range after {
		d[k] = v - before[k]
		total += d[k]
	}
	budget := client.Budget()
	snap := s.Snapshot()
	_, daily := fake.RateLimited()
	account := d["cloud"] + d["daily"]
	fmt.Printf("users=%d %s (%s, %d cycles): %d Heavy calls, budget %d (%.1f%%): per-user reports %d, hosts report %d, cloud recording %d, daily %d "+
		"(account collectors %d, %.2f%% of the budget); Medium GET /users: active %d (%.1f a cycle), inactive %d, pending %d; daily 429s %d; "+
		"at the day's end: %d users waiting for budget, effective interval %v, collectors up %v; took %v\n",
		users, name, dayStart.Format(time.DateOnly), cycles, total, budget.Budget, 100*float64(total)/float64(budget.Budget),
		d["reports"], d["hosts"], d["cloud"], d["daily"], account, 100*float64(account)/float64(budget.Budget),
		usersAfter["active"]-usersBefore["active"], float64(usersAfter["active"]-usersBefore["active"])/float64(cycles),
		usersAfter["inactive"]-usersBefore["inactive"], usersAfter["pending"]-usersBefore["pending"], daily,
		snap.PendingUsers, snap.EffectiveInterval, collectorsUp(snap), time.Since(started).Round(time.Second))
	return nil
}

func collectorsUp(snap *scrape.Snapshot) map[string]bool {
	out := map[string]bool{}
	if snap.Account != nil {
		for _, c := range snap.Account.Collectors {
			out[c.Name] = c.Up
		}
	}
	return out
}
