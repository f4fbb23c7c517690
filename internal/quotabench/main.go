// Command quotabench measures the exporter's use of Zoom's quota against
// the fake Zoom server with its rate limits on, next to the references of
// issue 5, in one run:
//
//	a. Heavy calls per refresh cycle at 1,000 and 10,000 users, 5% of users
//	   with new meetings per cycle; references: naive (one call per user)
//	   and ideal (ceil(hosts/300) + changed users);
//	d. cold start: the first refresh of a new exporter, by default 1,000
//	   users at the Pro per-second limit, past and pastJoined; reference:
//	   the pacer's ideal (calls / 9.5 per second, 95% of the limit; and
//	   users x windows / 9.5), the 429s received, the budget used.
//	   -cold-start-sizes, -cold-start-plans, -cold-start-types and
//	   -cold-start-scale pick others: 10,000 users take 17 minutes on Pro
//	   at real speed, so -cold-start-scale 10 runs the fake's and the
//	   scraper's clocks and the per-second limits ten times as fast
//	   (internal/coldstart) and reports times on the scaled clock;
//	e. Heavy calls per refresh cycle within the grace period after a month
//	   turned (both months refreshed), 5% of users with new meetings in the
//	   current month only; reference: ideal (ceil(hosts/300) per month swept
//	   + changed users: one current-month call each).
//	f. Heavy and Medium calls a day at 10,000 users on Pro's default budget
//	   with every collector on, the account collectors included (account.go):
//	   a day mid-month and the 1st of a month.
//
// Run it with: go run ./internal/quotabench   (about 15 minutes: a and d
// about 9, e about 5, most of it the cold starts of 10,000 users). Flags pick
// parts: -sizes "" skips a, -skip-cold-start skips d, -grace-sizes "" skips e,
// -account-sizes "" skips f (about 10 minutes at 10,000 users).
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/zoomexporter/zoom_exporter/internal/coldstart"
	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
	"github.com/zoomexporter/zoom_exporter/scrape"
	"github.com/zoomexporter/zoom_exporter/zoom"

	"github.com/zoomexporter/zoom_exporter/internal/testenv"
)

