package metricsserve

import (
	"errors"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config is /metrics as main.go serves it.
type Config struct {
	// Cached are the parts encoded once per version of their own: the
	// usage metrics (collector.UsageSource), then their health
	// (collector.HealthSource).
	Cached []Source
	// Registry holds build info, the Zoom client's, store's and scraper's
	// self-metrics and the live gauges: gathered on every scrape. It also
	// gets zoom_exporter_metrics_cache_bytes.
	Registry *prometheus.Registry
	// ExporterRegistry holds the Go and process metrics and gets
	// promhttp_metric_handler_*; nil with --web.disable-exporter-metrics.
	ExporterRegistry *prometheus.Registry
	MaxRequests      int // --web.max-requests
	ErrorLog         promhttp.Logger
}

// NewExporterHandler returns the exporter's /metrics handler, instrumented
// as promhttp.InstrumentMetricHandler does when ExporterRegistry is set,
// and the Handler within, whose Run encodes new snapshots ahead.
func NewExporterHandler(c Config) (http.Handler, *Handler, error) {
	if c.Registry == nil {
		return nil, nil, errors.New("metricsserve: no registry")
	}
	fresh := prometheus.Gatherers{c.Registry}
	if c.ExporterRegistry != nil {
		fresh = append(fresh, c.ExporterRegistry)
	}
	h, err := New(Options{
		Cached:              c.Cached,
		Fresh:               fresh,
		MaxRequestsInFlight: c.MaxRequests,
		ErrorLog:            c.ErrorLog,
		Registerer:          c.Registry,
	})
	if err != nil {
		return nil, nil, err
	}
	if c.ExporterRegistry == nil {
		return h, h, nil
	}
	return promhttp.InstrumentMetricHandler(c.ExporterRegistry, h), h, nil
}
