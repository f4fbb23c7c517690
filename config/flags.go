package config

import (
	"os"

	"github.com/alecthomas/kingpin/v2"
)

// setting names one configurable field in its three spellings.
type setting struct {
	key  string // in the config file and in messages, e.g. "scrape.interval"
	flag string // command-line flag without its dashes; "" if there is none
	env  string // environment variable; "" if there is none
}

var (
	sConfigFile       = setting{"", "config.file", "ZOOM_EXPORTER_CONFIG_FILE"}
	sAccountID        = setting{"zoom.account_id", "zoom.account-id", "ZOOM_ACCOUNT_ID"}
	sClientID         = setting{"zoom.client_id", "zoom.client-id", "ZOOM_CLIENT_ID"}
	sClientSecret     = setting{"zoom.client_secret", "", "ZOOM_CLIENT_SECRET"}
	sClientSecretFile = setting{"zoom.client_secret_file", "zoom.client-secret-file", "ZOOM_CLIENT_SECRET_FILE"}
	sAPIURL           = setting{"zoom.api_url", "zoom.api-url", "ZOOM_API_URL"}
	sTokenURL         = setting{"zoom.token_url", "zoom.token-url", "ZOOM_TOKEN_URL"}
	sUsers            = setting{"zoom.users", "zoom.user", "ZOOM_USERS"}
	sPlan             = setting{"zoom.plan", "zoom.plan", "ZOOM_PLAN"}
	sRequestTimeout   = setting{"zoom.request_timeout", "zoom.request-timeout", "ZOOM_REQUEST_TIMEOUT"}
	sMaxRetries       = setting{"zoom.max_retries", "zoom.max-retries", "ZOOM_MAX_RETRIES"}
	sInterval         = setting{"scrape.interval", "scrape.interval", "ZOOM_EXPORTER_SCRAPE_INTERVAL"}
	sGracePeriod      = setting{"scrape.grace_period", "scrape.grace-period", "ZOOM_EXPORTER_SCRAPE_GRACE_PERIOD"}
	sReportType       = setting{"scrape.report_type", "scrape.report-type", "ZOOM_EXPORTER_SCRAPE_REPORT_TYPE"}
	sConcurrency      = setting{"scrape.concurrency", "scrape.concurrency", "ZOOM_EXPORTER_SCRAPE_CONCURRENCY"}
	sDemo             = setting{"demo", "demo", "ZOOM_EXPORTER_DEMO"}
	sDailyBudget      = setting{"zoom.daily_budget", "zoom.daily-budget", "ZOOM_DAILY_BUDGET"}
	sFullInterval     = setting{"scrape.full_interval", "scrape.full-interval", "ZOOM_EXPORTER_SCRAPE_FULL_INTERVAL"}
	sStoragePath      = setting{"storage.path", "storage.path", "ZOOM_EXPORTER_STORAGE_PATH"}
	sDiscardForeign   = setting{"storage.discard_foreign", "storage.discard-foreign", "ZOOM_EXPORTER_STORAGE_DISCARD_FOREIGN"}
	sWebSocketURL     = setting{"zoom.events_websocket_url", "zoom.events-websocket-url", "ZOOM_EVENTS_WEBSOCKET_URL"}
	sWebhookToken     = setting{"zoom.webhook_secret_token", "", "ZOOM_WEBHOOK_SECRET_TOKEN"}
	sWebhookTokenFile = setting{"zoom.webhook_secret_token_file", "zoom.webhook-secret-token-file", "ZOOM_WEBHOOK_SECRET_TOKEN_FILE"}
	sSweepInterval    = setting{"scrape.sweep_interval", "scrape.sweep-interval", "ZOOM_EXPORTER_SCRAPE_SWEEP_INTERVAL"}
)

// stringFlag is a flag's value and whether it was given on the command line.
// Values from environment variables are looked up by Load itself, so that
// the precedence is exact and tests can supply their own environment.
type stringFlag struct {
	value string
	set   bool
}

// Flags holds the parsed command-line flags. Create it with AddFlags, parse
// the application, then call Load.
type Flags struct {
	configFile       stringFlag
	accountID        stringFlag
	clientID         stringFlag
	clientSecretFile stringFlag
	apiURL           stringFlag
	tokenURL         stringFlag
	plan             stringFlag
	requestTimeout   stringFlag
	maxRetries       stringFlag
	interval         stringFlag
	gracePeriod      stringFlag
	reportType       stringFlag
	concurrency      stringFlag
	storagePath      stringFlag
	dailyBudget      stringFlag
	fullInterval     stringFlag
	webSocketURL     stringFlag
	webhookTokenFile stringFlag
	sweepInterval    stringFlag

	users             []string
	usersSet          bool
	demo              bool
	demoSet           bool
	discardForeign    bool
	discardForeignSet bool
	check             bool
}

