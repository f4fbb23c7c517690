package scrape

import (
	"context"
	"errors"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-kit/log/level"

	"github.com/zoomexporter/zoom_exporter/internal/sanitize"
	"github.com/zoomexporter/zoom_exporter/zoom"
)

// The account collectors (issue 14): what the account pays for, beside the
// per-user meeting metrics. Each is switched by --collector.<name>, calls
// Zoom through the same client (pacing, daily budget, status page), and
// fails alone: a failure, or a scope the app lacks, shows in its own
// zoom_collector_up and CollectorStatus (/status), never in zoom_up.
//
// Snapshot.Account holds only what /metrics serves, so that a refresh that
// changed none of it leaves the usage snapshot shared (publish.go): the
// collectors' times and errors, which change every refresh, are read from
// Scraper.AccountCollectors.
//
//   - licenses: users by license and status, from GET /users: active users
//     from the listing every refresh reads already; inactive and pending
//     users from GET /users?status=inactive and ?status=pending (Medium,
//     no daily cap) once an hour. Per tracked user, the last sign-in
//     (last_login_time of the listing).
//   - cloud_recording: GET /report/cloud_recording (Heavy), every 6 hours:
//     storage used, paid plan storage and free storage, in bytes.
//   - daily: GET /report/daily (Heavy), at most every 15 minutes: the
//     current month's account-wide figures per date, and on the 1st, within
//     the grace period, the previous month's (yesterday lies in it).
//
// The account-wide figures (counts by license and status, storage, daily
// totals) are fetched and served by one exporter of a sharded account
// only, AccountConfig.AccountWide (shard 0): they are paid for once and
// summing over instances counts them once.

// Names of the account collectors, as --collector.<name> spells them.
const (
	CollectorLicenses       = "licenses"
	CollectorCloudRecording = "cloud_recording"
	CollectorDaily          = "daily"
)

// AccountConfig chooses the account collectors that fetch from Zoom.
type AccountConfig struct {
	Licenses       bool
	CloudRecording bool
	Daily          bool
	// AccountWide: this exporter fetches and serves the account-wide
	// figures (shard 0 of --total-shards).
	AccountWide bool
}

// Cadences of the account collectors' calls (README, "Quota and performance").
const (
	// statusListingEvery: inactive and pending users change rarely.
	statusListingEvery = time.Hour
	// cloudRecordingEvery: Zoom's report has one row a day, up to yesterday;
	// four calls a day see a new row within 6 hours of its appearing.
	cloudRecordingEvery = 6 * time.Hour
	// accountRetry is the wait after a failure (not a missing scope).
	accountRetry = time.Hour
	// dailyEvery: today's figures, at most 96 Heavy calls a day (192 on the
	// 1st within the grace period), whatever --scrape.interval.
	dailyEvery = 15 * time.Minute
	// missingScopeRetry: a collector disabled for a missing scope tries
	// again this often, so that adding the scope needs no restart.
	missingScopeRetry = 6 * time.Hour
	// cloudRecordingDays: the dates asked for, up to yesterday, within
	// yesterday's month (a window Zoom accepts on any date).
	cloudRecordingDays = 7
)

// Collector states, for CollectorStatus.State.
const (
	CollectorOK       = "ok"
	CollectorFailing  = "failing"
	CollectorDisabled = "disabled" // the app lacks a scope
	CollectorWaiting  = "waiting"  // for the daily budget
	CollectorNotYet   = "not yet"
)

// AccountSnapshot is what the account collectors fetched, as of a refresh.
// Nothing in it changes after it is published.
type AccountSnapshot struct {
	// Collectors are the enabled account collectors that fetch on this
	// exporter, in the order licenses, cloud_recording, daily, and whether
	// each is up (zoom_collector_up); Scraper.AccountCollectors says more.
	Collectors []CollectorUp
	// Licenses: users by license and status (AccountWide only); nil
	// before the first listing.
	Licenses []LicenseCount
	// Storage: cloud recording storage (AccountWide only); nil before the
	// first report with a readable row.
	Storage *StorageSnapshot
	// Daily: account-wide daily figures (AccountWide only); nil before the
	// first report.
	Daily *DailySnapshot
	// Refused counts, by field, values Zoom sent that could not be read
	// (since start), every field of the enabled collectors listed.
	Refused map[string]uint64
}

