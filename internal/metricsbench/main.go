// Command metricsbench prints, side by side in one run, the /metrics figures
// of issue 16 at 10,000 users x 3 meeting types (about 440,000 series):
//
//  1. serving, in process over loopback HTTP, medians of rounds that
//     alternate the variants (a new order each round): plain
//     GaugeVec/CounterVec/HistogramVec registry holding the same series
//     (the baseline, served by promhttp); the expfmt encoder alone over
//     prebuilt families (the floor); the first scrape of a new snapshot
//     and a cached scrape through main's serving path
//     (metricsserve.NewExporterHandler, as main.go builds it); and the time
//     to write the cached bytes and the fresh self-metrics, the reference of
//     the 1.2 x target. Text and gzip, each with its ratio to the baseline.
//
//  2. memory: the real scraper (pacing off) refreshes a fake Zoom account
//     (internal/zoomfake) of users x meetings in a child process that also
//     serves main's /metrics handler; its VmRSS per counted meeting after
//     the first full refresh, then its growth while 32 concurrent scrapers
//     scrape it (gzip, as Prometheus does) across new snapshots.
//
//  3. cold start of 10,000 users on Pro and on Business
//     (internal/coldstart, simulated at 10x speed).
//
//     go run ./internal/metricsbench                  # about 10 minutes on 2 cores
//     go run ./internal/metricsbench -skip-memory -skip-cold-start
package main

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/zoomexporter/zoom_exporter/collector"
	"github.com/zoomexporter/zoom_exporter/internal/coldstart"
	"github.com/zoomexporter/zoom_exporter/internal/metricsserve"
	"github.com/zoomexporter/zoom_exporter/internal/snapshotgen"
	"github.com/zoomexporter/zoom_exporter/internal/testenv"
	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
	"github.com/zoomexporter/zoom_exporter/scrape"
	"github.com/zoomexporter/zoom_exporter/store"
	"github.com/zoomexporter/zoom_exporter/zoom"
)

func main() { os.Exit(run()) }

func run() int {
	users := flag.Int("users", 10000, "users, each with meetings of 3 types")
	rounds := flag.Int("rounds", 7, "measured rounds of the serving variants (medians), after one warm-up round")
	meetings := flag.Int("meetings", 50, "meetings per user this month, for the memory part")
	scrapers := flag.Int("scrapers", 32, "concurrent scrapers of the memory part")
	publishes := flag.Int("publishes", 3, "new snapshots published while the scrapers scrape (refreshes after 5% of users hosted a meeting)")
	skipServe := flag.Bool("skip-serve", false, "skip part 1, serving")
	skipMemory := flag.Bool("skip-memory", false, "skip part 2, memory")
	skipColdStart := flag.Bool("skip-cold-start", false, "skip part 3, cold start")
	flag.Parse()
	fmt.Printf("metricsbench: %d CPUs, %s, GOMAXPROCS %d\n", runtime.NumCPU(), runtime.Version(), runtime.GOMAXPROCS(0))

	if !*skipServe {
		if err := serving(*users, *rounds); err != nil {
			fmt.Fprintln(os.Stderr, "metricsbench:", err)
			return 1
		}
	}
	if !*skipMemory {
		r, err := measureMemory(memoryOptions{users: *users, meetings: *meetings, scrapers: *scrapers, publishes: *publishes})
		if err != nil {
			fmt.Fprintln(os.Stderr, "metricsbench:", err)
			return 1
		}
		fmt.Print(r)
	}
	fmt.Printf("\n== 3. cold start of %d users ==\n", *users)
	if *skipColdStart {
		fmt.Printf("skipped; go run ./internal/quotabench -sizes '' -grace-sizes '' -cold-start-sizes %d -cold-start-plans pro,business -cold-start-types past -cold-start-scale 10\n", *users)
		return 0
	}
	// The measurement is internal/coldstart's (the scraper's side of issue 16).
	for _, plan := range []string{"pro", "business"} {
		r, err := coldstart.MeasureColdStart(*users, plan)
		if err != nil {
			fmt.Fprintln(os.Stderr, "metricsbench:", err)
			return 1
		}
		fmt.Println(r)
	}
	return 0
}

// ---- 1. serving ----

// source publishes snapshots: a first scrape is measured on a new one.
type source struct {
	snap atomic.Pointer[scrape.Snapshot]
}

