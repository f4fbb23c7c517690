// Command loadbench scrapes /metrics hard and prints what it measured.
//
// By default it serves, in process and over loopback HTTP, the same /metrics
// handler stack as the exporter (collector.New on a snapshot, its usage
// metrics encoded once by internal/metricsserve, the scrape client's,
// store's and build-info metrics, Go and process metrics gathered on every
// scrape, --web.max-requests, the HTTP server timeouts of main.go) on a
// synthetic snapshot of --users users, so the measure is the /metrics path
// itself, not the fake Zoom server or the refresh. With --url it scrapes a
// running exporter instead. The side-by-side figures of the README (GaugeVec
// baseline, encoder floor, first and cached scrapes, memory, cold start)
// come from go run ./internal/metricsbench.
//
// Two phases:
//  1. load: --clients clients scrape for --duration; it prints requests,
//     errors, latency percentiles and bytes per response. Any answer other
//     than 200 is an error.
//  2. limit (in process only): the handler with --web.max-requests set to
//     --limit, the same clients for --limit-duration: the excess must get
//     503 at once, and no more than --limit scrapes may be served at once
//     (each admitted scrape gathers the registries served fresh).
//
// It exits 1 when a phase fails.
//
//	go run ./internal/loadbench
//	go run ./internal/loadbench --url http://localhost:9865/metrics
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/zoomexporter/zoom_exporter/collector"
	"github.com/zoomexporter/zoom_exporter/internal/metricsserve"
	"github.com/zoomexporter/zoom_exporter/scrape"
	"github.com/zoomexporter/zoom_exporter/store"
	"github.com/zoomexporter/zoom_exporter/zoom"
)

func main() { os.Exit(run()) }

type options struct {
	url           string
	users         int
	maxTypes      int
	clients       int
	duration      time.Duration
	maxRequests   int
	limit         int
	limitDuration time.Duration
	gzip          bool
	accept        string
	timeout       time.Duration
	uncached      bool
}

func run() int {
	var o options
	flag.StringVar(&o.url, "url", "", "scrape this /metrics URL of a running exporter instead of serving a synthetic one in process")
	flag.IntVar(&o.users, "users", 10000, "tracked users in the synthetic snapshot")
	flag.IntVar(&o.maxTypes, "types", 3, "user i has meetings of i mod (types+1) meeting types: on average types/2 per user, some with none")
	flag.IntVar(&o.clients, "clients", 32, "concurrent scraping clients")
	flag.DurationVar(&o.duration, "duration", 30*time.Second, "length of the load phase")
	flag.IntVar(&o.maxRequests, "max-requests", 40, "--web.max-requests of the in-process handler during the load phase (the exporter's default)")
	flag.IntVar(&o.limit, "limit", 4, "--web.max-requests of the in-process handler during the limit phase (0: skip the phase)")
	flag.DurationVar(&o.limitDuration, "limit-duration", 5*time.Second, "length of the limit phase")
	flag.BoolVar(&o.gzip, "gzip", true, "ask for gzip like Prometheus does; bytes are counted as sent")
	flag.StringVar(&o.accept, "accept", "text/plain;version=0.0.4;q=1,*/*;q=0.1", "Accept header of the scrapes")
	flag.DurationVar(&o.timeout, "timeout", time.Minute, "timeout of one scrape")
	flag.BoolVar(&o.uncached, "uncached", false, "for comparison: gather and encode everything on every scrape with promhttp, instead of encoding the usage metrics once per snapshot as main.go does")
	flag.Parse()

	if o.url != "" {
		fmt.Printf("target: %s\n", o.url)
		r := load(o.url, o, nil)
		r.print("load")
		if !r.ok(false) {
			return 1
		}
		return 0
	}

	snap := syntheticSnapshot(o.users, o.maxTypes, time.Now())
	reg, cleanup, err := registry(snap, o.uncached)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadbench:", err)
		return 1
	}
	defer cleanup()
	fmt.Printf("synthetic snapshot: %d users, up to %d meeting types each; %d CPUs, %s\n", o.users, o.maxTypes, runtime.NumCPU(), runtime.Version())

	failed := false
	g := &countingGatherer{}
	url, stop, err := serve(metricsHandler(reg, g, o.maxRequests))
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadbench:", err)
		return 1
	}
	series, size, err := probe(url, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadbench:", err)
		stop()
		return 1
	}
	fmt.Printf("one response: %d series, %d bytes uncompressed\n", series, size)
	g.reset()
	r := load(url, o, g)
	stop()
	r.print(fmt.Sprintf("load (--web.max-requests=%d)", o.maxRequests))
	if !r.ok(false) {
		failed = true
	}
	printMemory()

	if o.limit > 0 {
		g := &countingGatherer{}
		url, stop, err := serve(metricsHandler(reg, g, o.limit))
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadbench:", err)
			return 1
		}
		lo := o
		lo.duration = o.limitDuration
		r := load(url, lo, g)
		stop()
		r.print(fmt.Sprintf("limit (--web.max-requests=%d)", o.limit))
		switch {
		case r.status[http.StatusServiceUnavailable] == 0:
			fmt.Printf("FAIL: %d clients against --web.max-requests=%d got no 503\n", o.clients, o.limit)
			failed = true
		case r.maxGathers > int64(o.limit):
			fmt.Printf("FAIL: %d scrapes were gathered at once, more than --web.max-requests=%d\n", r.maxGathers, o.limit)
			failed = true
		case !r.ok(true):
			failed = true
		default:
			fmt.Printf("PASS: at most %d scrapes gathered at once; the excess got 503\n", r.maxGathers)
		}
	}
	if failed {
		return 1
	}
	return 0
}

