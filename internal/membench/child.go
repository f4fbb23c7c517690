package membench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"

	"github.com/zoomexporter/zoom_exporter/collector"
	"github.com/zoomexporter/zoom_exporter/internal/metricsserve"
	"github.com/zoomexporter/zoom_exporter/internal/testenv"
	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
	"github.com/zoomexporter/zoom_exporter/scrape"
	"github.com/zoomexporter/zoom_exporter/store"
	"github.com/zoomexporter/zoom_exporter/zoom"
)

// A binary started by Measure becomes the exporter before its own main
// runs: the measure must hold nothing but the exporter.
func init() {
	if url := os.Getenv(childEnv); url != "" {
		os.Exit(runChild(url, os.Getenv(childEnv+"_STORE")))
	}
}

// runChild is the exporter's side: main.go's scraper, store and /metrics
// handler, with pacing off. It writes a sample before it builds them (the
// baseline), then answers each command on stdin with one JSON line:
// "url" (where /metrics is served), "refresh <RFC 3339 time>" (a refresh
// at that time, then a sample), "sample".
func runChild(url, storeDir string) int {
	// MEMBENCH_CHILD_HEAPPROFILE=<prefix> writes the live heap at each
	// sample after the baseline, to <prefix>.1, <prefix>.2 and on, for a
	// look at what holds it.
	if os.Getenv(childEnv+"_HEAPPROFILE") != "" {
		runtime.MemProfileRate = 4096 // fine enough to tell what holds the heap
	}
	out := json.NewEncoder(os.Stdout)
	fail := func(err error) int {
		out.Encode(childReport{Err: err.Error()})
		return 1
	}
	base, err := sampleSelf()
	if err != nil {
		return fail(err)
	}
	if err := out.Encode(childReport{Sample: base}); err != nil {
		return 1
	}
	clock := testenv.NewClock(start)
	ex, err := newExporter(url, storeDir, clock)
	if err != nil {
		return fail(err)
	}
	defer ex.close()
	samples := 0 // numbers the heap profiles
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		fields := strings.Fields(in.Text())
		var rep childReport
		switch {
		case len(fields) == 1 && fields[0] == "url":
			rep.URL = ex.url
		case len(fields) == 2 && fields[0] == "refresh":
			at, err := time.Parse(time.RFC3339Nano, fields[1])
			if err != nil {
				return fail(err)
			}
			clock.Set(at)
			began := time.Now()
			ex.scraper.Refresh(context.Background())
			took := time.Since(began)
			if rep.Sample, err = ex.sample(); err != nil {
				return fail(err)
			}
			rep.Took = took
		case len(fields) == 1 && fields[0] == "sample":
			if rep.Sample, err = ex.sample(); err != nil {
				return fail(err)
			}
		default:
			return fail(fmt.Errorf("bad command %q", in.Text()))
		}
		if prefix := os.Getenv(childEnv + "_HEAPPROFILE"); prefix != "" && rep.URL == "" {
			samples++
			if err := writeHeapProfile(fmt.Sprintf("%s.%d", prefix, samples)); err != nil {
				return fail(err)
			}
		}
		if err := out.Encode(rep); err != nil {
			return 1
		}
	}
	return 0
}

// exporter is what main.go builds, with pacing off: limits far above what
// the fake and the machine can do, a budget that defers nothing.
type exporter struct {
	scraper *scrape.Scraper
	store   *store.Store // nil without a store
	cache   *metricsserve.Handler
	url     string
	close   func()
}

func newExporter(url, storeDir string, clock *testenv.Clock) (*exporter, error) {
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
		return nil, err
	}
	ex := &exporter{close: func() {}}
	if storeDir != "" {
		if ex.store, err = store.Open(storeDir, reg); err != nil {
			return nil, err
		}
	}
	if ex.scraper, err = scrape.NewScraper(scrape.ScraperConfig{Client: client, Interval: 5 * time.Minute, GracePeriod: time.Hour,
		Concurrency: 4, Now: clock.Now, Store: ex.store, Registerer: reg}); err != nil {
		return nil, err
	}
	reg.MustRegister(collector.NewLiveCollector(ex.scraper))
	e, err := collector.New(ex.scraper, collector.Options{UserLabel: collector.UserLabelEmail, SeparateLive: true})
	if err != nil {
		return nil, err
	}
	exporterReg := prometheus.NewRegistry()
	exporterReg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	h, cache, err := metricsserve.NewExporterHandler(metricsserve.Config{
		Cached:   []metricsserve.Source{collector.NewUsageSource(e, ex.scraper), collector.NewHealthSource(e, ex.scraper)},
		Registry: reg, ExporterRegistry: exporterReg, MaxRequests: 40,
	})
	if err != nil {
		return nil, err
	}
	ex.cache = cache
	ctx, cancel := context.WithCancel(context.Background())
	go cache.Run(ctx, time.Second)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute}
	go srv.Serve(ln)
	ex.url = "http://" + ln.Addr().String() + "/metrics"
	ex.close = func() {
		srv.Close()
		cancel()
		if ex.store != nil {
			ex.store.Close()
		}
	}
	return ex, nil
}

// sample frees what can be freed and reads this process's memory, with the
// exporter's own figures.
func (ex *exporter) sample() (Sample, error) {
	s, err := sampleSelf()
	if err != nil {
		return s, err
	}
	for _, u := range ex.scraper.Snapshot().Users {
		for _, t := range u.Counters {
			s.Counted += t.Meetings
		}
	}
	s.CacheBytes = ex.cache.CachedBytes()
	if ex.store != nil {
		s.StoreBytes = ex.store.Size()
	}
	return s, nil
}

// sampleSelf frees what can be freed and reads this process's memory.
func sampleSelf() (Sample, error) {
	runtime.GC()
	debug.FreeOSMemory()
	s, err := readStatus("/proc/self/status")
	if err != nil {
		return s, err
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s.HeapInuse = ms.HeapInuse
	return s, nil
}

// writeHeapProfile writes the live heap, for a look at what holds it.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup("heap").WriteTo(f, 0)
}