func (s *source) Snapshot() *scrape.Snapshot { return s.snap.Load() }

// publish makes a new snapshot of the same data: a new version to encode.
func (s *source) publish() {
	c := *s.snap.Load()
	s.snap.Store(&c)
}

// stack is what main.go registers: the usage metrics (from src), and the
// registries it gathers on every scrape. Each variant gets its own, so
// that the caches of one never serve another.
type stack struct {
	src         *source
	exporter    *collector.Exporter
	reg         *prometheus.Registry // build info, Zoom client, store, live gauges
	exporterReg *prometheus.Registry // Go and process
	cleanup     func()
}

func newStack(snap *scrape.Snapshot) (*stack, error) {
	s := &stack{src: &source{}}
	s.src.snap.Store(snap)
	s.reg = prometheus.NewRegistry()
	s.reg.MustRegister(versioncollector.NewCollector("zoom_exporter"), collector.NewLiveCollector(s.src))
	if _, err := zoom.NewClient(zoom.ClientConfig{APIURL: "http://127.0.0.1:1/v2", Registerer: s.reg}); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "metricsbench")
	if err != nil {
		return nil, err
	}
	st, err := store.Open(dir, s.reg)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s.cleanup = func() { st.Close(); os.RemoveAll(dir) }
	s.exporter, err = collector.New(s.src, collector.Options{UserLabel: collector.UserLabelEmail, SeparateLive: true})
	if err != nil {
		s.cleanup()
		return nil, err
	}
	s.exporterReg = prometheus.NewRegistry()
	s.exporterReg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return s, nil
}

// mainHandler is /metrics exactly as main.go builds it.
func (s *stack) mainHandler() (http.Handler, error) {
	h, _, err := metricsserve.NewExporterHandler(metricsserve.Config{
		Cached:   []metricsserve.Source{collector.NewUsageSource(s.exporter, s.src), collector.NewHealthSource(s.exporter, s.src)},
		Registry: s.reg, ExporterRegistry: s.exporterReg, MaxRequests: 40,
	})
	return h, err
}

// baselineRegistry holds the families as plain metric vectors, the way an
// exporter that updates its metrics in place would, and the registries
// main.go gathers on every scrape, all in one registry.
func baselineRegistry(mfs []*dto.MetricFamily, fresh ...prometheus.Collector) (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	for _, mf := range mfs {
		if len(mf.Metric) == 0 {
			continue
		}
		var labels []string
		for _, lp := range mf.Metric[0].Label {
			labels = append(labels, lp.GetName())
		}
		values := func(m *dto.Metric) []string {
			v := make([]string, 0, len(m.Label))
			for _, lp := range m.Label {
				v = append(v, lp.GetValue())
			}
			return v
		}
		switch mf.GetType() {
		case dto.MetricType_GAUGE:
			vec := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: mf.GetName(), Help: mf.GetHelp()}, labels)
			for _, m := range mf.Metric {
				vec.WithLabelValues(values(m)...).Set(m.GetGauge().GetValue())
			}
			reg.MustRegister(vec)
		case dto.MetricType_COUNTER:
			vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: mf.GetName(), Help: mf.GetHelp()}, labels)
			for _, m := range mf.Metric {
				vec.WithLabelValues(values(m)...).Add(m.GetCounter().GetValue())
			}
			reg.MustRegister(vec)
		case dto.MetricType_HISTOGRAM:
			var bounds []float64
			for _, b := range mf.Metric[0].GetHistogram().GetBucket() {
				bounds = append(bounds, b.GetUpperBound())
			}
			vec := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: mf.GetName(), Help: mf.GetHelp(), Buckets: bounds}, labels)
			for _, m := range mf.Metric {
				obs := vec.WithLabelValues(values(m)...)
				prev := uint64(0)
				for _, b := range m.GetHistogram().GetBucket() {
					for range b.GetCumulativeCount() - prev {
						obs.Observe(b.GetUpperBound())
					}
					prev = b.GetCumulativeCount()
				}
				for range m.GetHistogram().GetSampleCount() - prev {
					obs.Observe(2 * bounds[len(bounds)-1])
				}
			}
			reg.MustRegister(vec)
		default:
			return nil, fmt.Errorf("baseline: family %s of type %s", mf.GetName(), mf.GetType())
		}
	}
	for _, c := range fresh {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return reg, nil
}

