// Package testenv holds what the end-to-end tests of several packages share
// to run programs on loopback: free addresses and process output buffers.
package testenv

import (
	"bytes"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/zoomexporter/zoom_exporter/internal/fakeclock"
)

// FreeAddress returns a loopback address nobody listens on.
func FreeAddress(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// SyncBuffer collects a process's output while a test reads it.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Clock is an injected clock that tests (and benches) move by hand.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a Clock showing t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// RunningClock starts at a chosen instant and runs at the wall clock's pace
// (monotonic): the clock of tests that need real waits, such as per-second
// rate limits or a running exporter binary, on a date the test picked.
type RunningClock struct {
	at    time.Time
	start time.Time
}

// NewRunningClock returns a RunningClock showing at now.
func NewRunningClock(at time.Time) *RunningClock {
	return &RunningClock{at: at, start: time.Now()}
}

// Now returns the pinned instant plus the wall time elapsed since the clock
// was made.
func (c *RunningClock) Now() time.Time { return c.at.Add(time.Since(c.start)) }

// Instants where end-to-end tests pin their clocks: whatever today is, the
// fake account and the exporter see the same date. MidMonth is far from any
// month, day or hour turn; the calendar matrix tests cover the turns.
var MidMonth = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// FakeNowEnv is the environment entry that tells an exporter binary started
// at once that it is now the time clock shows (see internal/fakeclock), so
// that the binary and the fake Zoom of a test share one pinned date.
func FakeNowEnv(clock interface{ Now() time.Time }) string {
	return fakeclock.EnvVar + "=" + clock.Now().UTC().Format(time.RFC3339Nano)
}

// NextMidMonth is noon UTC on the 15th of the month after wall's: a pinned
// date for tests that also run a real Prometheus, which stamps samples with
// the wall clock. Being ahead of the wall clock, the exporter's timestamps
// never look stale to time()-based alerts, and the date is always mid-month.
func NextMidMonth(wall time.Time) time.Time {
	wall = wall.UTC()
	return time.Date(wall.Year(), wall.Month()+1, 15, 12, 0, 0, 0, time.UTC)
}
