package scrape

import (
	"context"
	"net"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/zoomexporter/zoom_exporter/internal/testenv"
	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
	"github.com/zoomexporter/zoom_exporter/zoom"
)

// The Zoom client against the fake, as the scraper's tests use it.

// testNow is mid-month, so the current month has data and a previous month exists.
var testNow = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

type testEnv struct {
	fake   *zoomfake.Server
	server *httptest.Server
	clock  *testenv.Clock
	client *zoom.Client
	reg    *prometheus.Registry
}

// newTestEnv starts the fake Zoom on loopback and a client for it. tweak may
// change the client's config before it is built.
func newTestEnv(t *testing.T, opts zoomfake.Options, tweak func(*zoom.ClientConfig)) *testEnv {
	t.Helper()
	clock := testenv.NewClock(testNow)
	if opts.Now == nil {
		opts.Now = clock.Now
	}
	fake := zoomfake.New(opts)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	return newTestEnvFor(t, fake, srv, clock, tweak)
}

func newTestEnvFor(t *testing.T, fake *zoomfake.Server, srv *httptest.Server, clock *testenv.Clock, tweak func(*zoom.ClientConfig)) *testEnv {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	conf := zoom.ClientConfig{
		APIURL:         srv.URL + "/v2",
		TokenURL:       srv.URL + "/oauth/token",
		AccountID:      zoomfake.DefaultAccountID,
		ClientID:       zoomfake.DefaultClientID,
		ClientSecret:   zoomfake.DefaultClientSecret,
		Limits:         zoom.Limits{HeavyPerSecond: 1000, MediumPerSecond: 1000, HeavyPerDay: 30000},
		Timeout:        5 * time.Second,
		MaxRetries:     3,
		RetryBaseDelay: time.Millisecond,
		Now:            clock.Now,
		Registerer:     reg,
	}
	if tweak != nil {
		tweak(&conf)
	}
	client, err := zoom.NewClient(conf)
	if err != nil {
		t.Fatal(err)
	}
	return &testEnv{fake: fake, server: srv, clock: clock, client: client, reg: reg}
}

func monthWindow(now time.Time) (time.Time, time.Time) {
	return monthStart(now), time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
}

// metricValue is the value of the one series of a family gathered from reg.
func metricValue(t *testing.T, reg *prometheus.Registry, family string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == family && len(mf.GetMetric()) == 1 {
			m := mf.GetMetric()[0]
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no single series of %s", family)
	return 0
}

// silentListener accepts connections and never answers: a token endpoint
// that hangs.
func silentListener(t *testing.T) (url string, accepted *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted = new(atomic.Int64)
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + ln.Addr().String(), accepted
}

// A whole refresh against a token endpoint that never answers ends after
// one request timeout, with zoom_up 0: one token request waits, the rest of
// the refresh fails at once.
func TestRefreshWithHangingTokenEndpointEndsDown(t *testing.T) {
	t.Parallel()
	hang, accepted := silentListener(t)
	env := newTestEnv(t, zoomfake.Options{Seed: 3, Users: 12}, func(c *zoom.ClientConfig) {
		c.TokenURL = hang + "/oauth/token"
		c.Timeout = 100 * time.Millisecond
	})
	var users []string
	for _, u := range env.fake.Users() {
		users = append(users, u.ID)
	}
	s := newTestScraper(t, env, func(c *ScraperConfig) { c.Users, c.Concurrency = users, 2 })
	done := make(chan struct{})
	go func() { s.Refresh(context.Background()); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second): // 12 users each waiting 100ms would take 600ms; forever is the bug
		t.Fatal("the refresh still waits on a token endpoint that never answers")
	}
	if s.Snapshot().Up {
		t.Error("zoom_up is 1 though no token could be had")
	}
	if n := accepted.Load(); n != 1 {
		t.Errorf("the refresh made %d token requests, want 1 (the rest fail at once)", n)
	}
	if n := metricValue(t, env.reg, "zoom_oauth_token_failures_total"); n != 1 {
		t.Errorf("zoom_oauth_token_failures_total = %v, want 1", n)
	}
}

func TestHostileFiguresNeverLowerACounter(t *testing.T) {
	t.Parallel()
	for _, v := range []int{-5, 2147483648, 4294967297, 153722867280912931} {
		m := zoom.Meeting{UUID: "u", Duration: v, TotalMinutes: v, ParticipantsCount: v}
		f := figures(m)
		if f.DurationSeconds < 0 || f.ParticipantSeconds < 0 || f.Participants < 0 {
			t.Errorf("figures(%d) = %+v: negative", v, f)
		}
		add, next := growth(record(zoom.Meeting{UUID: "u", Duration: 10, TotalMinutes: 10, ParticipantsCount: 2}), m)
		if add.DurationSeconds < 0 || add.ParticipantSeconds < 0 || add.Participants < 0 || next.Duration < 10 {
			t.Errorf("growth to %d: add %+v, next %+v", v, add, next)
		}
	}
}
