package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// fakeSecret stands for a real secret: no message or printout may show it.
const fakeSecret = "s3cr3t-DO-NOT-PRINT"

// loadWith parses args on a fresh application and loads with env as the
// whole environment.
func loadWith(t *testing.T, args []string, env map[string]string) (*Config, error) {
	t.Helper()
	app := kingpin.New("zoom_exporter", "test")
	f := AddFlags(app)
	if _, err := app.Parse(args); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	return f.load(func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
}

// problems returns the problems of a failed load, failing the test if the
// load succeeded or failed with another error type.
func problems(t *testing.T, cfg *Config, err error) []string {
	t.Helper()
	if err == nil {
		t.Fatalf("load succeeded, want an error; config: %+v", cfg)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error is %T, want *config.Error: %v", err, err)
	}
	if cfg != nil {
		t.Errorf("failed load returned a config: %+v", cfg)
	}
	if got := strings.Join(e.Problems, "\n"); got != err.Error() {
		t.Errorf("Error() = %q, want the problems one per line %q", err.Error(), got)
	}
	return e.Problems
}

// loadProblems loads and returns the problems, failing the test if the load succeeds.
func loadProblems(t *testing.T, args []string, env map[string]string) []string {
	t.Helper()
	cfg, err := loadWith(t, args, env)
	return problems(t, cfg, err)
}

func mustLoad(t *testing.T, args []string, env map[string]string) *Config {
	t.Helper()
	cfg, err := loadWith(t, args, env)
	if err != nil {
		t.Fatalf("load %q: %v", args, err)
	}
	return cfg
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// badFixtures holds, for every testdata/*.bad.yml, the problems it must
// produce: one substring per problem, in order.
var badFixtures = map[string][]string{
	"budget-over-plan.bad.yml":             {`zoom.daily_budget: 40000: more than the pro plan's daily quota of 30000 Heavy calls`},
	"full-interval-below-interval.bad.yml": {`scrape.full_interval: "30m": must be at least 1h`},
	"unknown-key.bad.yml":                  {`unknown-key.bad.yml line 3: zoom: unknown key "foo" (known keys: account_id, client_id,`},
	"unknown-section.bad.yml":              {`unknown-section.bad.yml line 1: unknown key "web" (known keys: zoom, scrape, storage)`},
	"wrong-type.bad.yml":                   {`zoom.max_retries: "three": must be an integer (from config file testdata/wrong-type.bad.yml line 2)`},
	"quoted-int.bad.yml":                   {`scrape.concurrency: "4": must be an integer (from config file`},
	"users-not-list.bad.yml":               {`zoom.users: must be a list of user ids or e-mails, not a string (from config file testdata/users-not-list.bad.yml line 2)`},
	"empty-user.bad.yml":                   {`zoom.users[1]: empty; give a user id or e-mail (from config file testdata/empty-user.bad.yml line 4)`, `zoom.users[2]: must be a user id or e-mail, not a list (from`},
	"section-not-mapping.bad.yml":          {`section-not-mapping.bad.yml line 1: zoom: must be a mapping, not an integer`},
	"not-a-mapping.bad.yml":                {`not-a-mapping.bad.yml line 1: must be a mapping with the keys zoom, scrape`},
	"plan-is-list.bad.yml":                 {`zoom.plan: must be one of pro, business, not a list (from config file testdata/plan-is-list.bad.yml line 2)`},
	"bad-duration.bad.yml":                 {`scrape.interval: "5x": not a valid duration; write it like 30s, 5m, 48h or 1d (from config file testdata/bad-duration.bad.yml line 2)`},
	"negative-grace-period.bad.yml":        {`scrape.grace_period: "-1h": not a valid duration`},
	"short-interval.bad.yml":               {`scrape.interval: "5s": must be at least 10s (from`},
	"zero-request-timeout.bad.yml":         {`zoom.request_timeout: "0s": must be at least 1ms (from`},
	"bad-url.bad.yml":                      {`zoom.api_url: "ftp://x": must be an http or https URL (from config file testdata/bad-url.bad.yml line 2)`},
	"url-without-host.bad.yml":             {`zoom.token_url: "https:///oauth/token": must include a host`},
	"relative-url.bad.yml":                 {`zoom.api_url: "api.zoom.us/v2": must be an http or https URL`},
	"bad-plan.bad.yml":                     {`zoom.plan: "enterprise": must be one of pro, business (from config file testdata/bad-plan.bad.yml line 2)`},
	"bad-report-type.bad.yml":              {`scrape.report_type: "future": must be one of past, pastOne, pastJoined (from`},
	"both-secret-and-file.bad.yml": {`zoom.client_secret and zoom.client_secret_file: both given, by ` +
		`config file testdata/both-secret-and-file.bad.yml line 4 and config file testdata/both-secret-and-file.bad.yml line 5; use one`},
	"unreadable-secret-file.bad.yml": {`zoom.client_secret_file: open /nonexistent/zoom-client-secret: no such file or directory (from config file testdata/unreadable-secret-file.bad.yml line 4)`},
	"empty-secret-file.bad.yml":      {`zoom.client_secret_file: testdata/empty-secret.txt is empty (from config file`},
	"secret-is-list.bad.yml":         {`zoom.client_secret: must be a string, not a list (from config file testdata/secret-is-list.bad.yml line 4)`},
	"negative-concurrency.bad.yml":   {`scrape.concurrency: -1: must be between 1 and 64 (from config file testdata/negative-concurrency.bad.yml line 2)`},
	"too-many-retries.bad.yml":       {`zoom.max_retries: 11: must be between 0 and 10`},
	"duplicate-key.bad.yml":          {`duplicate-key.bad.yml line 3: mapping key "plan" already defined at line 2`},
	"syntax-error.bad.yml":           {`config file testdata/syntax-error.bad.yml line 1: did not find expected`},
	"two-documents.bad.yml":          {`two-documents.bad.yml line 3: a second YAML document; the file must hold only one`},
	"both-webhook-token-and-file.bad.yml": {`zoom.webhook_secret_token and zoom.webhook_secret_token_file: both given, by ` +
		`config file testdata/both-webhook-token-and-file.bad.yml line 2 and config file testdata/both-webhook-token-and-file.bad.yml line 3; use one`},
	"webhook-token-is-list.bad.yml": {`zoom.webhook_secret_token: must be a string, not a list (from config file testdata/webhook-token-is-list.bad.yml line 3)`},
	"websocket-url-http.bad.yml": {`zoom.events_websocket_url: "https://ws.zoom.us/ws?...": must be a wss:// URL, such as wss://ws.zoom.us/ws?subscriptionId=... ` +
		`from the app's event subscription (from config file testdata/websocket-url-http.bad.yml line 2)`},
	"websocket-url-with-token.bad.yml": {`zoom.events_websocket_url: "wss://ws.zoom.us/ws?...": must not carry an access_token: the exporter appends a fresh one`},
	"websocket-url-ws-remote.bad.yml":  {`zoom.events_websocket_url: "ws://ws.zoom.us/ws?...": ws:// (unencrypted) is allowed only on a loopback host; Zoom's endpoint is wss://`},
	"sweep-below-interval.bad.yml":     {`scrape.sweep_interval: "5m": must be at least 10m (from config file testdata/sweep-below-interval.bad.yml line 3)`},
	"several-problems.bad.yml": {
		`zoom.plan: "free": must be one of pro, business`,
		`zoom.max_retries: -2: must be between 0 and 10`,
		`scrape.interval: "often": not a valid duration`,
		`scrape.report_type: "all": must be one of`,
		`scrape.concurrency: 0: must be between 1 and 64`,
	},
}

// credentials returns the command-line flags and environment that supply
// whichever credentials the fixture lacks, so that only the fixture is judged.
func credentials(t *testing.T, path string) ([]string, map[string]string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Zoom map[string]any `yaml:"zoom"`
	}
	_ = yaml.Unmarshal(data, &doc) // a broken fixture simply gets every credential
	has := func(k string) bool { _, ok := doc.Zoom[k]; return ok }
	var args []string
	env := map[string]string{}
	if !has("account_id") {
		args = append(args, "--zoom.account-id=flag-account")
	}
	if !has("client_id") {
		env["ZOOM_CLIENT_ID"] = "env-client"
	}
	if !has("client_secret") && !has("client_secret_file") {
		env["ZOOM_CLIENT_SECRET"] = fakeSecret
	}
	return args, env
}

func TestFixtures(t *testing.T) {
	t.Parallel()
	paths, err := filepath.Glob("testdata/*.yml")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var good int
	for _, path := range paths {
		name := filepath.Base(path)
		switch {
		case strings.HasSuffix(name, ".good.yml"):
			good++
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				args, env := credentials(t, path)
				cfg, err := loadWith(t, append(args, "--config.file="+path), env)
				if err != nil {
					t.Fatalf("good fixture failed:\n%v", err)
				}
				if cfg.Zoom.AccountID == "" || cfg.Zoom.ClientID == "" || cfg.Zoom.ClientSecret == "" {
					t.Errorf("credentials not resolved: %+v", cfg.Zoom)
				}
			})
		case strings.HasSuffix(name, ".bad.yml"):
			seen[name] = true
			want, ok := badFixtures[name]
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				if !ok {
					t.Fatalf("no expected message for %s: add it to badFixtures", name)
				}
				args, env := credentials(t, path)
				cfg, err := loadWith(t, append(args, "--config.file="+path), env)
				got := problems(t, cfg, err)
				if len(got) != len(want) {
					t.Fatalf("got %d problems, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
				}
				for i := range want {
					if !strings.Contains(got[i], want[i]) {
						t.Errorf("problem %d:\n got: %s\nwant: …%s…", i, got[i], want[i])
					}
				}
				assertNoSecret(t, err.Error())
			})
		default:
			t.Errorf("%s: a fixture must end in .good.yml or .bad.yml", name)
		}
	}
	for name := range badFixtures {
		if !seen[name] {
			t.Errorf("badFixtures lists %s, which is not in testdata", name)
		}
	}
	for _, required := range []string{"minimal", "full", "secret-file", "empty"} {
		if !slices.Contains(paths, "testdata/"+required+".good.yml") {
			t.Errorf("testdata/%s.good.yml is missing", required)
		}
	}
	if good == 0 {
		t.Error("no good fixtures")
	}
}

