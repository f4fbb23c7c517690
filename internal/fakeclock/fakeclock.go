// Package fakeclock lets an end-to-end test tell the exporter binary what
// time it is, so that a test against a fake Zoom holds on any date. It is not
// a user-facing setting: it is read from an environment variable only, and
// honoured only when the exporter talks to a fake Zoom on loopback (real Zoom
// never is), where a wrong clock can do no harm to anyone's account.
package fakeclock

import (
	"fmt"
	"net"
	"net/url"
	"time"
)

// EnvVar holds an RFC 3339 instant: the exporter's clock shows it at start
// and runs on at the wall clock's pace.
const EnvVar = "ZOOM_EXPORTER_FAKE_NOW"

// FromEnv returns the clock the exporter runs on: time.Now when value is
// empty, else a clock starting at value. An unparsable value, or one given
// while apiURL is not on loopback, is an error naming the variable.
func FromEnv(value, apiURL string) (func() time.Time, error) {
	if value == "" {
		return time.Now, nil
	}
	at, err := time.Parse(time.RFC3339Nano, value)
	if err != nil {
		return nil, fmt.Errorf("%s=%q: not an RFC 3339 time such as 2026-11-24T12:00:00Z", EnvVar, value)
	}
	if !onLoopback(apiURL) {
		return nil, fmt.Errorf("%s is for tests against a fake Zoom on loopback only; the Zoom API URL %s is not on loopback: unset %s", EnvVar, redactedHost(apiURL), EnvVar)
	}
	start := time.Now()
	return func() time.Time { return at.Add(time.Since(start)) }, nil
}

func onLoopback(apiURL string) bool {
	u, err := url.Parse(apiURL)
	if err != nil {
		return false
	}
	if u.Hostname() == "localhost" {
		return true
	}
	ip := net.ParseIP(u.Hostname())
	return ip != nil && ip.IsLoopback()
}

// redactedHost names the URL by scheme and host only: whatever else it holds
// stays out of the message.
func redactedHost(apiURL string) string {
	u, err := url.Parse(apiURL)
	if err != nil || u.Host == "" {
		return "(unparsable)"
	}
	return u.Scheme + "://" + u.Host
}
