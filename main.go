// Command zoom_exporter serves Zoom meeting usage as Prometheus metrics.
// A background scraper fetches each tracked user's report within Zoom's rate
// limits; scrapes only read what it fetched last.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"
	yamlv2 "go.yaml.in/yaml/v2"

	"github.com/zoomexporter/zoom_exporter/collector"
	"github.com/zoomexporter/zoom_exporter/config"
	"github.com/zoomexporter/zoom_exporter/internal/demo"
	"github.com/zoomexporter/zoom_exporter/internal/fakeclock"
	"github.com/zoomexporter/zoom_exporter/internal/logging"
	"github.com/zoomexporter/zoom_exporter/internal/metricsserve"
	"github.com/zoomexporter/zoom_exporter/internal/statuspage"
	"github.com/zoomexporter/zoom_exporter/scrape"
	"github.com/zoomexporter/zoom_exporter/store"
	"github.com/zoomexporter/zoom_exporter/zoom"
)

// defaultListenAddress is the exporter's port, in the 9100-9999 exporter range.
const defaultListenAddress = ":9865"

// HTTP server timeouts: a slow or stalled client cannot hold a connection
// (or a --web.max-requests slot) for ever. Writing /metrics of a very large
// account to a slow reader may take a while, hence the longer write timeout.
const (
	serverReadHeaderTimeout = 10 * time.Second
	serverReadTimeout       = 30 * time.Second
	serverWriteTimeout      = 2 * time.Minute
	serverIdleTimeout       = 2 * time.Minute
)

func main() { os.Exit(run()) }

