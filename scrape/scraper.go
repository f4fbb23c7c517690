package scrape

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/zoomexporter/zoom_exporter/store"
)

// ScraperConfig configures the background refresh.
type ScraperConfig struct {
	Client      *Client
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
}

// Scraper refreshes every tracked user's report in the background and
// publishes each result as an immutable Snapshot. Scrapes read the latest
// snapshot and never wait for a refresh.
type Scraper struct {
	conf   ScraperConfig
	client *Client
	now    func() time.Time
	logger log.Logger

	snapshot atomic.Pointer[Snapshot]
	ready    atomic.Bool

	refreshing sync.Mutex // held for a whole refresh: two never overlap

	// Mutable state below is touched only during a refresh.
	mu         sync.Mutex // guards users and histograms while user refreshes run concurrently
	users      map[string]*userState
	durations  map[string]*Histogram // by type
	sizes      map[string]*Histogram // by type
	lastOK     time.Time
	directory  map[string]User // last good GET /users, by id
	listedOnce bool
	store      *store.Store
	prunedFor  string // month whose six-month pruning is done

	// Scheduling (schedule.go).
	bucket             heavyBucket
	sweepPagesPerMonth int // Heavy calls the last sweep took per month swept
	lastSweep          time.Time
	previousSweep      time.Time
	roundStart         time.Time     // round-robin: when the current round began
	lastRound          time.Duration // round-robin: how long the last full round took
	effectiveInterval  time.Duration
	stretched          bool
	pending            int
}