// syntheticSnapshot builds what a refresh of n users would publish: user i
// has meetings of i mod (maxTypes+1) types this month (some users none),
// counters for the same types, and histograms for every type.
func syntheticSnapshot(n, maxTypes int, now time.Time) *scrape.Snapshot {
	types := []string{"instant", "scheduled", "recurring_no_fixed_time", "pmi", "webinar", "recurring_fixed_time", "recurring_webinar_fixed_time", "personal_audio_conference", "recurring_webinar_no_fixed_time", "unknown"}
	month := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	snap := &scrape.Snapshot{
		Published: now, Month: month, Up: true, LastSuccess: now, RefreshDuration: 42 * time.Second,
		EffectiveInterval: 5 * time.Minute,
		Durations:         map[string]scrape.Histogram{},
		Participants:      map[string]scrape.Histogram{},
	}
	for i := range n {
		id := fmt.Sprintf("u%021d", i)
		u := scrape.UserSnapshot{
			Key: id, ID: id, Email: fmt.Sprintf("user%05d@example.com", i), Listed: true,
			License: "licensed", Dept: fmt.Sprintf("Department %d", i%25),
			Month: map[string]scrape.Totals{}, Counters: map[string]scrape.Totals{},
			LastRefresh: now, LastAttempt: now,
		}
		for k := range i % (maxTypes + 1) {
			t := scrape.Totals{Meetings: int64(1 + i%7), DurationSeconds: int64(1800 * (1 + i%7)), ParticipantSeconds: int64(7200 * (1 + i%7)),
				Participants: int64(4 * (1 + i%7)), WithRecording: int64(i % 2), WithScreenShare: 1, WithChat: int64(i % 3 % 2)}
			u.Month[types[(i+k)%len(types)]] = t
			t.Meetings *= 3
			u.Counters[types[(i+k)%len(types)]] = t
		}
		snap.Users = append(snap.Users, u)
	}
	for i, typ := range types {
		snap.Durations[typ] = histogram(scrape.DurationBuckets, uint64(1000*(i+1)))
		snap.Participants[typ] = histogram(scrape.ParticipantsBuckets, uint64(1000*(i+1)))
	}
	return snap
}

func histogram(bounds []float64, count uint64) scrape.Histogram {
	h := scrape.Histogram{Count: count, Sum: float64(count) * 1234, Buckets: map[float64]uint64{}}
	for i, b := range bounds {
		h.Buckets[b] = count * uint64(i+1) / uint64(len(bounds))
	}
	return h
}

type fixedSource struct{ snap *scrape.Snapshot }

func (f fixedSource) Snapshot() *scrape.Snapshot { return f.snap }

// stack is what main.go serves: the usage metrics and the registries
// gathered on every scrape.
type stack struct {
	parts       []metricsserve.Source // the usage metrics and their health
	reg         *prometheus.Registry  // build info, the Zoom client's and the store's metrics
	exporterReg *prometheus.Registry  // Go and process metrics
	uncached    bool
}

