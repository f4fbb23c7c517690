package e2e

import (
	"context"
	"fmt"
	"math"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/zoomexporter/zoom_exporter/internal/testenv"
	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
	"github.com/zoomexporter/zoom_exporter/zoom"
)

// Timings of the test's own copies of the examples. The example files keep
// realistic values; only these copies are sped up.
const (
	exporterRefresh = 10 * time.Second // --scrape.interval, the exporter's minimum
	promInterval    = "1s"             // scrape_interval and evaluation_interval
	// testAlertFor replaces every alert's `for:` in the test's copy of
	// alerts.yml (ZoomAuthFailing has 5m in the example), so the auth alert
	// can be seen reaching Alertmanager within the test's time budget. The
	// expressions are left exactly as in the example.
	testAlertFor = 20 * time.Second
	// Grafana's template variables in queries.
	rateInterval = "30s" // $__rate_interval: spans 3 refreshes at 1s scrapes
	queryRange   = "10m" // $__range
	theUser      = "user01@example.com"
)

// TestDashboardsAndAlertsAgainstPrometheus runs the exporter against the fake
// Zoom server, a real Prometheus with the example configuration, recording
// rules and alerts, and a real Alertmanager with the example routing; then
// proves that every dashboard query returns data, and that the auth alert
// reaches Alertmanager when Zoom starts rejecting the credentials.
func TestDashboardsAndAlertsAgainstPrometheus(t *testing.T) {
	t.Parallel()
	prometheus := requireProgram(t, "prometheus", "prometheus")
	alertmanager := requireProgram(t, "prometheus-alertmanager", "prometheus-alertmanager")
	root := moduleRoot(t)
	tmp := t.TempDir()
	started := time.Now()

	// The exporter, built from this module.
	binary := filepath.Join(tmp, "zoom_exporter")
	build := exec.Command("go", "build", "-o", binary, "github.com/zoomexporter/zoom_exporter")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building zoom_exporter: %v\n%s", err, out)
	}

	// The fake Zoom account. Its quiet users host nothing this month; the
	// licensed ones among them are what "licensed users idle this month"
	// must list, so new meetings go to the other users only.
	// The fake and the exporter share a clock pinned mid-month, whatever
	// today is; ahead of Prometheus's wall clock (see testenv.NextMidMonth).
	clock := testenv.NewRunningClock(testenv.NextMidMonth(time.Now()))
	fake := zoomfake.New(zoomfake.Options{Seed: 6, Users: 20, Now: clock.Now})
	t.Cleanup(fake.Close)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	now := clock.Now()
	monthStart := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	var hosts []string
	idleLicensed := 0
	for _, u := range fake.Users() {
		hosted := len(fake.Meetings(u.ID, monthStart, today, zoom.ReportPast)) > 0
		switch {
		case hosted:
			hosts = append(hosts, u.Email)
		case u.Type == 2:
			idleLicensed++
		}
	}
	if idleLicensed == 0 || !slices.Contains(hosts, theUser) {
		t.Fatalf("seed gives %d idle licensed users and hosts %v; choose a seed with both", idleLicensed, hosts)
	}

	exporterAddr := freeAddress(t)
	startProcess(t, "zoom_exporter", tmp, exporterAddr, "/-/ready",
		[]string{"ZOOM_CLIENT_SECRET=" + zoomfake.DefaultClientSecret, testenv.FakeNowEnv(clock)}, binary,
		"--web.listen-address="+exporterAddr,
		"--zoom.api-url="+srv.URL+"/v2",
		"--zoom.token-url="+srv.URL+"/oauth/token",
		"--zoom.account-id="+zoomfake.DefaultAccountID,
		"--zoom.client-id="+zoomfake.DefaultClientID,
		"--scrape.interval="+exporterRefresh.String(),
		"--storage.path="+filepath.Join(tmp, "store"),
		// Zoom events over the fake's WebSocket: the Live row's panels.
		"--zoom.events-websocket-url="+fake.WebSocketURL(srv.URL),
	)

	// Meetings keep ending, as in a working account, so that rates,
	// increases and quantiles over the short history have something to show;
	// and some are in progress, people coming and going, for the Live row.
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go addMeetings(ctx, fake, clock.Now, hosts)
	go liveChurn(ctx, fake, startLiveMeetings(t, fake, hosts))

	// Alertmanager with the example configuration as it is.
	amAddr := freeAddress(t)
	am := startProcess(t, "alertmanager", tmp, amAddr, "/-/ready", nil, alertmanager,
		"--config.file="+filepath.Join(root, alertmanagerConfig),
		"--storage.path="+filepath.Join(tmp, "alertmanager"),
		"--web.listen-address="+amAddr,
		"--cluster.listen-address=",
	)

	// Prometheus with test copies of the example configuration and rules.
	promAddr := freeAddress(t)
	promConfig := writePrometheusCopies(t, root, tmp, exporterAddr, amAddr)
	prom := startProcess(t, "prometheus", tmp, promAddr, "/-/ready", nil, prometheus,
		"--config.file="+promConfig,
		"--storage.tsdb.path="+filepath.Join(tmp, "prometheus"),
		"--web.listen-address="+promAddr,
	)
	checkRulesLoaded(t, prom, root)

	vars := map[string]string{
		"job":             "zoom",
		"instance":        exporterAddr, // a regexp matcher; its dots match themselves too
		"user":            theUser,
		"__rate_interval": rateInterval,
		"__range":         queryRange,
	}

	t.Run("template variables have values", func(t *testing.T) {
		checkVariables(t, prom, root, map[string]string{"job": "zoom", "instance": exporterAddr, "user": theUser}, vars)
	})
	t.Run("every dashboard query returns data", func(t *testing.T) {
		checkDashboardQueries(t, prom, root, vars)
	})
	t.Logf("dashboards proven %v after start", time.Since(started).Round(time.Second))
	if t.Failed() {
		return
	}
	t.Run("auth alert reaches Alertmanager", func(t *testing.T) {
		checkAuthAlert(t, fake, prom, am, exporterAddr)
	})
	t.Logf("whole test took %v", time.Since(started).Round(time.Second))
}

