package metricsserve_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/zoomexporter/zoom_exporter/internal/metricsserve"
)

const (
	acceptProm2 = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
	acceptProm3 = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5," +
		"text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
	acceptProto        = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"
	acceptProtoText    = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text"
	acceptProtoCompact = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=compact-text"
)

// TestBodiesParseEqualToPromhttp: every format and compression a scraper
// may negotiate, first and cached scrape, parses to exactly the families
// promhttp serves over the same gatherers, with the same headers; a gzip
// body is one gzip member; an OpenMetrics body has one "# EOF", at its end.
func TestBodiesParseEqualToPromhttp(t *testing.T) {
	t.Parallel()
	accepts := []struct{ name, accept string }{
		{"no Accept", ""},
		{"text 0.0.4", "text/plain;version=0.0.4"},
		{"text with underscores escaping", "text/plain;version=0.0.4;escaping=underscores"},
		{"Prometheus 2", acceptProm2},
		{"Prometheus 3", acceptProm3},
		{"OpenMetrics 1.0.0", "application/openmetrics-text;version=1.0.0"},
		{"protobuf delimited", acceptProto},
		{"protobuf text", acceptProtoText},
		{"protobuf compact text", acceptProtoCompact},
		{"anything", "*/*"},
	}
	encodings := []string{"", "gzip, deflate, br", "gzip;q=0, identity", "br", "identity;q=0.5, gzip;q=0.6", "*"}
	for _, c := range []struct{ openMetrics, bigFresh, stream bool }{{false, false, false}, {true, false, true}, {false, true, true}} {
		openMetrics, bigFresh := c.openMetrics, c.bigFresh
		{
			src := &testSource{users: 10}
			var part metricsserve.Source = src
			if c.stream {
				part = streamingSource{src}
			}
			fresh, events := freshRegistry(bigFresh)
			events.Add(3)
			h, err := metricsserve.New(metricsserve.Options{Cached: []metricsserve.Source{part}, Fresh: prometheus.Gatherers{fresh}, EnableOpenMetrics: openMetrics, MaxFormats: 16})
			if err != nil {
				t.Fatal(err)
			}
			ref := promhttp.HandlerFor(prometheus.Gatherers{gathererAt{src, 0}, fresh}, promhttp.HandlerOpts{EnableOpenMetrics: openMetrics})
			for _, a := range accepts {
				for _, enc := range encodings {
					for _, round := range []string{"first", "cached"} {
						name := a.name + "/" + enc + "/" + round
						want := get(t, ref, http.MethodGet, "/metrics", a.accept, enc)
						got := get(t, h, http.MethodGet, "/metrics", a.accept, enc)
						if got.status != http.StatusOK || want.status != http.StatusOK {
							t.Fatalf("OpenMetrics %v, big fresh part %v, %s: HTTP %d, promhttp %d", openMetrics, bigFresh, name, got.status, want.status)
						}
						for _, hdr := range []string{"Content-Type", "Content-Encoding"} {
							if got.header.Get(hdr) != want.header.Get(hdr) {
								t.Errorf("OpenMetrics %v, %s: %s %q, promhttp %q", openMetrics, name, hdr, got.header.Get(hdr), want.header.Get(hdr))
							}
						}
						if g, w := strings.Join(got.header.Values("Vary"), ","), strings.Join(want.header.Values("Vary"), ","); g != w {
							t.Errorf("OpenMetrics %v, %s: Vary %q, promhttp %q", openMetrics, name, g, w)
						}
						if got.header.Get("Content-Encoding") == "gzip" && got.members != 1 {
							t.Errorf("OpenMetrics %v, %s: %d gzip members, want one", openMetrics, name, got.members)
						}
						if cl := got.header.Get("Content-Length"); cl != strconv.Itoa(len(got.raw)) {
							t.Errorf("OpenMetrics %v, %s: Content-Length %s for %d bytes", openMetrics, name, cl, len(got.raw))
						}
						ct := got.header.Get("Content-Type")
						if expfmt.Format(ct).FormatType() == expfmt.TypeOpenMetrics {
							if n := bytes.Count(got.body, []byte("# EOF")); n != 1 || !bytes.HasSuffix(got.body, []byte("\n# EOF\n")) {
								t.Errorf("OpenMetrics %v, %s: %d \"# EOF\", or not at the end", openMetrics, name, n)
							}
						}
						if expfmt.Format(ct).FormatType() == expfmt.TypeOpenMetrics {
							// expfmt's OpenMetrics parser takes minutes over big bodies:
							// the families' blocks, byte for byte, whatever their order.
							if g, w := familyBlocks(got.body), familyBlocks(want.body); g != w {
								t.Errorf("OpenMetrics %v, big fresh part %v, %s: families differ from promhttp's\n got: %.2000s\nwant: %.2000s", openMetrics, bigFresh, name, g, w)
							}
							continue
						}
						if g, w := text(t, decode(t, ct, got.body)), text(t, decode(t, ct, want.body)); g != w {
							t.Errorf("OpenMetrics %v, big fresh part %v, %s: families differ from promhttp's\n got: %.2000s\nwant: %.2000s", openMetrics, bigFresh, name, g, w)
						}
					}
				}
			}
			if n := src.gathers.Load(); n > 8 {
				t.Errorf("OpenMetrics %v: %d gathers of one version for at most 8 formats", openMetrics, n)
			}
		}
	}
}