// registry registers what main.go registers: build info, the Zoom client's
// metrics, the store's, Go and process metrics, and the collector.
func registry(snap *scrape.Snapshot, uncached bool) (*stack, func(), error) {
	src := fixedSource{snap}
	reg := prometheus.NewRegistry()
	reg.MustRegister(versioncollector.NewCollector("zoom_exporter"))
	if _, err := zoom.NewClient(zoom.ClientConfig{APIURL: "http://127.0.0.1:1/v2", Registerer: reg}); err != nil {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp("", "loadbench")
	if err != nil {
		return nil, nil, err
	}
	st, err := store.Open(dir, reg)
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	exporter, err := collector.New(src, collector.Options{UserLabel: collector.UserLabelEmail, SeparateLive: true})
	if err != nil {
		st.Close()
		os.RemoveAll(dir)
		return nil, nil, err
	}
	exporterReg := prometheus.NewRegistry()
	exporterReg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s := &stack{parts: []metricsserve.Source{collector.NewUsageSource(exporter, src), collector.NewHealthSource(exporter, src)},
		reg: reg, exporterReg: exporterReg, uncached: uncached}
	if uncached {
		reg.MustRegister(exporter)
	}
	return s, func() { st.Close(); os.RemoveAll(dir) }, nil
}

// metricsHandler is main.go's /metrics handler with maxRequests; g counts
// the admitted scrapes, each of which gathers the fresh registries (all of
// them with --uncached). It is metricsserve.NewExporterHandler but for the
// counting, which needs its own Fresh gatherer.
func metricsHandler(s *stack, g *countingGatherer, maxRequests int) http.Handler {
	g.g = prometheus.Gatherers{s.reg, s.exporterReg}
	if s.uncached {
		return promhttp.InstrumentMetricHandler(s.exporterReg, promhttp.HandlerFor(g, promhttp.HandlerOpts{MaxRequestsInFlight: maxRequests}))
	}
	h, err := metricsserve.New(metricsserve.Options{Cached: s.parts, Fresh: prometheus.Gatherers{g}, MaxRequestsInFlight: maxRequests})
	if err != nil {
		panic(err) // the registries are this command's own: a bug
	}
	return promhttp.InstrumentMetricHandler(s.exporterReg, h)
}

// countingGatherer records how many gathers run at once: the handler
// admits a request (--web.max-requests) before it gathers.
type countingGatherer struct {
	g        prometheus.Gatherer
	inflight atomic.Int64
	max      atomic.Int64
}

func (c *countingGatherer) Gather() ([]*dto.MetricFamily, error) {
	n := c.inflight.Add(1)
	defer c.inflight.Add(-1)
	for {
		m := c.max.Load()
		if n <= m || c.max.CompareAndSwap(m, n) {
			break
		}
	}
	return c.g.Gather()
}

func (c *countingGatherer) reset() { c.max.Store(0) }

// serve runs h on a loopback port with main.go's server timeouts.
func serve(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", h)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
	}
	go func() { _ = srv.Serve(ln) }()
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}
	return "http://" + ln.Addr().String() + "/metrics", stop, nil
}

func newClient(o options) *http.Client {
	return &http.Client{
		Timeout: o.timeout,
		Transport: &http.Transport{
			MaxIdleConns:        o.clients,
			MaxIdleConnsPerHost: o.clients,
			DisableCompression:  true, // bytes are counted as sent; gzip is asked for explicitly
		},
	}
}

// probe fetches one response uncompressed and counts its series.
func probe(url string, o options) (series, size int, err error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Accept", o.accept)
	resp, err := newClient(o).Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("probe: HTTP %d", resp.StatusCode)
	}
	for line := range bytes.Lines(body) {
		if len(line) > 0 && line[0] != '#' {
			series++
		}
	}
	return series, len(body), nil
}

type result struct {
	elapsed    time.Duration
	requests   int
	status     map[int]int
	transport  map[string]int // errors without an HTTP answer
	latencies  []time.Duration
	rejected   []time.Duration // latencies of 503s
	bytes      int64           // of 200 answers, as sent
	badBodies  int             // 200 answers that did not read or decode in full
	maxGathers int64           // -1 when unknown (--url)
}

