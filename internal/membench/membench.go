// Package membench measures the exporter's resident memory as it ships: the
// scraper, its store and main's /metrics handler (metricsserve, gzip, the
// usage metrics encoded once per snapshot) run in a child process against
// a fake Zoom account (internal/zoomfake) of users x meetings, with pacing
// off. The child's VmRSS is read after runtime.GC and debug.FreeOSMemory:
//
//   - after the first full refresh, per counted meeting;
//   - after each cycle of an hour (5 minutes apart, 5% of users with a new
//     meeting each), each cycle followed by scrapes over HTTP as Prometheus
//     sends them: the growth over the hour;
//   - then, when Scrapers is set, over refreshes alone and the same with
//     that many concurrent scrapers, in rounds that alternate which goes
//     first: what the scrapers add, at the largest VmRSS (read every 20 ms
//     from outside) and after GC, the median of the rounds.
//
// The child is the calling binary started again (this package's init takes
// over when it finds childEnv), so that the figures hold the exporter and
// nothing of the fake Zoom, which keeps every meeting of seven months in
// the parent.
package membench

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zoomexporter/zoom_exporter/internal/testenv"
	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
	"github.com/zoomexporter/zoom_exporter/zoom"
)

// Options are what Measure runs.
type Options struct {
	Users    int // active users of the fake account
	Meetings int // meetings each user hosted this month (type past: two or more participants)
	// Cycles after the first refresh, 5 minutes apart on the exporter's
	// clock (12: an hour); each adds a meeting to 5% of users first.
	Cycles int
	// Scrapes of /metrics after each cycle's refresh (gzip, as Prometheus
	// asks), one after the other.
	Scrapes int
	// Scrapers, when set, runs Rounds pairs of phases of Publishes
	// refreshes each after the hour: the refreshes alone, and the same with
	// that many concurrent scrapers scraping all the while, which one first
	// alternating from round to round.
	Scrapers, Publishes, Rounds int
	// Store: the exporter keeps its counters in a bbolt store in a
	// temporary directory, as it does by default.
	Store bool
	// Log, when set, gets a line per step.
	Log func(format string, args ...any)
}

// Result is what Measure measured. Memory figures are bytes, read from the
// child's /proc/<pid>/status.
type Result struct {
	Options
	Truth    int64         // meetings the fake account holds for the first refresh to count
	Refresh  time.Duration // wall time of the first refresh, pacing off
	Baseline Sample        // the child before the exporter was made: runtime and binary
	First    Sample        // after the first full refresh, before any scrape
	Cycles   []Sample      // after each cycle of the hour and its scrapes
	Peak     uint64        // VmHWM at the end of the hour: the most resident at any moment
	Alone    []Phase       // refreshes, no scraper, one per round (Scrapers set)
	Scraped  []Phase       // the same refreshes, with the concurrent scrapers
}

// Sample is the child's memory at one point, after runtime.GC and
// debug.FreeOSMemory.
type Sample struct {
	RSS, RSSAnon, RSSFile uint64 // VmRSS and its anonymous and file-backed parts
	HWM                   uint64 // VmHWM so far
	HeapInuse             uint64 // runtime.MemStats.HeapInuse
	CacheBytes            int64  // zoom_exporter_metrics_cache_bytes: the kept encodings
	Counted               int64  // meetings counted so far (zoom_meetings_total summed)
	StoreBytes            int64  // the store file's size; 0 without a store
	Took                  time.Duration
}

// Phase is what the child's memory did during the refreshes of a phase.
type Phase struct {
	Peak                 uint64 // largest VmRSS read while it ran (every 20 ms, no GC forced)
	Settled              Sample // after it
	Scrapes, Failed      int
	ScrapeP50, ScrapeMax time.Duration
}

// PerMeeting is resident memory per counted meeting after the first full
// refresh: VmRSS over meetings counted.
func (r Result) PerMeeting() float64 { return float64(r.First.RSS) / float64(max(r.First.Counted, 1)) }