func run() int {
	app := kingpin.CommandLine
	app.HelpFlag.Short('h')
	// Flags are registered in the order --help lists them, the README's
	// flags table: general (--help, --version, --config.*, --demo), Zoom,
	// refresh, storage, collectors, sharding, web server, logging.
	if bi, ok := debug.ReadBuildInfo(); ok {
		versionFromBuildInfo(bi)
	}
	app.Version(version.Print("zoom_exporter"))
	configFlags := config.AddFlags(app) // --config.*, --demo, --zoom.*, --scrape.*, --storage.*
	collectorOpts := collector.AddFlags(app)
	var (
		shard = app.Flag("shard", "Shard of this exporter, from 0 to --total-shards - 1: it refreshes the users whose Zoom user id hashes to it.").
			Envar("ZOOM_EXPORTER_SHARD").Default("0").Int()
		totalShards = app.Flag("total-shards", "Number of exporters the account is split between; each spends its share of the daily budget and rate limits.").
				Envar("ZOOM_EXPORTER_TOTAL_SHARDS").Default("1").Int()
		toolkitFlags = kingpinflag.AddFlags(app, defaultListenAddress)
	)
	// exporter-toolkit's flags get environment variables named like every
	// other flag's (web.systemd-socket exists on Linux only).
	for name, env := range map[string]string{
		"web.systemd-socket": "ZOOM_EXPORTER_WEB_SYSTEMD_SOCKET",
		"web.listen-address": "ZOOM_EXPORTER_WEB_LISTEN_ADDRESS",
		"web.config.file":    "ZOOM_EXPORTER_WEB_CONFIG_FILE",
	} {
		if f := app.GetFlag(name); f != nil {
			f.Envar(env)
		}
	}
	var (
		metricsPath = app.Flag("web.telemetry-path", "Path under which to expose metrics.").
				Envar("ZOOM_EXPORTER_WEB_TELEMETRY_PATH").Default("/metrics").String()
		disableExporterMetrics = app.Flag("web.disable-exporter-metrics", "Exclude metrics about the exporter itself (promhttp_*, process_*, go_*).").
					Envar("ZOOM_EXPORTER_WEB_DISABLE_EXPORTER_METRICS").Bool()
		maxRequests = app.Flag("web.max-requests", "Maximum number of parallel scrape requests. Use 0 to disable.").
				Envar("ZOOM_EXPORTER_WEB_MAX_REQUESTS").Default("40").Int()
		webhookPath = app.Flag("web.webhook-path", "Path that takes Zoom's signed webhook POSTs, when a webhook secret token is given.").
				Envar("ZOOM_EXPORTER_WEB_WEBHOOK_PATH").Default(statuspage.DefaultWebhookPath).String()
		webhookListen = app.Flag("web.webhook-listen-address", "Address of a listener of its own for the webhook path, and nothing else: "+
			"TLS as --web.config.file sets it, without its basic auth, which Zoom cannot send. Required with basic auth; "+
			"without it, the webhook is served beside the metrics.").
			PlaceHolder("ADDRESS").Envar("ZOOM_EXPORTER_WEB_WEBHOOK_LISTEN_ADDRESS").String()
	)
	logConfig := logging.AddFlags(app)
	kingpin.Parse()

	logger := logging.New(logConfig)
	level.Info(logger).Log("msg", "Starting zoom_exporter", "version", version.Info())
	level.Info(logger).Log("msg", "Build context", "build_context", version.BuildContext())

	cfg, err := configFlags.Load()
	var (
		limits   zoom.Limits
		budget   int
		quotaErr = scrape.ValidateShard(*shard, *totalShards)
	)
	if err == nil {
		limits, budget, quotaErr = shardQuota(cfg, *shard, *totalShards)
	}
	pathErr := errors.Join(statuspage.ValidateTelemetryPath(*metricsPath), statuspage.ValidateWebhookPath(*webhookPath, *metricsPath))
	if err == nil {
		pathErr = errors.Join(pathErr, checkWebhookListener(cfg, *webhookListen, *toolkitFlags.WebConfigFile))
	}
	if configFlags.CheckOnly() {
		return checkConfig(errors.Join(err, quotaErr, pathErr), *toolkitFlags.WebConfigFile)
	}
	if err != nil {
		var problems *config.Error
		if errors.As(err, &problems) {
			for _, p := range problems.Problems {
				level.Error(logger).Log("msg", "Invalid configuration", "problem", p)
			}
		} else {
			level.Error(logger).Log("msg", "Invalid configuration", "err", err)
		}
		return 1
	}
	if quotaErr != nil {
		level.Error(logger).Log("msg", "Invalid configuration", "err", quotaErr)
		return 1
	}
	if pathErr != nil {
		level.Error(logger).Log("msg", "Invalid configuration", "err", pathErr)
		return 1
	}
	if err := web.Validate(*toolkitFlags.WebConfigFile); err != nil {
		level.Error(logger).Log("msg", "Invalid web configuration", "file", *toolkitFlags.WebConfigFile, "err", err)
		return 1
	}

	// Tests against a fake Zoom may set the date; real Zoom gets the real one.
	clockURL := cfg.Zoom.APIURL
	if cfg.Demo {
		clockURL = demo.LoopbackURL
	}
	now, err := fakeclock.FromEnv(os.Getenv(fakeclock.EnvVar), clockURL)
	if err != nil {
		level.Error(logger).Log("msg", "Invalid clock", "err", err)
		return 1
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if cfg.Demo {
		account, err := demo.Start(ctx, demo.Options{Now: now}, logger)
		if err != nil {
			level.Error(logger).Log("msg", "Cannot start the demo account", "err", err)
			return 1
		}
		cfg.Zoom.APIURL, cfg.Zoom.TokenURL = account.APIURL, account.TokenURL
		cfg.Zoom.AccountID, cfg.Zoom.ClientID = account.AccountID, account.ClientID
		cfg.Zoom.ClientSecret = config.Secret(account.ClientSecret)
		cfg.Zoom.EventsWebSocketURL = account.WebSocketURL // the demo's meetings go live over events
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(versioncollector.NewCollector("zoom_exporter"))
	reg.MustRegister(scrape.NewShardCollector(*shard, *totalShards))
	level.Info(logger).Log("msg", "Shard", "shard", *shard, "total_shards", *totalShards, "daily_budget", budget)
	client, err := zoom.NewClient(zoom.ClientConfig{
		APIURL:       cfg.Zoom.APIURL,
		TokenURL:     cfg.Zoom.TokenURL,
		AccountID:    cfg.Zoom.AccountID,
		ClientID:     cfg.Zoom.ClientID,
		ClientSecret: string(cfg.Zoom.ClientSecret),
		Limits:       limits,
		DailyBudget:  budget,
		Timeout:      time.Duration(cfg.Zoom.RequestTimeout),
		MaxRetries:   cfg.Zoom.MaxRetries,
		LogEvery:     time.Duration(cfg.Scrape.Interval), // a failure that repeats is logged once an interval
		Now:          now,
		Logger:       log.With(logger, "component", "zoom_client"),
		Registerer:   reg,
	})
	if err != nil {
		level.Error(logger).Log("msg", "Cannot create the Zoom client", "err", err)
		return 1
	}
	storageDir := cfg.Storage.Path
	if storageDir == "" { // --demo without --storage.path: made-up data, a throwaway store
		if storageDir, err = os.MkdirTemp("", "zoom_exporter_demo"); err != nil {
			level.Error(logger).Log("msg", "Cannot create the demo's temporary store", "err", err)
			return 1
		}
		defer os.RemoveAll(storageDir)
	}
	// The store belongs to one account and shard layout: another's counters
	// are never merged in, and the demo's are never taken for a real account's.
	st, err := store.OpenWith(storageDir, store.Options{
		Registerer:     reg,
		Logger:         log.With(logger, "component", "store"),
		Owner:          store.Owner{AccountID: cfg.Zoom.AccountID, Demo: cfg.Demo, Shard: *shard, TotalShards: *totalShards},
		DiscardForeign: cfg.Storage.DiscardForeign,
	})
	if err != nil {
		level.Error(logger).Log("msg", "Cannot open the store", "err", err)
		return 1
	}
	defer func() {
		// Every commit is already on disk; a failure here still deserves a word.
		if err := st.Close(); err != nil {
			level.Error(logger).Log("msg", "Cannot close the store", "err", err)
		}
	}()
	level.Info(logger).Log("msg", "Store opened", "path", st.Path())

	// Zoom events, when a transport is configured, reach the scraper
	// through feed, which also tells it whether they flow.
	feed := &eventFeed{now: now, window: time.Duration(cfg.Scrape.SweepInterval), webhookPath: *webhookPath}
	var eventsFlowing func() (bool, time.Time)
	if cfg.Zoom.EventsWebSocketURL != "" || cfg.Zoom.WebhookSecretToken != "" {
		eventsFlowing = feed.Flowing
	}
	scraper, err := scrape.NewScraper(scrape.ScraperConfig{
		Client:        client,
		Users:         cfg.Zoom.Users,
		Interval:      time.Duration(cfg.Scrape.Interval),
		GracePeriod:   time.Duration(cfg.Scrape.GracePeriod),
		ReportType:    cfg.Scrape.ReportType,
		Concurrency:   cfg.Scrape.Concurrency,
		FullInterval:  time.Duration(cfg.Scrape.FullInterval),
		Now:           now,
		Logger:        log.With(logger, "component", "scraper"),
		Store:         st,
		Owns:          func(key string) bool { return scrape.ShardOf(key, *totalShards) == *shard },
		EventsFlowing: eventsFlowing,
		SweepInterval: time.Duration(cfg.Scrape.SweepInterval),
		Registerer:    reg,
		// The first refresh may borrow from the rest of the day's budget,
		// so that every user is covered as fast as the rate limit allows.
		ColdStart: true,
		// The account collectors fetch only when enabled; the account-wide
		// figures are fetched (and served) by shard 0 alone.
		Account: scrape.AccountConfig{
			Licenses:       collectorOpts.On(scrape.CollectorLicenses),
			CloudRecording: collectorOpts.On(scrape.CollectorCloudRecording),
			Daily:          collectorOpts.On(scrape.CollectorDaily),
			AccountWide:    *shard == 0,
		},
	})
	if err != nil {
		level.Error(logger).Log("msg", "Cannot restore counters from the store", "err", err)
		return 1
	}
	feed.scraper = scraper
	eventMetrics := zoom.NewEventMetrics(reg)
	if cfg.Zoom.EventsWebSocketURL != "" {
		feed.stream, err = zoom.NewEventStream(zoom.EventStreamConfig{
			URL:       cfg.Zoom.EventsWebSocketURL,
			Tokens:    client, // the REST client's token cache: one token for both
			Handler:   feed,
			AccountID: cfg.Zoom.AccountID,
			Now:       now,
			Logger:    log.With(logger, "component", "event_stream"),
			Metrics:   eventMetrics,
			LogEvery:  time.Duration(cfg.Scrape.Interval),
		})
		if err != nil {
			level.Error(logger).Log("msg", "Cannot set up the Zoom event WebSocket", "err", err)
			return 1
		}
		level.Info(logger).Log("msg", "Zoom events over a WebSocket", "url", feed.stream.Status().URL)
	}
	if cfg.Zoom.WebhookSecretToken != "" {
		feed.webhook, err = zoom.NewWebhookHandler(zoom.WebhookConfig{
			SecretToken: string(cfg.Zoom.WebhookSecretToken),
			AccountID:   cfg.Zoom.AccountID,
			Handler:     feed,
			Now:         now,
			Logger:      log.With(logger, "component", "webhook"),
			Metrics:     eventMetrics,
			LogEvery:    time.Duration(cfg.Scrape.Interval),
		})
		if err != nil {
			level.Error(logger).Log("msg", "Cannot set up the Zoom webhook", "err", err)
			return 1
		}
		where := "beside the metrics"
		if *webhookListen != "" {
			where = *webhookListen
		}
		level.Info(logger).Log("msg", "Zoom events by webhook", "path", *webhookPath, "listener", where)
	}
	// An empty salt counts as none given (examples/systemd says so): the
	// account id salts the hash then, never an empty string.
	salt := os.Getenv("ZOOM_EXPORTER_USER_HASH_SALT")
	if salt == "" {
		salt = cfg.Zoom.AccountID
	}
	collectorOpts.HashSalt = salt
	// Live gauges change with every Zoom event: served apart from the usage
	// metrics, whose gathered copy is kept per refresh.
	collectorOpts.SeparateLive = true
	reg.MustRegister(collector.NewLiveCollector(scraper))
	exporter, err := collector.New(scraper, *collectorOpts)
	if err != nil {
		level.Error(logger).Log("msg", "Invalid collector configuration", "err", err)
		return 1
	}
	level.Info(logger).Log("msg", "Enabled collectors", "collectors", fmt.Sprint(exporter.EnabledNames()), "user_label", collectorOpts.UserLabel)

	// The usage metrics change only when a refresh changed usage data, their
	// health once per refresh: each encoded once per version and format
	// scrapers ask for, and written as those bytes by every scrape; reg and
	// exporterReg are gathered fresh on every scrape.
	var exporterReg *prometheus.Registry
	if !*disableExporterMetrics {
		exporterReg = prometheus.NewRegistry()
		exporterReg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	metricsHandler, metricsCache, err := metricsserve.NewExporterHandler(metricsserve.Config{
		Cached:   []metricsserve.Source{collector.NewUsageSource(exporter, scraper), collector.NewHealthSource(exporter, scraper)},
		Registry: reg, ExporterRegistry: exporterReg, MaxRequests: *maxRequests, ErrorLog: stdlog(logger),
	})
	if err != nil {
		level.Error(logger).Log("msg", "Cannot serve the metrics", "err", err)
		return 1
	}
	// A new snapshot is encoded ahead, in the formats scraped before it.
	go metricsCache.Run(ctx, time.Second)

	// Every page is read-only: GET and HEAD, 405 for other methods.
	// ValidateTelemetryPath keeps the metrics path off the others.
	mux := http.NewServeMux()
	mux.Handle(*metricsPath, statuspage.ReadOnly(metricsHandler))
	mux.Handle(statuspage.PathHealthy, statuspage.ReadOnly(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "Healthy") })))
	mux.Handle(statuspage.PathReady, statuspage.Readiness(scraper))
	// /status names users as /metrics does (--collector.user-label), never more.
	mux.Handle(statuspage.PathStatus, statuspage.New(statusSource{scraper, client, feed}, time.Duration(cfg.Scrape.Interval),
		statuspage.Users{Mode: collectorOpts.UserLabel, Label: exporter.UserLabelValue}))
	landing, err := web.NewLandingPage(web.LandingConfig{
		Name:        "Zoom Exporter",
		Description: "Prometheus exporter for Zoom meeting usage",
		Version:     version.Info(),
		Profiling:   "false", // no /debug/pprof is served
		Links: []web.LandingLinks{
			{Address: *metricsPath, Text: "Metrics"},
			{Address: statuspage.PathStatus, Text: "Status"},
			{Address: statuspage.PathHealthy, Text: "Health"},
			{Address: statuspage.PathReady, Text: "Readiness"},
		},
	})
	if err != nil {
		level.Error(logger).Log("msg", "Cannot build the landing page", "err", err)
		return 1
	}
	mux.Handle("/{$}", statuspage.ReadOnly(landing)) // "/" only: other paths are 404
	// The webhook takes POSTs (the handler refuses, and counts, any other
	// method), here or on its own listener.
	var webhookServer *http.Server
	if feed.webhook != nil {
		if *webhookListen == "" {
			mux.Handle(*webhookPath, feed.webhook)
		} else if webhookServer, err = newWebhookServer(*webhookPath, feed.webhook, *toolkitFlags.WebConfigFile); err != nil {
			level.Error(logger).Log("msg", "Cannot set up the webhook listener", "err", err)
			return 1
		}
	}

	server := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: serverReadHeaderTimeout,
		ReadTimeout:       serverReadTimeout,
		WriteTimeout:      serverWriteTimeout,
		IdleTimeout:       serverIdleTimeout,
	}
	// The scraper starts once the listeners are bound (Serve asks for its
	// base context right after): with the address taken, the exporter
	// exits at once, that error its last log line, no Zoom call spent.
	listening := make(chan struct{})
	var listeningOnce sync.Once
	server.BaseContext = func(net.Listener) context.Context {
		listeningOnce.Do(func() { close(listening) })
		return context.Background()
	}
	serveErr := make(chan error, 2)
	go func() {
		serveErr <- web.ListenAndServe(server, toolkitFlags, logging.Slog(os.Stderr, logConfig))
	}()
	if webhookServer != nil {
		ln, err := net.Listen("tcp", *webhookListen)
		if err != nil {
			level.Error(logger).Log("msg", "Cannot serve the webhook", "err", err)
			return 1
		}
		level.Info(logger).Log("msg", "Webhook listening", "address", ln.Addr().String(), "tls", webhookServer.TLSConfig != nil)
		go func() {
			var err error
			if webhookServer.TLSConfig != nil {
				err = webhookServer.ServeTLS(ln, "", "")
			} else {
				err = webhookServer.Serve(ln)
			}
			serveErr <- fmt.Errorf("webhook listener: %w", err)
		}()
	}
	// The scraper and the event transports: they all end with ctx, and the
	// store closes only once they have (an event may update the counters).
	var running sync.WaitGroup
	select {
	case err := <-serveErr:
		level.Error(logger).Log("msg", "Cannot serve HTTP", "err", err)
		return 1
	case <-ctx.Done(): // stopped before anything started
	case <-listening:
		running.Go(func() { scraper.Run(ctx) })
		if feed.stream != nil {
			running.Go(func() { feed.stream.Run(ctx) })
		}
		if feed.webhook != nil {
			running.Go(func() { feed.webhook.Run(ctx) })
		}
	}

	select {
	case err := <-serveErr:
		level.Error(logger).Log("msg", "HTTP server stopped", "err", err)
		stop()
		running.Wait() // let a refresh in flight end before the store closes
		return 1
	case <-ctx.Done():
	}
	level.Info(logger).Log("msg", "Shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	failed := false
	for _, srv := range []*http.Server{server, webhookServer} {
		if srv == nil {
			continue
		}
		if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			level.Error(logger).Log("msg", "HTTP server shutdown", "err", err)
			failed = true
		}
	}
	running.Wait() // the refresh in flight has stopped: the store can close
	if failed {
		return 1
	}
	return 0
}