func load(url string, o options, g *countingGatherer) *result {
	client := newClient(o)
	ctx, cancel := context.WithTimeout(context.Background(), o.duration)
	defer cancel()
	var (
		mu sync.Mutex
		r  = &result{status: map[int]int{}, transport: map[string]int{}, maxGathers: -1}
		wg sync.WaitGroup
	)
	start := time.Now()
	for range o.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				status, n, bad, d, err := scrapeOnce(client, url, o)
				if errors.Is(err, errStopped) {
					return
				}
				mu.Lock()
				r.requests++
				switch {
				case err != nil:
					r.transport[shortError(err)]++
				default:
					r.status[status]++
					switch status {
					case http.StatusOK:
						r.latencies = append(r.latencies, d)
						r.bytes += n
						if bad {
							r.badBodies++
						}
					case http.StatusServiceUnavailable:
						r.rejected = append(r.rejected, d)
					}
				}
				mu.Unlock()
			}
		}()
	}
	// Scrapes in flight when the phase ends are let finish: cutting them
	// off would count as errors what is only the end of the phase.
	wg.Wait()
	r.elapsed = time.Since(start)
	if g != nil {
		r.maxGathers = g.max.Load()
	}
	return r
}

var errStopped = errors.New("phase over before the request left")

func scrapeOnce(client *http.Client, url string, o options) (status int, n int64, bad bool, d time.Duration, err error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, 0, false, 0, err
	}
	req.Header.Set("Accept", o.accept)
	if o.gzip {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, false, time.Since(start), err
	}
	defer resp.Body.Close()
	var counter countingReader
	counter.r = resp.Body
	var body io.Reader = &counter
	if resp.Header.Get("Content-Encoding") == "gzip" {
		zr, zerr := gzip.NewReader(body)
		if zerr != nil {
			return resp.StatusCode, counter.n, true, time.Since(start), nil
		}
		body = zr
	}
	_, rerr := io.Copy(io.Discard, body)
	return resp.StatusCode, counter.n, rerr != nil, time.Since(start), nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func shortError(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return s
}

func (r *result) ok(expect503 bool) bool {
	bad := len(r.transport) > 0 || r.badBodies > 0
	for code, n := range r.status {
		if code != http.StatusOK && !(expect503 && code == http.StatusServiceUnavailable) && n > 0 {
			bad = true
		}
	}
	if len(r.latencies) == 0 {
		bad = true
	}
	if bad {
		fmt.Println("FAIL: errors above")
	}
	return !bad
}

func (r *result) print(phase string) {
	fmt.Printf("\n== %s: %s\n", phase, r.elapsed.Round(time.Millisecond))
	ok := r.status[http.StatusOK]
	errs := r.requests - ok - r.status[http.StatusServiceUnavailable]
	fmt.Printf("requests %d (%.1f/s), 200: %d, 503: %d, errors: %d, bad bodies: %d\n",
		r.requests, float64(r.requests)/r.elapsed.Seconds(), ok, r.status[http.StatusServiceUnavailable], errs, r.badBodies)
	for code, n := range r.status {
		if code != http.StatusOK && code != http.StatusServiceUnavailable {
			fmt.Printf("  HTTP %d: %d\n", code, n)
		}
	}
	for msg, n := range r.transport {
		fmt.Printf("  %s: %d\n", msg, n)
	}
	if ok > 0 {
		p := percentiles(r.latencies)
		fmt.Printf("latency of 200s: p50 %s, p90 %s, p99 %s, max %s\n", p(0.5), p(0.9), p(0.99), p(1))
		fmt.Printf("bytes per 200 response: %d (as sent)\n", r.bytes/int64(ok))
	}
	if len(r.rejected) > 0 {
		p := percentiles(r.rejected)
		fmt.Printf("latency of 503s: p50 %s, p99 %s, max %s\n", p(0.5), p(0.99), p(1))
	}
	if r.maxGathers >= 0 {
		fmt.Printf("most scrapes gathered at once: %d\n", r.maxGathers)
	}
}

func percentiles(ds []time.Duration) func(float64) time.Duration {
	s := slices.Clone(ds)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return func(q float64) time.Duration {
		if len(s) == 0 {
			return 0
		}
		i := int(q*float64(len(s))+0.5) - 1
		return s[min(max(i, 0), len(s)-1)].Round(100 * time.Microsecond)
	}
}

func printMemory() {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	fmt.Printf("bench process: heap in use %d MiB, total allocated %d MiB, %d GCs\n", m.HeapInuse>>20, m.TotalAlloc>>20, m.NumGC)
}