// userState is one tracked user's data across refreshes.
type userState struct {
	// key identifies the user in state and store: the Zoom id of a
	// discovered user, the --zoom.user value of a configured one. It never
	// changes, so a restart finds the same counters.
	key        string
	apiUser    string // what is sent as {userId}: the Zoom id when known
	configured string // as given in --zoom.user, if it was
	info       User   // from GET /users; zero when not listed
	email      string // from the report, else GET /users, else as configured

	month        map[string]Totals // current month by type; replaced whole on refresh
	monthOf      time.Time
	counters     map[string]Totals                    // cumulative by type
	counted      map[string]map[string]countedMeeting // month key -> uuid -> contribution
	lastOK       time.Time                            // data known current (fetched, or shown unchanged by a sweep)
	retiredSince time.Time                            // no longer tracked since; zero while tracked
	lastTry      time.Time

	// Scheduling (schedule.go).
	seenHost    map[string]hostTotals // month -> hosts-report totals of the last sweep
	fetchedHost map[string]hostTotals // month -> hosts-report totals when last fetched
	dirty       map[string]bool       // months a sweep showed a change in that is not fetched yet
	fetchedAt   map[string]time.Time  // month -> its report's last successful fetch
	lastFetch   time.Time             // last fetch in which every month asked for came back
	lastActive  time.Time             // when a new meeting was last counted
	pages       map[string]int        // month -> report pages its last fetch took
	lastError   string
	lastAPIErr  *APIError // Zoom's answer behind lastError, when there was one
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
		conf.ReportType = ReportPast
	}
	if conf.FullInterval <= 0 {
		conf.FullInterval = 6 * time.Hour
	}
	s := &Scraper{
		conf:      conf,
		client:    conf.Client,
		now:       conf.Now,
		logger:    conf.Logger,
		users:     make(map[string]*userState),
		durations: make(map[string]*Histogram),
		sizes:     make(map[string]*Histogram),
		directory: make(map[string]User),
		store:     conf.Store,
	}
	s.snapshot.Store(&Snapshot{Month: monthStart(conf.Now())})
	if s.store != nil {
		if err := s.restore(s.store); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Snapshot returns the latest published snapshot; never nil.
func (s *Scraper) Snapshot() *Snapshot { return s.snapshot.Load() }

// Ready reports whether the first refresh has finished.
func (s *Scraper) Ready() bool { return s.ready.Load() }

// Run refreshes at once, then every Interval, until ctx ends. A refresh that
// outlasts the interval delays the next one instead of overlapping it.
func (s *Scraper) Run(ctx context.Context) {
	ticker := time.NewTicker(s.conf.Interval)
	defer ticker.Stop()
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

	listOK := s.refreshDirectory(ctx)
	tracked := s.trackedUsers(now)
	months := s.monthsToRefresh(now)
	plan := s.planCycle(ctx, tracked, months, now)
	s.mu.Lock()
	for _, u := range plan.confirmed {
		u.lastOK, u.lastTry = now, now
		u.lastError, u.lastAPIErr = "", nil
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

	s.pruneMonths(months, now)
	s.saveBudget()
	s.pending = plan.deferred
	s.noteSchedule(plan, now)
	ok := listOK && plan.sweepErr == nil && failed.Load() == 0 && ctx.Err() == nil
	if ok {
		s.lastOK = now
	}
	elapsed := time.Since(start)
	s.publish(now, ok, elapsed)
	s.ready.Store(true)
	level.Info(s.logger).Log("msg", "Refresh finished", "users", len(tracked), "fetched", len(plan.fetch), "unchanged", len(plan.confirmed),
		"waiting", plan.deferred, "failed_users", failed.Load(), "users_listed", listOK, "duration", elapsed.Round(time.Millisecond))
}

// refreshDirectory reads GET /users (Medium: no daily cap) for discovery and
// for the license and department of zoom_user_info. On failure the last good
// list stays in use.
func (s *Scraper) refreshDirectory(ctx context.Context) bool {
	users, err := s.client.ActiveUsers(ctx)
	if err != nil {
		level.Warn(s.logger).Log("msg", "Listing Zoom users failed; keeping the last list", "err", err)
		return false
	}
	dir := make(map[string]User, len(users))
	for _, u := range users {
		if u.ID != "" {
			dir[u.ID] = u
		}
	}
	s.directory = dir
	s.listedOnce = true
	return true
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
		byEmail := make(map[string]User, len(s.directory))
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
			u.configured, u.apiUser, u.info = c, c, User{}
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
		if s.store != nil {
			if err := s.store.DeleteUser(key); err != nil {
				level.Warn(s.logger).Log("msg", "Cannot forget an untracked user in the store", "user", key, "err", err)
			}
		}
	}
	list := make([]*userState, 0, len(wanted))
	for _, u := range wanted {
		u.retiredSince = time.Time{}
		list = append(list, u)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].key < list[j].key })
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
			counters:    make(map[string]Totals),
			counted:     make(map[string]map[string]countedMeeting),
			seenHost:    make(map[string]hostTotals),
			fetchedHost: make(map[string]hostTotals),
			dirty:       make(map[string]bool),
			fetchedAt:   make(map[string]time.Time),
			pages:       make(map[string]int),
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
// ~30 minutes after they end).
func (s *Scraper) monthsToRefresh(now time.Time) []reportWindow {
	cur := monthStart(now)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	windows := []reportWindow{{month: cur, from: cur, to: today, current: true}}
	if now.Sub(cur) < s.conf.GracePeriod {
		prev := cur.AddDate(0, -1, 0)
		windows = append(windows, reportWindow{month: prev, from: prev, to: cur.AddDate(0, 0, -1)})
	}
	return windows
}

// windowReport is one month's report as fetched.
type windowReport struct {
	window   reportWindow
	meetings []Meeting
}