// CollectorUp says whether an account collector is up.
type CollectorUp struct {
	Name string
	Up   bool // the last attempt succeeded and the collector is not disabled
}

// CollectorStatus is one account collector's state, for /status.
type CollectorStatus struct {
	Name      string
	Endpoints []string // what it calls
	State     string   // CollectorOK, CollectorFailing, CollectorDisabled, CollectorWaiting or CollectorNotYet
	// Up: the last attempt succeeded and the collector is not disabled.
	Up           bool
	MissingScope string // the scope Zoom said the app lacks, when disabled
	LastSuccess  time.Time
	LastAttempt  time.Time
	NextAttempt  time.Time
	LastError    string // bounded and cleaned; "" after a success
}

// LicenseCount is how many users of the account have a license and status.
type LicenseCount struct {
	License string // as LicenseName names it
	Status  string // active, inactive or pending
	Users   int
}

// StorageSnapshot is the cloud recording storage of the last report.
type StorageSnapshot struct {
	Used, Plan, Free StorageFigure
}

// StorageFigure is one storage value: bytes (+Inf for "Unlimited") as of
// the report's date (UTC midnight). Known is false until a value was read.
type StorageFigure struct {
	Bytes float64
	Date  time.Time
	Known bool
}

// DayFigures are one date's (or a month's) account-wide figures.
type DayFigures struct {
	NewUsers, Meetings, Participants, MeetingMinutes int64
}

func (d *DayFigures) add(o DayFigures) {
	d.NewUsers += o.NewUsers
	d.Meetings += o.Meetings
	d.Participants += o.Participants
	d.MeetingMinutes += o.MeetingMinutes
}

// DailySnapshot are the daily report's figures as of a refresh.
type DailySnapshot struct {
	Month time.Time // first day (UTC) of the month MonthToDate covers
	// MonthToDate sums the month's dates; nil until the month's report
	// was fetched once (never last month's totals as this month's).
	MonthToDate *DayFigures
	// Today and Yesterday are those dates' rows (UTC); nil when the
	// report did not list the date.
	Today, Yesterday *DayFigures
}

// Refused-value fields, the label of zoom_account_values_refused_total.
var refusedFields = map[string][]string{
	CollectorLicenses:       {"last_login_time"},
	CollectorCloudRecording: {"date", "usage", "plan_usage", "free_usage"},
	CollectorDaily:          {"date", "new_users", "meetings", "participants", "meeting_minutes"},
}

// accountState is the account collectors' state. It is touched only with
// Scraper.refreshing held (Refresh, and republish after a targeted fetch),
// so it needs no lock of its own.
type accountState struct {
	conf       AccountConfig
	collectors []*collectorState // enabled, in order

	others    map[string]map[string]int // status -> license -> users, of the last good inactive and pending listings
	othersAt  time.Time                 // last attempt at those listings
	licenses  []LicenseCount            // of the last good listings
	logins    map[string]loginEntry     // Zoom id -> last sign-in of a listed user
	storage   StorageSnapshot
	days      map[time.Time]DayFigures // date -> figures, of the months fetched
	dailyDone map[time.Time]time.Time  // month -> its last successful fetch
	lastDaily time.Time
	refused   map[string]uint64

	published *AccountSnapshot
	statuses  atomic.Pointer[[]CollectorStatus] // read by /status at any time
}

// loginEntry keeps a last_login_time as listed and as read, so that a value
// is read (and refused) once, not every refresh.
type loginEntry struct {
	raw string
	at  time.Time // zero: unreadable or empty
}

// collectorState is one account collector's outcome so far.
type collectorState struct {
	name      string
	endpoints []string
	lastOK    time.Time
	lastTry   time.Time
	gap       time.Duration // the wait after lastTry its outcome chose
	next      time.Time     // lastTry + gap, for /status
	lastErr   string
	scope     string // missing scope: disabled until next
	waiting   bool   // due, but the budget did not allow it
	reserved  int    // Heavy calls taken from the bucket this cycle (reserveAccount)
}

func (a *accountState) collector(name string) *collectorState {
	for _, c := range a.collectors {
		if c.name == name {
			return c
		}
	}
	return nil
}

