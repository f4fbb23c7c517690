// Package membench measures the scraper's resident memory: a scraper
// refreshes a fake Zoom account (internal/zoomfake) of users x meetings with
// pacing off, and its process's VmRSS is read after runtime.GC and
// debug.FreeOSMemory, once after the first full refresh and then after each
// cycle of an hour of refreshes (5 minutes apart, 5% of users with a new
// meeting each) and scrapes.
//
// The scraper runs in a child process, the calling binary started again
// (this package's init takes over when it finds childEnv), so that the
// figure holds the scraper and nothing of the fake Zoom, which holds every
// meeting of seven months in the parent.
package membench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/zoomexporter/zoom_exporter/internal/testenv"
	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
	"github.com/zoomexporter/zoom_exporter/zoom"
)

// Options are what Measure runs.
type Options struct {
	Users    int // active users of the fake account
	Meetings int // meetings each user hosted this month (type past: two or more participants)
	// Cycles after the first refresh, 5 minutes apart on the scraper's
	// clock (12: an hour); each adds a meeting to 5% of users first.
	Cycles int
	// Scrapes per cycle: the exporter's usage metrics gathered from the
	// latest snapshot, as a /metrics scrape without a cache does.
	Scrapes int
	// Store: the scraper keeps its counters in a bbolt store in a
	// temporary directory, as the exporter does (its mapped pages count in
	// VmRSS as RssFile).
	Store bool
	// Log, when set, gets a line per step.
	Log func(format string, args ...any)
}

// Result is what Measure measured. Memory figures are bytes, read from
// /proc/self/status of the scraper's process after runtime.GC and
// debug.FreeOSMemory.
type Result struct {
	Users, Meetings int
	Scrapes         int           // per cycle
	Counted         int64         // meetings counted by the first refresh (zoom_meetings_total summed)
	Truth           int64         // meetings the fake account holds for the first refresh to count
	Refresh         time.Duration // wall time of the first refresh, pacing off
	Baseline        Sample        // the child before the scraper was made: runtime and binary
	First           Sample        // after the first full refresh
	Cycles          []Sample      // after each later cycle and its scrapes
	Peak            uint64        // VmHWM: the most resident at any moment
}

// Sample is the scraper process's memory at one point.
type Sample struct {
	RSS, RSSAnon, RSSFile uint64 // VmRSS and its anonymous and file-backed parts
	HeapInuse             uint64 // runtime.MemStats.HeapInuse
	Counted               int64  // meetings counted so far
	StoreBytes            int64  // the store file's size; 0 without a store
}

// PerMeeting is resident memory per counted meeting after the first full
// refresh: VmRSS over meetings counted.
func (r Result) PerMeeting() float64 { return float64(r.First.RSS) / float64(max(r.Counted, 1)) }

// Growth is how much VmRSS grew from the first full refresh to the end of
// the last cycle, as a fraction (0.1 is 10%).
func (r Result) Growth() float64 {
	if len(r.Cycles) == 0 || r.First.RSS == 0 {
		return 0
	}
	return float64(r.Cycles[len(r.Cycles)-1].RSS)/float64(r.First.RSS) - 1
}

// SettledGrowth is how much VmRSS grew from the end of the first cycle to
// the end of the last: the first cycle maps the store's pages that the
// first refresh wrote without reading (the kernel maps 64 KiB around each
// page read), and the first scrape leaves the Go runtime's bookkeeping of
// its peak; after that, resident memory should stay flat.
func (r Result) SettledGrowth() float64 {
	if len(r.Cycles) < 2 {
		return 0
	}
	return float64(r.Cycles[len(r.Cycles)-1].RSS)/float64(r.Cycles[0].RSS) - 1
}

// MaxGrowth is the largest growth over the first full refresh at the end
// of any cycle.
func (r Result) MaxGrowth() float64 {
	g := 0.0
	for _, c := range r.Cycles {
		g = max(g, float64(c.RSS)/float64(max(r.First.RSS, 1))-1)
	}
	return g
}