// addMeetings adds a meeting every second, hosted in turn by each of hosts,
// with types, lengths, sizes and features that vary.
func addMeetings(ctx context.Context, fake *zoomfake.Server, clock func() time.Time, hosts []string) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			now := clock().UTC()
			start := now.Add(-40 * time.Minute)
			if midnight := now.Truncate(24 * time.Hour); start.Before(midnight) {
				start = midnight // stay in today's (and this month's) report
			}
			fake.AddMeeting(zoomfake.Meeting{
				Type:            1 + i%10,
				HostID:          hosts[i%len(hosts)],
				Start:           start,
				DurationMinutes: 5 + (i*17)%115,
				Participants:    2 + (i*7)%30,
				HasRecording:    i%3 == 0,
				HasScreenShare:  i%2 == 0,
				HasChat:         i%4 != 1,
			})
		}
	}
}

// startLiveMeetings starts two meetings of hosts that stay in progress for
// the whole test, a scheduled meeting and a webinar, each with its host in
// it. The exporter is ready, its event stream connected: it sees them start.
func startLiveMeetings(t *testing.T, fake *zoomfake.Server, hosts []string) []string {
	t.Helper()
	var uuids []string
	for i, typ := range []int{2, 5} {
		host := hosts[i%len(hosts)]
		uuid, err := fake.StartMeeting(zoomfake.MeetingStart{HostID: host, Type: typ})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fake.JoinParticipant(uuid, zoomfake.Participant{ID: host}); err != nil {
			t.Fatal(err)
		}
		uuids = append(uuids, uuid)
	}
	return uuids
}

// liveChurn has a guest join or leave one of the live meetings every
// second, so that the event rates and the participants in progress move.
func liveChurn(ctx context.Context, fake *zoomfake.Server, uuids []string) {
	guests := map[string][]string{}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		uuid := uuids[i%len(uuids)]
		if len(guests[uuid]) < 3 || i%3 == 0 {
			if id, err := fake.JoinParticipant(uuid, zoomfake.Participant{}); err == nil {
				guests[uuid] = append(guests[uuid], id)
			}
			continue
		}
		if fake.LeaveParticipant(uuid, guests[uuid][0], time.Time{}) == nil {
			guests[uuid] = guests[uuid][1:]
		}
	}
}