// shardQuota returns this shard's per-second limits and daily budget: the
// quota is the account's, so each shard spends its share of it.
func shardQuota(cfg *config.Config, shard, totalShards int) (zoom.Limits, int, error) {
	limits, err := zoom.PlanLimits(cfg.Zoom.Plan)
	if err != nil {
		return zoom.Limits{}, 0, err
	}
	if err := scrape.ValidateShard(shard, totalShards); err != nil {
		return zoom.Limits{}, 0, err
	}
	budget := cfg.Zoom.DailyBudget
	if budget <= 0 {
		budget = limits.HeavyPerDay / 2
	}
	share := zoom.ShareOf(budget, shard, totalShards)
	if share < 1 {
		return zoom.Limits{}, 0, fmt.Errorf("--zoom.daily-budget: %d Heavy calls a day cannot be split between %d shards (--total-shards); each needs at least one", budget, totalShards)
	}
	return limits.Share(shard, totalShards), share, nil
}

// checkConfig implements --config.check: every problem with the exporter
// configuration and the web configuration, then exit 0 or 1.
func checkConfig(configErr error, webConfigFile string) int {
	failed := false
	if configErr != nil {
		fmt.Fprintln(os.Stderr, configErr)
		failed = true
	}
	if err := web.Validate(webConfigFile); err != nil {
		fmt.Fprintf(os.Stderr, "--web.config.file %s: %v\n", webConfigFile, err)
		failed = true
	}
	if failed {
		return 1
	}
	fmt.Println("Configuration OK")
	return 0
}