// String is one line per figure, for benchmark commands.
func (r Result) String() string {
	var b strings.Builder
	mb := func(v uint64) string { return fmt.Sprintf("%.1f MB", float64(v)/1e6) }
	fmt.Fprintf(&b, "scraper resident memory, %d users x %d meetings (%d counted), pacing off, store %s:\n", r.Users, r.Meetings, r.Counted, map[bool]string{true: "on", false: "off"}[r.First.StoreBytes > 0])
	fmt.Fprintf(&b, "  before the scraper: VmRSS %s (anon %s, file %s)\n", mb(r.Baseline.RSS), mb(r.Baseline.RSSAnon), mb(r.Baseline.RSSFile))
	fmt.Fprintf(&b, "  after the first full refresh (%v): VmRSS %s (anon %s, file %s), heap in use %s: %.0f B per counted meeting (%.0f B above the baseline)\n",
		r.Refresh.Round(100*time.Millisecond), mb(r.First.RSS), mb(r.First.RSSAnon), mb(r.First.RSSFile), mb(r.First.HeapInuse),
		r.PerMeeting(), float64(r.First.RSS-min(r.Baseline.RSS, r.First.RSS))/float64(max(r.Counted, 1)))
	if len(r.Cycles) > 0 {
		last := r.Cycles[len(r.Cycles)-1]
		first := r.Cycles[0]
		fmt.Fprintf(&b, "  after the first cycle: VmRSS %s (anon %s, file %s, store file %s), heap in use %s: %.0f B per counted meeting\n",
			mb(first.RSS), mb(first.RSSAnon), mb(first.RSSFile), mb(uint64(first.StoreBytes)), mb(first.HeapInuse), float64(first.RSS)/float64(max(first.Counted, 1)))
		fmt.Fprintf(&b, "  after %d cycles 5 minutes apart, %d scrapes each: VmRSS %s (anon %s, file %s), %d meetings counted, %.0f B per counted meeting: growth %+.1f%% over the first refresh (largest %+.1f%%), %+.1f%% over the first cycle; peak VmHWM %s\n",
			len(r.Cycles), r.Scrapes, mb(last.RSS), mb(last.RSSAnon), mb(last.RSSFile), last.Counted, float64(last.RSS)/float64(max(last.Counted, 1)),
			100*r.Growth(), 100*r.MaxGrowth(), 100*r.SettledGrowth(), mb(r.Peak))
	}
	return b.String()
}

// MeasureRefreshRSS measures the scraper's resident memory after a full
// refresh of users x meetings, and over an hour (12 cycles, 2 scrapes
// each) after it, with a store as the exporter has.
func MeasureRefreshRSS(users, meetings int) (Result, error) {
	return Measure(Options{Users: users, Meetings: meetings, Cycles: 12, Scrapes: 2, Store: true})
}

// childEnv tells a started binary to be the scraper of a measure.
const childEnv = "MEMBENCH_CHILD"

// start is where the clocks are pinned: mid-month, far from any turn.
var start = testenv.MidMonth

