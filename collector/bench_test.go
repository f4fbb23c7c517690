package collector

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/zoomexporter/zoom_exporter/internal/metricsserve"
	"github.com/zoomexporter/zoom_exporter/internal/snapshotgen"
	"github.com/zoomexporter/zoom_exporter/scrape"
)

// baselineRegistry serves the same series from plain GaugeVecs,
// CounterVecs and HistogramVecs, the way an exporter that updates metrics
// in place would.
func baselineRegistry(snap *scrape.Snapshot) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	month := make([]*prometheus.GaugeVec, len(usageFigures))
	counters := make([]*prometheus.CounterVec, len(usageFigures))
	for i, f := range usageFigures {
		month[i] = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: f.monthName, Help: f.monthHelp}, []string{"user", "type"})
		counters[i] = prometheus.NewCounterVec(prometheus.CounterOpts{Name: f.counterName, Help: f.counterHelp}, []string{"user", "type"})
		reg.MustRegister(month[i], counters[i])
	}
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "zoom_user_info", Help: "info"}, []string{"user", "license", "dept"})
	last := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "zoom_user_last_refresh_timestamp_seconds", Help: "last"}, []string{"user"})
	reg.MustRegister(info, last)
	for _, h := range []struct {
		name   string
		bounds []float64
		byType map[string]scrape.Histogram
	}{
		{"zoom_meeting_duration_distribution_seconds", scrape.DurationBuckets, snap.Durations},
		{"zoom_meeting_size_participants", scrape.ParticipantsBuckets, snap.Participants},
	} {
		vec := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: h.name, Help: "histogram", Buckets: h.bounds}, []string{"type"})
		reg.MustRegister(vec)
		for typ, hist := range h.byType {
			prev := uint64(0)
			for _, b := range h.bounds {
				for range hist.Buckets[b] - prev {
					vec.WithLabelValues(typ).Observe(b)
				}
				prev = hist.Buckets[b]
			}
		}
	}
	for _, u := range snap.Users {
		for typ, t := range u.Month {
			for i, f := range usageFigures {
				month[i].WithLabelValues(u.Email, typ).Set(float64(f.value(t)))
				counters[i].WithLabelValues(u.Email, typ).Add(float64(f.value(u.Counters[typ])))
			}
		}
		info.WithLabelValues(u.Email, u.License, u.Dept).Set(1)
		last.WithLabelValues(u.Email).Set(float64(u.LastRefresh.Unix()))
	}
	return reg
}

type publishingSource struct {
	snap atomic.Pointer[scrape.Snapshot]
}

func (p *publishingSource) Snapshot() *scrape.Snapshot { return p.snap.Load() }

// freshRegistries are main.go's registries gathered on every scrape, in
// small: build info, and Go and process metrics.
func freshRegistries() (*prometheus.Registry, *prometheus.Registry) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(versioncollector.NewCollector("zoom_exporter"))
	exporterReg := prometheus.NewRegistry()
	exporterReg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg, exporterReg
}

// BenchmarkMetricsEndpoint serves /metrics for 10,000 users x 3 types
// (histograms included) through main's serving path
// (metricsserve.NewExporterHandler over UsageSource and HealthSource),
// first scrape of a new
// snapshot and cached scrape, and, as the reference, plain metric vectors
// holding the same series served by promhttp; text and gzip. Each
// iteration scrapes every variant once, in an order that changes with
// each iteration; the figures are medians, in seconds, and ratios to the
// baseline of the same encoding. go run ./internal/metricsbench prints
// these beside the encoder floor, memory and the cold start.
func BenchmarkMetricsEndpoint(b *testing.B) {
	snap := snapshotgen.Snapshot(10000)
	handler := func(src *publishingSource) http.Handler {
		e, err := New(src, Options{UserLabel: UserLabelEmail, SeparateLive: true})
		if err != nil {
			b.Fatal(err)
		}
		reg, exporterReg := freshRegistries()
		h, _, err := metricsserve.NewExporterHandler(metricsserve.Config{
			Cached:   []metricsserve.Source{NewUsageSource(e, src), NewHealthSource(e, src)},
			Registry: reg, ExporterRegistry: exporterReg, MaxRequests: 40,
		})
		if err != nil {
			b.Fatal(err)
		}
		return h
	}
	reg, exporterReg := freshRegistries()
	baseline := baselineRegistry(snap)
	baseline.MustRegister(reg, exporterReg)
	servers := map[string]*httptest.Server{
		"baseline": httptest.NewServer(promhttp.InstrumentMetricHandler(prometheus.NewRegistry(), promhttp.HandlerFor(baseline, promhttp.HandlerOpts{MaxRequestsInFlight: 40}))),
	}
	sources := map[string]*publishingSource{}
	for _, name := range []string{"first_text", "first_gzip", "cached"} {
		sources[name] = &publishingSource{}
		sources[name].snap.Store(snap)
		servers[name] = httptest.NewServer(handler(sources[name]))
	}
	defer func() {
		for _, s := range servers {
			s.Close()
		}
	}()
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	scrape := func(server string, gzip bool) int64 {
		req, _ := http.NewRequest(http.MethodGet, servers[server].URL, nil)
		if gzip {
			req.Header.Set("Accept-Encoding", "gzip")
		}
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		n, _ := io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("%s: HTTP %d", server, resp.StatusCode)
		}
		return n
	}
	type variant struct {
		name, server string
		gzip, first  bool
	}
	var variants []variant
	for _, gz := range []bool{false, true} {
		enc := map[bool]string{false: "text", true: "gzip"}[gz]
		variants = append(variants,
			variant{"baseline_" + enc, "baseline", gz, false},
			variant{"first_" + enc, "first_" + enc, gz, true},
			variant{"cached_" + enc, "cached", gz, false},
		)
	}
	scrape("cached", false) // the cached variants start cached
	scrape("cached", true)
	times := make(map[string][]time.Duration)
	bytes := make(map[string]int64)
	b.ResetTimer()
	for i := range b.N {
		for k := range variants {
			v := variants[(k+i)%len(variants)]
			if v.first {
				c := *snap // a new snapshot of the same data: a new version
				sources[v.server].snap.Store(&c)
			}
			start := time.Now()
			bytes[v.name] = scrape(v.server, v.gzip)
			times[v.name] = append(times[v.name], time.Since(start))
		}
	}
	b.StopTimer()
	median := func(name string) float64 {
		s := slices.Clone(times[name])
		slices.Sort(s)
		return s[len(s)/2].Seconds()
	}
	for _, v := range variants {
		b.ReportMetric(median(v.name), "s/"+v.name)
		if v.server != "baseline" {
			b.ReportMetric(median(v.name)/median("baseline_"+v.name[len(v.name)-4:]), "x-baseline/"+v.name)
		}
	}
	b.ReportMetric(float64(bytes["cached_text"]), "bytes/text")
	b.ReportMetric(float64(bytes["cached_gzip"]), "bytes/gzip")
}
