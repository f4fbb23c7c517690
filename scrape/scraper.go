package scrape

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/zoomexporter/zoom_exporter/internal/sanitize"
	"github.com/zoomexporter/zoom_exporter/store"
	"github.com/zoomexporter/zoom_exporter/zoom"
)

// ScraperConfig configures the background refresh.
type ScraperConfig struct {
	Client      *zoom.Client
	Users       []string      // ids or e-mails to track; empty: every active user
	Interval    time.Duration // between refresh starts
	GracePeriod time.Duration // after a month turns, the previous month is refreshed too
	ReportType  string        // past, pastOne or pastJoined
	Concurrency int           // users refreshed at once
	// FullInterval is how often every user is fetched even when the hosts
	// report shows no change.
	FullInterval time.Duration
	Now          func() time.Time
	Logger       log.Logger
	// Store keeps counters across restarts; nil keeps them in memory only.
	Store *store.Store
	// Owns says whether this exporter's shard refreshes a user (by Zoom
	// id, or --zoom.user value lower-cased); nil owns every user.
	Owns func(key string) bool

	// EventsFlowing says whether Zoom events reach HandleEvent, and since
	// when without a break (events.go); nil: no event transport. While it
	// reports ok the live gauges are served, and sweeps run every
	// SweepInterval.
	EventsFlowing func() (ok bool, since time.Time)
	// SweepInterval is how often the hosts report is swept while events
	// flow: they bring ended meetings within seconds, and sweeps only
	// reconcile what they missed. 0, or not above Interval: every Interval.
	SweepInterval time.Duration
	// Registerer, when set, gets the event path's self-metrics (events.go).
	Registerer prometheus.Registerer
	// Account chooses the account collectors' fetches (account.go).
	Account AccountConfig
	// ColdStart lets refreshes borrow up to what remains of the day's
	// budget beyond the bucket until every tracked user was covered once,
	// so that the first refresh of an account covers everyone (coldstart.go).
	ColdStart bool
}

// MaxIDBytes bounds a user id or meeting uuid from Zoom (README, "Status
// page and reliability"). Zoom's are about 22 and 24 characters; a longer
// one is refused before it reaches the store, whose keys it would be.
const MaxIDBytes = 256

// maxEmailBytes bounds the e-mail of the user label (RFC 5321's 254).
const maxEmailBytes = 254

// Scraper refreshes every tracked user's report in the background and
// publishes each result as an immutable Snapshot. Scrapes read the latest
// snapshot and never wait for a refresh.
type Scraper struct {
	conf   ScraperConfig
	client *zoom.Client
	now    func() time.Time
	logger log.Logger

	snapshot atomic.Pointer[Snapshot]
	ready    atomic.Bool

	refreshing sync.Mutex // held for a whole refresh: two never overlap

	// Mutable state below is touched only during a refresh.
	mu         sync.Mutex // guards users, histograms and tallies while user refreshes run concurrently
	users      map[string]*userState
	durations  map[string]*Histogram // by type
	sizes      map[string]*Histogram // by type
	lastOK     time.Time
	directory  map[string]zoom.User // last good GET /users, by id
	listedOnce bool
	store      *store.Store
	prunedFor  string // month whose six-month pruning is done
	restored   bool   // counters of at least one user came from the store

	// Months whose meetings already counted (the dedupe sets) are in
	// memory; a month needed again after it was dropped (a clock stepped
	// back) is read back from the store first.
	inMemory map[string]bool
	// coverage is, by month, when every tracked user's data of the month
	// was last known current; kept in the store to tell, after a downtime,
	// whether the previous month was seen to its end.
	coverage      map[string]time.Time
	savedCoverage map[string]time.Time
	catchUp       *catchUpWindow

	// Bounds on what Zoom sends (since start).
	clampedFigures  uint64
	refusedMeetings uint64
	refusedUsers    uint64
	refusedExample  string // one refused id of this cycle, cut short, for the log

	failures failureLog

	// Scheduling (schedule.go).
	bucket             heavyBucket
	sweepPagesPerMonth int                  // Heavy calls the last sweep took per month swept
	sweptAt            map[string]time.Time // month -> last successful sweep of its hosts report
	lastSweep          time.Time            // last sweep of the current month
	previousSweep      time.Time
	splitNoted         string        // month whose slower sweeps during the grace period were logged
	roundStart         time.Time     // round-robin: when the current round began
	lastRound          time.Duration // round-robin: how long the last full round took
	effectiveInterval  time.Duration
	stretched          bool
	pending            int
	sweepEvery         time.Duration // sweep cadence of the last cycle (sweepCadence)
	flowingSince       time.Time     // the last cycle's eventsFlowingSince
	warm               bool          // every tracked user was covered once: no more cold start (coldstart.go)

	// Zoom events (events.go): touched by HandleEvent and scrapes, so each
	// has its own lock; none is held while calling Zoom.
	live     liveState
	targeted targetedQueue
	hosts    atomic.Pointer[map[string]string] // Zoom host id -> key of a tracked user
	evm      *eventPathMetrics

	account accountState // the account collectors (account.go)
}

// catchUpWindow is a month refreshed once more after a downtime hid the end
// of its grace period.
type catchUpWindow struct {
	month time.Time
	until time.Time // given up then, caught up or not
}

