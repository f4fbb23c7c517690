package scrape

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/go-kit/log/level"

	"github.com/zoomexporter/zoom_exporter/internal/sanitize"
	"github.com/zoomexporter/zoom_exporter/zoom"
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
//     change is in one month has only that month's report fetched, and
//     when sweeping both months every interval would take more than half
//     the budget, the previous month is swept less often than the current;
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
func (s *Scraper) detectsChanges() bool { return s.conf.ReportType == zoom.ReportPast }

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
	// What targeted fetches still wait for is theirs (events.go).
	tokens = max(0, tokens-s.targetedReserveLocked())
	s.sweepEvery = s.sweepCadence()
	s.flowingSince = s.eventsFlowingSince()
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
		perMonth := max(s.sweepPagesPerMonth, (len(tracked)+zoom.PageSize-1)/zoom.PageSize, 1)
		due := s.sweepsDue(windows, perMonth, budget.Budget, now)
		if len(due) > 1 && tokens < len(due)*perMonth+backlog {
			due = due[:1] // the current month first: nearly every change is there
		}
		if len(due) > 0 && tokens >= len(due)*perMonth+backlog {
			used, err := s.sweep(ctx, tracked, due, now)
			spend(used)
			p.sweepErr = err
			if err == nil {
				s.sweepPagesPerMonth = max((used+len(due)-1)/len(due), 1)
				for _, w := range due {
					s.sweptAt[monthKey(w.month)] = now
					if w.current {
						p.swept = true
						s.previousSweep, s.lastSweep = s.lastSweep, now
					}
				}
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

// sweepsDue returns the windows whose hosts report is swept this cycle,
// the current month first. Each month is swept every interval while that
// takes no more than sweepShare of the budget. When it would take more,
// and the current month alone fits every interval, the current month (where
// nearly every change is) is still swept every interval and the other
// months (the previous one, in the grace period) share what is left;
// otherwise every month is swept together, as often as the share allows.
func (s *Scraper) sweepsDue(windows []reportWindow, perMonth, budget int, now time.Time) []reportWindow {
	if len(windows) == 0 {
		return nil
	}
	allowed := float64(budget) * sweepShare // sweep calls a day
	gapFor := func(calls int, perDay float64) time.Duration {
		return time.Duration(float64(24*time.Hour) * float64(calls) / max(perDay, 1e-9))
	}
	// Every cycle without events; every SweepInterval while they flow.
	interval := max(s.sweepEvery, s.conf.Interval)
	together := max(gapFor(len(windows)*perMonth, allowed), interval)
	alone := gapFor(perMonth, allowed)
	others := time.Duration(0)
	if len(windows) > 1 && together > interval && alone <= interval {
		left := allowed - float64(perMonth)*float64(24*time.Hour)/float64(interval)
		others = gapFor((len(windows)-1)*perMonth, left)
		if others > 4*together {
			others = 0 // the other months would starve: every month together
		}
	}
	var due []reportWindow
	if others == 0 {
		if s.gapPassed(s.sweptAt[monthKey(windows[0].month)], together, now) {
			return windows
		}
		for _, w := range windows[1:] {
			if _, ok := s.sweptAt[monthKey(w.month)]; !ok {
				due = append(due, w) // a month never swept (a catch-up) does not wait
			}
		}
		return due
	}
	if mk := monthKey(windows[1].month); s.splitNoted != mk {
		s.splitNoted = mk
		level.Info(s.logger).Log("msg", "Sweeping the current month every interval and the previous one less often, to keep sweeps within half the daily budget",
			"previous_month", mk, "previous_month_every", others.Round(time.Second))
	}
	for i, w := range windows {
		gap := others
		if i == 0 {
			gap = interval
		}
		if s.gapPassed(s.sweptAt[monthKey(w.month)], gap, now) {
			due = append(due, w)
		}
	}
	return due
}

// gapPassed reports whether something last done at last (zero: never) may
// be done again now, gap being the least time between two. Cycles start
// every interval, but a cycle that starts late (the one before outlasted
// the interval) brings the next one closer: a gap of at most one interval is
// always due in the next cycle, and a longer one never waits a little less
// than a whole number of cycles.
func (s *Scraper) gapPassed(last time.Time, gap time.Duration, now time.Time) bool {
	if last.IsZero() {
		return true
	}
	elapsed := now.Sub(last)
	if gap <= s.conf.Interval {
		return elapsed >= s.conf.Interval-s.conf.Interval/4
	}
	return elapsed >= gap-time.Second
}

// roundRobin lists the users still to fetch in the current round, most
// recently active first. Every user gets one fetch a round; a new round
// starts once all had theirs, in the next cycle.
func (s *Scraper) roundRobin(tracked []*userState, now time.Time) []*userState {
	if s.roundStart.IsZero() {
		s.roundStart = now
	}
	pending := func() []*userState {
		var out []*userState
		for _, u := range tracked {
			// Fetched in the cycle that started the round (at roundStart) is done.
			if u.lastFetch.Before(s.roundStart) || u.lastError != "" {
				out = append(out, u)
			}
		}
		return out
	}
	candidates := pending()
	if len(candidates) == 0 && s.gapPassed(s.roundStart, s.conf.Interval, now) {
		s.lastRound = now.Sub(s.roundStart)
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
		if now.Sub(at) >= s.conf.FullInterval && !s.settledUnderEvents(u, at) {
			return true
		}
	}
	return false
}

// settledUnderEvents reports whether a month of u fetched at `at` needs no
// reconciliation: events have flowed without a break since a full interval
// before that fetch, and no fetch counted or grew a meeting of u since
// then. A report changes only when a meeting ends (an event, and a
// targeted fetch; or, for an event lost, a change the hourly sweep shows)
// or when an ended meeting's figures settle: a meeting counted within a
// full interval before the fetch keeps the month due, so every meeting
// still gets one reconciliation a full interval after it was counted,
// and a user without meetings costs nothing more.
func (s *Scraper) settledUnderEvents(u *userState, at time.Time) bool {
	quietFrom := at.Add(-s.conf.FullInterval)
	return !s.flowingSince.IsZero() && !s.flowingSince.After(quietFrom) && u.lastChanged.Before(quietFrom)
}

// eventsFlowingSince is when the current unbroken flow of events began;
// zero when events do not flow, or sweeps keep the polling cadence.
func (s *Scraper) eventsFlowingSince() time.Time {
	if s.conf.EventsFlowing == nil || s.conf.SweepInterval <= s.conf.Interval {
		return time.Time{}
	}
	if ok, since := s.conf.EventsFlowing(); ok {
		return since
	}
	return time.Time{}
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
	rows := make(map[string]map[string]zoom.HostActivity, len(windows)) // month -> id or lower-case e-mail -> row
	for _, w := range windows {
		hosts, err := s.client.ActiveHosts(ctx, w.from, w.to)
		if err != nil {
			if s.failures.shouldLog("\x00sweep", failureKind(err), now, s.conf.Interval) {
				level.Warn(s.logger).Log("msg", "Hosts report failed; no change detection this cycle", "month", monthKey(w.month), "err", sanitize.Message(err.Error()))
			}
			return used(), err
		}
		s.failures.forget("\x00sweep")
		byKey := make(map[string]zoom.HostActivity, 2*len(hosts))
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
				row = zoom.HostActivity{}
			}
			totals := hostTotals{row.Meetings, row.Participants, row.MeetingMinutes}
			u.seenHost[mk] = totals
			prev, fetched := u.fetchedHost[mk]
			switch {
			case u.info.ID == "" && (!fetched || prev != totals):
				// Not listed by GET /users (a --zoom.user Zoom may not
				// know): only its own report can tell.
				u.dirty[mk] = true
			case fetched && prev == totals:
				if !u.dirty[mk] {
					u.knownAt[mk] = now
				}
			case totals == (hostTotals{}) && (!fetched || prev == (hostTotals{})):
				// Hosted nothing in the month (no row, or a row of zeros as
				// recorded from real Zoom): its report is empty, no call needed.
				u.fetchedHost[mk] = totals
				if w.current && !u.monthOf.Equal(w.month) {
					u.month, u.monthOf = map[string]Totals{}, w.month
				}
				if !u.dirty[mk] {
					u.knownAt[mk] = now
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
	// The time a change may wait: between sweeps of the current month, or
	// for a round-robin round to come back; an overdue sweep or round
	// counts as it grows. Gaps within a quarter interval of the interval
	// are the interval: cycles start on a ticker, not to the nanosecond.
	inCycles := func(d time.Duration) time.Duration {
		if d <= s.conf.Interval+s.conf.Interval/4 {
			return s.conf.Interval
		}
		return d
	}
	effective := s.conf.Interval
	expected := s.conf.Interval // what the schedule means to do: sweeps every sweepEvery while events flow
	if s.detectsChanges() {
		expected = max(expected, s.sweepEvery)
		if !s.previousSweep.IsZero() {
			effective = max(effective, inCycles(s.lastSweep.Sub(s.previousSweep)))
		}
		if !s.lastSweep.IsZero() {
			effective = max(effective, inCycles(now.Sub(s.lastSweep)))
		}
	} else {
		effective = max(effective, inCycles(s.lastRound))
		if !s.roundStart.IsZero() {
			effective = max(effective, inCycles(now.Sub(s.roundStart)))
		}
	}
	s.effectiveInterval = effective
	stretched := p.deferred > 0 || effective > expected*3/2
	if stretched && !s.stretched {
		level.Warn(s.logger).Log("msg", "The daily budget cannot refresh every user every interval; stretching the per-user refresh interval",
			"daily_budget", s.client.Budget().Budget, "users_waiting", p.deferred, "effective_interval", effective.Round(time.Second))
	} else if !stretched && s.stretched {
		level.Info(s.logger).Log("msg", "Every user fits the daily budget again", "effective_interval", effective.Round(time.Second))
	}
	s.stretched = stretched
}
