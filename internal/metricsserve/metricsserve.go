// Package metricsserve serves /metrics for a large account: the usage
// families, which change only when a refresh publishes new usage data, are
// encoded once per version and per format and compression that scrapers
// ask for, and every later scrape writes those same bytes; so are the
// health families, once per refresh; the small registries (Go, process, API
// self-metrics, live gauges, build info) are gathered fresh on every scrape
// and written after them.
//
// It keeps what promhttp.HandlerFor does for the exporter: content
// negotiation (text, protobuf, OpenMetrics when enabled; gzip or identity),
// the limit of requests in flight (503 beyond it), a 500 with the error when
// gathering fails, the name[] filter, and HEAD. Bodies parse to the same
// families as promhttp's over the same gatherers; only the order of the
// families differs: the cached parts come first, in order.
package metricsserve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// Source is a large, slowly changing part of /metrics.
type Source interface {
	// Version identifies what Gather would give now. It must be comparable
	// with ==, and equal versions must gather equal families.
	Version() any
	// Gather gathers the families of a version Version returned.
	Gather(version any) ([]*dto.MetricFamily, error)
	// Describe sends the descriptor of every family Gather may return, so
	// that New can check that no fresh registry serves one of them.
	Describe(ch chan<- *prometheus.Desc)
}

// DefaultMaxFormats is how many formats (content type with its escaping
// scheme) are cached per version and part when Options.MaxFormats is 0.
const DefaultMaxFormats = 4

// Options configure a Handler.
type Options struct {
	Cached []Source             // each encoded once per version of its own, served in this order
	Fresh  prometheus.Gatherers // gathered on every scrape
	// MaxRequestsInFlight limits concurrent scrapes: the excess gets 503 at
	// once. 0 or less: no limit.
	MaxRequestsInFlight int
	ErrorLog            promhttp.Logger // nil: errors are not logged
	EnableOpenMetrics   bool
	DisableCompression  bool
	// Registerer, if not nil, gets zoom_exporter_metrics_cache_bytes. Give
	// one of the Fresh registries, so that it is served.
	Registerer prometheus.Registerer
	// MaxFormats caps the formats cached per version: a scraper asking for
	// yet another one (each escaping scheme is a format of its own) is served
	// as promhttp would, gathering everything, so that a client cannot make
	// the cache hold dozens of copies of the usage metrics.
	MaxFormats int
}

// Handler serves /metrics; see the package comment.
type Handler struct {
	caches   []*cache // one per cached part
	fresh    prometheus.Gatherers
	sem      chan struct{}
	errorLog promhttp.Logger
	accepted []expfmt.Format
	compress bool
	openMet  bool
	bufs     sync.Pool // *bytes.Buffer of the fresh part
}

// New returns the Handler of o. It fails when two parts describe one family
// (a family name must never be served from two parts), or when the cache
// metric cannot be registered.
func New(o Options) (*Handler, error) {
	if len(o.Cached) == 0 {
		return nil, errors.New("metricsserve: no cached source")
	}
	maxFormats := o.MaxFormats
	if maxFormats <= 0 {
		maxFormats = DefaultMaxFormats
	}
	h := &Handler{
		fresh:    o.Fresh,
		errorLog: o.ErrorLog,
		compress: !o.DisableCompression,
		openMet:  o.EnableOpenMetrics,
		accepted: expfmt.DefaultAcceptedFormats(),
	}
	if o.EnableOpenMetrics {
		h.accepted = expfmt.DefaultOpenMetricsAcceptedFormats()
	}
	for _, src := range o.Cached {
		if src == nil {
			return nil, errors.New("metricsserve: a cached source is nil")
		}
		h.caches = append(h.caches, newCache(src, maxFormats))
	}
	if o.MaxRequestsInFlight > 0 {
		h.sem = make(chan struct{}, o.MaxRequestsInFlight)
	}
	if o.Registerer != nil {
		if err := o.Registerer.Register(cacheCollector{h}); err != nil {
			return nil, fmt.Errorf("metricsserve: registering zoom_exporter_metrics_cache_bytes: %w", err)
		}
	}
	if err := checkOverlap(o.Cached, o.Fresh); err != nil {
		return nil, err
	}
	return h, nil
}

