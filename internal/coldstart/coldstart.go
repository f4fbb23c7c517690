// Package coldstart measures the first refresh of a new exporter (issue
// 16): a scraper with no data yet refreshes a fake Zoom account
// (internal/zoomfake) with its per-second rate limits on, under the plan's
// pacing and a daily budget, and the time it takes to cover every user is
// compared with the pacer's ideal.
//
// A cold start of 10,000 users at Pro's 10 Heavy calls a second takes 17
// minutes of wall time. The pacer (golang.org/x/time/rate) waits on the wall
// clock, so the measure can run scaled instead: the client's per-second
// limits are multiplied by Scale, and the fake's and the scraper's clocks
// run Scale times as fast as the wall clock, so that the fake's one-second
// windows last 1/Scale of a wall second and admit as many calls as at real
// speed. Times are reported on those clocks: what a real cold start would
// take, plus whatever the machine's own time (HTTP, JSON, counting) weighs
// Scale times heavier than at real speed.
package coldstart

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/zoomexporter/zoom_exporter/internal/testenv"
	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
	"github.com/zoomexporter/zoom_exporter/scrape"
	"github.com/zoomexporter/zoom_exporter/zoom"
)

// Options are what Measure runs.
type Options struct {
	Users      int
	Plan       string // "pro" or "business": the fake's and the client's limits
	ReportType string // default past
	// Budget is --zoom.daily-budget; 0: the plan's whole daily quota
	// (60,000 on Business, as in issue 16).
	Budget int
	// Scale speeds up the per-second limits and the clocks (see the
	// package comment); 0 or 1: real time.
	Scale float64
	// Concurrency is --scrape.concurrency (default 4, the exporter's).
	Concurrency int
}

// Result is what a cold start did. Durations are on the scaled clocks: what
// the cold start takes at the plan's real limits.
type Result struct {
	Options
	Took        time.Duration // the first refresh, start to end
	HeavyCalls  int           // Heavy calls Zoom answered (hosts report pages and user reports)
	ReportCalls int           // user reports among them
	QPS429      int           // per-second 429s
	Daily429    int
	Covered     int // users with data from Zoom at the end of the first refresh
	Tracked     int
	Pending     int // users waiting for budget at its end
	BudgetUsed  int // Heavy calls spent from the day's budget
	Windows     int // months refreshed (1 mid-month)
	PacingRate  float64
	// IdealUsers is users x windows / pacing rate, the brief's ideal;
	// IdealCalls is the Heavy calls made / pacing rate (with change
	// detection, users who hosted nothing need no call).
	IdealUsers, IdealCalls time.Duration
}

// RatioToCalls is Took over IdealCalls.
func (r Result) RatioToCalls() float64 { return float64(r.Took) / float64(max(r.IdealCalls, 1)) }

// RatioToUsers is Took over IdealUsers.
func (r Result) RatioToUsers() float64 { return float64(r.Took) / float64(max(r.IdealUsers, 1)) }

// String is one line, for benchmark commands.
func (r Result) String() string {
	scale := ""
	if r.Scale > 1 {
		scale = fmt.Sprintf(", simulated at %gx speed (clocks and per-second limits scaled; times on the scaled clock)", r.Scale)
	}
	return fmt.Sprintf("cold start, %d users, %s, %s, budget %d%s: %d/%d users covered in %v, %d Heavy calls (%d user reports), %d 429s (%d daily), budget used %d, pending %d; "+
		"pacer's ideal (%.1f calls/s) for those calls %v: %.3f x; for users x windows (%d x %d) %v: %.3f x",
		r.Users, r.Plan, r.ReportType, r.Budget, scale, r.Covered, r.Tracked, r.Took.Round(100*time.Millisecond), r.HeavyCalls, r.ReportCalls,
		r.QPS429+r.Daily429, r.Daily429, r.BudgetUsed, r.Pending,
		r.PacingRate, r.IdealCalls.Round(100*time.Millisecond), r.RatioToCalls(), r.Users, r.Windows, r.IdealUsers.Round(100*time.Millisecond), r.RatioToUsers())
}

