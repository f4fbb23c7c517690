package scrape

import "time"

// Cold start (issue 16). The bucket spreads the daily budget over the day
// and holds three hours' worth, which keeps a running exporter's spending
// even; but the first refresh of an account needs a call for every active
// user at once (10,034 at 10,000 users), and a bucket of 7,500 (Business,
// a budget of 60,000) left a quarter of the users without data for an
// hour. With ScraperConfig.ColdStart (the exporter sets it), until every
// tracked user has been covered once by this process (a
// new store, or a restart: the hosts totals the sweeps compare with are not
// kept), a refresh may borrow up to what remains of the day's budget, so
// the first refresh covers everyone as fast as the per-second limits
// allow. The day's budget is never exceeded: the client refuses any Heavy
// call beyond it. What was borrowed is not paid back: after the cold start
// the bucket holds what it would have held had the cycle spent its own
// tokens first (nothing, in a large account), and refills as usual.

// borrowForColdStart raises the bucket to what remains of today's budget
// for a cold-start cycle. The returned func, called once the cycle's
// fetches are done, takes back what was lent and not spent, and ends the
// cold start when every tracked user was covered.
func (s *Scraper) borrowForColdStart(tracked []*userState, now time.Time) (settle func()) {
	if !s.conf.ColdStart || s.warm || s.client == nil {
		return func() {}
	}
	b := s.client.Budget()
	s.bucket.available(now, b.Budget) // refilled to now; planCycle's call at now adds nothing
	lent := max(float64(b.Remaining())-s.bucket.tokens, 0)
	s.bucket.tokens += lent
	return func() {
		s.bucket.tokens = max(s.bucket.tokens-lent, 0)
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, u := range tracked {
			if u.lastTry.IsZero() {
				return // waiting for budget: the next cycle borrows again
			}
		}
		s.warm = true
	}
}