func main() {
	cycles := flag.Int("cycles", 5, "measured refresh cycles per size in (a) and (e)")
	sizes := flag.String("sizes", "1000,10000", "user counts for (a); empty skips (a)")
	skipColdStart := flag.Bool("skip-cold-start", false, "skip (d)")
	coldSizes := flag.String("cold-start-sizes", "1000", "user counts for (d)")
	coldPlans := flag.String("cold-start-plans", "pro", "plans for (d): pro, business")
	coldTypes := flag.String("cold-start-types", "past,pastJoined", "report types for (d)")
	coldBudget := flag.Int("cold-start-budget", 0, "--zoom.daily-budget for (d); 0: the plan's default (half its daily quota)")
	coldScale := flag.Float64("cold-start-scale", 1, "(d) runs its clocks and per-second limits this many times as fast; times are on the scaled clock")
	graceSizes := flag.String("grace-sizes", "1000,10000", "user counts for (e); empty skips (e)")
	accountSizes := flag.String("account-sizes", "10000", "user counts for (f); empty skips (f)")
	flag.Parse()
	ns := splitInts(*sizes)
	if len(ns) > 0 {
		fmt.Println("== a. Heavy calls per refresh cycle, 5% of users with new meetings per cycle ==")
	}
	for _, n := range ns {
		if err := callsPerCycle(n, *cycles); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	if !*skipColdStart {
		fmt.Println("== d. Cold start: the first refresh of a new exporter, against the pacer's ideal ==")
		for _, n := range splitInts(*coldSizes) {
			for _, plan := range strings.Split(*coldPlans, ",") {
				for _, reportType := range strings.Split(*coldTypes, ",") {
					budget := *coldBudget
					if budget == 0 {
						limits, err := zoom.PlanLimits(plan)
						if err != nil {
							fmt.Fprintln(os.Stderr, err)
							os.Exit(1)
						}
						budget = limits.HeavyPerDay / 2
					}
					r, err := coldstart.Measure(coldstart.Options{Users: n, Plan: plan, ReportType: reportType, Budget: budget, Scale: *coldScale})
					if err != nil {
						fmt.Fprintln(os.Stderr, err)
						os.Exit(1)
					}
					fmt.Println(r)
				}
			}
		}
	}
	if *graceSizes != "" {
		fmt.Println("== e. Heavy calls per refresh cycle in the grace period after a month turn, 5% of users with new meetings in the current month only ==")
		for _, n := range splitInts(*graceSizes) {
			if err := callsPerCycleInGrace(n, *cycles); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
	}
	if *accountSizes != "" {
		fmt.Println("== f. Calls a day with every collector on, Pro's default budget, 5-minute cycles, 5% of users with new meetings per cycle ==")
		for _, n := range splitInts(*accountSizes) {
			if err := accountDays(n); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
	}
}

func splitInts(s string) []int {
	if s == "" {
		return nil
	}
	var out []int
	n := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			out = append(out, n)
			n = 0
			continue
		}
		n = n*10 + int(s[i]-'0')
	}
	return out
}

func heavyCalls(f *zoomfake.Server) int {
	return f.CallCount(zoomfake.EndpointUserMeetings) + f.CallCount(zoomfake.EndpointHostsReport)
}

// callsPerCycle runs a cold start, then measured cycles 5 minutes apart
// (the scraper's clock is moved; the fake counts its per-second limits on
// the wall clock, Business plan so that the cold start of 10,000 users takes
// minutes, not a quarter of an hour).
func callsPerCycle(users, cycles int) error {
	// The fake's clock runs (its per-second limits need real seconds); the
	// scraper's is moved by hand. Both start mid-month, whatever today is.
	fakeClock := testenv.NewRunningClock(testenv.MidMonth)
	fake := zoomfake.New(zoomfake.Options{Seed: 5, Users: users, RateLimits: true, Plan: zoomfake.PlanBusiness, Now: fakeClock.Now})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	clk := testenv.NewClock(testenv.MidMonth)
	limits, _ := zoom.PlanLimits("business")
	client, err := zoom.NewClient(zoom.ClientConfig{
		APIURL: srv.URL + "/v2", TokenURL: srv.URL + "/oauth/token",
		AccountID: zoomfake.DefaultAccountID, ClientID: zoomfake.DefaultClientID, ClientSecret: zoomfake.DefaultClientSecret,
		Limits: limits, DailyBudget: 10_000_000, // measure what the scheduler asks for, not what a budget allows
		RetryBaseDelay: 200 * time.Millisecond, Now: clk.Now,
	})
	if err != nil {
		return err
	}
	s, err := scrape.NewScraper(scrape.ScraperConfig{Client: client, Interval: 5 * time.Minute, GracePeriod: time.Hour,
		Concurrency: 16, Now: clk.Now})
	if err != nil {
		return err
	}
	ctx := context.Background()
	start := time.Now()
	s.Refresh(ctx)
	cold := heavyCalls(fake)
	fmt.Printf("users=%d cold start: %d Heavy calls in %v (up=%v)\n", users, cold, time.Since(start).Round(time.Second), s.Snapshot().Up)

	rng := rand.New(rand.NewPCG(uint64(users), 42))
	all := fake.Users()
	var sumOurs, sumIdeal int
	for c := range cycles {
		changed := users / 20
		for i, idx := range rng.Perm(len(all))[:changed] {
			host := all[idx]
			end := fakeClock.Now().Add(-time.Minute)
			fake.AddMeeting(zoomfake.Meeting{
				UUID: fmt.Sprintf("bench/%d/%d/%d==", users, c, i), ID: 95000000000 + int64(c*100000+i), Type: 2, HostID: host.ID,
				Start: end.Add(-30 * time.Minute), End: end, DurationMinutes: 30, TotalMinutes: 90, Participants: 3,
			})
		}
		clk.Advance(5 * time.Minute)
		before := heavyCalls(fake)
		s.Refresh(ctx)
		ours := heavyCalls(fake) - before
		now := fakeClock.Now()
		monthFrom := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
		hosts := 0
		for _, u := range all {
			if fake.HostTotals(u.ID, monthFrom, now).Meetings > 0 {
				hosts++
			}
		}
		ideal := (hosts+299)/300 + changed
		sumOurs += ours
		sumIdeal += ideal
		fmt.Printf("users=%d cycle %d: ours %d, ideal %d (ceil(%d hosts/300) + %d changed), naive %d; ours/ideal %.3f; up=%v\n",
			users, c+1, ours, ideal, hosts, changed, users, float64(ours)/float64(ideal), s.Snapshot().Up)
	}
	qps, daily := fake.RateLimited()
	fmt.Printf("users=%d over %d cycles: ours %.1f/cycle, ideal %.1f/cycle, naive %d/cycle: ours/ideal %.3f, ours/naive %.3f; 429s: %d per-second, %d daily\n",
		users, cycles, float64(sumOurs)/float64(cycles), float64(sumIdeal)/float64(cycles), users,
		float64(sumOurs)/float64(sumIdeal), float64(sumOurs)/float64(cycles*users), qps, daily)
	return nil
}

// monthTurn is where (e) pins its clocks: noon on the 1st, well within the
// default 48h grace period, so every cycle refreshes November and December.
var monthTurn = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// reportCalls counts per-user report requests by their from date (the month
// they ask for), whatever their outcome, in front of the fake.
type reportCalls struct {
	mu     sync.Mutex
	byFrom map[string]int
}

func (rc *reportCalls) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.EscapedPath()
		if strings.HasPrefix(p, "/v2/report/users/") && strings.HasSuffix(p, "/meetings") {
			rc.mu.Lock()
			rc.byFrom[r.URL.Query().Get("from")]++
			rc.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

func (rc *reportCalls) get(from time.Time) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.byFrom[from.Format(time.DateOnly)]
}

// callsPerCycleInGrace is (a) on the day a month turned: the scraper
// refreshes the current and the previous month (--scrape.grace-period 48h,
// the default), the changes of each cycle are in the current month only, so
// each changed user needs one current-month report call.
func callsPerCycleInGrace(users, cycles int) error {
	fakeClock := testenv.NewRunningClock(monthTurn) // per-second limits need real seconds
	fake := zoomfake.New(zoomfake.Options{Seed: 5, Users: users, RateLimits: true, Plan: zoomfake.PlanBusiness, Now: fakeClock.Now})
	calls := &reportCalls{byFrom: make(map[string]int)}
	srv := httptest.NewServer(calls.wrap(fake))
	defer srv.Close()
	clk := testenv.NewClock(monthTurn)
	limits, _ := zoom.PlanLimits("business")
	client, err := zoom.NewClient(zoom.ClientConfig{
		APIURL: srv.URL + "/v2", TokenURL: srv.URL + "/oauth/token",
		AccountID: zoomfake.DefaultAccountID, ClientID: zoomfake.DefaultClientID, ClientSecret: zoomfake.DefaultClientSecret,
		Limits: limits, DailyBudget: 10_000_000, // measure what the scheduler asks for, not what a budget allows
		RetryBaseDelay: 200 * time.Millisecond, Now: clk.Now,
	})
	if err != nil {
		return err
	}
	s, err := scrape.NewScraper(scrape.ScraperConfig{Client: client, Interval: 5 * time.Minute, GracePeriod: 48 * time.Hour,
		Concurrency: 16, Now: clk.Now})
	if err != nil {
		return err
	}
	cur := time.Date(monthTurn.Year(), monthTurn.Month(), 1, 0, 0, 0, 0, time.UTC)
	prev := cur.AddDate(0, -1, 0)
	ctx := context.Background()
	start := time.Now()
	s.Refresh(ctx)
	cold := heavyCalls(fake)
	fmt.Printf("users=%d grace cold start: %d Heavy calls (%d current-month, %d previous-month report calls) in %v (up=%v)\n",
		users, cold, calls.get(cur), calls.get(prev), time.Since(start).Round(time.Second), s.Snapshot().Up)

	all := fake.Users()
	prevHosts := 0
	for _, u := range all {
		if fake.HostTotals(u.ID, prev, cur.AddDate(0, 0, -1)).Meetings > 0 {
			prevHosts++
		}
	}
	rng := rand.New(rand.NewPCG(uint64(users), 43))
	var sumOurs, sumIdeal int
	for c := range cycles {
		changed := users / 20
		for i, idx := range rng.Perm(len(all))[:changed] {
			end := fakeClock.Now().Add(-time.Minute)
			fake.AddMeeting(zoomfake.Meeting{
				UUID: fmt.Sprintf("grace/%d/%d/%d==", users, c, i), ID: 96000000000 + int64(c*100000+i), Type: 2, HostID: all[idx].ID,
				Start: end.Add(-30 * time.Minute), End: end, DurationMinutes: 30, TotalMinutes: 90, Participants: 3,
			})
		}
		clk.Advance(5 * time.Minute)
		before, curBefore, prevBefore := heavyCalls(fake), calls.get(cur), calls.get(prev)
		s.Refresh(ctx)
		ours := heavyCalls(fake) - before
		curCalls, prevCalls := calls.get(cur)-curBefore, calls.get(prev)-prevBefore
		hosts := 0
		for _, u := range all {
			if fake.HostTotals(u.ID, cur, fakeClock.Now()).Meetings > 0 {
				hosts++
			}
		}
		ideal := (hosts+299)/300 + (prevHosts+299)/300 + changed
		sumOurs += ours
		sumIdeal += ideal
		fmt.Printf("users=%d grace cycle %d: ours %d (%d current-month, %d previous-month report calls), ideal %d (ceil(%d hosts/300) + ceil(%d previous-month hosts/300) + %d changed), naive %d; ours/ideal %.3f; up=%v\n",
			users, c+1, ours, curCalls, prevCalls, ideal, hosts, prevHosts, changed, 2*users, float64(ours)/float64(ideal), s.Snapshot().Up)
	}
	qps, daily := fake.RateLimited()
	fmt.Printf("users=%d grace, over %d cycles: ours %.1f/cycle, ideal %.1f/cycle, naive %d/cycle: ours/ideal %.3f, ours/naive %.3f; 429s: %d per-second, %d daily\n",
		users, cycles, float64(sumOurs)/float64(cycles), float64(sumIdeal)/float64(cycles), 2*users,
		float64(sumOurs)/float64(sumIdeal), float64(sumOurs)/float64(cycles*2*users), qps, daily)
	return nil
}