// initAccount sets up the enabled account collectors.
func (s *Scraper) initAccount() {
	a := &s.account
	a.conf = s.conf.Account
	a.logins = make(map[string]loginEntry)
	a.days = make(map[time.Time]DayFigures)
	a.dailyDone = make(map[time.Time]time.Time)
	a.refused = make(map[string]uint64)
	add := func(on bool, name string, endpoints ...string) {
		if !on {
			return
		}
		a.collectors = append(a.collectors, &collectorState{name: name, endpoints: endpoints})
		for _, f := range refusedFields[name] {
			a.refused[f] += 0
		}
	}
	wide := a.conf.AccountWide
	listing := "/users"
	if wide {
		listing = "/users (active, inactive, pending)"
	}
	add(a.conf.Licenses, CollectorLicenses, listing)
	add(a.conf.CloudRecording && wide, CollectorCloudRecording, zoom.EndpointCloudRecording)
	add(a.conf.Daily && wide, CollectorDaily, zoom.EndpointDailyUsage)
	if len(a.collectors) > 0 {
		a.published = a.snapshot(time.Time{})
	}
}

// reserveAccount takes, at the start of a refresh cycle, the Heavy calls
// of the account reports that are due from the bucket that spreads the
// daily budget: the users' reports, which drain it each cycle on a large
// account, cannot starve them, while their calls leave after the users'
// (refreshAccount), so that the users' reports keep the first call of a
// cycle (at a start, or when the quota is nearly spent).
func (s *Scraper) reserveAccount(now time.Time) {
	a := &s.account
	for _, r := range []struct {
		name  string
		calls int
	}{{CollectorCloudRecording, 1}, {CollectorDaily, len(s.dailyMonths(now))}} {
		c := a.collector(r.name)
		if c == nil || !s.accountDue(c, now) {
			continue
		}
		if !s.heavyTokens(r.calls, now) {
			c.waiting = true
			continue
		}
		s.bucket.spend(r.calls)
		c.reserved = r.calls
	}
}

// refreshAccount runs the account collectors that are due (the Heavy ones
// that reserveAccount found budget for) at the end of the refresh cycle,
// and publishes their snapshot. listOK says whether this cycle's active
// listing (the directory) succeeded.
func (s *Scraper) refreshAccount(ctx context.Context, now time.Time, listOK bool) {
	a := &s.account
	if len(a.collectors) == 0 {
		return
	}
	if c := a.collector(CollectorLicenses); c != nil {
		s.refreshLicenses(ctx, c, now, listOK)
	}
	if c := a.collector(CollectorCloudRecording); c != nil && c.reserved > 0 {
		s.refreshCloudRecording(ctx, c, now)
	}
	if c := a.collector(CollectorDaily); c != nil && c.reserved > 0 {
		s.refreshDaily(ctx, c, now)
	}
	a.licenses = a.licenseCounts(s.directory, s.listedOnce)
	a.published = a.snapshot(now)
}

// accountDue reports whether an account collector should call Zoom now:
// never called, waiting for budget, or the wait its last outcome chose
// has passed (cycles start on a ticker: gapPassed allows for that).
func (s *Scraper) accountDue(c *collectorState, now time.Time) bool {
	return c.lastTry.IsZero() || c.waiting || s.gapPassed(c.lastTry, c.gap, now)
}

// heavyTokens reports whether the cycle's share of the daily budget (the
// bucket that spreads it over the day) holds n Heavy calls and no daily
// 429 pauses them: if not, the collector waits for a later cycle. The
// caller spends what its calls took.
func (s *Scraper) heavyTokens(n int, now time.Time) bool {
	budget := s.client.Budget()
	if !budget.PausedUntil.IsZero() {
		return false
	}
	tokens := min(s.bucket.available(now, budget.Budget), budget.Remaining()) - s.targetedReserveLocked()
	return tokens >= n
}

// spendReserved takes from the bucket what a collector's calls cost beyond
// its reservation (the client retries: a call may cost more than one),
// since the budget showed before.
func (s *Scraper) spendReserved(c *collectorState, before int) {
	after := s.client.Budget().UsedToday
	spent := after - before
	if after < before { // the budget day turned meanwhile
		spent = after
	}
	if spent > c.reserved {
		s.bucket.spend(spent - c.reserved)
	}
	c.reserved = 0
}

// accountSucceeded and accountFailed record an attempt's outcome and the
// wait before the next.
func (s *Scraper) accountSucceeded(c *collectorState, now time.Time, every time.Duration) {
	if c.scope != "" {
		level.Info(s.logger).Log("msg", "Collector enabled again: the Zoom app has the scope now", "collector", c.name)
	}
	c.lastOK, c.lastTry, c.gap, c.next = now, now, every, now.Add(every)
	c.lastErr, c.scope, c.waiting = "", "", false
	s.failures.forget("\x00collector:" + c.name)
}

