package collector

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/zoomexporter/zoom_exporter/scrape"
)

var benchTypes = []string{"scheduled", "instant", "recurring_fixed_time"}

// bigSnapshot is users x 3 types, every figure set.
func bigSnapshot(users int) *scrape.Snapshot {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	snap := &scrape.Snapshot{Published: now, Month: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Up: true, LastSuccess: now,
		Durations: map[string]scrape.Histogram{}, Participants: map[string]scrape.Histogram{}}
	for i := range users {
		u := scrape.UserSnapshot{
			Key: fmt.Sprintf("id%07d", i), ID: fmt.Sprintf("id%07d", i), Email: fmt.Sprintf("user%05d@example.com", i),
			Listed: true, License: "licensed", Dept: fmt.Sprintf("dept%02d", i%40), LastRefresh: now,
			Month: map[string]scrape.Totals{}, Counters: map[string]scrape.Totals{},
		}
		for j, typ := range benchTypes {
			t := scrape.Totals{Meetings: int64(i%50 + j), DurationSeconds: int64(i * 60), ParticipantSeconds: int64(i * 240),
				Participants: int64(i % 300), WithRecording: int64(i % 7), WithScreenShare: int64(i % 11), WithChat: int64(i % 13)}
			u.Month[typ], u.Counters[typ] = t, t
		}
		snap.Users = append(snap.Users, u)
	}
	return snap
}

// baselineRegistry serves the same series from plain GaugeVecs and
// CounterVecs, the way an exporter that updates metrics in place would.
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

// BenchmarkMetricsEndpoint serves /metrics for 10,000 users x 3 types from
// the exporter's collector and, as the reference, from plain metric vectors
// holding the same series.
func BenchmarkMetricsEndpoint(b *testing.B) {
	snap := bigSnapshot(10000)
	exporter, err := New(fixedSource{snap}, Options{UserLabel: UserLabelEmail})
	if err != nil {
		b.Fatal(err)
	}
	ours := prometheus.NewRegistry()
	ours.MustRegister(exporter)
	for _, bc := range []struct {
		name string
		reg  *prometheus.Registry
	}{
		{"collector", ours},
		{"baseline_vecs", baselineRegistry(snap)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			srv := httptest.NewServer(promhttp.HandlerFor(bc.reg, promhttp.HandlerOpts{}))
			defer srv.Close()
			var bytes int64
			b.ResetTimer()
			for range b.N {
				resp, err := http.Get(srv.URL) // plain text, as most scrapers without protobuf
				if err != nil {
					b.Fatal(err)
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				bytes = n
			}
			b.ReportMetric(float64(bytes), "bytes/response")
		})
	}
}