// encodeAll writes mfs to w in format, as a handler does.
func encodeAll(w io.Writer, format expfmt.Format, mfs []*dto.MetricFamily) error {
	enc := expfmt.NewEncoder(w, format)
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return err
		}
	}
	return enc.(expfmt.Closer).Close()
}

// referenceHandler writes the cached bytes and the fresh registries,
// gathered and encoded: the least any scrape of main's path can do.
func referenceHandler(cached map[bool][]byte, fresh prometheus.Gatherers) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gz := strings.Contains(r.Header.Get("Accept-Encoding"), "gzip")
		mfs, err := fresh.Gather()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Write(cached[gz])
		encodeAll(w, textFormat, mfs)
	})
}

var textFormat = expfmt.NewFormat(expfmt.TypeTextPlain)

const acceptText = "text/plain;version=0.0.4"

type variant struct {
	name string
	gzip bool
	run  func() (bytes int64, err error) // one scrape
	reps int                             // scrapes per round: more of the quick ones, whose medians noise moves most
}

type figures struct {
	times  []time.Duration
	allocs []uint64
	bytes  int64
}

func (f *figures) median() time.Duration {
	s := slices.Clone(f.times)
	slices.Sort(s)
	return s[len(s)/2]
}

func (f *figures) medianAlloc() uint64 {
	s := slices.Clone(f.allocs)
	slices.Sort(s)
	return s[len(s)/2]
}