// userState is one tracked user's data across refreshes.
type userState struct {
	// key identifies the user in state and store: the Zoom id of a
	// discovered user, the --zoom.user value of a configured one. It never
	// changes, so a restart finds the same counters.
	key        string
	apiUser    string    // what is sent as {userId}: the Zoom id when known
	configured string    // as given in --zoom.user, if it was
	info       zoom.User // from GET /users; zero when not listed
	email      string    // as stored: the directory's e-mail when last listed

	month        map[string]Totals // current month by type; replaced whole on refresh
	monthOf      time.Time
	counters     map[string]Totals                       // cumulative by type
	counted      map[string]map[meetingID]countedMeeting // month key -> meeting -> contribution
	lastOK       time.Time                               // data known current (fetched, or shown unchanged by a sweep)
	retiredSince time.Time                               // no longer tracked since; zero while tracked
	trackedSince time.Time                               // first tracked (or restored) by this process
	lastTry      time.Time

	// Scheduling (schedule.go).
	seenHost    map[string]hostTotals // month -> hosts-report totals of the last sweep
	fetchedHost map[string]hostTotals // month -> hosts-report totals when last fetched
	dirty       map[string]bool       // months a sweep showed a change in that is not fetched yet
	fetchedAt   map[string]time.Time  // month -> its report's last successful fetch
	knownAt     map[string]time.Time  // month -> its data last known current (fetched, or swept unchanged)
	lastFetch   time.Time             // last fetch in which every month asked for came back
	lastActive  time.Time             // when a new meeting was last counted
	lastChanged time.Time             // when a fetch last counted or grew a meeting
	pages       map[string]int        // month -> report pages its last fetch took
	lastError   string
	lastAPIErr  *zoom.APIError // Zoom's answer behind lastError, when there was one
}

// NewScraper returns a Scraper, with the counters of conf.Store restored;
// call Run to start it.
func NewScraper(conf ScraperConfig) (*Scraper, error) {
	if conf.Now == nil {
		conf.Now = time.Now
	}
	if conf.Logger == nil {
		conf.Logger = log.NewNopLogger()
	}
	if conf.Concurrency < 1 {
		conf.Concurrency = 1
	}
	if conf.ReportType == "" {
		conf.ReportType = zoom.ReportPast
	}
	if conf.FullInterval <= 0 {
		conf.FullInterval = 6 * time.Hour
	}
	s := &Scraper{
		conf:          conf,
		client:        conf.Client,
		now:           conf.Now,
		logger:        conf.Logger,
		users:         make(map[string]*userState),
		durations:     make(map[string]*Histogram),
		sizes:         make(map[string]*Histogram),
		directory:     make(map[string]zoom.User),
		store:         conf.Store,
		inMemory:      make(map[string]bool),
		coverage:      make(map[string]time.Time),
		savedCoverage: make(map[string]time.Time),
		sweptAt:       make(map[string]time.Time),
		failures:      failureLog{logged: make(map[string]loggedFailure)},
	}
	now := conf.Now().UTC()
	s.snapshot.Store(&Snapshot{Month: monthStart(now), NextRefresh: now})
	if s.store != nil {
		if err := s.restore(s.store); err != nil {
			return nil, err
		}
	}
	var err error
	if s.evm, err = newEventPathMetrics(conf.Registerer); err != nil {
		return nil, err
	}
	s.initEvents()
	s.initAccount()
	return s, nil
}

// Snapshot returns the latest published snapshot, with the live state of
// now when an event transport is configured (events.go); never nil.
func (s *Scraper) Snapshot() *Snapshot {
	base := s.snapshot.Load()
	if s.conf.EventsFlowing == nil {
		return base
	}
	return s.withLive(base)
}

// Ready reports whether this process has data worth serving. It becomes
// true at the end of the first refresh that brought data from Zoom (a user's
// report fetched, or shown unchanged by the hosts report; or the user
// listing, when there is no user to track), or at the end of the first
// refresh, whatever its outcome, when counters were restored from the
// store. It never becomes false again: a restart does not fix Zoom.
func (s *Scraper) Ready() bool { return s.ready.Load() }