// Growth is how much VmRSS grew from the first full refresh to the end of
// the last cycle, as a fraction (0.1 is 10%).
func (r Result) Growth() float64 {
	if len(r.Cycles) == 0 || r.First.RSS == 0 {
		return 0
	}
	return float64(r.Cycles[len(r.Cycles)-1].RSS)/float64(r.First.RSS) - 1
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

// ScrapersAdd is what the concurrent scrapers add to the largest VmRSS and
// to VmRSS after GC, as fractions of the same refreshes without them: the
// medians over the rounds of each round's ratios, and the least and most.
func (r Result) ScrapersAdd() (peak, settled [3]float64) {
	var peaks, settles []float64
	for i := range min(len(r.Alone), len(r.Scraped)) {
		a, s := r.Alone[i], r.Scraped[i]
		if a.Peak == 0 || a.Settled.RSS == 0 {
			continue
		}
		peaks = append(peaks, float64(s.Peak)/float64(a.Peak)-1)
		settles = append(settles, float64(s.Settled.RSS)/float64(a.Settled.RSS)-1)
	}
	return spread(peaks), spread(settles)
}

// spread is the median, least and most of v; zeros when v is empty.
func spread(v []float64) [3]float64 {
	if len(v) == 0 {
		return [3]float64{}
	}
	v = slices.Clone(v)
	slices.Sort(v)
	return [3]float64{v[len(v)/2], v[0], v[len(v)-1]}
}

// String is one line per figure, for benchmark commands.
func (r Result) String() string {
	var b strings.Builder
	mb := func(v uint64) string { return fmt.Sprintf("%.1f MB", float64(v)/1e6) }
	show := func(s Sample) string {
		return fmt.Sprintf("VmRSS %s (anon %s, file %s; heap in use %s; cached encodings %s; store file %s): %.0f B per counted meeting",
			mb(s.RSS), mb(s.RSSAnon), mb(s.RSSFile), mb(s.HeapInuse), mb(uint64(s.CacheBytes)), mb(uint64(s.StoreBytes)), float64(s.RSS)/float64(max(s.Counted, 1)))
	}
	fmt.Fprintf(&b, "exporter resident memory (scraper, store %s, main's /metrics handler), %d users x %d meetings, pacing off, in a process of its own:\n",
		map[bool]string{true: "on", false: "off"}[r.Store], r.Users, r.Meetings)
	fmt.Fprintf(&b, "  before the exporter: VmRSS %s (anon %s, file %s)\n", mb(r.Baseline.RSS), mb(r.Baseline.RSSAnon), mb(r.Baseline.RSSFile))
	fmt.Fprintf(&b, "  after the first full refresh (%v, %d meetings counted of %d): %s\n", r.Refresh.Round(100*time.Millisecond), r.First.Counted, r.Truth, show(r.First))
	if len(r.Cycles) > 0 {
		last := r.Cycles[len(r.Cycles)-1]
		fmt.Fprintf(&b, "  after the first cycle and its %d scrapes: %s\n", r.Scrapes, show(r.Cycles[0]))
		fmt.Fprintf(&b, "  after %d cycles 5 minutes apart, %d gzip scrapes each (%d meetings counted): %s\n", len(r.Cycles), r.Scrapes, last.Counted, show(last))
		fmt.Fprintf(&b, "  growth over the first full refresh: %+.1f%% at the end (largest %+.1f%%; target <= 10%%); VmHWM %s\n", 100*r.Growth(), 100*r.MaxGrowth(), mb(r.Peak))
	}
	for i := range min(len(r.Alone), len(r.Scraped)) {
		a, s := r.Alone[i], r.Scraped[i]
		fmt.Fprintf(&b, "  round %d: %d refreshes (5%% of users with a new meeting each), no scraper: VmRSS at most %s; after: %s\n", i+1, r.Publishes, mb(a.Peak), show(a.Settled))
		fmt.Fprintf(&b, "  round %d: the same with %d concurrent scrapers (gzip; %d scrapes, %d failed, p50 %v, max %v): VmRSS at most %s; after: %s\n",
			i+1, r.Scrapers, s.Scrapes, s.Failed, s.ScrapeP50.Round(time.Millisecond), s.ScrapeMax.Round(time.Millisecond), mb(s.Peak), show(s.Settled))
	}
	if len(r.Scraped) > 0 {
		peak, settled := r.ScrapersAdd()
		fmt.Fprintf(&b, "  what the %d scrapers add, median of %d rounds (least, most): %+.1f%% (%+.1f%%, %+.1f%%) to the largest VmRSS, %+.1f%% (%+.1f%%, %+.1f%%) to VmRSS after GC (target <= 10%%); VmHWM %s\n",
			r.Scrapers, len(r.Scraped), 100*peak[0], 100*peak[1], 100*peak[2], 100*settled[0], 100*settled[1], 100*settled[2], mb(r.Scraped[len(r.Scraped)-1].Settled.HWM))
	}
	return b.String()
}

// childEnv tells a started binary to be the exporter of a measure; its
// value is the fake Zoom's URL.
const childEnv = "MEMBENCH_CHILD"

// start is where the clocks are pinned: mid-month, far from any turn.
var start = testenv.MidMonth

// Measure runs the fake Zoom in this process and the exporter in a child
// process (this binary started again), and returns what it measured.
func Measure(o Options) (Result, error) {
	res := Result{Options: o}
	if o.Users <= 0 || o.Meetings <= 0 {
		return res, fmt.Errorf("membench: users (%d) and meetings (%d) must be positive", o.Users, o.Meetings)
	}
	logf := o.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	clock := testenv.NewClock(start)
	fake := zoomfake.New(zoomfake.Options{Seed: 16, Users: o.Users, Now: clock.Now, HeavyUserMeetings: o.Meetings})
	defer fake.Close()
	monthFrom := time.Date(start.Year(), start.Month(), 1, 0, 0, 0, 0, time.UTC)
	added := 0
	for i, u := range fake.Users() {
		have := len(fake.Meetings(u.ID, monthFrom, start, zoom.ReportPast))
		res.Truth += int64(max(have, o.Meetings))
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

	child, err := startChild(srv.URL, o.Store)
	if err != nil {
		return res, err
	}
	defer child.stop()
	if res.Baseline, err = child.next(); err != nil {
		return res, err
	}
	if _, err = child.step("url"); err != nil {
		return res, err
	}
	metricsURL := child.url
	if res.First, err = child.step("refresh " + clock.Now().Format(time.RFC3339Nano)); err != nil {
		return res, err
	}
	res.Refresh = res.First.Took
	logf("membench: first refresh: %d meetings counted in %v, VmRSS %.1f MB", res.First.Counted, res.Refresh.Round(time.Millisecond), float64(res.First.RSS)/1e6)

	client := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: max(o.Scrapers, 1)}}
	users := fake.Users()
	rng := rand.New(rand.NewPCG(16, uint64(o.Users)))
	// refresh adds a meeting to 5% of users, moves the clock 5 minutes and
	// has the child refresh.
	refresh := func() (Sample, error) {
		end := clock.Now().Add(time.Minute)
		for _, idx := range rng.Perm(len(users))[:max(len(users)/20, 1)] {
			fake.AddMeeting(zoomfake.Meeting{Type: 2, HostID: users[idx].ID, Start: end.Add(-30 * time.Minute), End: end, Participants: 3, HasChat: true})
		}
		clock.Advance(5 * time.Minute)
		return child.step("refresh " + clock.Now().Format(time.RFC3339Nano))
	}
	for c := range o.Cycles {
		if _, err := refresh(); err != nil {
			return res, err
		}
		for range o.Scrapes {
			if err := scrapeGzip(client, metricsURL, true); err != nil {
				return res, fmt.Errorf("membench: scraping %s: %w", metricsURL, err)
			}
		}
		s, err := child.step("sample")
		if err != nil {
			return res, err
		}
		res.Cycles = append(res.Cycles, s)
		res.Peak = s.HWM
		logf("membench: cycle %d: VmRSS %.1f MB (anon %.1f MB, file %.1f MB, heap in use %.1f MB, cached encodings %.1f MB), %d meetings counted",
			c+1, float64(s.RSS)/1e6, float64(s.RSSAnon)/1e6, float64(s.RSSFile)/1e6, float64(s.HeapInuse)/1e6, float64(s.CacheBytes)/1e6, s.Counted)
	}
	if o.Scrapers <= 0 {
		return res, nil
	}
	// Prometheus scrapes first: the scrapers of the second phase find the
	// format they ask for known, as after any first scrape.
	if err := scrapeGzip(client, metricsURL, true); err != nil {
		return res, fmt.Errorf("membench: scraping %s: %w", metricsURL, err)
	}
	res.Alone, res.Scraped = make([]Phase, max(o.Rounds, 1)), make([]Phase, max(o.Rounds, 1))
	for round := range res.Alone {
		order := []bool{false, true}
		if round%2 == 1 {
			order = []bool{true, false}
		}
		for _, withScrapers := range order {
			ph := &res.Alone[round]
			if withScrapers {
				ph = &res.Scraped[round]
			}
			if err := runPhase(ph, child, client, metricsURL, o, withScrapers, refresh); err != nil {
				return res, err
			}
			logf("membench: round %d, scrapers %v: VmRSS at most %.1f MB, %.1f MB after", round+1, withScrapers, float64(ph.Peak)/1e6, float64(ph.Settled.RSS)/1e6)
		}
	}
	return res, nil
}