func serving(users, rounds int) error {
	snap := snapshotgen.Snapshot(users)
	stacks := map[string]*stack{}
	for _, name := range []string{"baseline", "first text", "first gzip", "cached", "reference"} {
		s, err := newStack(snap)
		if err != nil {
			return err
		}
		defer s.cleanup()
		stacks[name] = s
	}
	// What main caches: the usage metrics and their health.
	var usageMFs []*dto.MetricFamily
	for _, part := range []metricsserve.Source{
		collector.NewUsageSource(stacks["baseline"].exporter, stacks["baseline"].src),
		collector.NewHealthSource(stacks["baseline"].exporter, stacks["baseline"].src),
	} {
		mfs, err := part.Gather(part.Version())
		if err != nil {
			return err
		}
		usageMFs = append(usageMFs, mfs...)
	}
	series := 0
	for _, mf := range usageMFs {
		series += len(mf.Metric)
	}
	b := stacks["baseline"]
	baseline, err := baselineRegistry(usageMFs, b.reg, b.exporterReg)
	if err != nil {
		return err
	}
	// The floor encodes the usage families and the fresh ones, gathered once.
	fresh := prometheus.Gatherers{stacks["reference"].reg, stacks["reference"].exporterReg}
	freshMFs, err := fresh.Gather()
	if err != nil {
		return err
	}
	floorMFs := append(slices.Clone(usageMFs), freshMFs...)
	var usageText strings.Builder
	if err := encodeAll(&usageText, textFormat, usageMFs); err != nil {
		return err
	}
	var usageGz strings.Builder
	zw := gzip.NewWriter(&usageGz)
	io.WriteString(zw, usageText.String())
	zw.Close()
	cachedBytes := map[bool][]byte{false: []byte(usageText.String()), true: []byte(usageGz.String())}

	urls := map[string]string{}
	var servers []*httptest.Server
	defer func() {
		for _, s := range servers {
			s.Close()
		}
	}()
	serveOn := func(name string, h http.Handler) {
		srv := httptest.NewUnstartedServer(h)
		srv.Config.WriteTimeout, srv.Config.ReadHeaderTimeout = 2*time.Minute, 10*time.Second // main.go's
		srv.Start()
		servers = append(servers, srv)
		urls[name] = srv.URL + "/metrics"
	}
	serveOn("baseline", promhttp.InstrumentMetricHandler(prometheus.NewRegistry(),
		promhttp.HandlerFor(baseline, promhttp.HandlerOpts{MaxRequestsInFlight: 40})))
	for _, name := range []string{"first text", "first gzip", "cached"} {
		h, err := stacks[name].mainHandler()
		if err != nil {
			return err
		}
		serveOn(name, h)
	}
	serveOn("reference", referenceHandler(cachedBytes, fresh))

	client := &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{DisableCompression: true}}
	scrape := func(url string, gz bool) (int64, error) {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			return 0, err
		}
		req.Header.Set("Accept", acceptText)
		if gz {
			req.Header.Set("Accept-Encoding", "gzip")
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		n, err := io.Copy(io.Discard, resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("%s: HTTP %d", url, resp.StatusCode)
		}
		return n, err
	}
	floor := func(gz bool) (int64, error) {
		var c countingWriter
		var w io.Writer = &c
		var zw *gzip.Writer
		if gz {
			zw = gzip.NewWriter(&c)
			w = zw
		}
		if err := encodeAll(w, textFormat, floorMFs); err != nil {
			return 0, err
		}
		if zw != nil {
			zw.Close()
		}
		return c.n, nil
	}
	var variants []variant
	for _, gz := range []bool{false, true} {
		firstStack := stacks["first text"]
		if gz {
			firstStack = stacks["first gzip"]
		}
		variants = append(variants,
			variant{"GaugeVec/CounterVec baseline (promhttp)", gz, func() (int64, error) { return scrape(urls["baseline"], gz) }, 1},
			variant{"encoder floor (expfmt alone, prebuilt families)", gz, func() (int64, error) { return floor(gz) }, 1},
			variant{"first scrape of a new snapshot (main's path)", gz, func() (int64, error) {
				firstStack.src.publish()
				return scrape(urls[map[bool]string{false: "first text", true: "first gzip"}[gz]], gz)
			}, 1},
			variant{"cached scrape (main's path)", gz, func() (int64, error) { return scrape(urls["cached"], gz) }, 10},
			variant{"write the cached bytes + fresh self-metrics", gz, func() (int64, error) { return scrape(urls["reference"], gz) }, 10},
		)
	}
	results := make([]figures, len(variants))
	for round := range rounds + 1 { // round 0 warms up
		for k := range variants {
			i := (k + round) % len(variants) // each round another order
			for range variants[i].reps {
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				start := time.Now()
				n, err := variants[i].run()
				took := time.Since(start)
				runtime.ReadMemStats(&after)
				if err != nil {
					return fmt.Errorf("%s: %w", variants[i].name, err)
				}
				if round > 0 {
					results[i].times = append(results[i].times, took)
					results[i].allocs = append(results[i].allocs, after.TotalAlloc-before.TotalAlloc)
					results[i].bytes = n
				}
			}
		}
	}

	fmt.Printf("\n== 1. /metrics at %d users x %d types: %d series (usage and health), %.1f MB of text (%.1f MB gzipped); medians of %d rounds alternating %d variants (the quick ones 10 times a round) ==\n",
		users, len(snapshotgen.Types), series, float64(len(cachedBytes[false]))/1e6, float64(len(cachedBytes[true]))/1e6, rounds, len(variants))
	fmt.Printf("%-50s %10s %9s %10s %9s %14s\n", "", "text", "x base", "gzip", "x base", "MB alloc text/gzip")
	half := len(variants) / 2
	base := map[bool]time.Duration{false: results[0].median(), true: results[half].median()}
	for i := range half {
		t, g := &results[i], &results[half+i]
		fmt.Printf("%-50s %9.3fs %9.3f %9.3fs %9.3f %8.1f/%.1f\n", variants[i].name,
			t.median().Seconds(), float64(t.median())/float64(base[false]),
			g.median().Seconds(), float64(g.median())/float64(base[true]),
			float64(t.medianAlloc())/1e6, float64(g.medianAlloc())/1e6)
	}
	ratio := func(a, b int) float64 { return float64(results[a].median()) / float64(results[b].median()) }
	fmt.Printf("targets: cached scrape <= 1.2 x (write cached bytes + fresh): text %.2f x, gzip %.2f x; "+
		"no scrape slower than 1.0 x GaugeVec: first text %.2f x, first gzip %.2f x, cached text %.3f x, cached gzip %.3f x\n",
		ratio(3, 4), ratio(half+3, half+4), ratio(2, 0), ratio(half+2, half), ratio(3, 0), ratio(half+3, half))
	fmt.Printf("bytes per response: text %d (baseline %d), gzip %d (baseline %d)\n", results[3].bytes, results[0].bytes, results[half+3].bytes, results[half].bytes)
	return nil
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// ---- 2. memory ----

// childEnv makes this binary, started again, the exporter side of the
// memory part: the scraper, its store and main's /metrics handler, and
// nothing of the fake Zoom, which stays in the parent.
const childEnv = "METRICSBENCH_CHILD"