func TestFullFixture(t *testing.T) {
	t.Parallel()
	cfg := mustLoad(t, []string{"--config.file=testdata/full.good.yml"}, nil)
	want := &Config{
		Zoom: ZoomConfig{
			AccountID:      "acct-123",
			ClientID:       "client-abc",
			ClientSecret:   "not-a-real-secret",
			APIURL:         "https://zoom.example.test/v2", // trailing slash dropped
			TokenURL:       "http://127.0.0.1:8080/oauth/token",
			Users:          []string{"alice@example.com", "KDcuGIm1QgePTO8WbOqwIQ", "kdcugim1qgepto8wboqwiq"},
			Plan:           PlanBusiness,
			RequestTimeout: model.Duration(90 * time.Second),
			MaxRetries:     0, // the file overrides the default 3 with a zero
			DailyBudget:    40000,

			EventsWebSocketURL: "wss://ws.zoom.us/ws?subscriptionId=AbCdEfGhIjKlMnOpQrStUv",
			WebhookSecretToken: "not-a-real-webhook-token",
		},
		Scrape: ScrapeConfig{
			Interval:     model.Duration(time.Hour),
			GracePeriod:  model.Duration(24 * time.Hour),
			ReportType:   ReportTypePastJoined,
			Concurrency:  64,
			FullInterval: model.Duration(12 * time.Hour),

			SweepInterval: model.Duration(3 * time.Hour),
		},
		Storage: StorageConfig{
			Path:           "/var/lib/zoom_exporter",
			DiscardForeign: true,
		},
	}
	assertConfig(t, cfg, want)
}