// writePrometheusCopies writes the test's copies of the example Prometheus
// configuration and rule files into dir and returns the configuration's path.
// Only addresses and timings change: targets point at the test's loopback
// ports, intervals become 1s, and every alert's `for:` becomes testAlertFor.
func writePrometheusCopies(t *testing.T, root, dir, exporterAddr, amAddr string) string {
	t.Helper()
	src := filepath.Join(root, prometheusDir)

	// rules.yml as it is.
	rules, err := os.ReadFile(filepath.Join(src, "rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	rulesPath := filepath.Join(dir, "rules.yml")
	writeFile(t, rulesPath, rules)

	// alerts.yml with shorter `for:` durations, nothing else changed.
	var alerts map[string]any
	readYAML(t, filepath.Join(src, "alerts.yml"), &alerts)
	forAll(t, alerts["groups"], func(group map[string]any) {
		forAll(t, group["rules"], func(r map[string]any) {
			if _, ok := r["for"]; ok {
				r["for"] = testAlertFor.String()
			}
		})
	})
	alertsPath := filepath.Join(dir, "alerts.yml")
	writeYAML(t, alertsPath, alerts)

	// prometheus.yml with the test's addresses and 1s intervals. It must
	// name the documented default addresses, which the test replaces.
	var cfg map[string]any
	readYAML(t, filepath.Join(src, "prometheus.yml"), &cfg)
	global, _ := cfg["global"].(map[string]any)
	if global == nil {
		t.Fatal("prometheus.yml has no global section")
	}
	global["scrape_interval"], global["evaluation_interval"] = promInterval, promInterval
	var ruleFiles []any
	for _, f := range cfg["rule_files"].([]any) {
		switch f {
		case "rules.yml":
			ruleFiles = append(ruleFiles, rulesPath)
		case "alerts.yml":
			ruleFiles = append(ruleFiles, alertsPath)
		default:
			t.Fatalf("prometheus.yml loads an unexpected rule file %v", f)
		}
	}
	if len(ruleFiles) != 2 {
		t.Fatalf("prometheus.yml must load rules.yml and alerts.yml, loads %v", cfg["rule_files"])
	}
	cfg["rule_files"] = ruleFiles
	replaced := map[string]int{}
	replaceTargets := func(configs any, from, to string) {
		forAll(t, configs, func(sc map[string]any) {
			targets, _ := sc["targets"].([]any)
			for i, tg := range targets {
				if tg == from {
					targets[i] = to
					replaced[from]++
				}
			}
		})
	}
	alerting, _ := cfg["alerting"].(map[string]any)
	if alerting == nil {
		t.Fatal("prometheus.yml has no alerting section")
	}
	forAll(t, alerting["alertmanagers"], func(am map[string]any) {
		replaceTargets(am["static_configs"], "localhost:9093", amAddr)
	})
	forAll(t, cfg["scrape_configs"], func(job map[string]any) {
		if _, ok := job["scrape_interval"]; ok {
			job["scrape_interval"] = promInterval
		}
		replaceTargets(job["static_configs"], "localhost:9865", exporterAddr)
	})
	if replaced["localhost:9093"] != 1 || replaced["localhost:9865"] != 1 {
		t.Fatalf("prometheus.yml must send alerts to localhost:9093 and scrape localhost:9865 once each; found %v", replaced)
	}
	path := filepath.Join(dir, "prometheus.yml")
	writeYAML(t, path, cfg)
	return path
}

func forAll(t *testing.T, list any, fn func(map[string]any)) {
	t.Helper()
	items, ok := list.([]any)
	if !ok {
		t.Fatalf("expected a YAML list, got %T", list)
	}
	for _, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			t.Fatalf("expected a YAML mapping, got %T", it)
		}
		fn(m)
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func writeYAML(t *testing.T, path string, v any) {
	t.Helper()
	data, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, data)
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkRulesLoaded waits until Prometheus has loaded every group of the
// example rule files.
func checkRulesLoaded(t *testing.T, prom *process, root string) {
	t.Helper()
	want := map[string]bool{}
	for _, f := range []string{"rules.yml", "alerts.yml"} {
		var rf ruleFile
		readYAML(t, filepath.Join(root, prometheusDir, f), &rf)
		for _, g := range rf.Groups {
			want[g.Name] = true
		}
	}
	waitFor(t, 30*time.Second, "Prometheus to load the rules", func() (bool, string) {
		var resp struct {
			Data struct {
				Groups []struct {
					Name string `json:"name"`
				} `json:"groups"`
			} `json:"data"`
		}
		if err := getJSON(prom.base+"/api/v1/rules", &resp); err != nil {
			return false, err.Error()
		}
		got := map[string]bool{}
		for _, g := range resp.Data.Groups {
			got[g.Name] = true
		}
		for name := range want {
			if !got[name] {
				return false, "group " + name + " is not loaded"
			}
		}
		return true, ""
	})
}

// substitute replaces Grafana's template variables in a query.
func substitute(expr string, vars map[string]string) string {
	names := make([]string, 0, len(vars))
	for k := range vars {
		names = append(names, k)
	}
	// Longest first, so that $__range never eats part of $__rate_interval.
	slices.SortFunc(names, func(a, b string) int { return len(b) - len(a) })
	for _, k := range names {
		expr = strings.ReplaceAll(expr, "${"+k+"}", vars[k])
		expr = strings.ReplaceAll(expr, "$"+k, vars[k])
	}
	return expr
}

type queryResult struct {
	Status string `json:"status"`
	Data   struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	} `json:"data"`
}

// instantQuery runs expr now and reports whether it returned at least one
// series with a finite value, with a reason when not.
func instantQuery(prom *process, expr string) (bool, string) {
	var res queryResult
	if err := getJSON(prom.base+"/api/v1/query?query="+url.QueryEscape(expr), &res); err != nil {
		return false, err.Error()
	}
	if res.Data.ResultType != "vector" {
		return false, "result type " + res.Data.ResultType
	}
	if len(res.Data.Result) == 0 {
		return false, "empty result"
	}
	for _, s := range res.Data.Result {
		text, _ := s.Value[1].(string)
		v, err := strconv.ParseFloat(text, 64)
		if err == nil && !math.IsNaN(v) && !math.IsInf(v, 0) {
			return true, ""
		}
	}
	return false, fmt.Sprintf("%d series, none with a finite value", len(res.Data.Result))
}

// checkDashboardQueries polls until every query of every panel returns data.
func checkDashboardQueries(t *testing.T, prom *process, root string, vars map[string]string) {
	type query struct{ where, expr string }
	var queries []query
	for _, d := range loadDashboards(t, root) {
		for _, p := range d.allPanels() {
			for _, tg := range p.Targets {
				q := substitute(tg.Expr, vars)
				if strings.Contains(q, "$") {
					t.Fatalf("%s: %q keeps an unknown variable after substitution", d.file, q)
				}
				queries = append(queries, query{fmt.Sprintf("%s %q %s", d.file, p.Title, tg.RefID), q})
			}
		}
	}
	if len(queries) < 50 {
		t.Fatalf("only %d dashboard queries found", len(queries))
	}
	pending := queries
	start := time.Now()
	waitFor(t, 120*time.Second, "every dashboard query to return data", func() (bool, string) {
		var still []query
		var why []string
		for _, q := range pending {
			if ok, reason := instantQuery(prom, q.expr); !ok {
				still = append(still, q)
				if len(why) < 15 {
					why = append(why, fmt.Sprintf("\n  %s: %s\n    %s", q.where, reason, q.expr))
				}
			}
		}
		pending = still
		return len(pending) == 0, fmt.Sprintf("%d of %d queries without data:%s", len(pending), len(queries), strings.Join(why, ""))
	})
	t.Logf("all %d dashboard queries returned data within %v", len(queries), time.Since(start).Round(time.Second))
}

var labelValuesRE = regexp.MustCompile(`^label_values\((?:(.*),\s*)?([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

// checkVariables runs each query variable's label_values() through the
// label values API and expects the value the test substitutes.
func checkVariables(t *testing.T, prom *process, root string, want, vars map[string]string) {
	for _, d := range loadDashboards(t, root) {
		for _, v := range d.Templating.List {
			if v.Type != "query" {
				continue
			}
			m := labelValuesRE.FindStringSubmatch(v.queryText())
			if m == nil {
				t.Errorf("%s: variable %s: %q is not label_values(...)", d.file, v.Name, v.queryText())
				continue
			}
			u := prom.base + "/api/v1/label/" + m[2] + "/values"
			if m[1] != "" {
				u += "?match[]=" + url.QueryEscape(substitute(m[1], vars))
			}
			waitFor(t, 30*time.Second, d.file+" variable "+v.Name, func() (bool, string) {
				var res struct {
					Data []string `json:"data"`
				}
				if err := getJSON(u, &res); err != nil {
					return false, err.Error()
				}
				return slices.Contains(res.Data, want[v.Name]), fmt.Sprintf("values %v lack %q", res.Data, want[v.Name])
			})
		}
	}
}

type amAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	Status      struct {
		State string `json:"state"`
	} `json:"status"`
}

func alertmanagerAlerts(am *process) ([]amAlert, error) {
	var alerts []amAlert
	err := getJSON(am.base+"/api/v2/alerts", &alerts)
	return alerts, err
}

// checkAuthAlert makes the fake reject the exporter's credentials and waits
// for ZoomAuthFailing in Alertmanager, no sooner than its `for:` and no later
// than a refresh, the `for:` and a few scrapes and evaluations.
func checkAuthAlert(t *testing.T, fake *zoomfake.Server, prom *process, am *process, exporterAddr string) {
	// Healthy so far: nothing has reached Alertmanager.
	alerts, err := alertmanagerAlerts(am)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range alerts {
		t.Errorf("alert %s reached Alertmanager while everything is healthy: %v", a.Labels["alertname"], a.Labels)
	}

	fake.SetCredentialsValid(false)
	fake.RevokeTokens()
	revoked := time.Now()
	// The next refresh fails (within one refresh interval), Prometheus
	// scrapes and evaluates it (1s each), the alert is pending for `for:`,
	// then Prometheus sends it to Alertmanager: `for:` plus two refreshes.
	budget := testAlertFor + 2*exporterRefresh
	var got amAlert
	waitFor(t, budget, "ZoomAuthFailing in Alertmanager", func() (bool, string) {
		alerts, err := alertmanagerAlerts(am)
		if err != nil {
			return false, err.Error()
		}
		for _, a := range alerts {
			if a.Labels["alertname"] == "ZoomAuthFailing" && a.Status.State == "active" {
				got = a
				return true, ""
			}
		}
		var firing []string
		var res struct {
			Data struct {
				Alerts []struct {
					Labels map[string]string `json:"labels"`
					State  string            `json:"state"`
				} `json:"alerts"`
			} `json:"data"`
		}
		if err := getJSON(prom.base+"/api/v1/alerts", &res); err == nil {
			for _, a := range res.Data.Alerts {
				firing = append(firing, a.Labels["alertname"]+"="+a.State)
			}
		}
		return false, fmt.Sprintf("Alertmanager has %d alerts; Prometheus alerts: %v", len(alerts), firing)
	})
	elapsed := time.Since(revoked)
	t.Logf("ZoomAuthFailing reached Alertmanager %v after the credentials were revoked (for: %v)", elapsed.Round(100*time.Millisecond), testAlertFor)
	if elapsed < testAlertFor {
		t.Errorf("ZoomAuthFailing arrived after %v, before its for: %v", elapsed, testAlertFor)
	}
	if got.Labels["severity"] != "critical" || got.Labels["job"] != "zoom" || got.Labels["instance"] != exporterAddr {
		t.Errorf("ZoomAuthFailing labels %v: want severity critical, job zoom, instance %s", got.Labels, exporterAddr)
	}
	if !strings.Contains(got.Annotations["summary"], exporterAddr) || !strings.Contains(got.Annotations["description"], "token requests failed") {
		t.Errorf("ZoomAuthFailing annotations not filled in: %v", got.Annotations)
	}
}