func init() {
	if url := os.Getenv(childEnv); url != "" {
		os.Exit(runChild(url, os.Getenv(childEnv+"_STORE")))
	}
}

type memoryOptions struct {
	users, meetings, scrapers, publishes int
}

// sample is the child's memory at one point, from /proc/<pid>/status.
type sample struct {
	RSS, Anon, File, HWM uint64
	HeapInuse            uint64 `json:",omitempty"`
	CacheBytes           int64  `json:",omitempty"`
	Counted              int64  `json:",omitempty"`
	Took                 time.Duration
	URL                  string `json:",omitempty"`
	Err                  string `json:",omitempty"`
}

// phase is what the child's memory did during the refreshes of a phase.
type phase struct {
	peak                 uint64 // largest VmRSS read while it ran
	settled              sample // after it, GC'd
	scrapes, failed      int
	scrapeP50, scrapeMax time.Duration
}

type memoryResult struct {
	memoryOptions
	truth   int
	first   sample // after the first full refresh, GC'd
	alone   phase  // refreshes, no scraper
	scraped phase  // the same refreshes, with the scrapers
}

func (r memoryResult) String() string {
	mb := func(v uint64) string { return fmt.Sprintf("%.1f MB", float64(v)/1e6) }
	settled := func(s sample) string {
		return fmt.Sprintf("%s (anon %s, file %s; heap in use %s; cached encodings %s)", mb(s.RSS), mb(s.Anon), mb(s.File), mb(s.HeapInuse), mb(uint64(s.CacheBytes)))
	}
	pct := func(a, b uint64) float64 { return 100 * (float64(a)/float64(b) - 1) }
	var b strings.Builder
	fmt.Fprintf(&b, "\n== 2. memory: the real scraper (pacing off, store on) against the fake Zoom, %d users x %d meetings, with main's /metrics handler, in a child process ==\n", r.users, r.meetings)
	fmt.Fprintf(&b, "after the first full refresh (%v, %d meetings counted of %d): VmRSS %s: %.0f B per counted meeting\n",
		r.first.Took.Round(100*time.Millisecond), r.first.Counted, r.truth, settled(r.first), float64(r.first.RSS)/float64(max(r.first.Counted, 1)))
	fmt.Fprintf(&b, "%d refreshes (5%% of users with a new meeting each), no scraper: VmRSS at most %s; after, GC'd: %s\n",
		r.publishes, mb(r.alone.peak), settled(r.alone.settled))
	fmt.Fprintf(&b, "the same with %d concurrent scrapers (gzip; %d scrapes, %d failed, p50 %v, max %v): VmRSS at most %s; after, GC'd: %s\n",
		r.scrapers, r.scraped.scrapes, r.scraped.failed, r.scraped.scrapeP50.Round(time.Millisecond), r.scraped.scrapeMax.Round(time.Millisecond),
		mb(r.scraped.peak), settled(r.scraped.settled))
	fmt.Fprintf(&b, "what the %d scrapers add: %+.1f%% to the largest VmRSS, %+.1f%% to VmRSS after GC (target <= 10%%); VmHWM over the run %s\n",
		r.scrapers, pct(r.scraped.peak, r.alone.peak), pct(r.scraped.settled.RSS, r.alone.settled.RSS), mb(r.scraped.settled.HWM))
	return b.String()
}

// start pins every clock mid-month, far from any turn.
var start = testenv.MidMonth

