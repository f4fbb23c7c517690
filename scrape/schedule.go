package scrape

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/go-kit/log/level"
)

// Quota-aware scheduling. Zoom's daily Heavy quota is per account and shared
// with every other app: one report call per user per refresh does not scale.
// Each cycle the scheduler
//   - sweeps the hosts report (GET /report/users?type=active, 300 hosts a
//     call) of each month refreshed and fetches the reports of only the users
//     whose meetings, participants or meeting minutes changed, and of users
//     never fetched; a user absent from the hosts report hosted nothing, so
//     its report is known to be empty without a call. Changes are kept per
//     month: within the grace period after a month turns, a user whose
//     change is in one month has only that month's report fetched;
//   - fetches every user again at least every --scrape.full-interval
//     (oldest first), which catches what the hosts totals cannot show;
//   - for report types the hosts report cannot see (pastOne, pastJoined),
//     refreshes users round-robin, most recently active first;
//   - spends no more than a token bucket filled with --zoom.daily-budget
//     spread evenly over the day allows: what does not fit waits for a later
//     cycle, and the effective per-user interval stretches.

// bucketHours is how many hours of budget the bucket holds: enough for a
// cold start, little enough to keep the day's spending spread out.
const bucketHours = 3

// heavyBucket spreads the daily Heavy budget evenly over the day.
type heavyBucket struct {
	tokens float64
	last   time.Time
}

func (b *heavyBucket) available(now time.Time, budget int) int {
	rate := float64(budget) / 86400
	capacity := float64(budget) * bucketHours / 24
	if b.last.IsZero() {
		b.tokens = capacity // a cold start may use a few hours' worth at once
	} else if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
		b.tokens = min(capacity, b.tokens+elapsed*rate)
	}
	b.last = now
	return int(b.tokens)
}

func (b *heavyBucket) spend(n int) { b.tokens = max(0, b.tokens-float64(n)) }

// detectsChanges reports whether the hosts report can show new meetings of
// the configured report type: it counts every hosted meeting, so it sees
// what `past` returns, but not meetings joined (pastJoined), and Zoom does
// not promise it for one-person meetings (pastOne).
func (s *Scraper) detectsChanges() bool { return s.conf.ReportType == ReportPast }

// cyclePlan is what one refresh cycle does.
type cyclePlan struct {
	fetch     []userFetch  // users whose reports are fetched, and which months
	confirmed []*userState // users the sweep showed unchanged (or empty): current without a call
	deferred  int          // users that needed a fetch but did not fit the budget
	swept     bool         // the hosts report was read
	sweepErr  error
}

// userFetch is one user's fetch in a cycle: the report windows to read.
type userFetch struct {
	user    *userState
	windows []reportWindow
}

// dirtyWindows are the windows whose month a sweep showed changed for u and
// that are not fetched yet.
func dirtyWindows(u *userState, windows []reportWindow) []reportWindow {
	var out []reportWindow
	for _, w := range windows {
		if u.dirty[monthKey(w.month)] {
			out = append(out, w)
		}
	}
	return out
}

// fetchWindows are the windows a candidate's fetch reads. A user that is a
// candidate only because sweeps showed changes (changesOnly) gets the months
// that changed, and the current month too while its month-to-date figures
// are not known (no sweep has shown it empty or unchanged since the month
// began); every other candidate gets every window: one nothing is known
// about, one due for full reconciliation, one GET /users does not list (its
// own report is the only truth), and every user when the hosts report
// cannot see the report type (round-robin).
func (s *Scraper) fetchWindows(u *userState, windows []reportWindow, changesOnly bool, now time.Time) []reportWindow {
	if !changesOnly || !s.detectsChanges() || u.info.ID == "" || s.due(u, windows, now) {
		return windows
	}
	var out []reportWindow
	for _, w := range windows {
		if u.dirty[monthKey(w.month)] || (w.current && !u.monthOf.Equal(w.month)) {
			out = append(out, w)
		}
	}
	if len(out) == 0 {
		return windows
	}
	return out
}

// fetchCost is the Heavy calls fetching ws is expected to take: one a month,
// or as many pages as the month's last fetch took.
func fetchCost(u *userState, ws []reportWindow) int {
	n := 0
	for _, w := range ws {
		n += max(1, u.pages[monthKey(w.month)])
	}
	return n
}

