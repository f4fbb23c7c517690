package metricsserve_test

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/protobuf/encoding/prototext"
)

// testSource is a versioned Source: version v serves gauges, counters and
// histograms whose values depend on v, with label values that need
// escaping. It counts gathers, and Gather waits on gate when set.
type testSource struct {
	users int

	mu      sync.Mutex
	version int
	gate    chan struct{}
	fail    error

	gathers atomic.Int64
	waiting atomic.Int64 // gathers blocked on the gate
}

func (s *testSource) Version() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version
}

func (s *testSource) publish() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.version++
}

func (s *testSource) setGate(g chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gate = g
}

func (s *testSource) setFail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = err
}

func (s *testSource) Gather(v any) ([]*dto.MetricFamily, error) {
	s.gathers.Add(1)
	s.mu.Lock()
	gate, fail := s.gate, s.fail
	s.mu.Unlock()
	if gate != nil {
		s.waiting.Add(1)
		<-gate
		s.waiting.Add(-1)
	}
	if fail != nil {
		return nil, fail
	}
	return s.registry(v.(int)).Gather()
}

func (s *testSource) Describe(ch chan<- *prometheus.Desc) { s.registry(0).Describe(ch) }

// streamingSource is a testSource that streams, and spoils every family
// once yield returned, as a Streamer that reuses its series may: an
// encoding that kept one would show it.
type streamingSource struct{ *testSource }

func (s streamingSource) Stream(v any, yield func(*dto.MetricFamily) error) error {
	mfs, err := s.Gather(v)
	if err != nil {
		return err
	}
	for _, mf := range mfs {
		if err := yield(mf); err != nil {
			return err
		}
		name := "spoiled"
		mf.Name = &name
		for _, m := range mf.Metric {
			m.Label = nil
		}
	}
	return nil
}

// registry is what version v gathers.
func (s *testSource) registry(v int) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	meetings := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "test_month_meetings", Help: "Meetings this month."}, []string{"user", "type"})
	total := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "test_meetings_total", Help: "Meetings counted."}, []string{"user", "type"})
	up := prometheus.NewGauge(prometheus.GaugeOpts{Name: "test_up", Help: "Up."})
	sizes := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "test_meeting_size_participants", Help: "Sizes.",
		Buckets: []float64{2, 5, 10, 100}}, []string{"type"})
	reg.MustRegister(meetings, total, up, sizes)
	up.Set(1)
	users := max(s.users, 3)
	for i := range users {
		// Quotes, backslashes, a newline and UTF-8: every format escapes.
		user := fmt.Sprintf("user%04d@example.com", i)
		switch i {
		case 0:
			user = `o'brien "the \ one"` + "\n@example.com"
		case 1:
			user = "zoë@exämple.com"
		}
		for j, typ := range []string{"scheduled", "instant", "recurring_fixed_time"} {
			meetings.WithLabelValues(user, typ).Set(float64(v*1000 + i + j))
			total.WithLabelValues(user, typ).Add(float64(v*10000 + 3*i + j))
			sizes.WithLabelValues(typ).Observe(float64((i + v) % 150))
		}
	}
	return reg
}

// freshRegistry is a small registry gathered on every scrape; big makes
// its encoding span several stored deflate blocks (over 64 KiB).
func freshRegistry(big bool) (*prometheus.Registry, prometheus.Counter) {
	reg := prometheus.NewRegistry()
	scrapes := prometheus.NewCounter(prometheus.CounterOpts{Name: "test_fresh_events_total", Help: "Events."})
	latency := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "test_fresh_latency_seconds", Help: "Latency."})
	reg.MustRegister(scrapes, latency)
	latency.Observe(0.3)
	if big {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "test_fresh_endpoint_info", Help: "Endpoints."}, []string{"endpoint"})
		reg.MustRegister(g)
		for i := range 1400 {
			g.WithLabelValues(fmt.Sprintf("/v2/some/rather/long/endpoint/template/number/%06d", i)).Set(float64(i))
		}
	}
	return reg, scrapes
}

// gathererAt gathers one version of s, for promhttp's reference answer.
type gathererAt struct {
	s *testSource
	v int
}

func (g gathererAt) Gather() ([]*dto.MetricFamily, error) { return g.s.registry(g.v).Gather() }