// TestNewVersionInvalidates: a new version is served at once, gathered once
// per format, identity and gzip from one gather.
func TestNewVersionInvalidates(t *testing.T) {
	t.Parallel()
	src := &testSource{}
	fresh, _ := freshRegistry(false)
	h, err := metricsserve.New(metricsserve.Options{Cached: []metricsserve.Source{src}, Fresh: prometheus.Gatherers{fresh}})
	if err != nil {
		t.Fatal(err)
	}
	value := func(r response) string {
		for _, mf := range decode(t, r.header.Get("Content-Type"), r.body) {
			if mf.GetName() == "test_month_meetings" {
				for _, m := range mf.GetMetric() {
					if labelString(m) == `type="instant",user="user0002@example.com",` {
						return strconv.FormatFloat(m.GetGauge().GetValue(), 'f', -1, 64)
					}
				}
			}
		}
		return "absent"
	}
	for v, want := range []string{"3", "1003", "2003"} {
		if v > 0 {
			src.publish()
		}
		for _, enc := range []string{"", "gzip", "", "gzip"} {
			if got := value(get(t, h, http.MethodGet, "/metrics", "", enc)); got != want {
				t.Fatalf("version %d, Accept-Encoding %q: value %s, want %s", v, enc, got, want)
			}
		}
		if got := src.gathers.Load(); got != int64(v+1) {
			t.Errorf("after version %d: %d gathers, want %d (one per version)", v, got, v+1)
		}
	}
}