// refreshUser fetches a user's reports of the given windows (the cycle's
// windows, or those of them planCycle chose for the user) and folds them into
// its state. It reports whether every report came back and was stored; a
// failed user keeps its last good data. A month whose report came back and
// was stored is no longer dirty; a month that failed, or was not asked for,
// keeps its state.
func (s *Scraper) refreshUser(ctx context.Context, u *userState, windows []reportWindow, now time.Time) bool {
	var (
		reports []windowReport
		errs    []string
		apiErr  *APIError
	)
	for _, w := range windows {
		meetings, err := s.client.UserMeetings(ctx, u.apiUser, w.from, w.to, s.conf.ReportType)
		if err != nil {
			errs = append(errs, err.Error())
			var ae *APIError
			if errors.As(err, &ae) {
				apiErr = ae
			}
			level.Warn(s.logger).Log("msg", "Refreshing user failed; keeping its last data", "user", u.key, "month", monthKey(w.month), "err", err)
			var quota *DailyQuotaError
			var budget *BudgetExhaustedError
			if errors.As(err, &quota) || errors.As(err, &budget) || ctx.Err() != nil {
				break
			}
			continue
		}
		reports = append(reports, windowReport{w, meetings})
	}
	// What did come back is counted: counting is by uuid, so a month
	// fetched again later adds nothing twice.
	stored := true
	if err := s.apply(u, reports); err != nil {
		stored = false
		errs = append(errs, err.Error())
		level.Error(s.logger).Log("msg", "Storing a user's refresh failed; it will be counted by a later refresh", "user", u.key, "err", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u.lastTry = now
	if stored {
		// Each month that came back is current, whatever became of the others.
		for _, r := range reports {
			mk := monthKey(r.window.month)
			u.pages[mk] = max(1, (len(r.meetings)+pageSize-1)/pageSize)
			u.fetchedAt[mk] = now
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
		return true
	}
	u.lastError, u.lastAPIErr = strings.Join(errs, "; "), apiErr
	return false
}

// apply counts new meetings and growth of known ones and, for the current
// month, replaces the month-to-date totals. With a store, the changes are
// committed in one transaction first and the state changes only if the
// commit succeeds, so memory and store never disagree.
func (s *Scraper) apply(u *userState, reports []windowReport) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	counters := make(map[string]Totals, len(u.counters))
	for typ, t := range u.counters {
		counters[typ] = t
	}
	changed := make(map[string]map[string]countedMeeting) // month -> uuid -> new record
	var observed []Meeting                                // first counted now: histogram observations
	var month map[string]Totals
	var monthOf time.Time
	email := u.email
	for _, r := range reports {
		key := monthKey(r.window.month)
		counted := u.counted[key]
		if r.window.current {
			month, monthOf = make(map[string]Totals), r.window.month
		}
		for _, m := range r.meetings {
			if m.UserEmail != "" {
				email = m.UserEmail
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
			var next countedMeeting
			if prev, seen := counted[m.UUID]; seen {
				add, next = growth(prev, m)
				typ = prev.Type // counted under the type it was first seen with
				if next == prev {
					continue
				}
			} else {
				add, next = figures(m), record(m)
				observed = append(observed, m)
			}
			if changed[key] == nil {
				changed[key] = make(map[string]countedMeeting)
			}
			changed[key][m.UUID] = next
			c := counters[typ]
			c.Add(add)
			counters[typ] = c
		}
	}

	if s.store != nil && (len(changed) > 0 || email != u.email) {
		if err := s.commit(u.key, email, counters, changed, observed); err != nil {
			return err
		}
	}
	for key, recs := range changed {
		if u.counted[key] == nil {
			u.counted[key] = make(map[string]countedMeeting, len(recs))
		}
		for uuid, rec := range recs {
			u.counted[key][uuid] = rec
		}
	}
	for _, m := range observed {
		s.observe(s.durations, s.sizes, m)
	}
	if len(observed) > 0 {
		u.lastActive = s.now()
	}
	u.counters, u.email = counters, email
	if month != nil {
		u.month, u.monthOf = month, monthOf
	}
	return nil
}

// commit writes one user's changes, with the histograms as they will be
// after the observations, in one transaction.
func (s *Scraper) commit(user, email string, counters map[string]Totals, changed map[string]map[string]countedMeeting, observed []Meeting) error {
	encCounters, err := json.Marshal(counters)
	if err != nil {
		return err
	}
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

// observe adds a newly counted meeting to the histograms of its type.
func (s *Scraper) observe(durations, sizes map[string]*Histogram, m Meeting) {
	typ := TypeName(m.Type)
	d, ok := durations[typ]
	if !ok {
		d = newHistogram(DurationBuckets)
		durations[typ] = d
	}
	d.observe(float64(max(m.Duration, 0)) * 60)
	p, ok := sizes[typ]
	if !ok {
		p = newHistogram(ParticipantsBuckets)
		sizes[typ] = p
	}
	p.observe(float64(max(m.ParticipantsCount, 0)))
}

// pruneMonths forgets, in memory, the meetings of months no longer
// refreshed: they can no longer show up in a report we fetch, so they cannot
// be counted twice. The store keeps them for Zoom's six-month report window.
func (s *Scraper) pruneMonths(windows []reportWindow, now time.Time) {
	if cur := monthKey(now); s.store != nil && s.prunedFor != cur {
		oldest := monthKey(monthStart(now).AddDate(0, -6, 0))
		if err := s.store.PruneBefore(oldest); err != nil {
			level.Warn(s.logger).Log("msg", "Pruning old months from the store failed", "err", err)
		} else {
			s.prunedFor = cur
		}
	}
	keep := make(map[string]bool, len(windows))
	for _, w := range windows {
		keep[monthKey(w.month)] = true
	}
	for _, u := range s.users {
		for k := range u.counted {
			if !keep[k] {
				delete(u.counted, k)
			}
		}
		// A month no longer refreshed has nothing left to fetch.
		for k := range u.dirty {
			if !keep[k] {
				delete(u.dirty, k)
			}
		}
		for k := range u.fetchedAt {
			if !keep[k] {
				delete(u.fetchedAt, k)
			}
		}
		for k := range u.pages {
			if !keep[k] {
				delete(u.pages, k)
			}
		}
	}
}

func (s *Scraper) publish(now time.Time, ok bool, elapsed time.Duration) {
	cur := monthStart(now)
	snap := &Snapshot{
		Published:         now,
		Month:             cur,
		Up:                ok,
		LastSuccess:       s.lastOK,
		RefreshDuration:   elapsed,
		EffectiveInterval: s.effectiveInterval,
		PendingUsers:      s.pending,
		Durations:         make(map[string]Histogram, len(s.durations)),
		Participants:      make(map[string]Histogram, len(s.sizes)),
	}
	for typ, h := range s.durations {
		snap.Durations[typ] = h.clone()
	}
	for typ, h := range s.sizes {
		snap.Participants[typ] = h.clone()
	}
	for _, u := range s.users {
		us := UserSnapshot{
			ID:          u.info.ID,
			Key:         u.key,
			Email:       u.labelEmail(),
			Listed:      u.info.ID != "",
			Retired:     !u.retiredSince.IsZero(),
			License:     LicenseName(u.info.Type),
			Dept:        u.info.Dept,
			LastRefresh: u.lastOK,
			LastAttempt: u.lastTry,
			LastError:   u.lastError,
			LastZoomErr: u.lastAPIErr,
			Counters:    make(map[string]Totals, len(u.counters)),
		}
		if !us.Listed {
			us.License = ""
		}
		if u.monthOf.Equal(cur) && u.retiredSince.IsZero() {
			us.Month = u.month // replaced whole, never mutated: safe to share
		}
		for typ, t := range u.counters {
			us.Counters[typ] = t
		}
		snap.Users = append(snap.Users, us)
	}
	sort.Slice(snap.Users, func(i, j int) bool { return snap.Users[i].Key < snap.Users[j].Key })
	s.snapshot.Store(snap)
}

func (u *userState) labelEmail() string {
	switch {
	case u.email != "":
		return u.email
	case u.info.Email != "":
		return u.info.Email
	case u.configured != "":
		return u.configured
	}
	return u.key
}

// Snapshot is one refresh's complete, immutable result. Nothing in it is
// changed after it is published.
type Snapshot struct {
	Published       time.Time // when the refresh that made it started
	Month           time.Time // first day (UTC) of the month the month-to-date figures cover
	Up              bool      // Zoom was reached and every tracked user refreshed
	LastSuccess     time.Time // start of the last refresh that was Up; zero if none
	RefreshDuration time.Duration
	// EffectiveInterval is how often a change can currently be seen: the
	// refresh interval, stretched when the daily budget cannot keep up.
	EffectiveInterval time.Duration
	PendingUsers      int                  // users that need a refresh the budget has not allowed yet
	Users             []UserSnapshot       // sorted by Key
	Durations         map[string]Histogram // meeting duration in seconds, by type
	Participants      map[string]Histogram // participants per meeting, by type
}

// UserSnapshot is one tracked user in a Snapshot.
type UserSnapshot struct {
	Key         string // the {userId} used for reports
	ID          string // Zoom user id; empty when GET /users did not list the user
	Email       string // from the report, else GET /users, else as configured
	Listed      bool   // GET /users listed the user
	Retired     bool   // no longer tracked: only its counters are served
	License     string
	Dept        string
	Month       map[string]Totals // current month by type; nil before the first refresh of the month
	Counters    map[string]Totals // cumulative by type
	LastRefresh time.Time         // last successful refresh; zero if none
	LastAttempt time.Time
	LastError   string    // why the last refresh failed; "" after a success
	LastZoomErr *APIError // Zoom's status, code, message and tracking id behind LastError, if any
}

// String is for logs and test failures.
func (u UserSnapshot) String() string {
	return fmt.Sprintf("%s (%s)", u.Key, u.Email)
}