// runPhase runs o.Publishes refreshes, with o.Scrapers concurrent scrapers
// when withScrapers is set, reading the child's VmRSS every 20 ms from
// outside (no GC forced), then a sample after.
func runPhase(ph *Phase, child *child, client *http.Client, url string, o Options, withScrapers bool, refresh func() (Sample, error)) error {
	ctx, cancel := context.WithCancel(context.Background())
	var peak atomic.Uint64
	var sampler sync.WaitGroup
	sampler.Go(func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			if s, err := readStatus(fmt.Sprintf("/proc/%d/status", child.cmd.Process.Pid)); err == nil && s.RSS > peak.Load() {
				peak.Store(s.RSS)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	var (
		mu        sync.Mutex
		latencies []time.Duration
		scrapers  sync.WaitGroup
		stop      atomic.Bool
	)
	if withScrapers {
		for i := range o.Scrapers {
			scrapers.Go(func() {
				for n := 0; !stop.Load(); n++ {
					began := time.Now()
					// Every 10th scrape is decompressed and checked; the
					// others only read, so that this process's CPU leaves
					// the child its share of the cores.
					err := scrapeGzip(client, url, (n+i)%10 == 0)
					mu.Lock()
					latencies = append(latencies, time.Since(began))
					if err != nil {
						ph.Failed++
					}
					mu.Unlock()
				}
			})
		}
	}
	var err error
	for range o.Publishes {
		if _, err = refresh(); err != nil {
			break
		}
	}
	if err == nil && withScrapers {
		// Every scraper scrapes the last snapshot a few times more.
		mu.Lock()
		target := len(latencies) + 4*o.Scrapers
		mu.Unlock()
		for {
			mu.Lock()
			n := len(latencies)
			mu.Unlock()
			if n >= target {
				break
			}
			time.Sleep(50 * time.Millisecond) // a bench's polling, not a test's wait
		}
	}
	stop.Store(true)
	scrapers.Wait()
	cancel()
	sampler.Wait()
	if err != nil {
		return err
	}
	ph.Peak, ph.Scrapes = peak.Load(), len(latencies)
	if len(latencies) > 0 {
		slices.Sort(latencies)
		ph.ScrapeP50, ph.ScrapeMax = latencies[len(latencies)/2], latencies[len(latencies)-1]
	}
	ph.Settled, err = child.step("sample")
	return err
}

// child is the exporter's process, driven one command per line on stdin,
// each answered by one JSON line (a childReport) on stdout.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines *bufio.Scanner
	url   string // where its /metrics is served
	dir   string // its store's directory, removed by stop
}

// childReport is one line the child writes: a sample, or an error.
type childReport struct {
	Sample
	URL string `json:",omitempty"`
	Err string `json:",omitempty"`
}

func startChild(zoomURL string, withStore bool) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("membench: cannot start the exporter process: %w", err)
	}
	c := &child{cmd: exec.Command(exe)}
	c.cmd.Env = append(os.Environ(), childEnv+"="+zoomURL)
	if withStore {
		if c.dir, err = os.MkdirTemp("", "membench-store-"); err != nil {
			return nil, err
		}
		c.cmd.Env = append(c.cmd.Env, childEnv+"_STORE="+c.dir)
	}
	c.cmd.Stderr = os.Stderr
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := c.cmd.Start(); err != nil {
		os.RemoveAll(c.dir)
		return nil, fmt.Errorf("membench: cannot start the exporter process %s: %w", exe, err)
	}
	c.lines = bufio.NewScanner(stdout)
	c.lines.Buffer(make([]byte, 64<<10), 1<<20)
	return c, nil
}