// versionFromBuildInfo fills what no -ldflags -X set in
// prometheus/common/version (go run, go build, go install) from what the Go
// toolchain stamped in the binary: the module version (a tag, a
// pseudo-version from the checkout, or "(devel)"), the VCS revision and its
// commit time. Release builds set every variable and keep them.
func versionFromBuildInfo(bi *debug.BuildInfo) {
	vcs := make(map[string]string)
	for _, s := range bi.Settings {
		vcs[s.Key] = s.Value
	}
	if version.Version == "" {
		version.Version = bi.Main.Version
		if version.Version == "" {
			version.Version = "(devel)"
		}
	}
	if version.Revision == "" && vcs["vcs.revision"] != "" {
		version.Revision = vcs["vcs.revision"]
		if vcs["vcs.modified"] == "true" {
			version.Revision += "-modified"
		}
	}
	if version.BuildDate == "" {
		version.BuildDate = vcs["vcs.time"]
	}
}

// statusSource gives the status page the scraper's snapshots, the
// client's budget and token state (never the token), and the event
// transports' state.
type statusSource struct {
	*scrape.Scraper
	client *zoom.Client
	feed   *eventFeed
}

func (s statusSource) EventTransports() []statuspage.EventTransport { return s.feed.Transports() }

func (s statusSource) Budget() zoom.BudgetState                    { return s.client.Budget() }
func (s statusSource) TokenState() (valid bool, expires time.Time) { return s.client.TokenState() }
func (s statusSource) LastFailures() (token, api *zoom.Failure)    { return s.client.LastFailures() }

