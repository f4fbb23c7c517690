package main

import (
	"net/http"
	"testing"
	"time"
)

// TestLoadbenchSmoke runs both phases on a small snapshot, so the command
// keeps working; its figures are for people, not for assertions.
func TestLoadbenchSmoke(t *testing.T) {
	t.Parallel()
	snap := syntheticSnapshot(50, 3, time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC))
	if len(snap.Users) != 50 {
		t.Fatalf("%d users", len(snap.Users))
	}
	for _, cache := range []bool{false, true} {
		reg, cleanup, err := registry(snap, cache)
		if err != nil {
			t.Fatal(err)
		}
		o := options{clients: 8, duration: 300 * time.Millisecond, gzip: true, accept: "text/plain;version=0.0.4", timeout: 10 * time.Second}
		g := &countingGatherer{}
		url, stop, err := serve(metricsHandler(reg, g, 2))
		if err != nil {
			t.Fatal(err)
		}
		series, _, err := probe(url, o)
		if err != nil || series < 50*7 {
			t.Fatalf("probe: %d series, %v", series, err)
		}
		r := load(url, o, g)
		stop()
		cleanup()
		if r.status[http.StatusOK] == 0 || len(r.transport) > 0 || r.badBodies > 0 {
			t.Errorf("cache %v: %d requests, statuses %v, transport errors %v, bad bodies %d", cache, r.requests, r.status, r.transport, r.badBodies)
		}
		for code := range r.status {
			if code != http.StatusOK && code != http.StatusServiceUnavailable {
				t.Errorf("cache %v: HTTP %d answers", cache, code)
			}
		}
		if r.maxGathers > 2 {
			t.Errorf("cache %v: %d gathers at once with --web.max-requests=2", cache, r.maxGathers)
		}
	}
}