// planCycle decides which users to fetch this cycle, and which months of
// each, sweeping the hosts report when change detection applies and the
// budget allows.
func (s *Scraper) planCycle(ctx context.Context, tracked []*userState, windows []reportWindow, now time.Time) cyclePlan {
	var p cyclePlan
	budget := s.client.Budget()
	tokens := min(s.bucket.available(now, budget.Budget), budget.Remaining())
	spend := func(n int) {
		tokens -= n
		s.bucket.spend(n)
	}

	dirty := make(map[*userState]bool)
	backlog := 0 // what the changes already known cost
	for _, u := range tracked {
		if len(dirtyWindows(u, windows)) > 0 {
			dirty[u] = true
			backlog += fetchCost(u, s.fetchWindows(u, windows, true, now))
		}
	}
	if s.detectsChanges() {
		// Sweep when the budget covers the sweep and the known backlog;
		// otherwise spend this cycle on the backlog, so a starved budget
		// does not go on sweeping for changes it cannot fetch.
		sweepCost := len(windows) * max(s.sweepPagesPerMonth, (len(tracked)+pageSize-1)/pageSize, 1)
		if tokens >= sweepCost+backlog && now.Sub(s.lastSweep) >= s.sweepGap(sweepCost, budget.Budget) {
			used, err := s.sweep(ctx, tracked, windows, now)
			spend(used)
			p.swept, p.sweepErr = err == nil, err
			if err == nil {
				s.sweepPagesPerMonth = max((used+len(windows)-1)/len(windows), 1)
				s.previousSweep, s.lastSweep = s.lastSweep, now
			}
		}
		for _, u := range tracked {
			if len(dirtyWindows(u, windows)) > 0 {
				dirty[u] = true
			}
		}
	}

	var candidates []*userState
	whole := make(map[*userState]bool) // candidates fetched whole although a change made them candidates
	if s.detectsChanges() {
		for _, u := range tracked {
			// While the hosts report cannot be read (failing, a scope
			// missing), users nothing is known about are fetched anyway.
			unknown := u.lastFetch.IsZero() && len(u.fetchedHost) == 0
			if unknown && (p.sweepErr != nil || s.lastSweep.IsZero()) {
				whole[u] = true
				candidates = append(candidates, u)
			} else if dirty[u] {
				candidates = append(candidates, u)
			}
		}
		// Never-fetched users first, then the longest waiting.
		sort.SliceStable(candidates, func(i, j int) bool { return candidates[i].lastFetch.Before(candidates[j].lastFetch) })
		due := s.dueForReconciliation(tracked, windows, dirty, now)
		sort.SliceStable(due, func(i, j int) bool { return due[i].lastFetch.Before(due[j].lastFetch) })
		candidates = append(candidates, due...)
	} else {
		candidates = s.roundRobin(tracked, now)
	}

	fetching := make(map[*userState]bool)
	for _, u := range candidates {
		ws := s.fetchWindows(u, windows, dirty[u] && !whole[u], now)
		cost := fetchCost(u, ws)
		if cost > tokens {
			p.deferred++
			continue
		}
		spend(cost)
		p.fetch = append(p.fetch, userFetch{u, ws})
		fetching[u] = true
	}
	if p.swept {
		for _, u := range tracked {
			if !dirty[u] && !fetching[u] {
				p.confirmed = append(p.confirmed, u)
			}
		}
	}
	return p
}

// sweepShare is the most of the daily budget sweeps may take, so fetching
// the changes they find, and the full reconciliation, always get the rest.
const sweepShare = 0.5

// sweepGap is the shortest time between sweeps: the refresh interval, or
// longer when sweeping that often would take more than sweepShare of the budget.
func (s *Scraper) sweepGap(sweepCost, budget int) time.Duration {
	perDay := float64(budget) * sweepShare / float64(max(sweepCost, 1))
	gap := time.Duration(float64(24*time.Hour) / max(perDay, 1e-9))
	// Cycles start every interval: never wait a little less than a whole number of them.
	return max(s.conf.Interval, gap) - time.Second
}

// roundRobin lists the users still to fetch in the current round, most
// recently active first. Every user gets one fetch a round; a new round
// starts once all had theirs and at least an interval has passed.
func (s *Scraper) roundRobin(tracked []*userState, now time.Time) []*userState {
	pending := func() []*userState {
		var out []*userState
		for _, u := range tracked {
			if !u.lastFetch.After(s.roundStart) || u.lastError != "" {
				out = append(out, u)
			}
		}
		return out
	}
	candidates := pending()
	if len(candidates) == 0 && now.Sub(s.roundStart) >= s.conf.Interval {
		if !s.roundStart.IsZero() {
			s.lastRound = now.Sub(s.roundStart)
		}
		s.roundStart = now
		candidates = pending()
	}
	sort.SliceStable(candidates, func(i, j int) bool {
		a, b := candidates[i], candidates[j]
		if !a.lastActive.Equal(b.lastActive) {
			return a.lastActive.After(b.lastActive)
		}
		return a.lastFetch.Before(b.lastFetch)
	})
	return candidates
}