// stdlog adapts the go-kit logger for promhttp's error log.
type stdlogger struct{ logger log.Logger }

func (l stdlogger) Println(v ...any) { level.Error(l.logger).Log("msg", fmt.Sprint(v...)) }

func stdlog(logger log.Logger) promhttp.Logger { return stdlogger{logger} }

// eventFeed hands the Zoom events of both transports to the scraper, and
// tells it whether they flow (ScraperConfig.EventsFlowing): the WebSocket
// while it is connected, since its connection; the webhook, which has no
// connection, while an event arrived within the sweep interval, since the
// first event after the last silence longer than that.
type eventFeed struct {
	scraper     *scrape.Scraper      // set before any transport runs
	stream      *zoom.EventStream    // nil without a WebSocket URL
	webhook     *zoom.WebhookHandler // nil without a webhook secret token
	now         func() time.Time
	window      time.Duration // the sweep interval
	webhookPath string

	mu                  sync.Mutex
	hookSince, hookLast time.Time // webhook: first event after the last gap, last event
	streamLast          time.Time
}

// HandleEvent notes when the event arrived, then hands it to the scraper.
func (f *eventFeed) HandleEvent(transport string, e zoom.Event) {
	t := f.now()
	f.mu.Lock()
	switch transport {
	case zoom.TransportWebhook:
		if f.hookLast.IsZero() || t.Sub(f.hookLast) > f.window {
			f.hookSince = t
		}
		f.hookLast = t
	case zoom.TransportWebSocket:
		f.streamLast = t
	}
	f.mu.Unlock()
	f.scraper.HandleEvent(transport, e)
}