// TestFreshPartOnEveryScrape: the fresh registries are gathered on every
// scrape while the cached part is not gathered again.
func TestFreshPartOnEveryScrape(t *testing.T) {
	t.Parallel()
	src := &testSource{}
	fresh, events := freshRegistry(false)
	h, err := metricsserve.New(metricsserve.Options{Cached: []metricsserve.Source{src}, Fresh: prometheus.Gatherers{fresh}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		events.Inc()
		for _, enc := range []string{"", "gzip"} {
			r := get(t, h, http.MethodGet, "/metrics", acceptProm2, enc)
			want := "test_fresh_events_total " + strconv.Itoa(i+1) + "\n"
			if !bytes.Contains(r.body, []byte(want)) {
				t.Fatalf("scrape %d (%q): no %q in\n%s", i, enc, want, r.body)
			}
		}
	}
	if n := src.gathers.Load(); n != 1 {
		t.Errorf("%d gathers of one version, want 1", n)
	}
}

// recorder keeps the first slice each Write got, to prove that scrapes
// write the cached bytes themselves, not copies.
type recorder struct {
	header http.Header
	status int
	first  []byte
	n      int
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(s int)   { r.status = s }
func (r *recorder) Write(p []byte) (int, error) {
	if r.first == nil {
		r.first = p
	}
	r.n += len(p)
	return len(p), nil
}

// TestConcurrentFirstScrapersEncodeOnce: 32 scrapers of a new version,
// identity and gzip, share one gather; every scrape writes the same cached
// slice of its encoding.
func TestConcurrentFirstScrapersEncodeOnce(t *testing.T) {
	t.Parallel()
	src := &testSource{users: 200}
	fresh, _ := freshRegistry(false)
	h, err := metricsserve.New(metricsserve.Options{Cached: []metricsserve.Source{src}, Fresh: prometheus.Gatherers{fresh}})
	if err != nil {
		t.Fatal(err)
	}
	for version := range 3 {
		gate := make(chan struct{})
		src.setGate(gate)
		before := src.gathers.Load()
		const scrapers = 32
		recs := make([]*recorder, scrapers)
		var wg sync.WaitGroup
		for i := range scrapers {
			recs[i] = &recorder{header: http.Header{}}
			req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			if i%2 == 1 {
				req.Header.Set("Accept-Encoding", "gzip")
			}
			wg.Go(func() { h.ServeHTTP(recs[i], req) })
		}
		waitFor(t, "the first gather to start", func() bool { return src.waiting.Load() == 1 })
		close(gate)
		wg.Wait()
		src.setGate(nil)
		if n := src.gathers.Load() - before; n != 1 {
			t.Errorf("version %d: %d gathers for %d concurrent first scrapes, want 1", version, n, scrapers)
		}
		for i, r := range recs {
			if r.status != 0 && r.status != http.StatusOK {
				t.Fatalf("version %d, scrape %d: HTTP %d", version, i, r.status)
			}
			if &r.first[0] != &recs[i%2].first[0] {
				t.Errorf("version %d, scrape %d wrote a copy of the cached bytes, not the cached slice", version, i)
			}
		}
		if &recs[0].first[0] == &recs[1].first[0] {
			t.Error("identity and gzip wrote the same bytes")
		}
		src.publish()
	}
}

// TestMaxRequestsInFlight: beyond the limit, 503 at once with promhttp's
// message; the requests admitted are served.
func TestMaxRequestsInFlight(t *testing.T) {
	t.Parallel()
	src := &testSource{}
	fresh, _ := freshRegistry(false)
	h, err := metricsserve.New(metricsserve.Options{Cached: []metricsserve.Source{src}, Fresh: prometheus.Gatherers{fresh}, MaxRequestsInFlight: 2})
	if err != nil {
		t.Fatal(err)
	}
	gate := make(chan struct{})
	src.setGate(gate)
	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i := range 2 {
		wg.Go(func() { codes[i] = get(t, h, http.MethodGet, "/metrics", "", "gzip").status })
	}
	waitFor(t, "a gather to hold both slots", func() bool { return src.waiting.Load() == 1 })
	// The gather holds one request; the other is admitted once it waits on it.
	for range 3 {
		r := get(t, h, http.MethodGet, "/metrics", "", "")
		if r.status == http.StatusOK {
			continue // the second request had not taken its slot yet
		}
		if r.status != http.StatusServiceUnavailable || !strings.Contains(string(r.body), "Limit of concurrent requests reached (2), try again later.") {
			t.Fatalf("beyond the limit: HTTP %d %q", r.status, r.body)
		}
	}
	close(gate)
	wg.Wait()
	src.setGate(nil)
	for i, c := range codes {
		if c != http.StatusOK {
			t.Errorf("admitted scrape %d: HTTP %d", i, c)
		}
	}
}

// TestMaxRequestsRefusesExcess: with both slots held by scrapes waiting on
// a gather, a third gets 503 (deterministic version of the test above).
func TestMaxRequestsRefusesExcess(t *testing.T) {
	t.Parallel()
	src := &testSource{}
	fresh, _ := freshRegistry(false)
	h, err := metricsserve.New(metricsserve.Options{Cached: []metricsserve.Source{src}, Fresh: prometheus.Gatherers{fresh}, MaxRequestsInFlight: 2})
	if err != nil {
		t.Fatal(err)
	}
	gate := make(chan struct{})
	src.setGate(gate)
	var wg sync.WaitGroup
	// Two formats: two gathers, each holding its request's slot.
	for _, accept := range []string{"", acceptProto} {
		wg.Go(func() { get(t, h, http.MethodGet, "/metrics", accept, "") })
	}
	waitFor(t, "two gathers holding both slots", func() bool { return src.waiting.Load() == 2 })
	r := get(t, h, http.MethodGet, "/metrics", "", "")
	if r.status != http.StatusServiceUnavailable || string(r.body) != "Limit of concurrent requests reached (2), try again later.\n" {
		t.Errorf("third scrape: HTTP %d %q, want 503 and promhttp's message", r.status, r.body)
	}
	close(gate)
	wg.Wait()
	if r := get(t, h, http.MethodGet, "/metrics", "", ""); r.status != http.StatusOK {
		t.Errorf("after the slots freed: HTTP %d", r.status)
	}
}

// describedOnly is a fresh registry that is not a collector: New cannot
// check it, so each scrape does.
type gathererFunc func() ([]*dto.MetricFamily, error)

func (f gathererFunc) Gather() ([]*dto.MetricFamily, error) { return f() }

// TestOverlapRefused: a family served from both parts is refused at start
// when the fresh registry describes it, and on the scrape otherwise.
func TestOverlapRefused(t *testing.T) {
	t.Parallel()
	src := &testSource{}
	fresh := prometheus.NewRegistry()
	fresh.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "test_up", Help: "Up, again."}))
	if _, err := metricsserve.New(metricsserve.Options{Cached: []metricsserve.Source{src}, Fresh: prometheus.Gatherers{fresh}}); err == nil || !strings.Contains(err.Error(), `"test_up"`) {
		t.Errorf("New with test_up in both parts: %v, want an error naming test_up", err)
	}

	sneaky := gathererFunc(func() ([]*dto.MetricFamily, error) { return src.registry(0).Gather() })
	h, err := metricsserve.New(metricsserve.Options{Cached: []metricsserve.Source{src}, Fresh: prometheus.Gatherers{sneaky}})
	if err != nil {
		t.Fatal(err)
	}
	r := get(t, h, http.MethodGet, "/metrics", "", "gzip")
	if r.status != http.StatusInternalServerError || !strings.Contains(string(r.body), `metric family "test_meeting_size_participants" is served both`) ||
		r.header.Get("Content-Encoding") != "" {
		t.Errorf("scrape with a family in both parts: HTTP %d %q (Content-Encoding %q)", r.status, r.body, r.header.Get("Content-Encoding"))
	}
}