func TestMinimalFixtureGetsDefaults(t *testing.T) {
	t.Parallel()
	cfg := mustLoad(t, []string{"--config.file=testdata/minimal.good.yml"}, nil)
	want := Default()
	want.Zoom.AccountID, want.Zoom.ClientID, want.Zoom.ClientSecret = "acct-123", "client-abc", "not-a-real-secret"
	assertConfig(t, cfg, &want)
}

func TestSecretFileFixture(t *testing.T) {
	t.Parallel()
	cfg := mustLoad(t, []string{"--config.file=testdata/secret-file.good.yml"}, nil)
	if got, want := string(cfg.Zoom.ClientSecret), "not-a-real-secret-from-file"; got != want {
		t.Errorf("secret = %q, want %q (trimmed)", got, want)
	}
	if got, want := cfg.Zoom.ClientSecretFile, filepath.Join("testdata", "secret.txt"); got != want {
		t.Errorf("secret file = %q, want %q (relative to the config file)", got, want)
	}
	if got, want := string(cfg.Zoom.WebhookSecretToken), "not-a-real-webhook-token-from-file"; got != want {
		t.Errorf("webhook secret token = %q, want %q (trimmed)", got, want)
	}
	if got, want := cfg.Zoom.WebhookSecretTokenFile, filepath.Join("testdata", "webhook-secret.txt"); got != want {
		t.Errorf("webhook secret token file = %q, want %q (relative to the config file)", got, want)
	}
}

func assertConfig(t *testing.T, got, want *Config) {
	t.Helper()
	// Secrets never print, so compare them apart and the rest as text.
	if got.Zoom.ClientSecret != want.Zoom.ClientSecret {
		t.Errorf("client secret differs")
	}
	if got.Zoom.WebhookSecretToken != want.Zoom.WebhookSecretToken {
		t.Errorf("webhook secret token differs")
	}
	g, w := *got, *want
	g.Zoom.ClientSecret, w.Zoom.ClientSecret = "", ""
	g.Zoom.WebhookSecretToken, w.Zoom.WebhookSecretToken = "", ""
	if gs, ws := fmt.Sprintf("%#v", g), fmt.Sprintf("%#v", w); gs != ws {
		t.Errorf("config:\n got %s\nwant %s", gs, ws)
	}
}