// Run refreshes at once, then every Interval, until ctx ends. A refresh that
// outlasts the interval delays the next one instead of overlapping it.
//
// Targeted fetches after meeting.ended events (events.go) run beside it,
// woken by the events rather than by the interval.
func (s *Scraper) Run(ctx context.Context) {
	ticker := time.NewTicker(s.conf.Interval)
	defer ticker.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { s.runTargeted(ctx) })
	for {
		s.Refresh(ctx)
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// Refresh runs one refresh cycle and publishes its snapshot. A call made
// while another refresh runs waits for it to end.
func (s *Scraper) Refresh(ctx context.Context) {
	s.refreshing.Lock()
	defer s.refreshing.Unlock()
	start := time.Now()
	now := s.now().UTC()

	listOK := s.refreshDirectory(ctx, now)
	s.reserveAccount(now) // account.go: budget for the account reports, called below
	tracked := s.trackedUsers(now)
	months, loadOK := s.loadMonths(s.monthsToRefresh(now), now)
	// Targeted fetches that are due come first in the budget.
	s.countOutcomes(s.runTargetedLocked(ctx, now))
	settle := s.borrowForColdStart(tracked, now) // coldstart.go
	var plan cyclePlan
	if loadOK {
		plan = s.planCycle(ctx, tracked, months, now)
	} // else nothing is fetched: counting without the meetings already counted could count twice
	s.mu.Lock()
	for _, u := range plan.confirmed {
		u.lastOK, u.lastTry = now, now
		u.lastError, u.lastAPIErr = "", nil
		s.failures.forget(u.key)
	}
	s.mu.Unlock()

	var failed atomic.Int64
	work := make(chan userFetch)
	var wg sync.WaitGroup
	for range min(s.conf.Concurrency, max(len(plan.fetch), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range work {
				if !s.refreshUser(ctx, f.user, f.windows, now) {
					failed.Add(1)
				}
			}
		}()
	}
	for _, f := range plan.fetch {
		work <- f
	}
	close(work)
	wg.Wait()
	s.refreshAccount(ctx, now, listOK)
	settle()

	s.noteCoverage(tracked, months, now)
	if loadOK {
		s.pruneMonths(months, now)
	}
	s.saveBudget()
	s.logRefused(now)
	s.pending = plan.deferred
	s.noteSchedule(plan, now)
	s.resolveTargetedLocked(now)
	cycleOK := listOK && loadOK && plan.sweepErr == nil && failed.Load() == 0 && ctx.Err() == nil
	fresh := s.allFresh(tracked, now)
	up := cycleOK && fresh
	if up {
		s.lastOK = now
	}
	elapsed := time.Since(start)
	s.publish(now, up, elapsed)

	// Ready once this process has data worth serving (see Ready).
	obtained := int(int64(len(plan.fetch))-failed.Load()) + len(plan.confirmed)
	if obtained > 0 || (listOK && len(tracked) == 0) || s.restored {
		s.ready.Store(true)
	}
	level.Info(s.logger).Log("msg", "Refresh finished", "users", len(tracked), "fetched", len(plan.fetch), "unchanged", len(plan.confirmed),
		"waiting", plan.deferred, "failed_users", failed.Load(), "users_listed", listOK, "up", up, "duration", elapsed.Round(time.Millisecond))
}

// refreshDirectory reads GET /users (Medium: no daily cap) for discovery and
// for the license and department of zoom_user_info. On failure the last good
// list stays in use.
func (s *Scraper) refreshDirectory(ctx context.Context, now time.Time) bool {
	users, err := s.client.ActiveUsers(ctx)
	if err != nil {
		if s.failures.shouldLog("\x00listing", failureKind(err), now, s.conf.Interval) {
			level.Warn(s.logger).Log("msg", "Listing Zoom users failed; keeping the last list", "err", sanitize.Message(err.Error()))
		}
		return false
	}
	s.failures.forget("\x00listing")
	dir := make(map[string]zoom.User, len(users))
	for _, u := range users {
		if u.ID == "" {
			continue
		}
		if len(u.ID) > MaxIDBytes {
			s.refuse(&s.refusedUsers, u.ID)
			continue
		}
		// Outside text bound once, here: it reaches labels, the store and logs.
		u.Email = sanitize.Text(u.Email, maxEmailBytes)
		u.DisplayName = sanitize.Field(u.DisplayName)
		u.Dept = sanitize.Field(u.Dept)
		u.Status = sanitize.Field(u.Status)
		dir[u.ID] = u
	}
	s.directory = dir
	s.listedOnce = true
	return true
}

// refuse counts an id over MaxIDBytes and keeps one, cut short, for the
// cycle's log line.
func (s *Scraper) refuse(tally *uint64, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	*tally++
	if s.refusedExample == "" {
		s.refusedExample = sanitize.Text(id, 64)
	}
}

// logRefused says, in one bounded line at most once an interval, that ids
// over MaxIDBytes were refused.
func (s *Scraper) logRefused(now time.Time) {
	s.mu.Lock()
	example := s.refusedExample
	s.refusedExample = ""
	users, meetings := s.refusedUsers, s.refusedMeetings
	s.mu.Unlock()
	if example != "" && s.failures.shouldLog("\x00refused", "oversize_id", now, s.conf.Interval) {
		level.Warn(s.logger).Log("msg", "Refused users or meetings whose Zoom id is longer than the bound; they are not counted or stored",
			"max_bytes", MaxIDBytes, "example", example, "refused_users_total", users, "refused_meetings_total", meetings)
	}
}

// trackedUsers builds the list of users to refresh, in a stable order, and
// forgets users that are no longer tracked.
func (s *Scraper) trackedUsers(now time.Time) []*userState {
	wanted := make(map[string]*userState)
	switch {
	case len(s.conf.Users) == 0 && !s.listedOnce:
		// Discovery has not worked yet (Zoom down at start): refresh the
		// users restored from the store rather than forget them.
		for key, u := range s.users {
			if s.owns(key) {
				wanted[key] = u
			}
		}
	case len(s.conf.Users) == 0:
		for id, info := range s.directory {
			if !s.owns(id) {
				continue
			}
			u := s.stateFor(id)
			u.info, u.apiUser = info, id
			wanted[id] = u
		}
	default:
		byEmail := make(map[string]zoom.User, len(s.directory))
		for _, u := range s.directory {
			byEmail[strings.ToLower(u.Email)] = u
		}
		resolved := make(map[string]string) // Zoom id -> first --zoom.user naming it
		for _, c := range s.conf.Users {
			// The value as given, lower-cased, keeps a user on its shard
			// even when discovery fails.
			if !s.owns(strings.ToLower(c)) {
				continue
			}
			info, found := s.directory[c]
			if !found {
				info, found = byEmail[strings.ToLower(c)]
			}
			if found {
				if first, dup := resolved[info.ID]; dup {
					level.Warn(s.logger).Log("msg", "Two --zoom.user values name the same user; tracking it once", "user", first, "duplicate", c)
					continue
				}
				resolved[info.ID] = c
			}
			u := s.stateFor(c)
			u.configured, u.apiUser, u.info = c, c, zoom.User{}
			if found {
				u.info, u.apiUser = info, info.ID
			}
			wanted[c] = u
		}
	}
	// A user no longer listed (deactivated, or missed by one listing) or
	// configured is retired, not forgotten: its counters stay served, never
	// counting down, and go on if it comes back. It is forgotten after
	// retireFor, or at once when another shard now owns it.
	for key, u := range s.users {
		if _, ok := wanted[key]; ok {
			continue
		}
		if u.retiredSince.IsZero() {
			u.retiredSince = now
		}
		if s.ownsKey(key) && now.Sub(u.retiredSince) < retireFor {
			continue
		}
		delete(s.users, key)
		s.failures.forget(key)
		if s.store != nil {
			if err := s.store.DeleteUser(key); err != nil {
				level.Warn(s.logger).Log("msg", "Cannot forget an untracked user in the store", "user", sanitize.Field(key), "err", sanitize.Message(err.Error()))
			}
		}
	}
	list := make([]*userState, 0, len(wanted))
	for _, u := range wanted {
		if !u.retiredSince.IsZero() {
			u.trackedSince = now // back: it waits from now
		}
		u.retiredSince = time.Time{}
		list = append(list, u)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].key < list[j].key })
	s.indexHosts(list)
	return list
}