func (c *child) stop() {
	c.stdin.Close()
	c.cmd.Wait()
	if c.dir != "" {
		os.RemoveAll(c.dir)
	}
}

// step sends a command and reads its answer.
func (c *child) step(command string) (Sample, error) {
	if _, err := fmt.Fprintln(c.stdin, command); err != nil {
		return Sample{}, fmt.Errorf("membench: exporter process: %w", err)
	}
	return c.next()
}

// next reads the child's next answer.
func (c *child) next() (Sample, error) {
	if !c.lines.Scan() {
		return Sample{}, fmt.Errorf("membench: the exporter process ended early (%v)", c.lines.Err())
	}
	var rep childReport
	if err := json.Unmarshal(c.lines.Bytes(), &rep); err != nil {
		return Sample{}, fmt.Errorf("membench: exporter process answered %q: %w", c.lines.Text(), err)
	}
	if rep.Err != "" {
		return Sample{}, errors.New("membench: exporter process: " + rep.Err)
	}
	if rep.URL != "" {
		c.url = rep.URL
	}
	return rep.Sample, nil
}

const acceptPrometheus = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5," +
	"text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"

// scrapeGzip scrapes url as Prometheus does, gzip; with check, the body is
// decompressed (one gzip member), else only read.
func scrapeGzip(client *http.Client, url string, check bool) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", acceptPrometheus)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body io.Reader = resp.Body
	if check {
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			return err
		}
		zr.Multistream(false)
		body = zr
	}
	if _, err := io.Copy(io.Discard, body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}

// readStatus reads the resident memory lines of a /proc/<pid>/status file.
func readStatus(path string) (Sample, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Sample{}, fmt.Errorf("membench: resident memory is read from %s (Linux): %w", path, err)
	}
	var s Sample
	for _, line := range strings.Split(string(raw), "\n") {
		name, value, _ := strings.Cut(line, ":")
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
			s.RSS = kb << 10
		case "RssAnon":
			s.RSSAnon = kb << 10
		case "RssFile":
			s.RSSFile = kb << 10
		case "VmHWM":
			s.HWM = kb << 10
		}
	}
	if s.RSS == 0 {
		return Sample{}, fmt.Errorf("membench: no VmRSS in %s", path)
	}
	return s, nil
}