// checkOverlap registers every descriptor of every part in one registry,
// which refuses a second descriptor of a name. A family in two parts would
// be served twice, which Prometheus rejects or, worse, half-merges. Fresh
// gatherers that are not collectors cannot be checked here; each scrape
// checks the names it gathers (see ServeHTTP).
func checkOverlap(cached []Source, fresh prometheus.Gatherers) error {
	check := prometheus.NewRegistry()
	for i, src := range cached {
		if err := check.Register(describeOnly{src}); err != nil {
			return fmt.Errorf("metricsserve: a family would be served by two cached parts (part %d): %w", i+1, err)
		}
	}
	for _, g := range fresh {
		c, ok := g.(prometheus.Collector)
		if !ok {
			continue
		}
		if err := check.Register(c); err != nil {
			return fmt.Errorf("metricsserve: a family would be served both from a cached part and fresh on every scrape: %w", err)
		}
	}
	return nil
}

type describeOnly struct{ s Source }

func (d describeOnly) Describe(ch chan<- *prometheus.Desc) { d.s.Describe(ch) }
func (describeOnly) Collect(chan<- prometheus.Metric)      {}

// Run looks for a new version every interval until ctx ends. When the
// version before was scraped, it encodes the new one in the background in
// the formats and compressions scraped then, so that the next scrape finds
// them ready; a version nobody scraped is not encoded ahead, so publishing
// faster than scrapes come never costs more than encoding on demand.
func (h *Handler) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			h.Poll()
		}
	}
}

// Poll does once what Run does every interval.
func (h *Handler) Poll() {
	for _, c := range h.caches {
		c.poll()
	}
}

// CachedBytes is what zoom_exporter_metrics_cache_bytes serves: the bytes
// of the encodings kept for the current versions.
func (h *Handler) CachedBytes() int64 {
	var n int64
	for _, c := range h.caches {
		n += c.cachedBytes()
	}
	return n
}

func (h *Handler) logf(prefix string, err error) {
	if h.errorLog != nil {
		h.errorLog.Println(prefix, err)
	}
}