func (s *Scraper) owns(key string) bool { return s.conf.Owns == nil || s.conf.Owns(key) }

// ownsKey is owns for a state key: a Zoom id when users are discovered, a
// --zoom.user value (owned by its lower-cased form) when they are configured.
func (s *Scraper) ownsKey(key string) bool {
	if len(s.conf.Users) > 0 {
		return s.owns(strings.ToLower(key))
	}
	return s.owns(key)
}

// retireFor is how long a user no longer tracked keeps its counters: past
// Zoom's six-month report window nothing of it can change any more.
const retireFor = 190 * 24 * time.Hour

func (s *Scraper) stateFor(key string) *userState {
	u, ok := s.users[key]
	if !ok {
		u = &userState{
			key: key, apiUser: key,
			trackedSince: s.now().UTC(),
			counters:     make(map[string]Totals),
			counted:      make(map[string]map[meetingID]countedMeeting),
			seenHost:     make(map[string]hostTotals),
			fetchedHost:  make(map[string]hostTotals),
			dirty:        make(map[string]bool),
			fetchedAt:    make(map[string]time.Time),
			knownAt:      make(map[string]time.Time),
			pages:        make(map[string]int),
		}
		s.users[key] = u
	}
	return u
}

// reportWindow is one month's report request: from the 1st to the month's
// last day, or to today for the current month.
type reportWindow struct {
	month    time.Time
	from, to time.Time
	current  bool
}

// monthsToRefresh is the current month, and the previous one while the
// grace period after the month turned lasts (meetings reach reports up to
// ~30 minutes after they end) or while it is caught up after a downtime.
func (s *Scraper) monthsToRefresh(now time.Time) []reportWindow {
	cur := monthStart(now)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	windows := []reportWindow{{month: cur, from: cur, to: today, current: true}}
	prev := cur.AddDate(0, -1, 0)
	inGrace := now.Sub(cur) < s.conf.GracePeriod
	if c := s.catchUp; inGrace || (c != nil && c.month.Equal(prev) && now.Before(c.until)) {
		windows = append(windows, reportWindow{month: prev, from: prev, to: cur.AddDate(0, 0, -1)})
	}
	return windows
}