func measureMemory(o memoryOptions) (memoryResult, error) {
	res := memoryResult{memoryOptions: o}
	clock := testenv.NewClock(start)
	fake := zoomfake.New(zoomfake.Options{Seed: 16, Users: o.users, Now: clock.Now, HeavyUserMeetings: o.meetings})
	defer fake.Close()
	monthFrom := time.Date(start.Year(), start.Month(), 1, 0, 0, 0, 0, time.UTC)
	for i, u := range fake.Users() {
		have := len(fake.Meetings(u.ID, monthFrom, start, zoom.ReportPast))
		res.truth += max(have, o.meetings)
		for k := have; k < o.meetings; k++ {
			begin := monthFrom.Add(time.Duration((i*7919+k*104729)%int(start.Sub(monthFrom)/time.Minute-120)) * time.Minute)
			fake.AddMeeting(zoomfake.Meeting{
				Type: []int{2, 8, 1}[k%3], HostID: u.ID, Start: begin, DurationMinutes: 15 + k%90,
				Participants: 2 + k%9, HasRecording: k%4 == 0, HasScreenShare: k%2 == 0, HasChat: k%3 != 0,
			})
		}
	}
	srv := httptest.NewServer(fake)
	defer srv.Close()

	exe, err := os.Executable()
	if err != nil {
		return res, err
	}
	dir, err := os.MkdirTemp("", "metricsbench-store-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), childEnv+"="+srv.URL, childEnv+"_STORE="+dir)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return res, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return res, err
	}
	if err := cmd.Start(); err != nil {
		return res, err
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	lines := bufio.NewScanner(stdout)
	step := func(command string) (sample, error) {
		if _, err := fmt.Fprintln(stdin, command); err != nil {
			return sample{}, err
		}
		if !lines.Scan() {
			return sample{}, fmt.Errorf("the child process ended early (%v)", lines.Err())
		}
		var s sample
		if err := json.Unmarshal(lines.Bytes(), &s); err != nil {
			return sample{}, fmt.Errorf("child answered %q: %w", lines.Text(), err)
		}
		if s.Err != "" {
			return sample{}, errors.New(s.Err)
		}
		return s, nil
	}
	hello, err := step("url")
	if err != nil {
		return res, err
	}
	if res.first, err = step("refresh " + clock.Now().Format(time.RFC3339Nano)); err != nil {
		return res, err
	}
	// Prometheus scrapes first: the scrapers of phase B find the formats
	// they ask for known, as after any first scrape.
	client := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: o.scrapers}}
	if err := scrapeGzip(client, hello.URL, true); err != nil {
		return res, err
	}
	users := fake.Users()
	rng := rand.New(rand.NewPCG(16, uint64(o.users)))
	refreshes := func() error {
		for range o.publishes {
			end := clock.Now().Add(time.Minute)
			for _, idx := range rng.Perm(len(users))[:max(len(users)/20, 1)] {
				fake.AddMeeting(zoomfake.Meeting{Type: 2, HostID: users[idx].ID, Start: end.Add(-30 * time.Minute), End: end, Participants: 3, HasChat: true})
			}
			clock.Advance(5 * time.Minute)
			if _, err := step("refresh " + clock.Now().Format(time.RFC3339Nano)); err != nil {
				return err
			}
		}
		return nil
	}
	// Phase A: the refreshes alone; phase B: the same with the scrapers.
	// VmRSS is read from outside, every 20 ms, without making the child
	// collect garbage; "after" is read GC'd.
	for _, withScrapers := range []bool{false, true} {
		ph := &res.alone
		if withScrapers {
			ph = &res.scraped
		}
		ctx, cancel := context.WithCancel(context.Background())
		var peak atomic.Uint64
		var sampler sync.WaitGroup
		sampler.Go(func() {
			t := time.NewTicker(20 * time.Millisecond)
			defer t.Stop()
			for {
				if s, err := procStatus(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)); err == nil && s.RSS > peak.Load() {
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
			for i := range o.scrapers {
				scrapers.Go(func() {
					for n := 0; !stop.Load(); n++ {
						began := time.Now()
						// Every 10th scrape is decompressed and checked; the
						// others only read, so that this process's CPU leaves
						// the child its share of the 2 cores.
						err := scrapeGzip(client, hello.URL, (n+i)%10 == 0)
						mu.Lock()
						latencies = append(latencies, time.Since(began))
						if err != nil {
							ph.failed++
						}
						mu.Unlock()
					}
				})
			}
		}
		err := refreshes()
		if err == nil && withScrapers {
			// Every scraper scrapes the last snapshot a few times more.
			mu.Lock()
			target := len(latencies) + 4*o.scrapers
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
			return res, err
		}
		ph.peak, ph.scrapes = peak.Load(), len(latencies)
		if len(latencies) > 0 {
			slices.Sort(latencies)
			ph.scrapeP50, ph.scrapeMax = latencies[len(latencies)/2], latencies[len(latencies)-1]
		}
		if ph.settled, err = step("sample"); err != nil {
			return res, err
		}
	}
	return res, nil
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

// procStatus reads the resident memory lines of a /proc/<pid>/status file.
func procStatus(path string) (sample, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return sample{}, fmt.Errorf("resident memory is read from %s (Linux): %w", path, err)
	}
	var s sample
	for _, line := range strings.Split(string(raw), "\n") {
		name, value, _ := strings.Cut(line, ":")
		fields := strings.Fields(value)
		if len(fields) != 2 || fields[1] != "kB" {
			continue
		}
		kb, _ := strconv.ParseUint(fields[0], 10, 64)
		switch name {
		case "VmRSS":
			s.RSS = kb << 10
		case "RssAnon":
			s.Anon = kb << 10
		case "RssFile":
			s.File = kb << 10
		case "VmHWM":
			s.HWM = kb << 10
		}
	}
	if s.RSS == 0 {
		return sample{}, fmt.Errorf("no VmRSS in %s", path)
	}
	return s, nil
}

// runChild is the exporter side of the memory part: main.go's scraper,
// store and /metrics handler, with pacing off. It answers each command on
// stdin with one JSON line: "url" (where /metrics is served), "refresh
// <RFC 3339 time>" (a refresh at that time, then a sample), "sample".
func runChild(url, storeDir string) int {
	out := json.NewEncoder(os.Stdout)
	fail := func(err error) int {
		out.Encode(sample{Err: err.Error()})
		return 1
	}
	clock := testenv.NewClock(start)
	reg := prometheus.NewRegistry()
	reg.MustRegister(versioncollector.NewCollector("zoom_exporter"))
	client, err := zoom.NewClient(zoom.ClientConfig{
		APIURL: url + "/v2", TokenURL: url + "/oauth/token",
		AccountID: zoomfake.DefaultAccountID, ClientID: zoomfake.DefaultClientID, ClientSecret: zoomfake.DefaultClientSecret,
		Limits:      zoom.Limits{HeavyPerSecond: 1e6, MediumPerSecond: 1e6, HeavyPerDay: 10_000_000},
		DailyBudget: 10_000_000,
		Now:         clock.Now,
		Registerer:  reg,
	})
	if err != nil {
		return fail(err)
	}
	st, err := store.Open(storeDir, reg)
	if err != nil {
		return fail(err)
	}
	defer st.Close()
	s, err := scrape.NewScraper(scrape.ScraperConfig{Client: client, Interval: 5 * time.Minute, GracePeriod: time.Hour,
		Concurrency: 4, Now: clock.Now, Store: st, Registerer: reg})
	if err != nil {
		return fail(err)
	}
	reg.MustRegister(collector.NewLiveCollector(s))
	e, err := collector.New(s, collector.Options{UserLabel: collector.UserLabelEmail, SeparateLive: true})
	if err != nil {
		return fail(err)
	}
	exporterReg := prometheus.NewRegistry()
	exporterReg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	h, cache, err := metricsserve.NewExporterHandler(metricsserve.Config{
		Cached:   []metricsserve.Source{collector.NewUsageSource(e, s), collector.NewHealthSource(e, s)},
		Registry: reg, ExporterRegistry: exporterReg, MaxRequests: 40,
	})
	if err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go cache.Run(ctx, time.Second)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute}
	go srv.Serve(ln)
	defer srv.Close()

	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		fields := strings.Fields(in.Text())
		var rep sample
		switch {
		case len(fields) == 1 && fields[0] == "url":
			rep.URL = "http://" + ln.Addr().String() + "/metrics"
		case len(fields) == 2 && fields[0] == "refresh":
			at, err := time.Parse(time.RFC3339Nano, fields[1])
			if err != nil {
				return fail(err)
			}
			clock.Set(at)
			began := time.Now()
			s.Refresh(ctx)
			rep.Took = time.Since(began)
			fallthrough
		case len(fields) == 1 && fields[0] == "sample":
			for _, u := range s.Snapshot().Users {
				for _, t := range u.Counters {
					rep.Counted += t.Meetings
				}
			}
			runtime.GC()
			debug.FreeOSMemory()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			st, err := procStatus("/proc/self/status")
			if err != nil {
				return fail(err)
			}
			st.HeapInuse, st.CacheBytes, st.Counted, st.Took = ms.HeapInuse, cache.CachedBytes(), rep.Counted, rep.Took
			rep = st
		default:
			return fail(fmt.Errorf("bad command %q", in.Text()))
		}
		if err := out.Encode(rep); err != nil {
			return 1
		}
	}
	return 0
}