func (s *Scraper) accountFailed(c *collectorState, now time.Time, err error, retry time.Duration) {
	c.lastTry, c.waiting = now, false
	c.lastErr = sanitize.Message(err.Error())
	if scope, missing := zoom.MissingScope(err); missing {
		if scope == "" {
			scope = "report:read:admin"
			if c.name == CollectorLicenses {
				scope = "user:read:admin"
			}
		}
		if c.scope == "" {
			// One clear line; the collector tries again every missingScopeRetry.
			level.Warn(s.logger).Log("msg", "Collector disabled: the Zoom app lacks a scope; the other collectors go on",
				"collector", c.name, "scope", scope, "endpoint", strings.Join(c.endpoints, ","), "retry_every", missingScopeRetry)
		}
		c.scope, c.gap, c.next = scope, missingScopeRetry, now.Add(missingScopeRetry)
		return
	}
	c.scope, c.gap, c.next = "", retry, now.Add(retry)
	if s.failures.shouldLog("\x00collector:"+c.name, failureKind(err), now, s.conf.Interval) {
		level.Warn(s.logger).Log("msg", "Account collector failed; serving its last good figures", "collector", c.name,
			"retry_in", retry, "err", c.lastErr)
	}
}

// refuse counts a value Zoom sent that cannot be read, and says so in the
// log once per field and kind an interval.
func (s *Scraper) refuseValue(field, value, why string, now time.Time) {
	s.account.refused[field]++
	if s.failures.shouldLog("\x00refused:"+field, "unreadable", now, s.conf.Interval) {
		level.Warn(s.logger).Log("msg", "Refused a value Zoom sent that cannot be read; keeping the last good one", "field", field,
			"value", sanitize.Field(value), "err", sanitize.Message(why), "refused_total", s.account.refused[field])
	}
}

// refreshLicenses reads the last sign-ins of the directory just listed and,
// when due, the inactive and pending users.
func (s *Scraper) refreshLicenses(ctx context.Context, c *collectorState, now time.Time, listOK bool) {
	a := &s.account
	if listOK {
		logins := make(map[string]loginEntry, len(s.directory))
		for id, u := range s.directory {
			raw := u.LastLoginTime
			if old, ok := a.logins[id]; ok && old.raw == raw {
				logins[id] = old
				continue
			}
			e := loginEntry{raw: raw}
			if raw != "" {
				t, err := time.Parse(time.RFC3339, strings.TrimSpace(raw))
				if err != nil || t.Year() < 2000 || t.After(now.Add(24*time.Hour)) {
					why := "not an RFC 3339 time, or outside 2000 to tomorrow"
					if err != nil {
						why = err.Error()
					}
					s.refuseValue("last_login_time", raw, why, now)
				} else {
					e.at = t.UTC()
				}
			}
			logins[id] = e
		}
		a.logins = logins
	}
	listedNow := false
	if a.conf.AccountWide && (a.othersAt.IsZero() || s.gapPassed(a.othersAt, c.gap, now)) {
		a.othersAt, listedNow = now, true
		// Counts only: an account's deactivated users may be many.
		others := make(map[string]map[string]int, 2)
		for _, status := range []string{zoom.StatusInactive, zoom.StatusPending} {
			users, err := s.client.UsersWithStatus(ctx, status)
			if err != nil {
				s.accountFailed(c, now, err, statusListingEvery)
				return
			}
			byLicense := make(map[string]int)
			for _, u := range users {
				byLicense[LicenseName(u.Type)]++
			}
			others[status] = byLicense
		}
		a.others = others
	}
	switch {
	case !listOK:
		// The core logs the listing's failure; counts and sign-ins stay
		// those of the last good listing.
		c.lastTry, c.lastErr = now, "GET /users (active users) failed this refresh; serving the last good listing (see the last Zoom API failure)"
	case c.scope != "" && !listedNow:
		// Still disabled until the inactive and pending listings work.
	default:
		gap, next := c.gap, c.next
		s.accountSucceeded(c, now, statusListingEvery)
		if !listedNow && !next.IsZero() {
			c.gap, c.next = gap, next // the hourly listings are not due yet
		}
	}
}

