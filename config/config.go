// Package config builds the exporter's validated configuration from its
// command-line flags, their environment variables and an optional YAML file.
//
// Precedence, field by field: a flag given on the command line, then the
// flag's environment variable, then the config file, then the default.
package config

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// Plans (Zoom account plans, which set the API rate limits).
const (
	PlanPro      = "pro"
	PlanBusiness = "business"
)

// Report types, the `type` query parameter of GET /report/users/{userId}/meetings.
const (
	ReportTypePast       = "past"
	ReportTypePastOne    = "pastOne"
	ReportTypePastJoined = "pastJoined"
)

// Defaults, written as a user would write them, so that --help shows them verbatim.
const (
	defaultAPIURL         = "https://api.zoom.us/v2"
	defaultTokenURL       = "https://zoom.us/oauth/token"
	defaultPlan           = PlanPro
	defaultRequestTimeout = "30s"
	defaultMaxRetries     = "3"
	defaultInterval       = "5m"
	defaultGracePeriod    = "48h"
	defaultReportType     = ReportTypePast
	defaultConcurrency    = "4"
	defaultStoragePath    = "data/"
	defaultDailyBudget    = "0"
	defaultFullInterval   = "6h"
	defaultSweepInterval  = "1h"
)

// Limits enforced by validation.
const (
	maxMaxRetries     = 10
	maxDailyBudget    = 60000 // the largest plan's daily Heavy quota
	minConcurrency    = 1
	maxConcurrency    = 64
	minInterval       = model.Duration(10 * time.Second)
	minRequestTimeout = model.Duration(time.Millisecond)
)

// DemoInterval is the refresh interval of --demo when none is given.
const DemoInterval = model.Duration(15 * time.Second)

// DemoSweepInterval is the sweep interval of --demo when none is given: the
// simulated account adds meetings no event announces, so show them soon.
const DemoSweepInterval = model.Duration(time.Minute)

// planDailyQuota is each plan's daily Heavy quota (zoom-api.md section 4).
var planDailyQuota = map[string]int{PlanPro: 30000, PlanBusiness: 60000}

var (
	plans       = []string{PlanPro, PlanBusiness}
	reportTypes = []string{ReportTypePast, ReportTypePastOne, ReportTypePastJoined}
)

// Config is the complete, validated configuration.
type Config struct {
	Zoom    ZoomConfig    `yaml:"zoom"`
	Scrape  ScrapeConfig  `yaml:"scrape"`
	Storage StorageConfig `yaml:"storage"`
	// Demo runs the exporter against a built-in simulated account.
	Demo bool `yaml:"-"`
}

// ZoomConfig is how to reach the Zoom API and what to ask it.
type ZoomConfig struct {
	AccountID string `yaml:"account_id"`
	ClientID  string `yaml:"client_id"`
	// ClientSecret holds the resolved secret, whichever source it came from.
	ClientSecret Secret `yaml:"client_secret,omitempty"`
	// ClientSecretFile is the file the secret was read from, if any.
	ClientSecretFile string `yaml:"client_secret_file,omitempty"`
	APIURL           string `yaml:"api_url"`
	TokenURL         string `yaml:"token_url"`
	// Users to track, by id or e-mail; empty means every active user.
	Users          []string       `yaml:"users,omitempty"`
	Plan           string         `yaml:"plan"`
	RequestTimeout model.Duration `yaml:"request_timeout"`
	MaxRetries     int            `yaml:"max_retries"`
	// DailyBudget is the Heavy calls a day the exporter may spend; 0 means
	// half the plan's daily quota.
	DailyBudget int `yaml:"daily_budget"`
	// EventsWebSocketURL is the endpoint URL of the app's WebSocket event
	// subscription (wss://ws.zoom.us/ws?subscriptionId=...), without a
	// token; "" means no WebSocket.
	EventsWebSocketURL string `yaml:"events_websocket_url,omitempty"`
	// WebhookSecretToken is the Secret Token of the app's webhook event
	// subscription, whichever source it came from; "" means no webhook.
	WebhookSecretToken Secret `yaml:"webhook_secret_token,omitempty"`
	// WebhookSecretTokenFile is the file the token was read from, if any.
	WebhookSecretTokenFile string `yaml:"webhook_secret_token_file,omitempty"`
}

// ScrapeConfig is how the background refresh loop runs.
type ScrapeConfig struct {
	Interval    model.Duration `yaml:"interval"`
	GracePeriod model.Duration `yaml:"grace_period"`
	ReportType  string         `yaml:"report_type"`
	Concurrency int            `yaml:"concurrency"`
	// FullInterval is how often every user is fetched whatever the hosts
	// report says.
	FullInterval model.Duration `yaml:"full_interval"`
	// SweepInterval is how often the hosts report is swept while Zoom
	// events flow: the sweeps then only catch what the events missed.
	SweepInterval model.Duration `yaml:"sweep_interval"`
}

// StorageConfig is where counters are kept across restarts.
type StorageConfig struct {
	// Path is the store's directory; "" with --demo means a temporary one.
	Path string `yaml:"path"`
	// DiscardForeign empties a store recorded for another Zoom account or
	// shard layout, and takes it over, instead of refusing to start.
	DiscardForeign bool `yaml:"discard_foreign"`
}

// Default returns the configuration used for every field nobody sets.
// It has no credentials.
func Default() Config {
	return Config{
		Zoom: ZoomConfig{
			APIURL:         defaultAPIURL,
			TokenURL:       defaultTokenURL,
			Plan:           defaultPlan,
			RequestTimeout: mustDuration(defaultRequestTimeout),
			MaxRetries:     mustInt(defaultMaxRetries),
			DailyBudget:    mustInt(defaultDailyBudget),
		},
		Scrape: ScrapeConfig{
			Interval:      mustDuration(defaultInterval),
			GracePeriod:   mustDuration(defaultGracePeriod),
			ReportType:    defaultReportType,
			Concurrency:   mustInt(defaultConcurrency),
			FullInterval:  mustDuration(defaultFullInterval),
			SweepInterval: mustDuration(defaultSweepInterval),
		},
		Storage: StorageConfig{Path: defaultStoragePath},
	}
}

func mustDuration(s string) model.Duration {
	d, err := model.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return d
}

func mustInt(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(err)
	}
	return n
}

// Error lists every problem found while loading the configuration.
type Error struct {
	Problems []string
}

// Error returns the problems, one per line.
func (e *Error) Error() string {
	return strings.Join(e.Problems, "\n")
}

// Secret is a string that never prints: fmt (every verb), YAML and JSON all
// show "<secret>" instead of the value (and "" when the secret is empty).
// Use string(s) where the value itself is needed.
type Secret string

const secretMask = "<secret>"

func (s Secret) masked() string {
	if s == "" {
		return ""
	}
	return secretMask
}

// String returns "<secret>", never the value.
func (s Secret) String() string { return s.masked() }

// GoString returns "<secret>", never the value.
func (s Secret) GoString() string { return s.masked() }

// Format writes "<secret>" for every verb, never the value.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		_, _ = io.WriteString(f, strconv.Quote(s.masked()))
		return
	}
	_, _ = io.WriteString(f, s.masked())
}

// MarshalYAML returns "<secret>", never the value.
func (s Secret) MarshalYAML() (any, error) { return s.masked(), nil }

// MarshalJSON returns "<secret>", never the value.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(s.masked())), nil }