func TestDefault(t *testing.T) {
	t.Parallel()
	d := Default()
	checks := []struct {
		name      string
		got, want any
	}{
		{"api url", d.Zoom.APIURL, "https://api.zoom.us/v2"},
		{"token url", d.Zoom.TokenURL, "https://zoom.us/oauth/token"},
		{"plan", d.Zoom.Plan, "pro"},
		{"request timeout", d.Zoom.RequestTimeout, model.Duration(30 * time.Second)},
		{"max retries", d.Zoom.MaxRetries, 3},
		{"users", len(d.Zoom.Users), 0},
		{"interval", d.Scrape.Interval, model.Duration(5 * time.Minute)},
		{"grace period", d.Scrape.GracePeriod, model.Duration(48 * time.Hour)},
		{"report type", d.Scrape.ReportType, "past"},
		{"concurrency", d.Scrape.Concurrency, 4},
		{"demo", d.Demo, false},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if d.Zoom.AccountID != "" || d.Zoom.ClientID != "" || d.Zoom.ClientSecret != "" {
		t.Error("the default config has credentials")
	}
}

// TestFlags pins the public command-line interface.
func TestFlags(t *testing.T) {
	t.Parallel()
	app := kingpin.New("zoom_exporter", "test")
	AddFlags(app)
	type flag struct{ env, def string }
	want := map[string]flag{
		"config.file":             {"ZOOM_EXPORTER_CONFIG_FILE", ""},
		"config.check":            {"", ""},
		"demo":                    {"ZOOM_EXPORTER_DEMO", ""},
		"zoom.account-id":         {"ZOOM_ACCOUNT_ID", ""},
		"zoom.client-id":          {"ZOOM_CLIENT_ID", ""},
		"zoom.client-secret-file": {"ZOOM_CLIENT_SECRET_FILE", ""},
		"zoom.api-url":            {"ZOOM_API_URL", "https://api.zoom.us/v2"},
		"zoom.token-url":          {"ZOOM_TOKEN_URL", "https://zoom.us/oauth/token"},
		"zoom.user":               {"ZOOM_USERS", ""},
		"zoom.plan":               {"ZOOM_PLAN", "pro"},
		"zoom.request-timeout":    {"ZOOM_REQUEST_TIMEOUT", "30s"},
		"zoom.max-retries":        {"ZOOM_MAX_RETRIES", "3"},
		"scrape.interval":         {"ZOOM_EXPORTER_SCRAPE_INTERVAL", "5m"},
		"scrape.grace-period":     {"ZOOM_EXPORTER_SCRAPE_GRACE_PERIOD", "48h"},
		"scrape.report-type":      {"ZOOM_EXPORTER_SCRAPE_REPORT_TYPE", "past"},
		"scrape.concurrency":      {"ZOOM_EXPORTER_SCRAPE_CONCURRENCY", "4"},
		"storage.path":            {"ZOOM_EXPORTER_STORAGE_PATH", "data/"},
		"storage.discard-foreign": {"ZOOM_EXPORTER_STORAGE_DISCARD_FOREIGN", ""},
		"zoom.daily-budget":       {"ZOOM_DAILY_BUDGET", "0"},
		"scrape.full-interval":    {"ZOOM_EXPORTER_SCRAPE_FULL_INTERVAL", "6h"},

		"zoom.events-websocket-url":      {"ZOOM_EVENTS_WEBSOCKET_URL", ""},
		"zoom.webhook-secret-token-file": {"ZOOM_WEBHOOK_SECRET_TOKEN_FILE", ""},
		"scrape.sweep-interval":          {"ZOOM_EXPORTER_SCRAPE_SWEEP_INTERVAL", "1h"},
	}
	got := map[string]bool{}
	for _, fl := range app.Model().Flags {
		if fl.Name == "help" || fl.Hidden {
			continue
		}
		got[fl.Name] = true
		w, ok := want[fl.Name]
		if !ok {
			t.Errorf("unexpected flag --%s", fl.Name)
			continue
		}
		if fl.Help == "" {
			t.Errorf("--%s has no help", fl.Name)
		}
		if fl.Envar != w.env {
			t.Errorf("--%s envar = %q, want %q", fl.Name, fl.Envar, w.env)
		}
		if def := strings.Join(fl.Default, ","); def != w.def {
			t.Errorf("--%s default = %q, want %q", fl.Name, def, w.def)
		}
		// kingpin shows a placeholder instead of the default: --help would hide it.
		if len(fl.Default) > 0 && fl.PlaceHolder != "" {
			t.Errorf("--%s has both a default (%q) and a placeholder (%q): --help shows only the placeholder", fl.Name, fl.Default, fl.PlaceHolder)
		}
	}
	for name := range want {
		if !got[name] {
			t.Errorf("flag --%s is not registered", name)
		}
	}
}

// TestPrecedence checks, field by field: command line > environment >
// config file > default.
func TestPrecedence(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	secretFile := func(name, content string) string { return writeFile(t, dir, name, content) }
	fields := []struct {
		key, flag, env              string // key is section.name in the config file
		flagV, envV, fileV          string // fileV is written as YAML
		wantDefault                 string
		get                         func(*Config) string
		wantFlag, wantEnv, wantFile string // when the result differs from the input
	}{
		{key: "zoom.account_id", flag: "zoom.account-id", env: "ZOOM_ACCOUNT_ID", flagV: "a-flag", envV: "a-env", fileV: "a-file",
			get: func(c *Config) string { return c.Zoom.AccountID }},
		{key: "zoom.client_id", flag: "zoom.client-id", env: "ZOOM_CLIENT_ID", flagV: "c-flag", envV: "c-env", fileV: "c-file",
			get: func(c *Config) string { return c.Zoom.ClientID }},
		{key: "zoom.client_secret_file", flag: "zoom.client-secret-file", env: "ZOOM_CLIENT_SECRET_FILE",
			flagV: secretFile("flag", "from-flag"), envV: secretFile("env", "from-env\n"), fileV: secretFile("file", " from-file "),
			get:      func(c *Config) string { return string(c.Zoom.ClientSecret) },
			wantFlag: "from-flag", wantEnv: "from-env", wantFile: "from-file"},
		{key: "zoom.api_url", flag: "zoom.api-url", env: "ZOOM_API_URL",
			flagV: "http://flag.test/v2", envV: "http://env.test/v2", fileV: "http://file.test/v2", wantDefault: "https://api.zoom.us/v2",
			get: func(c *Config) string { return c.Zoom.APIURL }},
		{key: "zoom.token_url", flag: "zoom.token-url", env: "ZOOM_TOKEN_URL",
			flagV: "http://flag.test/t", envV: "http://env.test/t", fileV: "http://file.test/t", wantDefault: "https://zoom.us/oauth/token",
			get: func(c *Config) string { return c.Zoom.TokenURL }},
		{key: "zoom.users", flag: "zoom.user", env: "ZOOM_USERS",
			flagV: "f@x.test", envV: "e1@x.test,e2@x.test\n", fileV: "[file@x.test]",
			get:      func(c *Config) string { return strings.Join(c.Zoom.Users, " ") },
			wantFlag: "f@x.test", wantEnv: "e1@x.test e2@x.test", wantFile: "file@x.test"},
		{key: "zoom.plan", flag: "zoom.plan", env: "ZOOM_PLAN", flagV: "business", envV: "pro", fileV: "business", wantDefault: "pro",
			get: func(c *Config) string { return c.Zoom.Plan }},
		{key: "zoom.request_timeout", flag: "zoom.request-timeout", env: "ZOOM_REQUEST_TIMEOUT", flagV: "1s", envV: "2s", fileV: "3s", wantDefault: "30s",
			get: func(c *Config) string { return c.Zoom.RequestTimeout.String() }},
		{key: "zoom.max_retries", flag: "zoom.max-retries", env: "ZOOM_MAX_RETRIES", flagV: "7", envV: "5", fileV: "0", wantDefault: "3",
			get: func(c *Config) string { return fmt.Sprint(c.Zoom.MaxRetries) }},
		{key: "scrape.interval", flag: "scrape.interval", env: "ZOOM_EXPORTER_SCRAPE_INTERVAL", flagV: "10s", envV: "1h", fileV: "1d", wantDefault: "15s", // the demo's default; TestDefaults has 5m
			get: func(c *Config) string { return c.Scrape.Interval.String() }},
		{key: "scrape.grace_period", flag: "scrape.grace-period", env: "ZOOM_EXPORTER_SCRAPE_GRACE_PERIOD", flagV: "1h", envV: "2h", fileV: "0s", wantDefault: "2d",
			get: func(c *Config) string { return c.Scrape.GracePeriod.String() }},
		{key: "scrape.report_type", flag: "scrape.report-type", env: "ZOOM_EXPORTER_SCRAPE_REPORT_TYPE", flagV: "pastOne", envV: "pastJoined", fileV: "past", wantDefault: "past",
			get: func(c *Config) string { return c.Scrape.ReportType }},
		{key: "scrape.concurrency", flag: "scrape.concurrency", env: "ZOOM_EXPORTER_SCRAPE_CONCURRENCY", flagV: "1", envV: "2", fileV: "3", wantDefault: "4",
			get: func(c *Config) string { return fmt.Sprint(c.Scrape.Concurrency) }},
		{key: "scrape.sweep_interval", flag: "scrape.sweep-interval", env: "ZOOM_EXPORTER_SCRAPE_SWEEP_INTERVAL", flagV: "2h", envV: "3h", fileV: "4h", wantDefault: "1m", // the demo's default; TestSweepInterval has 1h
			get: func(c *Config) string { return c.Scrape.SweepInterval.String() }},
		{key: "zoom.events_websocket_url", flag: "zoom.events-websocket-url", env: "ZOOM_EVENTS_WEBSOCKET_URL",
			flagV: "wss://flag.test/ws?subscriptionId=f", envV: "wss://env.test/ws?subscriptionId=e", fileV: "wss://file.test/ws?subscriptionId=c",
			get: func(c *Config) string { return c.Zoom.EventsWebSocketURL }},
		{key: "zoom.webhook_secret_token_file", flag: "zoom.webhook-secret-token-file", env: "ZOOM_WEBHOOK_SECRET_TOKEN_FILE",
			flagV: secretFile("hook-flag", "hook-from-flag"), envV: secretFile("hook-env", "hook-from-env\n"), fileV: secretFile("hook-file", " hook-from-file "),
			get:      func(c *Config) string { return string(c.Zoom.WebhookSecretToken) },
			wantFlag: "hook-from-flag", wantEnv: "hook-from-env", wantFile: "hook-from-file"},
		{key: "storage.path", flag: "storage.path", env: "ZOOM_EXPORTER_STORAGE_PATH", flagV: "/f", envV: "/e", fileV: "/file", wantDefault: "", // the demo's default: a temporary store
			get: func(c *Config) string { return c.Storage.Path }},
	}
	for _, f := range fields {
		or := func(a, b string) string {
			if a != "" {
				return a
			}
			return b
		}
		section, name, _ := strings.Cut(f.key, ".")
		file := writeFile(t, dir, strings.ReplaceAll(f.key, ".", "-")+".yml",
			fmt.Sprintf("%s:\n  %s: %s\n", section, name, f.fileV))
		scenarios := []struct {
			name       string
			flag, env  bool
			file, want string
		}{
			{"flag beats env and file", true, true, file, or(f.wantFlag, f.flagV)},
			{"env beats file", false, true, file, or(f.wantEnv, f.envV)},
			{"file beats default", false, false, file, or(f.wantFile, f.fileV)},
			{"default", false, false, "", f.wantDefault},
		}
		for _, s := range scenarios {
			t.Run(f.key+"/"+s.name, func(t *testing.T) {
				t.Parallel()
				// Demo mode: no credentials needed besides the field under test.
				args := []string{"--demo"}
				env := map[string]string{}
				if s.flag {
					args = append(args, "--"+f.flag+"="+f.flagV)
				}
				if s.env {
					env[f.env] = f.envV
				}
				if s.file != "" {
					args = append(args, "--config.file="+s.file)
				}
				cfg := mustLoad(t, args, env)
				if got := f.get(cfg); got != s.want {
					t.Errorf("%s = %q, want %q", f.key, got, s.want)
				}
			})
		}
	}
}

// TestDiscardForeign: a boolean from each source, with the usual
// precedence, and a clear problem for anything but true or false.
func TestDiscardForeign(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files := 0
	file := func(v string) string {
		files++
		return writeFile(t, dir, fmt.Sprintf("discard-%d.yml", files), "storage:\n  discard_foreign: "+v+"\n")
	}
	const env = "ZOOM_EXPORTER_STORAGE_DISCARD_FOREIGN"
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    bool
		problem string
	}{
		{name: "default", want: false},
		{name: "flag", args: []string{"--storage.discard-foreign"}, want: true},
		{name: "env", env: map[string]string{env: "true"}, want: true},
		{name: "file", args: []string{"--config.file=" + file("true")}, want: true},
		{name: "file null", args: []string{"--config.file=" + file("null")}, want: false},
		{name: "flag beats env", args: []string{"--no-storage.discard-foreign"}, env: map[string]string{env: "true"}, want: false},
		{name: "env beats file", args: []string{"--config.file=" + file("true")}, env: map[string]string{env: "false"}, want: false},
		{name: "bad env", env: map[string]string{env: "yes please"},
			problem: `storage.discard_foreign: "yes please": must be true or false (from ZOOM_EXPORTER_STORAGE_DISCARD_FOREIGN)`},
		{name: "file string", args: []string{"--config.file=" + file(`"true"`)},
			problem: `storage.discard_foreign: "true": must be true or false (from config file`},
		{name: "file yes", args: []string{"--config.file=" + file("yes")},
			problem: `storage.discard_foreign: "yes": must be true or false (from config file`},
		{name: "file list", args: []string{"--config.file=" + file("[true]")},
			problem: `storage.discard_foreign: must be true or false, not a list (from config file`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"--demo"}, tt.args...)
			if tt.problem != "" {
				got := loadProblems(t, args, tt.env)
				if len(got) != 1 || !strings.Contains(got[0], tt.problem) {
					t.Errorf("problems %q, want one with %q", got, tt.problem)
				}
				return
			}
			if got := mustLoad(t, args, tt.env).Storage.DiscardForeign; got != tt.want {
				t.Errorf("DiscardForeign = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSecretFromEnvBeatsFile(t *testing.T) {
	t.Parallel()
	file := writeFile(t, t.TempDir(), "c.yml", "zoom:\n  client_secret: from-file\n")
	cfg := mustLoad(t, []string{"--demo", "--config.file=" + file}, map[string]string{"ZOOM_CLIENT_SECRET": "from-env"})
	if cfg.Zoom.ClientSecret != "from-env" {
		t.Error("ZOOM_CLIENT_SECRET does not override zoom.client_secret")
	}
	cfg = mustLoad(t, []string{"--demo", "--config.file=" + file}, nil)
	if cfg.Zoom.ClientSecret != "from-file" {
		t.Error("zoom.client_secret not used")
	}
}

func TestConfigFileFromEnv(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	envFile := writeFile(t, dir, "env.yml", "zoom:\n  plan: business\n")
	flagFile := writeFile(t, dir, "flag.yml", "zoom:\n  plan: pro\n")
	env := map[string]string{"ZOOM_EXPORTER_CONFIG_FILE": envFile}
	if cfg := mustLoad(t, []string{"--demo"}, env); cfg.Zoom.Plan != PlanBusiness {
		t.Errorf("plan = %q: ZOOM_EXPORTER_CONFIG_FILE not read", cfg.Zoom.Plan)
	}
	if cfg := mustLoad(t, []string{"--demo", "--config.file=" + flagFile}, env); cfg.Zoom.Plan != PlanPro {
		t.Errorf("plan = %q: --config.file does not beat ZOOM_EXPORTER_CONFIG_FILE", cfg.Zoom.Plan)
	}
}

// TestRealEnvironment goes through the public Load and the process
// environment: kingpin does not mark a flag set by its environment variable,
// so Load must find the variable itself, and it must beat the config file.
func TestRealEnvironment(t *testing.T) {
	file := writeFile(t, t.TempDir(), "c.yml", "zoom:\n  plan: pro\n  max_retries: 9\n")
	t.Setenv("ZOOM_PLAN", "business")
	t.Setenv("ZOOM_EXPORTER_CONFIG_FILE", file)
	t.Setenv("ZOOM_EXPORTER_DEMO", "true")
	app := kingpin.New("zoom_exporter", "test")
	f := AddFlags(app)
	if _, err := app.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if f.ConfigFile() != file {
		t.Errorf("ConfigFile() = %q, want %q", f.ConfigFile(), file)
	}
	cfg, err := f.Load()
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Demo || cfg.Zoom.Plan != PlanBusiness || cfg.Zoom.MaxRetries != 9 {
		t.Errorf("demo %v plan %q retries %d; want true, business (env beats file), 9 (file beats default)",
			cfg.Demo, cfg.Zoom.Plan, cfg.Zoom.MaxRetries)
	}
}

func TestMissingCredentials(t *testing.T) {
	t.Parallel()
	got := loadProblems(t, nil, nil)
	want := []string{
		"zoom.account_id: missing: set --zoom.account-id, ZOOM_ACCOUNT_ID or zoom.account_id in the config file",
		"zoom.client_id: missing: set --zoom.client-id, ZOOM_CLIENT_ID or zoom.client_id in the config file",
		"zoom.client_secret: missing: set ZOOM_CLIENT_SECRET, --zoom.client-secret-file, ZOOM_CLIENT_SECRET_FILE, " +
			"or zoom.client_secret or zoom.client_secret_file in the config file",
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Empty values count as missing.
	got = loadProblems(t, []string{"--zoom.account-id= ", "--zoom.client-id=c"},
		map[string]string{"ZOOM_CLIENT_SECRET": ""})
	if len(got) != 2 || !strings.HasPrefix(got[0], "zoom.account_id: missing") || !strings.HasPrefix(got[1], "zoom.client_secret: missing") {
		t.Errorf("problems: %q", got)
	}
}

func TestCredentialsFromEachSource(t *testing.T) {
	t.Parallel()
	secret := writeFile(t, t.TempDir(), "secret", fakeSecret+"\n")
	cfg := mustLoad(t, []string{"--zoom.account-id=acct", "--zoom.client-secret-file=" + secret},
		map[string]string{"ZOOM_CLIENT_ID": "client"})
	if cfg.Zoom.AccountID != "acct" || cfg.Zoom.ClientID != "client" || cfg.Zoom.ClientSecret != fakeSecret || cfg.Zoom.ClientSecretFile != secret {
		t.Errorf("credentials not resolved: %+v", cfg.Zoom)
	}
	cfg = mustLoad(t, nil, map[string]string{
		"ZOOM_ACCOUNT_ID": "acct", "ZOOM_CLIENT_ID": "client", "ZOOM_CLIENT_SECRET_FILE": secret,
	})
	if cfg.Zoom.ClientSecret != fakeSecret {
		t.Error("ZOOM_CLIENT_SECRET_FILE not read")
	}
}

func TestDemo(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"flag", []string{"--demo"}, nil},
		{"env", nil, map[string]string{"ZOOM_EXPORTER_DEMO": "true"}},
		{"flag beats env", []string{"--demo"}, map[string]string{"ZOOM_EXPORTER_DEMO": "false"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := mustLoad(t, tc.args, tc.env)
			if !cfg.Demo {
				t.Error("Demo is false")
			}
			if cfg.Zoom.AccountID != "" || cfg.Zoom.ClientSecret != "" {
				t.Errorf("credentials invented: %+v", cfg.Zoom)
			}
		})
	}
	// Demo mode still checks everything else.
	got := loadProblems(t, []string{"--demo", "--scrape.concurrency=100"}, nil)
	if len(got) != 1 || !strings.Contains(got[0], "scrape.concurrency: 100: must be between 1 and 64 (from --scrape.concurrency)") {
		t.Errorf("problems: %q", got)
	}
	got = loadProblems(t, nil, map[string]string{"ZOOM_EXPORTER_DEMO": "yes please"})
	if !strings.Contains(got[0], `demo: "yes please": must be true or false (from ZOOM_EXPORTER_DEMO)`) {
		t.Errorf("problems: %q", got)
	}
}

func TestAllProblemsReported(t *testing.T) {
	t.Parallel()
	file := writeFile(t, t.TempDir(), "c.yml", "zoom:\n  plan: gold\n  extra: 1\n")
	got := loadProblems(t, []string{
		"--config.file=" + file,
		"--scrape.interval=5x",
		"--zoom.api-url=ftp://x",
		"--zoom.token-url=https://user:pw@/token",
		"--zoom.max-retries=many",
		"--scrape.report-type=future",
		"--zoom.user=a@x.test", "--zoom.user=",
	}, map[string]string{
		"ZOOM_EXPORTER_SCRAPE_CONCURRENCY": "0",
		"ZOOM_REQUEST_TIMEOUT":             "soon",
	})
	want := []string{
		`line 3: zoom: unknown key "extra"`,
		`zoom.account_id: missing`,
		`zoom.client_id: missing`,
		`zoom.client_secret: missing`,
		`zoom.api_url: "ftp://x": must be an http or https URL (from --zoom.api-url)`,
		`zoom.token_url: "https://user:xxxxx@/token": must include a host (from --zoom.token-url)`,
		`zoom.users[1]: empty; give a user id or e-mail (from --zoom.user)`,
		`zoom.plan: "gold": must be one of pro, business (from config file`,
		`zoom.request_timeout: "soon": not a valid duration; write it like 30s, 5m, 48h or 1d (from ZOOM_REQUEST_TIMEOUT)`,
		`zoom.max_retries: "many": must be an integer (from --zoom.max-retries)`,
		`scrape.interval: "5x": not a valid duration`,
		`scrape.report_type: "future": must be one of past, pastOne, pastJoined (from --scrape.report-type)`,
		`scrape.concurrency: 0: must be between 1 and 64 (from ZOOM_EXPORTER_SCRAPE_CONCURRENCY)`,
	}
	if len(got) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.Contains(got[i], want[i]) {
			t.Errorf("problem %d:\n got: %s\nwant: …%s…", i, got[i], want[i])
		}
	}
}