// licenseCounts counts the users of the last good listings by license and
// status.
func (a *accountState) licenseCounts(directory map[string]zoom.User, listed bool) []LicenseCount {
	if !listed || !a.conf.AccountWide {
		return nil
	}
	type key struct{ license, status string }
	counts := make(map[key]int)
	for _, u := range directory {
		counts[key{LicenseName(u.Type), zoom.StatusActive}]++
	}
	for status, byLicense := range a.others {
		for license, n := range byLicense {
			counts[key{license, status}] += n
		}
	}
	out := make([]LicenseCount, 0, len(counts))
	for k, n := range counts {
		out = append(out, LicenseCount{License: k.license, Status: k.status, Users: n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].License != out[j].License {
			return out[i].License < out[j].License
		}
		return out[i].Status < out[j].Status
	})
	return out
}

// refreshCloudRecording reads the storage of the last days up to yesterday.
func (s *Scraper) refreshCloudRecording(ctx context.Context, c *collectorState, now time.Time) {
	yesterday := time.Date(now.Year(), now.Month(), now.Day()-1, 0, 0, 0, 0, time.UTC)
	from := yesterday.AddDate(0, 0, 1-cloudRecordingDays)
	if first := monthStart(yesterday); from.Before(first) {
		from = first
	}
	before := s.client.Budget().UsedToday
	rows, err := s.client.CloudRecordingUsage(ctx, from, yesterday)
	s.spendReserved(c, before)
	if err != nil {
		s.accountFailed(c, now, err, accountRetry)
		return
	}
	st := &s.account.storage
	for _, r := range rows {
		day, err := time.Parse(time.DateOnly, strings.TrimSpace(r.Date))
		if err != nil || day.Before(from) || day.After(yesterday) {
			why := "not a date of the range asked for"
			if err != nil {
				why = err.Error()
			}
			s.refuseValue("date", r.Date, why, now)
			continue
		}
		for _, f := range []struct {
			field, value string
			into         *StorageFigure
		}{{"usage", r.Usage, &st.Used}, {"plan_usage", r.PlanUsage, &st.Plan}, {"free_usage", r.FreeUsage, &st.Free}} {
			bytes, unlimited, err := zoom.ParseStorageSize(f.value)
			if err != nil {
				s.refuseValue(f.field, f.value, err.Error(), now)
				continue
			}
			if f.into.Known && day.Before(f.into.Date) {
				continue // an older date than the value kept
			}
			v := float64(bytes)
			if unlimited {
				v = math.Inf(1)
			}
			*f.into = StorageFigure{Bytes: v, Date: day, Known: true}
		}
	}
	s.accountSucceeded(c, now, cloudRecordingEvery)
}

// dailyMonths are the months whose daily report a cycle reads: the current
// one, and the previous one on the 1st within the grace period (yesterday
// is in it; its last day may still grow).
func (s *Scraper) dailyMonths(now time.Time) []time.Time {
	cur := monthStart(now)
	months := []time.Time{cur}
	if now.Day() == 1 && now.Sub(cur) < s.conf.GracePeriod {
		months = append(months, cur.AddDate(0, -1, 0))
	}
	return months
}

// refreshDaily reads the daily report of each month due.
func (s *Scraper) refreshDaily(ctx context.Context, c *collectorState, now time.Time) {
	months := s.dailyMonths(now)
	a := &s.account
	before := s.client.Budget().UsedToday
	var firstErr error
	for _, m := range months {
		rows, err := s.client.DailyUsageReport(ctx, m.Year(), m.Month())
		if err != nil {
			firstErr = err
			var quota *zoom.DailyQuotaError
			var budget *zoom.BudgetExhaustedError
			if _, scope := zoom.MissingScope(err); scope || errors.As(err, &quota) || errors.As(err, &budget) || ctx.Err() != nil {
				break
			}
			continue
		}
		s.applyDaily(m, rows, now)
		a.dailyDone[m] = now
	}
	s.spendReserved(c, before)
	// Dates before the previous month are of no use any more.
	oldest := monthStart(now).AddDate(0, -1, 0)
	for d := range a.days {
		if d.Before(oldest) {
			delete(a.days, d)
		}
	}
	for m := range a.dailyDone {
		if m.Before(oldest) {
			delete(a.dailyDone, m)
		}
	}
	if firstErr != nil {
		// Today's figures are worth the next try.
		s.accountFailed(c, now, firstErr, dailyEvery)
		return
	}
	a.lastDaily = now
	s.accountSucceeded(c, now, dailyEvery)
}