// TestGatherErrors: a failing gather of either part is a 500 naming the
// error, logged, as promhttp does; the next version recovers.
func TestGatherErrors(t *testing.T) {
	t.Parallel()
	src := &testSource{}
	fresh, _ := freshRegistry(false)
	var logged bytes.Buffer
	var mu sync.Mutex
	logger := printer(func(v ...any) {
		mu.Lock()
		defer mu.Unlock()
		for _, x := range v {
			logged.WriteString(strings.TrimSpace(strings.ReplaceAll(toString(x), "\n", " ")) + " ")
		}
	})
	failing := gathererFunc(func() ([]*dto.MetricFamily, error) { return nil, errors.New("fresh registry broke") })
	for _, c := range []struct {
		name  string
		fresh prometheus.Gatherers
		setup func()
		want  string
	}{
		{"cached part", prometheus.Gatherers{fresh}, func() { src.setFail(errors.New("usage collector broke")) }, "usage collector broke"},
		{"fresh part", prometheus.Gatherers{fresh, failing}, func() { src.setFail(nil) }, "[from Gatherer #2] fresh registry broke"},
	} {
		c.setup()
		h, err := metricsserve.New(metricsserve.Options{Cached: []metricsserve.Source{src}, Fresh: c.fresh, ErrorLog: logger})
		if err != nil {
			t.Fatal(err)
		}
		for _, enc := range []string{"", "gzip"} {
			r := get(t, h, http.MethodGet, "/metrics", "", enc)
			if r.status != http.StatusInternalServerError || string(r.body) != "An error has occurred while serving metrics:\n\n"+c.want+"\n" {
				t.Errorf("%s (%q): HTTP %d %q", c.name, enc, r.status, r.body)
			}
		}
		mu.Lock()
		if !strings.Contains(logged.String(), "error gathering metrics: "+c.want) {
			t.Errorf("%s: not logged: %q", c.name, logged.String())
		}
		mu.Unlock()
	}
	// A version whose gather failed is not retried, a new one is gathered.
	src.setFail(nil)
	h, _ := metricsserve.New(metricsserve.Options{Cached: []metricsserve.Source{src}, Fresh: prometheus.Gatherers{fresh}})
	src.setFail(errors.New("once"))
	if r := get(t, h, http.MethodGet, "/metrics", "", ""); r.status != http.StatusInternalServerError {
		t.Fatalf("HTTP %d", r.status)
	}
	src.setFail(nil)
	src.publish()
	if r := get(t, h, http.MethodGet, "/metrics", "", ""); r.status != http.StatusOK {
		t.Errorf("after a new version: HTTP %d %s", r.status, r.body)
	}
}

