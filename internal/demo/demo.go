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
	Users int
	// MeetingEvery is how often a new meeting ends somewhere in the account.
	MeetingEvery time.Duration
	// Now is the account's clock (default time.Now).
	Now func() time.Time
}

// LoopbackURL is where the demo's fake Zoom listens (on a port of its own).
const LoopbackURL = "http://127.0.0.1"

// Start serves a simulated account on 127.0.0.1 until ctx ends.
func Start(ctx context.Context, o Options, logger log.Logger) (*Account, error) {
	if o.Users <= 0 {
		o.Users = 25
	}
	if o.MeetingEvery <= 0 {
		o.MeetingEvery = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	fake := zoomfake.New(zoomfake.Options{Seed: time.Now().UnixNano(), Users: o.Users, HeavyUserMeetings: 400, Now: o.Now})
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
	go func() {
		ticker := time.NewTicker(o.MeetingEvery)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				shutdownCtx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				_ = srv.Shutdown(shutdownCtx)
				return
			case <-ticker.C:
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