// Measure runs the fake Zoom in this process and the scraper in a child
// process (this binary started again), and returns what the child measured.
func Measure(o Options) (Result, error) {
	if o.Users <= 0 || o.Meetings <= 0 {
		return Result{}, fmt.Errorf("membench: users (%d) and meetings (%d) must be positive", o.Users, o.Meetings)
	}
	logf := o.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	clock := testenv.NewClock(start)
	fake := zoomfake.New(zoomfake.Options{Seed: 16, Users: o.Users, Now: clock.Now, HeavyUserMeetings: o.Meetings})
	monthFrom := time.Date(start.Year(), start.Month(), 1, 0, 0, 0, 0, time.UTC)
	added, truth := 0, 0
	for i, u := range fake.Users() {
		have := len(fake.Meetings(u.ID, monthFrom, start, zoom.ReportPast))
		truth += max(have, o.Meetings)
		for k := have; k < o.Meetings; k++ {
			begin := monthFrom.Add(time.Duration((i*7919+k*104729)%int(start.Sub(monthFrom)/time.Minute-120)) * time.Minute)
			fake.AddMeeting(zoomfake.Meeting{
				Type: []int{2, 8, 1}[k%3], HostID: u.ID, Start: begin, DurationMinutes: 15 + k%90,
				Participants: 2 + k%9, HasRecording: k%4 == 0, HasScreenShare: k%2 == 0, HasChat: k%3 != 0,
			})
			added++
		}
	}
	logf("membench: fake account of %d users ready (%d meetings added)", o.Users, added)
	srv := httptest.NewServer(fake)
	defer srv.Close()

	exe, err := os.Executable()
	if err != nil {
		return Result{}, fmt.Errorf("membench: cannot start the scraper process: %w", err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), childEnv+"="+srv.URL)
	if o.Store {
		dir, err := os.MkdirTemp("", "membench-store-")
		if err != nil {
			return Result{}, err
		}
		defer os.RemoveAll(dir)
		cmd.Env = append(cmd.Env, childEnv+"_STORE="+dir)
	}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return Result{}, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return Result{}, err
	}
	if err := cmd.Start(); err != nil {
		return Result{}, fmt.Errorf("membench: cannot start the scraper process %s: %w", exe, err)
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	lines := bufio.NewScanner(stdout)
	lines.Buffer(make([]byte, 64<<10), 1<<20)
	step := func(cmdLine string) (childReport, error) {
		if _, err := fmt.Fprintln(stdin, cmdLine); err != nil {
			return childReport{}, fmt.Errorf("membench: scraper process: %w", err)
		}
		if !lines.Scan() {
			return childReport{}, fmt.Errorf("membench: the scraper process ended early (%v)", lines.Err())
		}
		var rep childReport
		if err := json.Unmarshal(lines.Bytes(), &rep); err != nil {
			return childReport{}, fmt.Errorf("membench: scraper process answered %q: %w", lines.Text(), err)
		}
		if rep.Err != "" {
			return childReport{}, fmt.Errorf("membench: scraper process: %s", rep.Err)
		}
		return rep, nil
	}

	res := Result{Users: o.Users, Meetings: o.Meetings, Scrapes: o.Scrapes, Truth: int64(truth)}
	base, err := step("baseline")
	if err != nil {
		return res, err
	}
	res.Baseline = base.Sample
	first, err := step(fmt.Sprintf("refresh %s 0", clock.Now().Format(time.RFC3339Nano)))
	if err != nil {
		return res, err
	}
	res.First, res.Counted, res.Refresh, res.Peak = first.Sample, first.Counted, first.Took, first.Peak
	logf("membench: first refresh: %d meetings counted in %v, VmRSS %.1f MB (anon %.1f MB, file %.1f MB, heap in use %.1f MB, store %.1f MB)", first.Counted, first.Took.Round(time.Millisecond),
		float64(first.RSS)/1e6, float64(first.RSSAnon)/1e6, float64(first.RSSFile)/1e6, float64(first.HeapInuse)/1e6, float64(first.StoreBytes)/1e6)

	users := fake.Users()
	rng := rand.New(rand.NewPCG(16, uint64(o.Users)))
	for c := range o.Cycles {
		end := clock.Now().Add(time.Minute)
		for _, idx := range rng.Perm(len(users))[:max(len(users)/20, 1)] {
			fake.AddMeeting(zoomfake.Meeting{Type: 2, HostID: users[idx].ID, Start: end.Add(-30 * time.Minute), End: end,
				Participants: 3, HasChat: true})
		}
		clock.Advance(5 * time.Minute)
		rep, err := step(fmt.Sprintf("refresh %s %d", clock.Now().Format(time.RFC3339Nano), o.Scrapes))
		if err != nil {
			return res, err
		}
		res.Cycles = append(res.Cycles, rep.Sample)
		res.Peak = max(res.Peak, rep.Peak)
		logf("membench: cycle %d: VmRSS %.1f MB (anon %.1f MB, file %.1f MB, heap in use %.1f MB, store %.1f MB), %d meetings counted",
			c+1, float64(rep.RSS)/1e6, float64(rep.RSSAnon)/1e6, float64(rep.RSSFile)/1e6, float64(rep.HeapInuse)/1e6, float64(rep.StoreBytes)/1e6, rep.Counted)
	}
	return res, nil
}

// childReport is one line the child writes after each step.
type childReport struct {
	Sample
	Took time.Duration
	Peak uint64
	Err  string `json:",omitempty"`
}

// readStatus reads the resident-memory lines of /proc/self/status.
func readStatus() (rss, anon, file, hwm uint64, err error) {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0, 0, 0, fmt.Errorf("membench: resident memory is read from /proc/self/status (Linux): %w", err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		fields := strings.Fields(value)
		if len(fields) != 2 || fields[1] != "kB" {
			continue
		}
		kb, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			continue
		}
		switch name {
		case "VmRSS":
			rss = kb << 10
		case "RssAnon":
			anon = kb << 10
		case "RssFile":
			file = kb << 10
		case "VmHWM":
			hwm = kb << 10
		}
	}
	if rss == 0 {
		return 0, 0, 0, 0, fmt.Errorf("membench: no VmRSS in /proc/self/status")
	}
	return rss, anon, file, hwm, nil
}

// measure frees what can be freed and samples this process's memory.
func measure() (Sample, uint64, error) {
	runtime.GC()
	debug.FreeOSMemory()
	rss, anon, file, hwm, err := readStatus()
	if err != nil {
		return Sample{}, 0, err
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return Sample{RSS: rss, RSSAnon: anon, RSSFile: file, HeapInuse: ms.HeapInuse}, hwm, nil
}
