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
//  2. memory (internal/membench): the real scraper (pacing off), its store
//     and main's /metrics handler in a child process, against a fake Zoom
//     account (internal/zoomfake) of users x meetings: VmRSS per counted
//     meeting after the first full refresh, its growth over an hour of
//     refreshes and scrapes, then what 32 concurrent scrapers (gzip, as
//     Prometheus does) add across new snapshots.
//
//  3. cold start of 10,000 users on Pro and on Business
//     (internal/coldstart, simulated at 10x speed).
//
//     go run ./internal/metricsbench                  # about 10 minutes on 2 cores
//     go run ./internal/metricsbench -skip-memory -skip-cold-start
package main

import (
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strings"
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
	"github.com/zoomexporter/zoom_exporter/internal/membench"
	"github.com/zoomexporter/zoom_exporter/internal/metricsserve"
	"github.com/zoomexporter/zoom_exporter/internal/snapshotgen"
	"github.com/zoomexporter/zoom_exporter/scrape"
	"github.com/zoomexporter/zoom_exporter/store"
	"github.com/zoomexporter/zoom_exporter/zoom"
)

func main() { os.Exit(run()) }

func run() int {
	users := flag.Int("users", 10000, "users, each with meetings of 3 types")
	rounds := flag.Int("rounds", 7, "measured rounds of the serving variants (medians), after one warm-up round")
	meetings := flag.Int("meetings", 50, "meetings per user this month, for the memory part")
	cycles := flag.Int("cycles", 12, "cycles 5 minutes apart after the first refresh, each followed by 2 scrapes, for the memory part (12: an hour)")
	scrapers := flag.Int("scrapers", 32, "concurrent scrapers of the memory part")
	memoryRounds := flag.Int("memory-rounds", 3, "rounds of the memory part's scraper phases (refreshes alone, and with the scrapers, which first alternating): medians")
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
		fmt.Printf("\n== 2. memory: the exporter (scraper, store, main's /metrics handler) in a child process against the fake Zoom, %d users x %d meetings ==\n", *users, *meetings)
		r, err := membench.Measure(membench.Options{Users: *users, Meetings: *meetings, Cycles: *cycles, Scrapes: 2,
			Scrapers: *scrapers, Publishes: *publishes, Rounds: *memoryRounds, Store: true})
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
	// The cached scrape and its reference take milliseconds, and the two
	// medians above come from different moments of a round: their ratio,
	// the 1.2 x target's, is taken from back-to-back pairs too.
	pairedRatio := map[bool]float64{}
	for _, gz := range []bool{false, true} {
		r, err := pairedMedianRatio(pairs, func() error { _, err := scrape(urls["cached"], gz); return err },
			func() error { _, err := scrape(urls["reference"], gz); return err })
		if err != nil {
			return err
		}
		pairedRatio[gz] = r
	}
	fmt.Printf("targets: cached scrape <= 1.2 x (write cached bytes + fresh): text %.2f x, gzip %.2f x (ratio of the medians above: %.2f x, %.2f x); "+
		"no scrape slower than 1.0 x GaugeVec: first text %.2f x, first gzip %.2f x, cached text %.3f x, cached gzip %.3f x\n",
		pairedRatio[false], pairedRatio[true], ratio(3, 4), ratio(half+3, half+4), ratio(2, 0), ratio(half+2, half), ratio(3, 0), ratio(half+3, half))
	fmt.Printf("bytes per response: text %d (baseline %d), gzip %d (baseline %d)\n", results[3].bytes, results[0].bytes, results[half+3].bytes, results[half].bytes)
	return nil
}

// pairs is how many back-to-back pairs pairedMedianRatio times.
const pairs = 101

// pairedMedianRatio times n pairs of a and b run back to back, which one
// first alternating, and returns the median of the pairs' ratios a/b. The
// heap is collected every 10 pairs, outside the timings.
func pairedMedianRatio(n int, a, b func() error) (float64, error) {
	ratios := make([]float64, 0, n)
	timed := func(f func() error) (time.Duration, error) {
		start := time.Now()
		err := f()
		return time.Since(start), err
	}
	for i := range n {
		if i%10 == 0 {
			runtime.GC()
		}
		var ta, tb time.Duration
		var errA, errB error
		if i%2 == 0 {
			ta, errA = timed(a)
			tb, errB = timed(b)
		} else {
			tb, errB = timed(b)
			ta, errA = timed(a)
		}
		if err := errors.Join(errA, errB); err != nil {
			return 0, err
		}
		ratios = append(ratios, float64(ta)/float64(tb))
	}
	slices.Sort(ratios)
	return ratios[len(ratios)/2], nil
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}
