// Package demo runs the built-in simulated Zoom account of --demo: the fake
// Zoom server of our tests, on loopback, with new meetings arriving as time
// passes, so a newcomer sees live metrics without a Zoom account.
package demo

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
)

// Account is a running simulated account.
type Account struct {
	APIURL, TokenURL                  string
	AccountID, ClientID, ClientSecret string
	Fake                              *zoomfake.Server
}

// Options shape the simulated account.
type Options struct {
	// Users is how many active users the organisation has (default
	// DefaultUsers); 2 deactivated and 1 pending user come on top.
	Users int
	// MeetingEvery is how often a new meeting ends somewhere in the account
	// (default 10s).
	MeetingEvery time.Duration
	// Now is the account's clock (default time.Now).
	Now func() time.Time
	// Seed chooses the organisation (default: a new one each run).
	Seed int64
	// NewTicker replaces time.NewTicker for tests: a meeting is added on
	// each tick of NewTicker(MeetingEvery); stop releases it.
	NewTicker func(d time.Duration) (ticks <-chan time.Time, stop func())
}

// DefaultUsers is the demo organisation's size: enough users that the
// meetings arriving every few seconds spread to a few an hour per host, few
// enough that the first refresh (one report call per host and month read, at
// the Pro plan's 10 calls a second) ends within the demo's 15s interval.
const DefaultUsers = 60

// LoopbackURL is where the demo's fake Zoom listens (on a port of its own).
const LoopbackURL = "http://127.0.0.1"

// Start serves a simulated account on 127.0.0.1 until ctx ends.
func Start(ctx context.Context, o Options, logger log.Logger) (*Account, error) {
	if o.Users <= 0 {
		o.Users = DefaultUsers
	}
	if o.MeetingEvery <= 0 {
		o.MeetingEvery = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Seed == 0 {
		o.Seed = time.Now().UnixNano()
	}
	if o.NewTicker == nil {
		o.NewTicker = func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(d)
			return t.C, t.Stop
		}
	}
	// The history of a plausible organisation (previous months included,
	// which the exporter reads in the grace period after a month turns), so
	// the account looks lived-in on any date, the 1st included.
	fake := zoomfake.New(zoomfake.Options{Seed: o.Seed, Users: o.Users, Organisation: true, Now: o.Now})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: fake, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			level.Error(logger).Log("msg", "Demo Zoom server stopped", "err", err)
		}
	}()
	ticks, stopTicks := o.NewTicker(o.MeetingEvery)
	go func() {
		defer stopTicks()
		for {
			select {
			case <-ctx.Done():
				shutdownCtx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				_ = srv.Shutdown(shutdownCtx)
				return
			case <-ticks:
				fake.AddRandomMeetings(o.Now(), 1)
			}
		}
	}()
	base := "http://" + ln.Addr().String()
	level.Warn(logger).Log("msg", "DEMO MODE: serving a SIMULATED Zoom account; every metric is made-up data, not from Zoom", "users", o.Users, "fake_zoom_api", base+"/v2")
	return &Account{
		APIURL:       base + "/v2",
		TokenURL:     base + "/oauth/token",
		AccountID:    zoomfake.DefaultAccountID,
		ClientID:     zoomfake.DefaultClientID,
		ClientSecret: zoomfake.DefaultClientSecret,
		Fake:         fake,
	}, nil
}