// loadMonths makes sure the meetings already counted in each window's
// month are in memory: a month dropped from memory and needed again (the
// clock stepped back across the 1st, or a catch-up) is read back from the
// store, so nothing is counted twice. When one cannot be read, it reports
// false and the cycle fetches nothing.
func (s *Scraper) loadMonths(windows []reportWindow, now time.Time) ([]reportWindow, bool) {
	var missing []string
	for _, w := range windows {
		if mk := monthKey(w.month); !s.inMemory[mk] {
			missing = append(missing, mk)
		}
	}
	if len(missing) == 0 {
		return windows, true
	}
	if s.store == nil {
		// Memory only: a month not in memory was never counted, or was
		// dropped long ago (see pruneMonths).
		for _, mk := range missing {
			s.inMemory[mk] = true
		}
		return windows, true
	}
	users, _, err := s.store.Load(func(month string) bool { return slices.Contains(missing, month) })
	if err != nil {
		if s.failures.shouldLog("\x00load", "store", now, s.conf.Interval) {
			level.Error(s.logger).Log("msg", "Cannot read the meetings already counted from the store; not refreshing those months this cycle", "months", strings.Join(missing, ","), "err", sanitize.Message(err.Error()))
		}
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, data := range users {
		u, ok := s.users[key]
		if !ok {
			continue
		}
		for _, mk := range missing {
			recs := data.Meetings[mk]
			if len(recs) == 0 {
				continue
			}
			counted := u.counted[mk]
			if counted == nil {
				counted = make(map[meetingID]countedMeeting, len(recs))
				u.counted[mk] = counted
			}
			for uuid, b := range recs {
				c, err := decodeCounted(b)
				if err != nil {
					continue // Load checks every value's checksum: only a foreign encoding gets here
				}
				if id := idOf(uuid); !hasKey(counted, id) {
					counted[id] = c
				}
			}
		}
	}
	for _, mk := range missing {
		s.inMemory[mk] = true
	}
	return windows, true
}

// windowReport is one month's report as fetched.
type windowReport struct {
	window   reportWindow
	meetings []zoom.Meeting
}

// refreshUser fetches a user's reports of the given windows (the cycle's
// windows, or those of them planCycle chose for the user) and folds them into
// its state. It reports whether every report came back and was stored; a
// failed user keeps its last good data. A month whose report came back and
// was stored is no longer dirty; a month that failed, or was not asked for,
// keeps its state.
func (s *Scraper) refreshUser(ctx context.Context, u *userState, windows []reportWindow, now time.Time) bool {
	var (
		reports  []windowReport
		errs     []string
		apiErr   *zoom.APIError
		firstErr error
		months   []string
	)
	for _, w := range windows {
		meetings, err := s.client.UserMeetings(ctx, u.apiUser, w.from, w.to, s.conf.ReportType)
		if err != nil {
			errs = append(errs, err.Error())
			months = append(months, monthKey(w.month))
			if firstErr == nil {
				firstErr = err
			}
			var ae *zoom.APIError
			if errors.As(err, &ae) {
				apiErr = ae
			}
			var quota *zoom.DailyQuotaError
			var budget *zoom.BudgetExhaustedError
			if errors.As(err, &quota) || errors.As(err, &budget) || ctx.Err() != nil {
				break
			}
			continue
		}
		reports = append(reports, windowReport{w, meetings})
	}
	if firstErr != nil && s.failures.shouldLog(u.key, failureKind(firstErr), now, s.conf.Interval) {
		level.Warn(s.logger).Log("msg", "Refreshing user failed; keeping its last data", "user", sanitize.Field(u.key),
			"month", strings.Join(months, ","), "err", sanitize.Message(strings.Join(errs, "; ")))
	}
	// What did come back is counted: counting is by uuid, so a month
	// fetched again later adds nothing twice.
	stored := true
	if err := s.apply(u, reports); err != nil {
		stored = false
		errs = append(errs, err.Error())
		if s.failures.shouldLog(u.key, "store", now, s.conf.Interval) {
			level.Error(s.logger).Log("msg", "Storing a user's refresh failed; it will be counted by a later refresh", "user", sanitize.Field(u.key), "err", sanitize.Message(err.Error()))
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u.lastTry = now
	if stored {
		// Each month that came back is current, whatever became of the others.
		for _, r := range reports {
			mk := monthKey(r.window.month)
			u.pages[mk] = max(1, (len(r.meetings)+zoom.PageSize-1)/zoom.PageSize)
			u.fetchedAt[mk] = now
			u.knownAt[mk] = now
			delete(u.dirty, mk)
			if seen, ok := u.seenHost[mk]; ok {
				u.fetchedHost[mk] = seen
			}
		}
	}
	if len(errs) == 0 {
		u.lastOK = now
		u.lastFetch = now
		u.lastError, u.lastAPIErr = "", nil
		s.failures.forget(u.key)
		return true
	}
	u.lastError, u.lastAPIErr = sanitize.Message(strings.Join(errs, "; ")), apiErr
	return false
}

// apply counts new meetings and growth of known ones and, for the current
// month, replaces the month-to-date totals. A meeting is known by its uuid
// in any month in memory: one listed in two months' reports (it spanned
// the 1st) counts once, and its record is kept under both months so that
// either, alone, still knows it. With a store, the changes are committed in
// one transaction first and the state changes only if the commit succeeds,
// so memory and store never disagree.
func (s *Scraper) apply(u *userState, reports []windowReport) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	counters := make(map[string]Totals, len(u.counters))
	for typ, t := range u.counters {
		counters[typ] = t
	}
	changed := make(map[string]map[string]countedMeeting) // month -> uuid -> new record
	var observed []zoom.Meeting                           // first counted now: histogram observations
	var month map[string]Totals
	var monthOf time.Time
	var clamped, refused uint64
	refusedExample := ""
	// The label's e-mail is the directory's, never a meeting row's: a row
	// may carry another user's e-mail (issue 15), and a label that moves
	// makes series go down.
	email := u.email
	if u.info.Email != "" {
		email = u.info.Email
	}
	// find returns a meeting's record as counted so far, this refresh's
	// changes first, and the months that hold it.
	find := func(uuid string) (countedMeeting, []string) {
		var rec countedMeeting
		var in []string
		for mk, recs := range changed {
			if c, ok := recs[uuid]; ok {
				rec, in = c, append(in, mk)
			}
		}
		id := idOf(uuid)
		for mk, recs := range u.counted {
			if c, ok := recs[id]; ok && !slices.Contains(in, mk) {
				if len(in) == 0 {
					rec = c
				}
				in = append(in, mk)
			}
		}
		return rec, in
	}
	for _, r := range reports {
		key := monthKey(r.window.month)
		if r.window.current {
			month, monthOf = make(map[string]Totals), r.window.month
		}
		for _, m := range r.meetings {
			if len(m.UUID) > MaxIDBytes {
				refused++
				if refusedExample == "" {
					refusedExample = sanitize.Text(m.UUID, 64)
				}
				continue // never a store key: not counted at all
			}
			typ := TypeName(m.Type)
			if r.window.current {
				t := month[typ]
				t.Add(figures(m))
				month[typ] = t
			}
			if m.UUID == "" {
				continue // cannot be told apart from another: never counted
			}
			var add Totals
			prev, in := find(m.UUID)
			var next countedMeeting
			if len(in) == 0 {
				add, next = figures(m), record(m)
				observed = append(observed, m)
				clamped += uint64(clampedFigures(m))
			} else {
				add, next = growth(prev, m)
				typ = TypeName(int(prev.Type)) // counted under the type it was first seen with
				if next != prev {
					clamped += uint64(clampedFigures(m))
				}
			}
			if next == prev && slices.Contains(in, key) {
				continue
			}
			if !slices.Contains(in, key) {
				in = append(in, key)
			}
			for _, mk := range in {
				if changed[mk] == nil {
					changed[mk] = make(map[string]countedMeeting)
				}
				changed[mk][m.UUID] = next
			}
			c := counters[typ]
			c.Add(add)
			counters[typ] = c
		}
	}
	s.refusedMeetings += refused
	if refusedExample != "" && s.refusedExample == "" {
		s.refusedExample = refusedExample
	}

	if s.store != nil && (len(changed) > 0 || email != u.email) {
		if err := s.commit(u.key, email, counters, changed, observed); err != nil {
			return err
		}
	}
	for key, recs := range changed {
		if u.counted[key] == nil {
			u.counted[key] = make(map[meetingID]countedMeeting, len(recs))
		}
		for uuid, rec := range recs {
			u.counted[key][idOf(uuid)] = rec
		}
	}
	for _, m := range observed {
		s.observe(s.durations, s.sizes, m)
	}
	s.clampedFigures += clamped
	if len(observed) > 0 {
		u.lastActive = s.now()
	}
	if len(changed) > 0 {
		u.lastChanged = s.now()
	}
	if !maps.Equal(counters, u.counters) {
		u.counters = counters // a new map: snapshots share the old one
	}
	u.email = email
	// The month's map is kept when nothing in it changed, so that
	// snapshots share it.
	if month != nil && (u.month == nil || !u.monthOf.Equal(monthOf) || !maps.Equal(month, u.month)) {
		u.month, u.monthOf = month, monthOf
	}
	return nil
}

// commit writes one user's changes, with the histograms as they will be
// after the observations, in one transaction.
func (s *Scraper) commit(user, email string, counters map[string]Totals, changed map[string]map[string]countedMeeting, observed []zoom.Meeting) error {
	encCounters := encodeCounters(counters)
	var err error
	var encHist []byte
	if len(observed) > 0 {
		durations, sizes := cloneHistograms(s.durations), cloneHistograms(s.sizes)
		for _, m := range observed {
			s.observe(durations, sizes, m)
		}
		if encHist, err = encodeHistograms(durations, sizes); err != nil {
			return err
		}
	}
	meetings := make(map[string]map[string][]byte, len(changed))
	for month, recs := range changed {
		enc := make(map[string][]byte, len(recs))
		for uuid, rec := range recs {
			enc[uuid] = encodeCounted(rec)
		}
		meetings[month] = enc
	}
	return s.store.Commit(store.Change{User: user, Email: email, Counters: encCounters, Meetings: meetings, Histograms: encHist})
}

func cloneHistograms(in map[string]*Histogram) map[string]*Histogram {
	out := make(map[string]*Histogram, len(in))
	for typ, h := range in {
		c := h.clone()
		out[typ] = &c
	}
	return out
}

// observe adds a newly counted meeting to the histograms of its type, with
// its figures clamped as the counters have them.
func (s *Scraper) observe(durations, sizes map[string]*Histogram, m zoom.Meeting) {
	typ := TypeName(m.Type)
	d, ok := durations[typ]
	if !ok {
		d = newHistogram(DurationBuckets)
		durations[typ] = d
	}
	d.observe(float64(clampMinutes(m.Duration)) * 60)
	p, ok := sizes[typ]
	if !ok {
		p = newHistogram(ParticipantsBuckets)
		sizes[typ] = p
	}
	p.observe(float64(clampParticipants(m.ParticipantsCount)))
}

// pruneMonths forgets, in memory, the meetings of months no longer
// refreshed; the store keeps them for Zoom's six-month report window, and
// loadMonths reads a month back should it be refreshed again. Without a
// store nothing could be read back, so the previous month, and any month
// after the current one (the clock stepped back), stay in memory.
func (s *Scraper) pruneMonths(windows []reportWindow, now time.Time) {
	if cur := monthKey(now); s.store != nil && s.prunedFor != cur {
		oldest := monthKey(monthStart(now).AddDate(0, -6, 0))
		if err := s.store.PruneBefore(oldest); err != nil {
			level.Warn(s.logger).Log("msg", "Pruning old months from the store failed", "err", sanitize.Message(err.Error()))
		} else {
			s.prunedFor = cur
		}
	}
	keep := make(map[string]bool, len(windows))
	for _, w := range windows {
		keep[monthKey(w.month)] = true
	}
	// Dedupe sets only: a month's other state is of no use once it is not refreshed.
	keepCounted := func(k string) bool {
		return keep[k] || (s.store == nil && k >= monthKey(monthStart(now).AddDate(0, -1, 0)))
	}
	maps.DeleteFunc(s.inMemory, func(k string, _ bool) bool { return !keepCounted(k) })
	maps.DeleteFunc(s.sweptAt, func(k string, _ time.Time) bool { return !keep[k] })
	for _, u := range s.users {
		maps.DeleteFunc(u.counted, func(k string, _ map[meetingID]countedMeeting) bool { return !keepCounted(k) })
		// A month no longer refreshed has nothing left to fetch.
		maps.DeleteFunc(u.dirty, func(k string, _ bool) bool { return !keep[k] })
		maps.DeleteFunc(u.fetchedAt, func(k string, _ time.Time) bool { return !keep[k] })
		maps.DeleteFunc(u.knownAt, func(k string, _ time.Time) bool { return !keep[k] })
		maps.DeleteFunc(u.pages, func(k string, _ int) bool { return !keep[k] })
	}
}

// staleAfter is how old a tracked user's data may grow before the user is
// overdue: twice the effective interval (a change may wait one effective
// interval to be seen, and a round-robin user is fetched once a round, at
// any point of it), plus one interval of slack for the cycle that fetches it.
func (s *Scraper) staleAfter() time.Duration {
	return 2*max(s.effectiveInterval, s.conf.Interval) + s.conf.Interval
}

// overdueSince returns when a tracked user's data became overdue, or the
// zero time while it is not. A user never refreshed counts from when it was
// first tracked.
func (s *Scraper) overdueSince(u *userState, now time.Time) time.Time {
	if !u.retiredSince.IsZero() {
		return time.Time{}
	}
	ref := u.lastOK
	if ref.IsZero() {
		ref = u.trackedSince
	}
	if at := ref.Add(s.staleAfter()); now.After(at) {
		return at
	}
	return time.Time{}
}

// allFresh reports whether every tracked user has data from Zoom that is not
// overdue and no failure since.
func (s *Scraper) allFresh(tracked []*userState, now time.Time) bool {
	for _, u := range tracked {
		if u.lastOK.IsZero() || u.lastError != "" || !s.overdueSince(u, now).IsZero() {
			return false
		}
	}
	return true
}

func (s *Scraper) publish(now time.Time, ok bool, elapsed time.Duration) {
	next := now.Add(s.conf.Interval)
	if end := s.now().UTC(); end.After(next) {
		next = end // the refresh outlasted the interval: the next one starts at once
	}
	s.snapshot.Store(s.buildSnapshot(now, ok, elapsed, next))
}

// republish publishes the users' data again between refreshes (after a
// targeted fetch), with the health of the last refresh as it was.
func (s *Scraper) republish() {
	prev := s.snapshot.Load()
	s.snapshot.Store(s.buildSnapshot(prev.Published, prev.Up, prev.RefreshDuration, prev.NextRefresh))
}

func (s *Scraper) buildSnapshot(now time.Time, ok bool, elapsed time.Duration, next time.Time) *Snapshot {
	cur := monthStart(now)
	snap := &Snapshot{
		Published:         now,
		Month:             cur,
		Up:                ok,
		LastSuccess:       s.lastOK,
		RefreshDuration:   elapsed,
		NextRefresh:       next,
		EffectiveInterval: s.effectiveInterval,
		OverdueAfter:      s.staleAfter(),
		PendingUsers:      s.pending,
		Durations:         make(map[string]Histogram, len(s.durations)),
		Participants:      make(map[string]Histogram, len(s.sizes)),
		ClampedFigures:    s.clampedFigures,
		RefusedMeetings:   s.refusedMeetings,
		RefusedUsers:      s.refusedUsers,
		Account:           s.accountSnapshot(),
		Users:             make([]UserSnapshot, 0, len(s.users)),
	}
	for typ, h := range s.durations {
		snap.Durations[typ] = h.clone()
	}
	for typ, h := range s.sizes {
		snap.Participants[typ] = h.clone()
	}
	for _, u := range s.users {
		us := UserSnapshot{
			ID:           u.info.ID,
			Key:          u.key,
			Email:        u.labelEmail(),
			Listed:       u.info.ID != "",
			Retired:      !u.retiredSince.IsZero(),
			License:      LicenseName(u.info.Type),
			Dept:         u.info.Dept,
			LastRefresh:  u.lastOK,
			LastAttempt:  u.lastTry,
			LastError:    u.lastError,
			LastZoomErr:  u.lastAPIErr,
			OverdueSince: s.overdueSince(u, now),
			LastLogin:    s.lastLoginOf(u.info.ID),
			Counters:     u.counters, // replaced whole, never mutated: safe to share
		}
		us.Overdue = !us.OverdueSince.IsZero()
		if !us.Listed {
			us.License = ""
		}
		if u.monthOf.Equal(cur) && u.retiredSince.IsZero() {
			us.Month = u.month // replaced whole, never mutated: safe to share
		}
		snap.Users = append(snap.Users, us)
	}
	sort.Slice(snap.Users, func(i, j int) bool { return snap.Users[i].Key < snap.Users[j].Key })
	s.shareUsage(snap)
	return snap
}

// labelEmail is the e-mail of the user label: the directory's (GET /users),
// else the --zoom.user value, else the one stored when the directory last
// listed the user (a restart while listing fails keeps the label), else
// the key. Never a meeting row's.
func (u *userState) labelEmail() string {
	switch {
	case u.info.Email != "":
		return u.info.Email
	case u.configured != "":
		return u.configured
	case u.email != "":
		return u.email
	}
	return u.key
}

// Snapshot is one refresh's complete, immutable result. Nothing in it is
// changed after it is published. Its usage data (users' figures, labels,
// histograms) is also that of Usage(), which stays the same snapshot as long
// as that data does not change: read usage from Usage() to cache it, and
// health (Up, the times, each user's last refresh) from the snapshot itself.
type Snapshot struct {
	Published time.Time // when the refresh that made it started
	Month     time.Time // first day (UTC) of the month the month-to-date figures cover
	// Up (zoom_up): the refresh had no failure (user listing, hosts report,
	// every report it fetched, the store) and every tracked user has data
	// from Zoom that is not overdue (see UserSnapshot.Overdue). A user
	// never refreshed, or waiting for budget beyond OverdueAfter, makes it
	// false; a budget that stretches the interval does not, as long as
	// every user gets its turn.
	Up              bool
	LastSuccess     time.Time // start of the last refresh that was Up; zero if none
	RefreshDuration time.Duration
	// NextRefresh is when the next refresh cycle starts (once the current
	// one ends, if it outlasts the interval).
	NextRefresh time.Time
	// EffectiveInterval is how often a change can currently be seen: the
	// refresh interval, stretched when the daily budget cannot keep up.
	EffectiveInterval time.Duration
	// OverdueAfter is how old a user's data may grow before it is overdue:
	// twice the effective interval plus one interval.
	OverdueAfter time.Duration
	PendingUsers int                  // users that need a refresh the budget has not allowed yet
	Users        []UserSnapshot       // sorted by Key
	Durations    map[string]Histogram // meeting duration in seconds, by type
	Participants map[string]Histogram // participants per meeting, by type

	// Since start: figures from Zoom beyond their bound (usage.go) and
	// clamped to it, and users and meetings refused for an id over
	// MaxIDBytes.
	ClampedFigures  uint64
	RefusedMeetings uint64
	RefusedUsers    uint64

	// Account is what the account collectors fetched (account.go); nil
	// without any.
	Account *AccountSnapshot

	// Live is what is in progress now, from Zoom events (events.go).
	Live LiveSnapshot
	// usage is what Usage returns: the snapshot Live was added to, or the
	// earlier snapshot whose usage data this one repeats (publish.go).
	usage *Snapshot
}

// UserSnapshot is one tracked user in a Snapshot.
type UserSnapshot struct {
	Key         string // the {userId} used for reports
	ID          string // Zoom user id; empty when GET /users did not list the user
	Email       string // from GET /users, else as configured, else as last stored
	Listed      bool   // GET /users listed the user
	Retired     bool   // no longer tracked: only its counters are served
	License     string
	Dept        string
	Month       map[string]Totals // current month by type; nil before the first refresh of the month
	Counters    map[string]Totals // cumulative by type
	LastRefresh time.Time         // last successful refresh; zero if none
	LastAttempt time.Time
	LastError   string         // why the last refresh failed; "" after a success
	LastZoomErr *zoom.APIError // Zoom's status, code, message and tracking id behind LastError, if any
	LastLogin   time.Time      // last sign-in (GET /users last_login_time), with the licenses collector; zero when unknown
	// Overdue: the user's data is older than Snapshot.OverdueAfter (or it
	// was never refreshed and has been tracked that long), since
	// OverdueSince. Never true of a retired user.
	Overdue      bool
	OverdueSince time.Time
}

// String is for logs and test failures.
func (u UserSnapshot) String() string {
	return fmt.Sprintf("%s (%s)", u.Key, u.Email)
}

// failureLog rate-limits failure logging: a failing user (or the listing,
// the hosts report, the store) logs once, then again only after an interval
// or when the kind of failure changes.
type failureLog struct {
	mu     sync.Mutex
	logged map[string]loggedFailure // by user key
}

type loggedFailure struct {
	kind string
	at   time.Time
}

func (l *failureLog) shouldLog(key, kind string, now time.Time, every time.Duration) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if last, ok := l.logged[key]; ok && last.kind == kind && now.Sub(last.at) < every && !now.Before(last.at) {
		return false
	}
	l.logged[key] = loggedFailure{kind, now}
	return true
}

// forget ends a failure episode: the next failure is logged at once.
func (l *failureLog) forget(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.logged, key)
}

// failureKind names the kind of a refresh failure, for failureLog.
func failureKind(err error) string {
	var (
		apiErr     *zoom.APIError
		tokenErr   *zoom.TokenError
		quota      *zoom.DailyQuotaError
		budget     *zoom.BudgetExhaustedError
		incomplete *zoom.IncompleteListingError
	)
	switch {
	case errors.As(err, &tokenErr):
		return fmt.Sprintf("token %d %s", tokenErr.Status, sanitize.Field(tokenErr.Code))
	case errors.As(err, &quota):
		return "daily quota"
	case errors.As(err, &budget):
		return "budget"
	case errors.As(err, &apiErr):
		return fmt.Sprintf("http %d %d", apiErr.Status, apiErr.Code)
	case errors.As(err, &incomplete):
		return "incomplete listing"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	return "other"
}