type response struct {
	status  int
	header  http.Header
	raw     []byte // as sent
	body    []byte // decompressed
	members int    // gzip members
}

func get(t *testing.T, h http.Handler, method, target, accept, acceptEncoding string) response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if acceptEncoding != "" {
		req.Header.Set("Accept-Encoding", acceptEncoding)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	r := response{status: rec.Code, header: rec.Header(), raw: rec.Body.Bytes(), body: rec.Body.Bytes()}
	if rec.Header().Get("Content-Encoding") == "gzip" {
		r.body, r.members = gunzip(t, r.raw)
	}
	return r
}

// gunzip reads every gzip member of raw and counts them.
func gunzip(t *testing.T, raw []byte) ([]byte, int) {
	t.Helper()
	var out bytes.Buffer
	rd := bytes.NewReader(raw)
	members := 0
	for rd.Len() > 0 {
		zr, err := gzip.NewReader(rd)
		if err != nil {
			t.Fatalf("gzip member %d: %v", members+1, err)
		}
		zr.Multistream(false)
		if _, err := io.Copy(&out, zr); err != nil {
			t.Fatalf("gzip member %d: %v", members+1, err)
		}
		members++
	}
	return out.Bytes(), members
}

// decode parses body in the format of contentType into families sorted by
// name, their series sorted by labels.
func decode(t *testing.T, contentType string, body []byte) []*dto.MetricFamily {
	t.Helper()
	format := expfmt.Format(contentType)
	var mfs []*dto.MetricFamily
	switch format.FormatType() {
	case expfmt.TypeProtoText, expfmt.TypeProtoCompact:
		// One family per chunk: blank-line separated (text), one a line (compact).
		sep := "\n\n"
		if format.FormatType() == expfmt.TypeProtoCompact {
			sep = "\n"
		}
		for _, chunk := range strings.Split(string(body), sep) {
			if strings.TrimSpace(chunk) == "" {
				continue
			}
			mf := &dto.MetricFamily{}
			if err := prototext.Unmarshal([]byte(chunk), mf); err != nil {
				t.Fatalf("%s: %v in %q", contentType, err, chunk)
			}
			mfs = append(mfs, mf)
		}
	default:
		dec := expfmt.NewDecoder(bytes.NewReader(body), format)
		for {
			mf := &dto.MetricFamily{}
			if err := dec.Decode(mf); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("%s: decoding: %v", contentType, err)
			}
			mfs = append(mfs, mf)
		}
	}
	return normalize(mfs)
}

func normalize(mfs []*dto.MetricFamily) []*dto.MetricFamily {
	sort.Slice(mfs, func(i, j int) bool { return mfs[i].GetName() < mfs[j].GetName() })
	for _, mf := range mfs {
		keys := make(map[*dto.Metric]string, len(mf.Metric))
		for _, m := range mf.Metric {
			keys[m] = labelString(m)
		}
		sort.Slice(mf.Metric, func(i, j int) bool { return keys[mf.Metric[i]] < keys[mf.Metric[j]] })
	}
	return mfs
}

func labelString(m *dto.Metric) string {
	var b strings.Builder
	for _, lp := range m.GetLabel() {
		fmt.Fprintf(&b, "%s=%q,", lp.GetName(), lp.GetValue())
	}
	return b.String()
}

// text renders families in the text format, for comparing and for diffs.
func text(t *testing.T, mfs []*dto.MetricFamily) string {
	t.Helper()
	var b bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// waitFor waits until cond holds, failing after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond) // polls the condition; no result depends on this duration
	}
}

// familyBlocks cuts an OpenMetrics or text body into one block per family
// (each starts with its "# HELP" line) and joins them sorted, without
// OpenMetrics' final "# EOF".
func familyBlocks(body []byte) string {
	var blocks []string
	body = bytes.TrimSuffix(body, []byte("# EOF\n")) // checked apart: once, at the end
	for _, line := range strings.SplitAfter(string(body), "\n") {
		if strings.HasPrefix(line, "# HELP ") || len(blocks) == 0 {
			blocks = append(blocks, "")
		}
		blocks[len(blocks)-1] += line
	}
	sort.Strings(blocks)
	return strings.Join(blocks, "")
}
