package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
)

// refreshesLogged counts the refreshes the exporter has finished so far.
func refreshesLogged(p *exporterProcess) int {
	return strings.Count(p.output.String(), `msg="Refresh finished"`)
}

// readiness returns /-/ready's status code and body.
func readiness(t *testing.T, p *exporterProcess) (int, string) {
	t.Helper()
	resp, err := http.Get(p.base + "/-/ready")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestWebReadinessRule holds the rule the README and the Kubernetes example
// state: ready once the exporter has data worth serving (a refresh
// succeeded, or counters were restored from the store and the first refresh
// was attempted), and never not-ready again on later Zoom outages. A first
// refresh that failed with an empty store is not ready (it used to be).
func TestWebReadinessRule(t *testing.T) {
	t.Parallel()
	fake, clock := pinnedFake(zoomfake.Options{Seed: 12, Users: 3})
	fake.SetCredentialsValid(false) // a wrong client secret from the start
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	p := launchExporter(t, "http", fakeEnv(clock, zoomfake.DefaultClientSecret),
		append(zoomArgs(srv.URL), "--scrape.interval=10s")...)

	// Two failed refreshes: 503 after each, saying what is missing.
	for n := 1; n <= 2; n++ {
		waitFor(t, 60*time.Second, "a failed refresh", func() bool { return refreshesLogged(p) >= n })
		code, body := readiness(t, p)
		if code != http.StatusServiceUnavailable || body != "Not ready: no refresh has succeeded yet and the store holds no data (see /status)\n" {
			t.Fatalf("after %d failed refreshes with an empty store: HTTP %d %q, want 503 saying what is missing", n, code, body)
		}
	}
	if !strings.Contains(p.output.String(), "invalid_client") {
		t.Fatal("the refreshes did not fail on the credentials")
	}

	// Credentials fixed: ready at the next refresh.
	fake.SetCredentialsValid(true)
	waitFor(t, 60*time.Second, "/-/ready 200 once a refresh succeeded", func() bool {
		code, _ := readiness(t, p)
		return code == http.StatusOK
	})

	// Broken again: zoom_up goes to 0 for two refreshes, /-/ready stays 200
	// at every poll (a restart does not fix Zoom).
	fake.SetCredentialsValid(false)
	fake.RevokeTokens() // the cached token stops working: a new one is needed
	from := refreshesLogged(p)
	waitFor(t, 60*time.Second, "two refreshes during the outage", func() bool {
		if code, body := readiness(t, p); code != http.StatusOK {
			t.Fatalf("/-/ready went back to HTTP %d %q during a Zoom outage", code, body)
		}
		return refreshesLogged(p) >= from+2
	})
	if up := series(scrapeMetrics(t, p.base)["zoom_up"])[""]; up != 0 {
		t.Fatalf("zoom_up = %v during the outage: the outage was not seen, the test proves nothing", up)
	}
	if code, body := readiness(t, p); code != http.StatusOK {
		t.Errorf("after the outage: HTTP %d %q, want 200", code, body)
	}
}