func TestUnusableConfigFile(t *testing.T) {
	t.Parallel()
	// Only the file's own problem: its values are unknown, so nothing is
	// reported missing; flag problems still are.
	got := loadProblems(t, []string{"--config.file=/nonexistent/zoom.yml", "--zoom.plan=x"}, nil)
	want := []string{
		"config file: open /nonexistent/zoom.yml: no such file or directory",
		`zoom.plan: "x": must be one of pro, business (from --zoom.plan)`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestBothSecretSources(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	secret := writeFile(t, dir, "secret", fakeSecret)
	file := writeFile(t, dir, "c.yml", "zoom:\n  client_secret_file: "+secret+"\n")
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"env and flag", []string{"--zoom.client-secret-file=" + secret}, map[string]string{"ZOOM_CLIENT_SECRET": fakeSecret},
			"zoom.client_secret and zoom.client_secret_file: both given, by ZOOM_CLIENT_SECRET and --zoom.client-secret-file; use one"},
		{"env and env", nil, map[string]string{"ZOOM_CLIENT_SECRET": fakeSecret, "ZOOM_CLIENT_SECRET_FILE": secret},
			"both given, by ZOOM_CLIENT_SECRET and ZOOM_CLIENT_SECRET_FILE; use one"},
		{"env and config file", []string{"--config.file=" + file}, map[string]string{"ZOOM_CLIENT_SECRET": fakeSecret},
			"both given, by ZOOM_CLIENT_SECRET and config file " + file + " line 2; use one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := loadProblems(t, append(tc.args, "--demo"), tc.env)
			if len(got) != 1 || !strings.Contains(got[0], tc.want) {
				t.Errorf("problems: %q\nwant: …%s…", got, tc.want)
			}
			assertNoSecret(t, strings.Join(got, "\n"))
		})
	}
}