// Flowing implements ScraperConfig.EventsFlowing.
func (f *eventFeed) Flowing() (bool, time.Time) {
	if f.stream != nil {
		if st := f.stream.Status(); st.Connected && !st.ConnectedSince.IsZero() {
			return true, st.ConnectedSince
		}
	}
	if ok, since := f.webhookFlowing(); ok {
		return true, since
	}
	return false, time.Time{}
}

func (f *eventFeed) webhookFlowing() (bool, time.Time) {
	if f.webhook == nil {
		return false, time.Time{}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.hookLast.IsZero() || f.now().Sub(f.hookLast) > f.window {
		return false, time.Time{}
	}
	return true, f.hookSince
}

// Transports describes the configured transports for the status page.
func (f *eventFeed) Transports() []statuspage.EventTransport {
	var out []statuspage.EventTransport
	if f.stream != nil {
		st := f.stream.Status()
		f.mu.Lock()
		last := f.streamLast
		f.mu.Unlock()
		out = append(out, statuspage.EventTransport{
			Name: "WebSocket", Endpoint: st.URL, Flowing: st.Connected, Since: st.ConnectedSince,
			LastEvent: last, LastError: st.LastError, Reconnects: st.Reconnects,
		})
	}
	if f.webhook != nil {
		ok, since := f.webhookFlowing()
		f.mu.Lock()
		last := f.hookLast
		f.mu.Unlock()
		out = append(out, statuspage.EventTransport{
			Name: "Webhook", Endpoint: f.webhookPath, Flowing: ok, Since: since, LastEvent: last, Reconnects: -1,
		})
	}
	return out
}

// checkWebhookListener checks how the webhook is served. Zoom signs its
// webhooks and cannot send our basic auth: with basic_auth_users in
// --web.config.file, the webhook needs its own listener, where only it is
// served, without basic auth; everything else stays behind basic auth.
func checkWebhookListener(cfg *config.Config, listenAddr, webConfigFile string) error {
	hook := cfg.Zoom.WebhookSecretToken != ""
	switch {
	case listenAddr != "" && !hook:
		return errors.New("--web.webhook-listen-address is set, but no webhook secret token is given (ZOOM_WEBHOOK_SECRET_TOKEN, " +
			"--zoom.webhook-secret-token-file, or zoom.webhook_secret_token in the config file): the listener would serve nothing")
	case listenAddr != "":
		if _, _, err := net.SplitHostPort(listenAddr); err != nil {
			return fmt.Errorf("--web.webhook-listen-address %q: %v; write it like :9866 or 127.0.0.1:9866", listenAddr, err)
		}
	case hook && webConfigFile != "":
		c, err := readWebConfig(webConfigFile)
		if err == nil && len(c.Users) > 0 {
			return fmt.Errorf("--web.config.file %s sets basic_auth_users, which Zoom's webhook requests do not carry: "+
				"serve the webhook on a listener of its own with --web.webhook-listen-address (TLS as the web config sets it, "+
				"without basic auth; everything else stays behind basic auth)", webConfigFile)
		}
	}
	return nil
}

// readWebConfig reads --web.config.file as exporter-toolkit does (its
// defaults, strict YAML, paths relative to the file).
func readWebConfig(path string) (*web.Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c := &web.Config{
		TLSConfig:  web.TLSConfig{MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS13},
		HTTPConfig: web.HTTPConfig{HTTP2: true},
	}
	if err := yamlv2.UnmarshalStrict(data, c); err != nil {
		return nil, err
	}
	c.TLSConfig.SetDirectory(filepath.Dir(path))
	return c, nil
}

// newWebhookServer is the webhook's own server (--web.webhook-listen-address):
// the webhook path and nothing else, with the TLS and headers of the web
// config file, if any, and never its basic auth.
func newWebhookServer(path string, h http.Handler, webConfigFile string) (*http.Server, error) {
	mux := http.NewServeMux()
	mux.Handle(path, h)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: serverReadHeaderTimeout,
		ReadTimeout:       serverReadTimeout,
		WriteTimeout:      serverWriteTimeout,
		IdleTimeout:       serverIdleTimeout,
	}
	if webConfigFile == "" {
		return srv, nil
	}
	c, err := readWebConfig(webConfigFile)
	if err != nil {
		return nil, fmt.Errorf("--web.config.file %s: %w", webConfigFile, err)
	}
	if headers := c.HTTPConfig.Header; len(headers) > 0 {
		srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for k, v := range headers {
				w.Header().Set(k, v)
			}
			mux.ServeHTTP(w, r)
		})
	}
	if !c.TLSConfig.IsEnabled() {
		return srv, nil
	}
	tlsConfig, err := web.ConfigToTLSConfig(&c.TLSConfig)
	if err != nil {
		return nil, fmt.Errorf("--web.config.file %s: %w", webConfigFile, err)
	}
	// Certificates are read again for each connection, as exporter-toolkit
	// does, so that renewed ones are served without a restart. Zoom's small
	// POSTs need no HTTP/2.
	tlsConfig.NextProtos = []string{"http/1.1"}
	tlsConfig.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		c, err := readWebConfig(webConfigFile)
		if err != nil {
			return nil, err
		}
		cfg, err := web.ConfigToTLSConfig(&c.TLSConfig)
		if err != nil {
			return nil, err
		}
		cfg.NextProtos = []string{"http/1.1"}
		return cfg, nil
	}
	srv.TLSConfig = tlsConfig
	srv.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){}
	return srv, nil
}