// AddFlags registers the configuration flags on app. Values are kept as
// text and checked by Load, which reports every problem at once.
func AddFlags(app *kingpin.Application) *Flags {
	f := &Flags{}
	str := func(s setting, help, placeholder, def string, dst *stringFlag) {
		c := app.Flag(s.flag, help).Envar(s.env).IsSetByUser(&dst.set)
		if placeholder != "" {
			c = c.PlaceHolder(placeholder)
		}
		if def != "" {
			c = c.Default(def)
		}
		c.StringVar(&dst.value)
	}

	// Registered in the order --help lists them, the README's: what to
	// read and how to run, then the Zoom account, the refresh, the store.
	str(sConfigFile, "Optional YAML configuration file. Flags and their environment variables override it.",
		"FILE", "", &f.configFile)
	app.Flag("config.check", "Validate the configuration and exit: 0 if it is valid, 1 if not.").
		BoolVar(&f.check)
	app.Flag(sDemo.flag, "Run against a built-in simulated Zoom account; no credentials are needed.").
		Envar(sDemo.env).IsSetByUser(&f.demoSet).BoolVar(&f.demo)

	str(sAccountID, "Zoom account ID of the Server-to-Server OAuth app.", "ID", "", &f.accountID)
	str(sClientID, "Client ID of the Server-to-Server OAuth app.", "ID", "", &f.clientID)
	str(sClientSecretFile, "File holding the client secret of the Server-to-Server OAuth app. "+
		"The secret may instead come from the "+sClientSecret.env+" environment variable or the config file; never from a flag.",
		"FILE", "", &f.clientSecretFile)
	// No placeholder where there is a default: kingpin shows one or the other.
	str(sAPIURL, "Base URL of the Zoom REST API.", "", defaultAPIURL, &f.apiURL)
	str(sTokenURL, "Zoom OAuth token endpoint.", "", defaultTokenURL, &f.tokenURL)
	app.Flag(sUsers.flag, "ID or e-mail of a user to track (repeatable; comma or newline separated in the environment variable). "+
		"Without any, every active user of the account is discovered.").
		PlaceHolder("USER").Envar(sUsers.env).IsSetByUser(&f.usersSet).StringsVar(&f.users)
	str(sPlan, "Zoom plan of the account, which sets its API rate limits: pro or business (Business and above).",
		"", defaultPlan, &f.plan)
	str(sDailyBudget, "Heavy API calls a day the exporter may spend (0: half the plan's daily quota, leaving the rest to other apps).",
		"", defaultDailyBudget, &f.dailyBudget)
	str(sRequestTimeout, "Timeout of one Zoom API request.", "", defaultRequestTimeout, &f.requestTimeout)
	str(sMaxRetries, "Retries of a failed Zoom API request (0 to 10).", "", defaultMaxRetries, &f.maxRetries)
	str(sWebSocketURL, "Endpoint URL of the app's WebSocket event subscription (wss://ws.zoom.us/ws?subscriptionId=...): "+
		"Zoom's meeting events arrive over it, the exporter appending the app's access token. Without it, no WebSocket.",
		"URL", "", &f.webSocketURL)
	str(sWebhookTokenFile, "File holding the Secret Token of the app's webhook event subscription: with a token, Zoom's signed "+
		"webhooks are accepted on --web.webhook-path. The token may instead come from the "+sWebhookToken.env+
		" environment variable or the config file; never from a flag.", "FILE", "", &f.webhookTokenFile)

	str(sInterval, "How often the meeting reports are refreshed in the background (at least 10s; "+
		DemoInterval.String()+" with --demo unless given).", "", defaultInterval, &f.interval)
	str(sGracePeriod, "How long after a month ends its report is still refreshed, since meetings reach the report late.",
		"", defaultGracePeriod, &f.gracePeriod)
	str(sReportType, "Meetings to count: past (two or more participants), pastOne (one participant) "+
		"or pastJoined (every meeting the users hosted or joined).", "", defaultReportType, &f.reportType)
	str(sFullInterval, "How often every user's report is fetched even when the hosts report shows no change (at least the refresh interval); while Zoom events flow, only the reports that may have changed unseen.",
		"", defaultFullInterval, &f.fullInterval)
	str(sSweepInterval, "How often the hosts report is swept while Zoom events flow, to catch what the events missed "+
		"(at least the refresh interval, which it defaults to when longer; "+DemoSweepInterval.String()+" with --demo unless given).", "", defaultSweepInterval, &f.sweepInterval)
	str(sConcurrency, "Users refreshed at once (1 to 64).", "", defaultConcurrency, &f.concurrency)

	str(sStoragePath, "Directory of the store that keeps counters across restarts (with --demo unless given, a temporary directory).",
		"", defaultStoragePath, &f.storagePath)
	app.Flag(sDiscardForeign.flag, "Empty a store that belongs to another Zoom account or shard layout, and take it over, "+
		"instead of refusing to start. Its counters are lost: give it once, then remove it.").
		Envar(sDiscardForeign.env).IsSetByUser(&f.discardForeignSet).BoolVar(&f.discardForeign)
	return f
}

// CheckOnly reports whether --config.check was given.
func (f *Flags) CheckOnly() bool { return f.check }

// ConfigFile returns the config file path from --config.file or its
// environment variable, or "" when there is none.
func (f *Flags) ConfigFile() string {
	return f.configFilePath(os.LookupEnv)
}

func (f *Flags) configFilePath(lookupEnv func(string) (string, bool)) string {
	if f.configFile.set {
		return f.configFile.value
	}
	if v, ok := lookupEnv(sConfigFile.env); ok {
		return v
	}
	return ""
}

// Load reads the config file if one is given, merges it with the flags,
// their environment variables and the defaults, and validates the result.
// On failure the error is an *Error listing every problem.
func (f *Flags) Load() (*Config, error) {
	return f.load(os.LookupEnv)
}