func TestSecretFileProblems(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	empty := writeFile(t, dir, "empty", "\n \n")
	for _, tc := range []struct{ path, want string }{
		{"/nope", "zoom.client_secret_file: open /nope: no such file or directory (from --zoom.client-secret-file)"},
		{empty, "zoom.client_secret_file: " + empty + " is empty (from --zoom.client-secret-file)"},
		{dir, "zoom.client_secret_file: read " + dir + ": is a directory (from --zoom.client-secret-file)"},
	} {
		got := loadProblems(t, []string{"--demo", "--zoom.client-secret-file=" + tc.path}, nil)
		if len(got) != 1 || got[0] != tc.want {
			t.Errorf("problems: %q\nwant: %q", got, tc.want)
		}
	}
}

func TestUsers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{"none: discover all", nil, nil, nil},
		{"flags, deduplicated", []string{"--zoom.user=Alice@X.test", "--zoom.user=id1", "--zoom.user=alice@x.test", "--zoom.user=id1", "--zoom.user=ID1"},
			nil, []string{"Alice@X.test", "id1", "ID1"}},
		{"env, commas and newlines", nil, map[string]string{"ZOOM_USERS": "a@x.test, b@x.test\nid1\n"}, []string{"a@x.test", "b@x.test", "id1"}},
		{"flags replace env", []string{"--zoom.user=f@x.test"}, map[string]string{"ZOOM_USERS": "e@x.test"}, []string{"f@x.test"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := mustLoad(t, append(tc.args, "--demo"), tc.env)
			if !slices.Equal(cfg.Zoom.Users, tc.want) {
				t.Errorf("users = %q, want %q", cfg.Zoom.Users, tc.want)
			}
		})
	}
}

