package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
)

// scrapeAs scrapes /metrics of the binary as a scraper that asks for
// accept and, with gz, gzip (decoded here, member by member, which must be
// one), and returns the families and the raw response.
func scrapeAs(t *testing.T, base, accept string, gz bool) (map[string]*dto.MetricFamily, *http.Response) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	req.Header.Set("Accept", accept)
	if gz {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics (%s, gzip %v): HTTP %d, %v", accept, gz, resp.StatusCode, err)
	}
	if cl := resp.Header.Get("Content-Length"); cl != strconv.Itoa(len(raw)) {
		t.Errorf("/metrics (%s, gzip %v): Content-Length %s for %d bytes", accept, gz, cl, len(raw))
	}
	body := raw
	if gz {
		if resp.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("asked for gzip, got Content-Encoding %q", resp.Header.Get("Content-Encoding"))
		}
		rd := bytes.NewReader(raw)
		zr, err := gzip.NewReader(rd)
		if err != nil {
			t.Fatal(err)
		}
		zr.Multistream(false) // curl and browsers read one member only
		if body, err = io.ReadAll(zr); err != nil || rd.Len() != 0 {
			t.Fatalf("gzip body: %v, %d bytes after the first member", err, rd.Len())
		}
	}
	format := expfmt.ResponseFormat(resp.Header)
	dec := expfmt.NewDecoder(bytes.NewReader(body), format)
	families := map[string]*dto.MetricFamily{}
	for {
		mf := &dto.MetricFamily{}
		if err := dec.Decode(mf); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decoding %s: %v", format, err)
		}
		if _, dup := families[mf.GetName()]; dup {
			t.Errorf("%s: family %s served twice", format, mf.GetName())
		}
		families[mf.GetName()] = mf
	}
	return families, resp
}

// TestMetricsServedFromTheCache: the binary's /metrics, through the cache
// of encoded usage metrics, serves the fake's ground truth in text and
// protobuf, gzipped (one gzip member) or not; the self-metrics move on
// every scrape while the usage metrics are encoded once per snapshot
// (zoom_exporter_metrics_cache_bytes); HEAD answers the same length; with
// --web.disable-exporter-metrics the Go, process and promhttp families are
// gone and the rest stays.
func TestMetricsServedFromTheCache(t *testing.T) {
	t.Parallel()
	fake, clock := pinnedFake(zoomfake.Options{Seed: 16, Users: 12, HeavyUserMeetings: 40})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	for _, disable := range []bool{false, true} {
		args := append(zoomArgs(srv.URL), "--scrape.interval=10m")
		if disable {
			args = append(args, "--web.disable-exporter-metrics")
		}
		p := startExporter(t, fakeEnv(clock, zoomfake.DefaultClientSecret), args...)
		want := groundTruth(fake, clock.Now())
		var scrapes []float64
		for round := range 2 {
			for _, c := range []struct {
				accept string
				gz     bool
			}{
				{"text/plain;version=0.0.4", true},
				{"text/plain;version=0.0.4", false},
				{"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited", true},
			} {
				families, _ := scrapeAs(t, p.base, c.accept, c.gz)
				if n := compareFamilies(t, families, want); n > 0 {
					t.Fatalf("disable-exporter-metrics %v, round %d, %s (gzip %v): %d series differ from the ground truth", disable, round, c.accept, c.gz, n)
				}
				cached := families["zoom_exporter_metrics_cache_bytes"]
				if cached == nil || cached.GetMetric()[0].GetGauge().GetValue() <= 0 {
					t.Errorf("disable-exporter-metrics %v: zoom_exporter_metrics_cache_bytes %v after a scrape", disable, cached)
				}
				if _, ok := families["go_goroutines"]; ok == disable {
					t.Errorf("disable-exporter-metrics %v: go_goroutines served %v", disable, ok)
				}
				if mf := families["promhttp_metric_handler_requests_total"]; mf != nil {
					scrapes = append(scrapes, series(mf)["code=200"])
				}
			}
		}
		if !disable {
			// Counted after each scrape: the fresh part is gathered every time.
			for i := 1; i < len(scrapes); i++ {
				if scrapes[i] != scrapes[i-1]+1 {
					t.Errorf("promhttp_metric_handler_requests_total{code=\"200\"} went %v: not fresh on every scrape", scrapes)
					break
				}
			}
			if len(scrapes) != 6 {
				t.Errorf("%d scrapes counted, want 6", len(scrapes))
			}
		}
		var lengths []string
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			req, _ := http.NewRequest(method, p.base+"/metrics", nil)
			req.Header.Set("Accept-Encoding", "gzip")
			resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			n, _ := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || (method == http.MethodHead) != (n == 0) {
				t.Errorf("%s /metrics: HTTP %d, %d bytes", method, resp.StatusCode, n)
			}
			lengths = append(lengths, resp.Header.Get("Content-Length"))
		}
		// Lengths differ by the fresh part (its figures change).
		if lengths[0] == "" || lengths[1] == "" {
			t.Errorf("Content-Length GET %q, HEAD %q", lengths[0], lengths[1])
		}
		if out := p.output.String(); strings.Contains(out, zoomfake.DefaultClientSecret) || strings.Contains(out, "error gathering") {
			t.Errorf("exporter log:\n%s", out)
		}
	}
}
