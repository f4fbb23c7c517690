package collector

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
	"github.com/zoomexporter/zoom_exporter/scrape"
	"github.com/zoomexporter/zoom_exporter/zoom"

	"github.com/zoomexporter/zoom_exporter/internal/testenv"
)

// TestScrapesAnswerWhileARefreshIsStuck holds a refresh inside Zoom's report
// call and scrapes /metrics meanwhile: every scrape answers at once with the
// last complete snapshot.
func TestScrapesAnswerWhileARefreshIsStuck(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	clk := testenv.NewClock(now)
	clock := clk.Now
	fake := zoomfake.New(zoomfake.Options{Seed: 12, Users: 6, Now: clock})
	var (
		mu    sync.Mutex
		block chan struct{}
	)
	held := make(chan struct{}, 1)
	zoomSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		b := block
		mu.Unlock()
		if b != nil && strings.HasPrefix(r.URL.Path, "/v2/report/") {
			select {
			case held <- struct{}{}:
			default:
			}
			select {
			case <-b:
			case <-r.Context().Done():
				return
			}
		}
		fake.ServeHTTP(w, r)
	}))
	defer zoomSrv.Close()
	client, err := zoom.NewClient(zoom.ClientConfig{
		APIURL: zoomSrv.URL + "/v2", TokenURL: zoomSrv.URL + "/oauth/token",
		AccountID: zoomfake.DefaultAccountID, ClientID: zoomfake.DefaultClientID, ClientSecret: zoomfake.DefaultClientSecret,
		Limits: zoom.Limits{HeavyPerSecond: 1000, MediumPerSecond: 1000, HeavyPerDay: 30000}, Now: clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := scrape.NewScraper(scrape.ScraperConfig{Client: client, Interval: time.Minute, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	s.Refresh(context.Background())
	e, err := New(s, Options{UserLabel: UserLabelEmail})
	if err != nil {
		t.Fatal(err)
	}
	g, err := NewSnapshotGatherer(e, s)
	if err != nil {
		t.Fatal(err)
	}
	metrics := httptest.NewServer(promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	defer metrics.Close()
	scrapeOnce := func() string {
		t.Helper()
		c := &http.Client{Timeout: 5 * time.Second} // "at once": far less than the stuck refresh
		resp, err := c.Get(metrics.URL)
		if err != nil {
			t.Fatalf("scrape during the stuck refresh: %v", err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	before := scrapeOnce()
	if !strings.Contains(before, "zoom_meetings_total{") {
		t.Fatal("the first refresh served no meetings")
	}

	mu.Lock()
	block = make(chan struct{})
	mu.Unlock()
	clk.Advance(time.Minute) // the next cycle is due: it sweeps the hosts report
	done := make(chan struct{})
	go func() { s.Refresh(context.Background()); close(done) }()
	select {
	case <-held:
	case <-time.After(10 * time.Second):
		t.Fatal("the second refresh never reached Zoom's reports")
	}
	for range 5 {
		if got := scrapeOnce(); got != before {
			t.Fatal("a scrape during the stuck refresh did not serve the last complete snapshot")
		}
	}
	mu.Lock()
	close(block)
	block = nil
	mu.Unlock()
	<-done
}