func TestUserNotUTF8(t *testing.T) {
	t.Parallel()
	cfg, err := loadWith(t, []string{"--demo", "--zoom.user=bad\xffuser"}, nil)
	got := problems(t, cfg, err)
	if len(got) != 1 || !strings.Contains(got[0], "zoom.users[0]: not valid UTF-8") {
		t.Errorf("problems %q", got)
	}
}

func TestURLs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ url, want string }{
		{"https://api.zoom.us/v2", ""},
		{"http://127.0.0.1:8080", ""},
		{"ftp://x", `zoom.api_url: "ftp://x": must be an http or https URL (from --zoom.api-url)`},
		{"/v2", `zoom.api_url: "/v2": must be an http or https URL`},
		{"https://", `zoom.api_url: "https:": must include a host`},
		{"http://[::1", `zoom.api_url: not a valid URL: missing ']' in host (from --zoom.api-url)`},
		// An unparseable URL is not echoed: it may hold a password.
		{"https://u:PW-123@zoom example.com/v2", `zoom.api_url: not a valid URL: invalid character " " in host name`},
	} {
		cfg, err := loadWith(t, []string{"--demo", "--zoom.api-url=" + tc.url}, nil)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.url, err)
			}
			continue
		}
		got := problems(t, cfg, err)
		if len(got) != 1 || !strings.Contains(got[0], tc.want) {
			t.Errorf("%s: problems %q, want …%s…", tc.url, got, tc.want)
		}
		if strings.Contains(strings.Join(got, "\n"), "PW-123") {
			t.Errorf("%s: a password in the URL reached the message: %q", tc.url, got)
		}
	}
}