type printer func(v ...any)

func (p printer) Println(v ...any) { p(v...) }

func toString(x any) string {
	if e, ok := x.(error); ok {
		return e.Error()
	}
	if s, ok := x.(string); ok {
		return s
	}
	return ""
}

// TestHeadAndNameFilter: HEAD answers GET's headers without a body; name[]
// filters as promhttp does, from either part.
func TestHeadAndNameFilter(t *testing.T) {
	t.Parallel()
	src := &testSource{}
	fresh, _ := freshRegistry(false)
	h, err := metricsserve.New(metricsserve.Options{Cached: []metricsserve.Source{src}, Fresh: prometheus.Gatherers{fresh}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, enc := range []string{"identity", "gzip"} {
		var lengths []string
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			req, _ := http.NewRequest(method, srv.URL, nil)
			req.Header.Set("Accept-Encoding", enc)
			resp, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			var body bytes.Buffer
			body.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || (method == http.MethodHead && body.Len() != 0) {
				t.Errorf("%s %s: HTTP %d, %d bytes of body", method, enc, resp.StatusCode, body.Len())
			}
			lengths = append(lengths, resp.Header.Get("Content-Length"))
		}
		if lengths[0] != lengths[1] || lengths[0] == "" {
			t.Errorf("%s: Content-Length GET %q, HEAD %q", enc, lengths[0], lengths[1])
		}
	}

	ref := promhttp.HandlerFor(prometheus.Gatherers{gathererAt{src, 0}, fresh}, promhttp.HandlerOpts{})
	for _, q := range []string{"?name[]=test_up", "?name[]=test_fresh_events_total", "?name[]=test_up&name[]=test_fresh_latency_seconds", "?name[]=none"} {
		before := src.gathers.Load()
		got, want := get(t, h, http.MethodGet, "/metrics"+q, "", "gzip"), get(t, ref, http.MethodGet, "/metrics"+q, "", "gzip")
		if g, w := text(t, decode(t, got.header.Get("Content-Type"), got.body)), text(t, decode(t, want.header.Get("Content-Type"), want.body)); g != w || got.status != http.StatusOK {
			t.Errorf("%s: HTTP %d\n%s\nwant\n%s", q, got.status, g, w)
		}
		if strings.Contains(q, "test_up") == (src.gathers.Load() == before) {
			t.Errorf("%s: %d gathers of the cached part; only a filter naming a cached family needs one", q, src.gathers.Load()-before)
		}
	}
}

// TestCacheBytesAndFormats: zoom_exporter_metrics_cache_bytes counts what
// is kept: a gzip-only scraper keeps only the gzip, identity asked later
// comes from it without a gather, formats beyond MaxFormats are served
// uncached, and a new version drops the old bytes.
func TestCacheBytesAndFormats(t *testing.T) {
	t.Parallel()
	src := &testSource{users: 100}
	fresh, _ := freshRegistry(false)
	h, err := metricsserve.New(metricsserve.Options{Cached: []metricsserve.Source{src}, Fresh: prometheus.Gatherers{fresh}, Registerer: fresh, MaxFormats: 2})
	if err != nil {
		t.Fatal(err)
	}
	served := func(r response) float64 {
		for _, mf := range decode(t, r.header.Get("Content-Type"), r.body) {
			if mf.GetName() == "zoom_exporter_metrics_cache_bytes" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatal("zoom_exporter_metrics_cache_bytes not served")
		return 0
	}
	cachedPart := func(v int, format expfmt.Format) int {
		mfs, _ := src.registry(v).Gather()
		var b bytes.Buffer
		enc := expfmt.NewEncoder(&b, format)
		for _, mf := range mfs {
			enc.Encode(mf)
		}
		return b.Len()
	}
	textFormat := expfmt.NewFormat(expfmt.TypeTextPlain).WithEscapingScheme(model.NameEscapingScheme)

	gz := get(t, h, http.MethodGet, "/metrics", "", "gzip")
	gzBytes := served(gz)
	if gzBytes <= 0 || gzBytes >= float64(cachedPart(0, textFormat)) || gzBytes != float64(h.CachedBytes()) {
		t.Errorf("after a gzip scrape: %v bytes served, %d kept; the text is %d bytes", gzBytes, h.CachedBytes(), cachedPart(0, textFormat))
	}
	id := get(t, h, http.MethodGet, "/metrics", "", "")
	if got, want := served(id), gzBytes+float64(cachedPart(0, textFormat)); got != want {
		t.Errorf("after an identity scrape too: %v bytes, want %v", got, want)
	}
	withoutCacheBytes := func(r response) string {
		mfs := decode(t, r.header.Get("Content-Type"), r.body)
		for i, mf := range mfs {
			if mf.GetName() == "zoom_exporter_metrics_cache_bytes" {
				mfs = append(mfs[:i], mfs[i+1:]...)
				break
			}
		}
		return text(t, mfs)
	}
	if g, w := withoutCacheBytes(id), withoutCacheBytes(gz); g != w {
		t.Error("identity inflated from the cached gzip differs from the gzip")
	}
	get(t, h, http.MethodGet, "/metrics", acceptProto, "")
	if n := src.gathers.Load(); n != 2 {
		t.Errorf("%d gathers for text (gzip, then identity) and protobuf, want 2", n)
	}
	// A third format is one too many: served, not kept, gathered each time.
	for range 2 {
		if r := get(t, h, http.MethodGet, "/metrics", acceptProtoText, "gzip"); r.status != http.StatusOK {
			t.Fatalf("third format: HTTP %d", r.status)
		}
	}
	if n := src.gathers.Load(); n != 4 {
		t.Errorf("%d gathers after two scrapes of a third format with MaxFormats 2, want 4", n)
	}
	src.publish()
	h.Poll()
	// What was scraped is encoded ahead; wait for the background builds.
	// Text (identity and gzip, one gather) and protobuf; not the third format.
	identities := int64(cachedPart(1, textFormat) + cachedPart(1, expfmt.NewFormat(expfmt.TypeProtoDelim).WithEscapingScheme(model.NameEscapingScheme)))
	waitFor(t, "the new version's encodings", func() bool { return h.CachedBytes() > identities })
	if n := src.gathers.Load(); n != 6 {
		t.Errorf("%d gathers after encoding ahead two formats, want 6", n)
	}
}

// TestPrewarm: a new version is encoded ahead, in the formats scraped during
// the version before, when that one was scraped; a version nobody scraped
// is not, so publishing faster than scrapes costs no extra encoding.
func TestPrewarm(t *testing.T) {
	t.Parallel()
	src := &testSource{}
	fresh, _ := freshRegistry(false)
	h, err := metricsserve.New(metricsserve.Options{Cached: []metricsserve.Source{src}, Fresh: prometheus.Gatherers{fresh}})
	if err != nil {
		t.Fatal(err)
	}
	h.Poll() // nothing scraped yet: nothing to encode ahead
	get(t, h, http.MethodGet, "/metrics", acceptProm2, "gzip")
	if n := src.gathers.Load(); n != 1 {
		t.Fatalf("%d gathers", n)
	}
	src.publish()
	h.Poll()
	waitFor(t, "the encoding ahead", func() bool { return h.CachedBytes() > 0 })
	get(t, h, http.MethodGet, "/metrics", acceptProm2, "gzip")
	if n := src.gathers.Load(); n != 2 {
		t.Errorf("%d gathers: the scrape after the encoding ahead gathered again", n)
	}
	src.publish() // version 2: not scraped
	h.Poll()
	waitFor(t, "the encoding ahead of version 2", func() bool { return src.gathers.Load() == 3 && h.CachedBytes() > 0 })
	src.publish() // version 3: version 2 was not scraped, so nothing ahead
	h.Poll()
	if n, b := src.gathers.Load(), h.CachedBytes(); n != 3 || b != 0 {
		t.Errorf("after a version nobody scraped: %d gathers (want 3), %d bytes kept (want 0)", n, b)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	h.Run(ctx, 1) // returns once ctx is done
}

// TestServedMetricsLint: what the handler adds is promlint-clean.
func TestServedMetricsLint(t *testing.T) {
	t.Parallel()
	src := &testSource{}
	fresh, _ := freshRegistry(false)
	h, err := metricsserve.New(metricsserve.Options{Cached: []metricsserve.Source{src}, Fresh: prometheus.Gatherers{fresh}, Registerer: fresh})
	if err != nil {
		t.Fatal(err)
	}
	get(t, h, http.MethodGet, "/metrics", "", "")
	problems, err := testutil.GatherAndLint(fresh, "zoom_exporter_metrics_cache_bytes")
	if err != nil || len(problems) > 0 {
		t.Errorf("promlint: %v %v", problems, err)
	}
	r := get(t, h, http.MethodGet, "/metrics", "", "")
	problems, err = promlint.New(bytes.NewReader(r.body)).Lint()
	if err != nil || len(problems) > 0 {
		t.Errorf("promlint of the whole body: %v %v", problems, err)
	}
}

// healthPart is a second cached part, with names of its own, whose
// version moves apart from testSource's.
type healthPart struct {
	mu      sync.Mutex
	version int
	gathers int
}

func (p *healthPart) Version() any {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.version
}

func (p *healthPart) publish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.version++
}

func (p *healthPart) registry(v int) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	last := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "test_user_last_refresh_timestamp_seconds", Help: "Last refresh."}, []string{"user"})
	reg.MustRegister(last)
	for i := range 500 {
		last.WithLabelValues("user" + strconv.Itoa(i) + "@example.com").Set(float64(1_800_000_000 + 300*v + i))
	}
	return reg
}