// MeasureColdStart is Measure of the first refresh of users on plan, as
// the README's figures d: report type past; on Pro the default budget
// (15,000) at 3x speed (17 minutes of cold start in 5), on Business a
// budget of 60,000 (issue 16) in real time. Faster runs see per-second
// 429s that real speed does not: the fake's windows shrink to a fraction
// of a second, and the machine's jitter does not.
func MeasureColdStart(users int, plan string) (Result, error) {
	o := Options{Users: users, Plan: plan, Scale: 3}
	if strings.ToLower(plan) == "business" {
		o.Budget, o.Scale = 60000, 1
	} else if limits, err := zoom.PlanLimits(strings.ToLower(plan)); err == nil {
		o.Budget = limits.HeavyPerDay / 2
	}
	return Measure(o)
}

// scaledClock starts at a chosen instant and runs scale times as fast as
// the wall clock.
type scaledClock struct {
	at    time.Time
	start time.Time
	scale float64
}

func (c *scaledClock) Now() time.Time {
	return c.at.Add(time.Duration(float64(time.Since(c.start)) * c.scale))
}

// Measure runs one cold start.
func Measure(o Options) (Result, error) {
	if o.Users <= 0 {
		return Result{}, fmt.Errorf("coldstart: users (%d) must be positive", o.Users)
	}
	if o.Plan == "" {
		o.Plan = "pro"
	}
	if o.ReportType == "" {
		o.ReportType = zoom.ReportPast
	}
	if o.Scale < 1 {
		o.Scale = 1
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	limits, err := zoom.PlanLimits(strings.ToLower(o.Plan))
	if err != nil {
		return Result{}, err
	}
	if o.Budget <= 0 {
		o.Budget = limits.HeavyPerDay
	}
	plan := zoomfake.PlanPro
	if limits.HeavyPerSecond > 10 {
		plan = zoomfake.PlanBusiness
	}
	clock := &scaledClock{at: testenv.MidMonth, start: time.Now(), scale: o.Scale}
	fake := zoomfake.New(zoomfake.Options{Seed: 9, Users: o.Users, RateLimits: true, Plan: plan, Now: clock.Now})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	scaled := zoom.Limits{HeavyPerSecond: limits.HeavyPerSecond * o.Scale, MediumPerSecond: limits.MediumPerSecond * o.Scale, HeavyPerDay: limits.HeavyPerDay}
	client, err := zoom.NewClient(zoom.ClientConfig{
		APIURL: srv.URL + "/v2", TokenURL: srv.URL + "/oauth/token",
		AccountID: zoomfake.DefaultAccountID, ClientID: zoomfake.DefaultClientID, ClientSecret: zoomfake.DefaultClientSecret,
		Limits: scaled, DailyBudget: o.Budget, RetryBaseDelay: 200 * time.Millisecond, Now: clock.Now,
	})
	if err != nil {
		return Result{}, err
	}
	s, err := scrape.NewScraper(scrape.ScraperConfig{Client: client, Interval: 5 * time.Minute, GracePeriod: time.Hour,
		Concurrency: o.Concurrency, ReportType: o.ReportType, Now: clock.Now, ColdStart: true})
	if err != nil {
		return Result{}, err
	}
	began := clock.Now()
	s.Refresh(context.Background())
	r := Result{Options: o, Took: clock.Now().Sub(began), Windows: 1}
	r.ReportCalls = fake.CallCount(zoomfake.EndpointUserMeetings)
	r.HeavyCalls = r.ReportCalls + fake.CallCount(zoomfake.EndpointHostsReport)
	r.QPS429, r.Daily429 = fake.RateLimited()
	snap := s.Snapshot()
	for _, u := range snap.Users {
		if u.Retired {
			continue
		}
		r.Tracked++
		if !u.LastRefresh.IsZero() {
			r.Covered++
		}
	}
	r.Pending = snap.PendingUsers
	r.BudgetUsed = client.Budget().UsedToday
	r.PacingRate = limits.HeavyPerSecond * zoom.PacingMargin
	r.IdealUsers = time.Duration(float64(o.Users*r.Windows) / r.PacingRate * float64(time.Second))
	r.IdealCalls = time.Duration(float64(r.HeavyCalls) / r.PacingRate * float64(time.Second))
	return r, nil
}