// ServeHTTP serves one scrape.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.sem != nil {
		select {
		case h.sem <- struct{}{}:
			defer func() { <-h.sem }()
		default:
			http.Error(w, fmt.Sprintf("Limit of concurrent requests reached (%d), try again later.", cap(h.sem)), http.StatusServiceUnavailable)
			return
		}
	}
	format := expfmt.NegotiateAccept(r.Header, h.accepted...)
	gz := false
	if h.compress {
		switch enc := negotiateEncoding(r.Header, []string{"identity", "gzip"}); enc {
		case "gzip":
			gz = true
		case "identity":
		default: // as promhttp: nothing acceptable, so identity
			h.logf("error getting writer", fmt.Errorf("content compression format not recognized: %s. Valid formats are: [identity gzip]", enc))
		}
	}
	if r.URL != nil && len(r.URL.Query()["name[]"]) > 0 {
		h.serveUncached(w, r, r.URL.Query()["name[]"])
		return
	}

	parts := make([]*entry, len(h.caches))
	for i, c := range h.caches {
		e, err := c.get(r.Context(), key{format, gz})
		if errors.Is(err, errTooManyFormats) {
			h.serveUncached(w, r, nil)
			return
		}
		if err != nil {
			if r.Context().Err() != nil {
				return // the scraper is gone: nobody to answer
			}
			h.logf("error gathering metrics:", err)
			httpError(w, err)
			return
		}
		parts[i] = e
	}
	// Each name in one part only: checked at start from the descriptors,
	// here for what was gathered.
	served := make(map[string]int)
	for i, e := range parts {
		for name := range e.names {
			if j, dup := served[name]; dup {
				err := fmt.Errorf("metric family %q is served by cached parts %d and %d", name, j+1, i+1)
				h.logf("error gathering metrics:", err)
				httpError(w, err)
				return
			}
			served[name] = i
		}
	}

	mfs, err := h.fresh.Gather()
	if err != nil {
		h.logf("error gathering metrics:", err)
		httpError(w, err)
		return
	}
	buf := h.getBuf()
	defer h.bufs.Put(buf)
	enc := expfmt.NewEncoder(buf, format)
	for _, mf := range mfs {
		if _, dup := served[mf.GetName()]; dup {
			err := fmt.Errorf("metric family %q is served both from a cache of encoded metrics and by a registry gathered on every scrape", mf.GetName())
			h.logf("error gathering metrics:", err)
			httpError(w, err)
			return
		}
		if err := enc.Encode(mf); err != nil {
			h.logf("error encoding metric family:", err)
			httpError(w, err)
			return
		}
	}
	// OpenMetrics' "# EOF": once, at the very end.
	if err := enc.(expfmt.Closer).Close(); err != nil {
		h.logf("error encoding metric family:", err)
		httpError(w, err)
		return
	}

	// Nothing is sent before every part is ready: an error above is a clean
	// 500, never a 200 cut short.
	head, tail := []byte(nil), buf.Bytes()
	hdr := w.Header()
	hdr.Add("Vary", "Accept")
	if h.compress {
		hdr.Add("Vary", "Accept-Encoding")
	}
	hdr.Set("Content-Type", string(format))
	if gz {
		hdr.Set("Content-Encoding", "gzip")
		// One gzip member: the header, each part's deflate blocks, the
		// fresh part in stored blocks, the trailer of the whole.
		head = gzipHeader
		gzBuf := h.getBuf()
		defer h.bufs.Put(gzBuf)
		tail = appendGzipTail(gzBuf.Bytes()[:0], parts, tail)
	}
	length := len(head) + len(tail)
	for _, e := range parts {
		length += len(e.body)
	}
	hdr.Set("Content-Length", strconv.Itoa(length))
	for _, b := range append(append([][]byte{head}, bodies(parts)...), tail) {
		if len(b) == 0 {
			continue
		}
		if _, err := w.Write(b); err != nil {
			h.logf("error sending metrics:", err)
			return
		}
	}
}

func bodies(parts []*entry) [][]byte {
	out := make([][]byte, len(parts))
	for i, e := range parts {
		out[i] = e.body
	}
	return out
}

func (h *Handler) getBuf() *bytes.Buffer {
	if b, ok := h.bufs.Get().(*bytes.Buffer); ok {
		b.Reset()
		return b
	}
	return new(bytes.Buffer)
}

// serveUncached serves as promhttp does, gathering every part now: for a
// name[] filter, and for formats beyond Options.MaxFormats. A filter that
// names no family of a part leaves that part out.
func (h *Handler) serveUncached(w http.ResponseWriter, r *http.Request, names []string) {
	var g prometheus.Gatherers
	for _, c := range h.caches {
		v := c.currentVersion()
		if names == nil || c.mayServe(v, names) {
			g = append(g, gatherVersion{c.src, v})
		}
	}
	g = append(g, h.fresh...)
	promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorLog:            h.errorLog,
		EnableOpenMetrics:   h.openMet,
		DisableCompression:  !h.compress,
		OfferedCompressions: []promhttp.Compression{promhttp.Identity, promhttp.Gzip},
	}).ServeHTTP(w, r)
}

type gatherVersion struct {
	s Source
	v any
}

func (g gatherVersion) Gather() ([]*dto.MetricFamily, error) { return g.s.Gather(g.v) }

// httpError is promhttp's: the error as plain text, 500.
func httpError(w http.ResponseWriter, err error) {
	w.Header().Del("Content-Encoding")
	http.Error(w, "An error has occurred while serving metrics:\n\n"+err.Error(), http.StatusInternalServerError)
}