func TestCheckOnly(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want bool
	}{{nil, false}, {[]string{"--config.check"}, true}} {
		app := kingpin.New("zoom_exporter", "test")
		f := AddFlags(app)
		if _, err := app.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		if f.CheckOnly() != tc.want {
			t.Errorf("%q: CheckOnly() = %v", tc.args, !tc.want)
		}
	}
}

func assertNoSecret(t *testing.T, s string) {
	t.Helper()
	for _, secret := range []string{fakeSecret, "not-a-real-secret", "not-a-real-webhook-token", "not-a-real-token"} {
		if strings.Contains(s, secret) {
			t.Errorf("secret leaked in %q", s)
		}
	}
}

func TestSecretNeverPrints(t *testing.T) {
	t.Parallel()
	cfg := mustLoad(t, []string{"--zoom.account-id=a", "--zoom.client-id=c"}, map[string]string{"ZOOM_CLIENT_SECRET": fakeSecret})
	if string(cfg.Zoom.ClientSecret) != fakeSecret {
		t.Fatal("secret not loaded")
	}
	var outputs []string
	for _, format := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10s", "%T"} {
		outputs = append(outputs, fmt.Sprintf(format, cfg), fmt.Sprintf(format, *cfg),
			fmt.Sprintf(format, cfg.Zoom), fmt.Sprintf(format, cfg.Zoom.ClientSecret))
	}
	j, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	y, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	outputs = append(outputs, string(j), string(y), cfg.Zoom.ClientSecret.String(), cfg.Zoom.ClientSecret.GoString())
	for _, o := range outputs {
		assertNoSecret(t, o)
	}
	if got := fmt.Sprint(cfg.Zoom.ClientSecret); got != "<secret>" {
		t.Errorf("Sprint(secret) = %q", got)
	}
	var decoded Config
	if err := json.Unmarshal(j, &decoded); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(y), "client_secret: <secret>") || decoded.Zoom.ClientSecret != "<secret>" {
		t.Errorf("marshalled secret not masked:\n%s\n%s", y, j)
	}
	if got := fmt.Sprintf("%v|%q", Secret(""), Secret("")); got != `|""` {
		t.Errorf("empty secret prints %q", got)
	}

	// Problems with the secret's source never show the secret either.
	dir := t.TempDir()
	for _, content := range []string{
		"zoom:\n  client_secret: [" + fakeSecret + "]\n",
		"zoom:\n  client_secret: {" + fakeSecret + ": 1}\n",
		"zoom:\n  client_secret: " + fakeSecret + "\n  client_secret_file: /x\n",
	} {
		file := writeFile(t, dir, "c.yml", content)
		_, err := loadWith(t, []string{"--config.file=" + file}, nil)
		if err == nil {
			t.Fatalf("%q loaded", content)
		}
		assertNoSecret(t, err.Error())
	}
}

func TestDemoRefreshesFasterUnlessTold(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args []string
		want model.Duration
	}{
		{[]string{"--demo"}, DemoInterval},
		{[]string{"--demo", "--scrape.interval=1m"}, model.Duration(time.Minute)},
	} {
		app := kingpin.New("test", "")
		f := AddFlags(app)
		if _, err := app.Parse(tt.args); err != nil {
			t.Fatal(err)
		}
		cfg, err := f.load(func(string) (string, bool) { return "", false })
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Scrape.Interval != tt.want {
			t.Errorf("%v: interval %v, want %v", tt.args, cfg.Scrape.Interval, tt.want)
		}
	}
}

// flagOnly are the configuration flags with no config file key, on purpose:
// they say which file to read, what to do with it, or (--demo) to run
// without a real account. The README's "Config file" section says so.
var flagOnly = map[string]bool{"config.file": true, "config.check": true, "demo": true}

// TestEveryFlagHasAFileKey: every flag AddFlags registers, but flagOnly,
// sets a key the strict decoder knows, and every key is set in a good
// fixture (full.good.yml; client_secret_file, which cannot go with
// client_secret, in secret-file.good.yml).
func TestEveryFlagHasAFileKey(t *testing.T) {
	t.Parallel()
	all := []setting{sConfigFile, sAccountID, sClientID, sClientSecret, sClientSecretFile, sAPIURL, sTokenURL,
		sUsers, sPlan, sRequestTimeout, sMaxRetries, sInterval, sGracePeriod, sReportType, sConcurrency, sDemo,
		sDailyBudget, sFullInterval, sStoragePath, sDiscardForeign, sWebSocketURL, sWebhookToken, sWebhookTokenFile, sSweepInterval}
	byFlag := map[string]setting{}
	for _, s := range all {
		if s.flag != "" {
			byFlag[s.flag] = s
		}
	}
	app := kingpin.New("zoom_exporter", "test")
	AddFlags(app)
	for _, fl := range app.Model().Flags {
		if fl.Name == "help" || fl.Hidden || flagOnly[fl.Name] {
			continue
		}
		s, ok := byFlag[fl.Name]
		if !ok {
			t.Errorf("--%s: no setting names it (add it to this test's list)", fl.Name)
			continue
		}
		section, key, _ := strings.Cut(s.key, ".")
		if typ, ok := sections[section]; !ok || !slices.Contains(keysOf(typ), key) {
			t.Errorf("--%s: the config file has no key %q: add it to fileConfig, or to flagOnly and the README", fl.Name, s.key)
		}
	}

	set := map[string]bool{}
	for _, fixture := range []string{"testdata/full.good.yml", "testdata/secret-file.good.yml"} {
		data, err := os.ReadFile(fixture)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]map[string]any
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatalf("%s: %v", fixture, err)
		}
		for section, keys := range doc {
			for key := range keys {
				set[section+"."+key] = true
			}
		}
	}
	for section, typ := range sections {
		if section == "" {
			continue
		}
		for _, key := range keysOf(typ) {
			if !set[section+"."+key] {
				t.Errorf("config file key %s.%s is set in no good fixture: add it to testdata/full.good.yml", section, key)
			}
		}
	}
}
