package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
)

// holdingListener accepts connections and never answers: a token endpoint
// that hangs.
type holdingListener struct {
	ln       net.Listener
	accepted atomic.Int64

	mu    sync.Mutex
	conns []net.Conn
}

func newHoldingListener(t *testing.T) *holdingListener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &holdingListener{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed by the cleanup
			}
			h.mu.Lock()
			h.conns = append(h.conns, c)
			h.mu.Unlock()
			h.accepted.Add(1)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, c := range h.conns {
			c.Close()
		}
	})
	return h
}

// getMetrics is scrapeMetrics that reports a failure instead of ending the
// test: the exporter may not listen yet.
func getMetrics(base string) (map[string]*dto.MetricFamily, error) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/metrics: HTTP %d", resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	return parser.TextToMetricFamilies(resp.Body)
}

// timedGet GETs url with a client that gives up after a second and keeps no
// connection open, and says how long the answer took.
func timedGet(url string) (status int, body string, took time.Duration, err error) {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	start := time.Now()
	resp, err := client.Get(url)
	if err != nil {
		return 0, "", time.Since(start), err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), time.Since(start), err
}

// A token endpoint that accepts and never answers shows, within the request
// timeout plus the first refresh, in zoom_oauth_token_failures_total, in
// zoom_up and on /status, with what to do; /status and /-/ready answer at
// once all along, 50 at a time as well, and leave no goroutine behind.
func TestHangingTokenEndpointShowsAtOnce(t *testing.T) {
	t.Parallel()
	const (
		requestTimeout = 500 * time.Millisecond
		prompt         = time.Second // the most a page may take
	)
	fake, clock := pinnedFake(zoomfake.Options{Seed: 15, Users: 3})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	hang := newHoldingListener(t)
	launched := time.Now()
	p := launchExporter(t, "http", fakeEnv(clock, zoomfake.DefaultClientSecret),
		"--zoom.api-url="+srv.URL+"/v2",
		"--zoom.token-url=http://"+hang.ln.Addr().String()+"/oauth/token",
		"--zoom.account-id="+zoomfake.DefaultAccountID,
		"--zoom.client-id="+zoomfake.DefaultClientID,
		"--zoom.request-timeout="+requestTimeout.String(),
		"--scrape.interval=10s")

	// The request timeout plus the first refresh, plus the process start.
	var failures, up, goroutines float64
	waitFor(t, 5*time.Second, "a token failure counted and zoom_up 0", func() bool {
		fams, err := getMetrics(p.base)
		if err != nil {
			return false
		}
		failures = series(fams["zoom_oauth_token_failures_total"])[""]
		up = series(fams["zoom_up"])[""]
		goroutines = series(fams["go_goroutines"])[""]
		return failures >= 1 && up == 0
	})
	shown := time.Since(launched)
	if hang.accepted.Load() == 0 {
		t.Fatal("the token endpoint was never called")
	}

	status, body, took, err := timedGet(p.base + "/status")
	if err != nil || status != http.StatusOK || took > prompt {
		t.Fatalf("/status: HTTP %d in %v, %v; want 200 within %v", status, took, err, prompt)
	}
	for _, want := range []string{
		`id="failures"`, "<h3>Access token</h3>",
		"no answer within " + requestTimeout.String() + " (--zoom.request-timeout)",
		"did not answer: check the network path to it (DNS, proxy, firewall) and --zoom.token-url",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/status lacks %q", want)
		}
	}
	if status, _, took, err := timedGet(p.base + "/-/ready"); err != nil || status != http.StatusServiceUnavailable || took > prompt {
		t.Errorf("/-/ready: HTTP %d in %v, %v; want 503 within %v", status, took, err, prompt)
	}

	// 50 pages at once while a token request hangs: the next one starts
	// once the failure's hold (one request timeout, at least 10 s) is over.
	before := hang.accepted.Load()
	waitFor(t, 25*time.Second, "the next token request", func() bool { return hang.accepted.Load() > before })
	var (
		wg      sync.WaitGroup
		slowest atomic.Int64
	)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, _, took, err := timedGet(p.base + "/status")
			if err != nil || status != http.StatusOK {
				t.Errorf("/status during the hang: HTTP %d, %v", status, err)
			}
			for {
				old := slowest.Load()
				if int64(took) <= old || slowest.CompareAndSwap(old, int64(took)) {
					break
				}
			}
		}()
	}
	wg.Wait()
	if d := time.Duration(slowest.Load()); d > prompt {
		t.Errorf("the slowest of 50 concurrent /status took %v, want under %v", d, prompt)
	}
	var after float64
	waitFor(t, 15*time.Second, "goroutines back to where they were", func() bool {
		fams, err := getMetrics(p.base)
		if err != nil {
			return false
		}
		after = series(fams["go_goroutines"])[""]
		return after <= goroutines+2
	})
	t.Logf("token failure shown %v after launch (failures %v, zoom_up %v); /status in %v, slowest of 50 concurrent %v; goroutines %v before, %v after",
		shown.Round(time.Millisecond), failures, up, took.Round(time.Microsecond), time.Duration(slowest.Load()).Round(time.Microsecond), goroutines, after)
}