// applyDaily keeps one month's report rows. A row of another month or an
// unreadable date is refused; a negative figure is refused and the date's
// last good figure kept (0 when there is none).
func (s *Scraper) applyDaily(month time.Time, rows []zoom.DailyUsage, now time.Time) {
	a := &s.account
	for _, r := range rows {
		day, err := time.Parse(time.DateOnly, strings.TrimSpace(r.Date))
		if err != nil || !monthStart(day).Equal(month) {
			why := "not a date of the month asked for"
			if err != nil {
				why = err.Error()
			}
			s.refuseValue("date", r.Date, why, now)
			continue
		}
		old := a.days[day]
		next := old
		for _, f := range []struct {
			field string
			value int64
			into  *int64
		}{{"new_users", r.NewUsers, &next.NewUsers}, {"meetings", r.Meetings, &next.Meetings},
			{"participants", r.Participants, &next.Participants}, {"meeting_minutes", r.MeetingMinutes, &next.MeetingMinutes}} {
			if f.value < 0 {
				s.refuseValue(f.field, r.Date+": "+strconv.FormatInt(f.value, 10), "negative", now)
				continue
			}
			*f.into = f.value
		}
		a.days[day] = next
	}
}

// snapshot builds the immutable AccountSnapshot of now.
func (a *accountState) snapshot(now time.Time) *AccountSnapshot {
	snap := &AccountSnapshot{Refused: make(map[string]uint64, len(a.refused)), Licenses: a.licenses}
	for f, n := range a.refused {
		snap.Refused[f] = n
	}
	statuses := make([]CollectorStatus, 0, len(a.collectors))
	for _, c := range a.collectors {
		st := CollectorStatus{
			Name: c.name, Endpoints: slices.Clone(c.endpoints), MissingScope: c.scope,
			LastSuccess: c.lastOK, LastAttempt: c.lastTry, NextAttempt: c.next, LastError: c.lastErr,
		}
		st.Up = c.lastErr == "" && !c.lastOK.IsZero() && c.scope == ""
		switch {
		case c.scope != "":
			st.State = CollectorDisabled
		case c.waiting:
			st.State = CollectorWaiting
		case c.lastErr != "":
			st.State = CollectorFailing
		case c.lastOK.IsZero():
			st.State = CollectorNotYet
		default:
			st.State = CollectorOK
		}
		statuses = append(statuses, st)
		snap.Collectors = append(snap.Collectors, CollectorUp{Name: c.name, Up: st.Up})
	}
	a.statuses.Store(&statuses)
	if a.collector(CollectorCloudRecording) != nil && (a.storage.Used.Known || a.storage.Plan.Known || a.storage.Free.Known) {
		st := a.storage
		snap.Storage = &st
	}
	if a.collector(CollectorDaily) != nil && !a.lastDaily.IsZero() && !now.IsZero() {
		cur := monthStart(now)
		today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
		d := &DailySnapshot{Month: cur}
		if _, ok := a.dailyDone[cur]; ok {
			var sum DayFigures
			for day, f := range a.days {
				if monthStart(day).Equal(cur) && !day.After(today) {
					sum.add(f)
				}
			}
			d.MonthToDate = &sum
		}
		if f, ok := a.days[today]; ok {
			d.Today = &f
		}
		if f, ok := a.days[today.AddDate(0, 0, -1)]; ok {
			d.Yesterday = &f
		}
		snap.Daily = d
	}
	return snap
}

// accountSnapshot is the last published account snapshot; nil without
// account collectors.
func (s *Scraper) accountSnapshot() *AccountSnapshot { return s.account.published }

// AccountCollectors returns the state of each enabled account collector as
// of the last refresh: times, errors, a missing scope, for /status; "not yet" before the first
// refresh, none without account collectors. Safe at any time.
func (s *Scraper) AccountCollectors() []CollectorStatus {
	if p := s.account.statuses.Load(); p != nil {
		return *p
	}
	return nil
}

// lastLoginOf is a listed user's last sign-in; zero when unknown, never
// signed in, or without the licenses collector.
func (s *Scraper) lastLoginOf(id string) time.Time {
	if id == "" {
		return time.Time{}
	}
	return s.account.logins[id].at
}
