package zoom

import (
	"fmt"
	"time"

	"github.com/go-kit/log/level"
)

// BudgetState is the daily Heavy-call budget as the client sees it.
type BudgetState struct {
	Budget      int       // Heavy calls a day the exporter may spend (--zoom.daily-budget)
	UsedToday   int       // Heavy calls sent since 00:00 UTC
	ResetsAt    time.Time // next 00:00 UTC
	PausedUntil time.Time // end of a pause after Zoom's daily 429; zero when none
}

// Remaining is what is left of today's budget.
func (b BudgetState) Remaining() int { return max(b.Budget-b.UsedToday, 0) }

// BudgetExhaustedError is returned for a Heavy call once today's budget is
// spent: the exporter leaves the rest of the account's quota to other apps.
type BudgetExhaustedError struct {
	Endpoint string
	Budget   int
	Until    time.Time
}

func (e *BudgetExhaustedError) Error() string {
	return fmt.Sprintf("zoom API %s: today's budget of %d Heavy calls (--zoom.daily-budget) is spent; next call at %s",
		e.Endpoint, e.Budget, e.Until.UTC().Format(time.RFC3339))
}

// Budget returns the daily budget's state.
func (c *Client) Budget() BudgetState {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	c.rollDayLocked(now)
	b := BudgetState{Budget: c.conf.DailyBudget, UsedToday: c.heavyUsed, ResetsAt: nextMidnightUTC(now)}
	if now.Before(c.heavyPaused) {
		b.PausedUntil = c.heavyPaused
	}
	return b
}

// BudgetRecord is what is kept across restarts, so that a restart (or a
// crash loop) neither spends today's budget again nor forgets a daily 429.
type BudgetRecord struct {
	Day         time.Time `json:"day"`
	Used        int       `json:"used"`
	PausedUntil time.Time `json:"paused_until"`
}

// BudgetRecord returns what to keep across restarts.
func (c *Client) BudgetRecord() BudgetRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rollDayLocked(c.now())
	return BudgetRecord{Day: c.budgetDay, Used: c.heavyUsed, PausedUntil: c.heavyPaused}
}

// RestoreBudget takes back what a previous run spent today, and its pause.
// A pause stored beyond the next 00:00 UTC (plus dailyPauseSlack), by an
// older version or a damaged store, ends at the next 00:00 UTC: Zoom's daily
// counters reset then.
func (c *Client) RestoreBudget(r BudgetRecord) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	c.rollDayLocked(now)
	if r.Day.Equal(c.budgetDay) && r.Used > c.heavyUsed {
		c.heavyUsed = r.Used
		c.metrics.budgetUsed.Set(float64(c.heavyUsed))
	}
	if r.PausedUntil.After(maxDailyPauseUntil(now)) {
		level.Warn(c.logger).Log("msg", "Stored daily-429 pause runs past the next 00:00 UTC, when Zoom's daily counters reset; pausing until then",
			"stored_until", r.PausedUntil.UTC().Format(time.RFC3339), "until", nextMidnightUTC(now).Format(time.RFC3339))
		r.PausedUntil = nextMidnightUTC(now)
	}
	if r.PausedUntil.After(now) && r.PausedUntil.After(c.heavyPaused) {
		c.heavyPaused = r.PausedUntil
		c.metrics.heavyPaused.Set(float64(r.PausedUntil.Unix()))
	}
}

// spendHeavy takes one Heavy call from today's budget, or refuses.
func (c *Client) spendHeavy(endpoint string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	c.rollDayLocked(now)
	if c.heavyUsed >= c.conf.DailyBudget {
		return &BudgetExhaustedError{Endpoint: endpoint, Budget: c.conf.DailyBudget, Until: nextMidnightUTC(now)}
	}
	c.heavyUsed++
	c.metrics.budgetUsed.Set(float64(c.heavyUsed))
	return nil
}

// rollDayLocked starts a new budget day at 00:00 UTC, when Zoom resets its
// daily counters too.
func (c *Client) rollDayLocked(now time.Time) {
	day := now.UTC().Truncate(24 * time.Hour)
	if !day.Equal(c.budgetDay) {
		c.budgetDay, c.heavyUsed = day, 0
		c.metrics.budgetUsed.Set(0)
	}
}