// dueForReconciliation lists the users not already candidates that are due
// for a full fetch.
func (s *Scraper) dueForReconciliation(tracked []*userState, windows []reportWindow, dirty map[*userState]bool, now time.Time) []*userState {
	var due []*userState
	for _, u := range tracked {
		if !dirty[u] && s.due(u, windows, now) {
			due = append(due, u)
		}
	}
	return due
}

// due reports whether a user fetched before has a month not fetched within
// --scrape.full-interval. A month never fetched on its own (the month just
// begun, one the sweep showed empty) counts from the user's last fetch.
func (s *Scraper) due(u *userState, windows []reportWindow, now time.Time) bool {
	if u.lastFetch.IsZero() {
		return false
	}
	for _, w := range windows {
		at, ok := u.fetchedAt[monthKey(w.month)]
		if !ok {
			at = u.lastFetch
		}
		if now.Sub(at) >= s.conf.FullInterval {
			return true
		}
	}
	return false
}

// sweep reads the hosts report of every window and marks, month by month,
// users whose totals differ from those seen at their last fetch of the month.
// It returns the Heavy calls it made.
func (s *Scraper) sweep(ctx context.Context, tracked []*userState, windows []reportWindow, now time.Time) (int, error) {
	before := s.client.Budget().UsedToday
	used := func() int {
		after := s.client.Budget().UsedToday
		if after < before { // the budget day turned during the sweep
			return after
		}
		return after - before
	}
	rows := make(map[string]map[string]HostActivity, len(windows)) // month -> id or lower-case e-mail -> row
	for _, w := range windows {
		hosts, err := s.client.ActiveHosts(ctx, w.from, w.to)
		if err != nil {
			level.Warn(s.logger).Log("msg", "Hosts report failed; no change detection this cycle", "month", monthKey(w.month), "err", err)
			return used(), err
		}
		byKey := make(map[string]HostActivity, 2*len(hosts))
		for _, h := range hosts {
			byKey[h.ID] = h
			if h.Email != "" {
				byKey[strings.ToLower(h.Email)] = h
			}
		}
		rows[monthKey(w.month)] = byKey
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range tracked {
		for _, w := range windows {
			mk := monthKey(w.month)
			row, present := rows[mk][u.apiUser]
			if !present {
				row, present = rows[mk][strings.ToLower(u.labelEmail())]
			}
			if !present {
				row = HostActivity{}
			}
			totals := hostTotals{row.Meetings, row.Participants, row.MeetingMinutes}
			u.seenHost[mk] = totals
			prev, fetched := u.fetchedHost[mk]
			switch {
			case u.info.ID == "":
				// Not listed by GET /users (a --zoom.user Zoom may not
				// know): only its own report can tell.
				if !fetched || prev != totals {
					u.dirty[mk] = true
				}
			case fetched && prev == totals:
			case totals == (hostTotals{}) && (!fetched || prev == (hostTotals{})):
				// Hosted nothing in the month (no row, or a row of zeros as
				// recorded from real Zoom): its report is empty, no call needed.
				u.fetchedHost[mk] = totals
				if w.current && !u.monthOf.Equal(w.month) {
					u.month, u.monthOf = map[string]Totals{}, w.month
				}
			default:
				u.dirty[mk] = true
			}
		}
	}
	return used(), nil
}

// hostTotals are the figures of one row of the hosts report.
type hostTotals struct{ meetings, participants, minutes int }

// noteSchedule updates the effective per-user interval and says once in the
// log when the budget stretches it beyond --scrape.interval.
func (s *Scraper) noteSchedule(p cyclePlan, now time.Time) {
	// The time a change may wait: between sweeps, or for a round-robin
	// round to come back; an overdue sweep or round counts as it grows.
	effective := s.conf.Interval
	if s.detectsChanges() {
		if !s.previousSweep.IsZero() {
			effective = max(effective, s.lastSweep.Sub(s.previousSweep))
		}
		if !s.lastSweep.IsZero() {
			effective = max(effective, now.Sub(s.lastSweep))
		}
	} else {
		effective = max(effective, s.lastRound, now.Sub(s.roundStart))
	}
	s.effectiveInterval = effective
	stretched := p.deferred > 0 || effective > s.conf.Interval*3/2
	if stretched && !s.stretched {
		level.Warn(s.logger).Log("msg", "The daily budget cannot refresh every user every interval; stretching the per-user refresh interval",
			"daily_budget", s.client.Budget().Budget, "users_waiting", p.deferred, "effective_interval", effective.Round(time.Second))
	} else if !stretched && s.stretched {
		level.Info(s.logger).Log("msg", "Every user fits the daily budget again", "effective_interval", effective.Round(time.Second))
	}
	s.stretched = stretched
}