func (p *healthPart) Gather(v any) ([]*dto.MetricFamily, error) {
	p.mu.Lock()
	p.gathers++
	p.mu.Unlock()
	return p.registry(v.(int)).Gather()
}

func (p *healthPart) Describe(ch chan<- *prometheus.Desc) { p.registry(0).Describe(ch) }

func (p *healthPart) gathered() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.gathers
}

type healthAt struct {
	p *healthPart
	v int
}

func (g healthAt) Gather() ([]*dto.MetricFamily, error) { return g.p.registry(g.v).Gather() }

// TestPartsApart: cached parts are served in order, each encoded once per
// version of its own (a new health version re-encodes the health alone),
// in one gzip member whose CRC covers them all; two parts describing one
// family are refused at start.
func TestPartsApart(t *testing.T) {
	t.Parallel()
	usage, health := &testSource{users: 50}, &healthPart{}
	fresh, _ := freshRegistry(false)
	h, err := metricsserve.New(metricsserve.Options{Cached: []metricsserve.Source{streamingSource{usage}, health}, Fresh: prometheus.Gatherers{fresh}})
	if err != nil {
		t.Fatal(err)
	}
	for step, publish := range []func(){func() {}, health.publish, health.publish, usage.publish} {
		publish()
		ref := promhttp.HandlerFor(prometheus.Gatherers{gathererAt{usage, usage.Version().(int)}, healthAt{health, health.Version().(int)}, fresh}, promhttp.HandlerOpts{})
		for _, enc := range []string{"gzip", "", "gzip"} {
			got, want := get(t, h, http.MethodGet, "/metrics", acceptProto, enc), get(t, ref, http.MethodGet, "/metrics", acceptProto, enc)
			if got.status != http.StatusOK || (enc == "gzip" && got.members != 1) {
				t.Fatalf("step %d (%q): HTTP %d, %d gzip members", step, enc, got.status, got.members)
			}
			if g, w := text(t, decode(t, got.header.Get("Content-Type"), got.body)), text(t, decode(t, want.header.Get("Content-Type"), want.body)); g != w {
				t.Errorf("step %d (%q): families differ from promhttp's\n got: %.1500s\nwant: %.1500s", step, enc, g, w)
			}
		}
	}
	// One gather per version of each: usage versions 0 and 1, health 0, 1, 2.
	if u, hg := usage.gathers.Load(), health.gathered(); u != 2 || hg != 3 {
		t.Errorf("gathers: usage %d (want 2), health %d (want 3)", u, hg)
	}
	if _, err := metricsserve.New(metricsserve.Options{Cached: []metricsserve.Source{usage, usage}}); err == nil || !strings.Contains(err.Error(), "two cached parts") {
		t.Errorf("two parts serving the same families: %v", err)
	}
}
