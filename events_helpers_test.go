package main

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
	"github.com/zoomexporter/zoom_exporter/scrape"
)

// tokenSpy serves the fake Zoom and keeps every access token the event
// WebSocket was opened with, so that a test can look for them in the logs
// and pages.
type tokenSpy struct {
	fake *zoomfake.Server

	mu     sync.Mutex
	tokens []string
}

func (s *tokenSpy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/ws" {
		if tok := r.URL.Query().Get("access_token"); tok != "" {
			s.mu.Lock()
			if !slices.Contains(s.tokens, tok) {
				s.tokens = append(s.tokens, tok)
			}
			s.mu.Unlock()
		}
	}
	s.fake.ServeHTTP(w, r)
}

func (s *tokenSpy) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.tokens)
}

// tryScrape is scrapeMetrics for polling loops: an error instead of a
// failed test, optionally with basic auth.
func tryScrape(base, user, password string) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := http.DefaultClient.Do(req)
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

// liveState is what an exporter serves of the live state: the in-progress
// gauges by type name, and whether they are served at all.
type liveState struct {
	known                  float64 // zoom_events_live_known; -1 when not served
	served                 bool    // the in-progress gauges are served
	meetings, participants map[string]float64
}

func liveOf(fams map[string]*dto.MetricFamily) liveState {
	ls := liveState{known: -1, meetings: map[string]float64{}, participants: map[string]float64{}}
	if v, ok := series(fams["zoom_events_live_known"])[""]; ok {
		ls.known = v
	}
	for _, f := range []struct {
		name string
		into map[string]float64
	}{{"zoom_meetings_in_progress", ls.meetings}, {"zoom_meeting_participants_in_progress", ls.participants}} {
		if fams[f.name] != nil {
			ls.served = true
		}
		for key, v := range series(fams[f.name]) {
			f.into[strings.TrimPrefix(key, "type=")] = v
		}
	}
	return ls
}

// liveWant is the live state an exporter tracking every host of the fake
// should serve: the fake's meetings in progress for which keep holds (nil:
// all), by type name.
func liveWant(fake *zoomfake.Server, keep func(zoomfake.LiveMeeting) bool) (meetings, participants map[string]float64) {
	meetings, participants = map[string]float64{}, map[string]float64{}
	for _, m := range fake.LiveMeetings() {
		if !m.Counted || (keep != nil && !keep(m)) {
			continue
		}
		meetings[scrape.TypeName(m.Type)]++
		participants[scrape.TypeName(m.Type)] += float64(len(m.Participants))
	}
	return meetings, participants
}

// sameByType compares two by-type maps, a missing type counting as 0.
func sameByType(got, want map[string]float64) bool {
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	for k, v := range got {
		if want[k] != v {
			return false
		}
	}
	return true
}

// nonZero writes a by-type map without its zeroes, sorted, for messages.
func nonZero(m map[string]float64) string {
	var parts []string
	for k, v := range m {
		if v != 0 {
			parts = append(parts, fmt.Sprintf("%s=%v", k, v))
		}
	}
	sort.Strings(parts)
	return "{" + strings.Join(parts, " ") + "}"
}

// pollFast polls cond every 20 ms until it holds or timeout passes, and
// returns how long it took, or fails the test with cond's last word.
func pollFast(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		ok, why := cond()
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("not within %v: %s: %s", timeout, what, why)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not a wait for an event
	}
}

// webhookURL is the webhook endpoint of an exporter at base.
func webhookURL(base, path string) string {
	u, err := url.JoinPath(base, path)
	if err != nil {
		panic(err)
	}
	return u
}
