package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// Example files, relative to the module root.
const (
	dashboardsDir      = "dashboards"
	prometheusDir      = "examples/prometheus"
	alertmanagerConfig = "examples/alertmanager/alertmanager.yml"
)

// alertTestFiles are the promtool unit tests of alerts.yml: the exporter
// alerts evaluated every minute, the usage and account alerts (weeks of
// history) hourly.
var alertTestFiles = []string{"alerts_test.yml", "alerts_usage_test.yml", "alerts_account_test.yml"}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type target struct {
	RefID      string         `json:"refId"`
	Expr       string         `json:"expr"`
	Datasource *datasourceRef `json:"datasource"`
}

type panel struct {
	ID          int            `json:"id"`
	Type        string         `json:"type"`
	Title       string         `json:"title"`
	Description string         `json:"description"`
	Datasource  *datasourceRef `json:"datasource"`
	GridPos     *struct {
		X, Y, W, H int
	} `json:"gridPos"`
	FieldConfig struct {
		Defaults struct {
			Unit string `json:"unit"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
	Targets []target `json:"targets"`
	Panels  []panel  `json:"panels"` // a collapsed row's panels
}

type variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	Definition string          `json:"definition"`
}

type dashboard struct {
	file       string
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Templating struct {
		List []variable `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

// allPanels flattens rows: every panel that is not a row.
func (d *dashboard) allPanels() []panel {
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			out = append(out, p)
		}
	}
	walk(d.Panels)
	return out
}

func (d *dashboard) variable(name string) *variable {
	for i := range d.Templating.List {
		if d.Templating.List[i].Name == name {
			return &d.Templating.List[i]
		}
	}
	return nil
}

// queryText is a query variable's query, whichever way Grafana stored it.
func (v *variable) queryText() string {
	var s string
	if json.Unmarshal(v.Query, &s) == nil && s != "" {
		return s
	}
	var obj struct {
		Query string `json:"query"`
	}
	if json.Unmarshal(v.Query, &obj) == nil && obj.Query != "" {
		return obj.Query
	}
	return v.Definition
}

func loadDashboards(t *testing.T, root string) []*dashboard {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, dashboardsDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	var out []*dashboard
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d := &dashboard{file: filepath.Base(f)}
		if err := json.Unmarshal(data, d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, d)
	}
	for _, want := range []string{"zoom-usage.json", "zoom-user.json", "zoom-exporter.json"} {
		found := false
		for _, d := range out {
			found = found || d.file == want
		}
		if !found {
			t.Errorf("dashboards/%s is missing", want)
		}
	}
	return out
}

// ruleFile is a Prometheus rule file.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	} `yaml:"groups"`
}

type rule struct {
	Record      string            `yaml:"record"`
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func loadRules(t *testing.T, path string) []rule {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f ruleFile
	if err := yaml.Unmarshal(data, &f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []rule
	for _, g := range f.Groups {
		out = append(out, g.Rules...)
	}
	return out
}

var (
	rangeSelector  = regexp.MustCompile(`\[([^\]]*)\]`)
	fixedDuration  = regexp.MustCompile(`^[0-9]+[smhdwy]$`)
	recordingRefRE = regexp.MustCompile(`\bzoom:[a-z_]+:[a-z0-9_]+\b`)
	alertNameRE    = regexp.MustCompile(`^Zoom[A-Z][A-Za-z0-9]+$`)
)

// TestDashboardConventions checks the conventions of
// ../shared/exporter-style.md on every dashboard, and that every recording
// rule a dashboard reads exists in rules.yml.
func TestDashboardConventions(t *testing.T) {
	t.Parallel()
	root := moduleRoot(t)
	records := map[string]bool{}
	for _, r := range loadRules(t, filepath.Join(root, prometheusDir, "rules.yml")) {
		records[r.Record] = true
	}
	uids := map[string]string{}
	for _, d := range loadDashboards(t, root) {
		if d.UID == "" || d.Title == "" {
			t.Errorf("%s: uid %q, title %q: both are required", d.file, d.UID, d.Title)
		}
		if other, dup := uids[d.UID]; dup {
			t.Errorf("%s and %s share uid %q", d.file, other, d.UID)
		}
		uids[d.UID] = d.file

		if v := d.variable("datasource"); v == nil || v.Type != "datasource" || v.queryText() != "prometheus" {
			t.Errorf("%s: no datasource variable of Prometheus data sources", d.file)
		}
		for _, name := range []string{"job", "instance"} {
			if v := d.variable(name); v == nil || v.Type != "query" {
				t.Errorf("%s: no %s query variable", d.file, name)
			}
		}
		if d.file == "zoom-user.json" {
			if v := d.variable("user"); v == nil || !strings.Contains(v.queryText(), "label_values(zoom_user_info") {
				t.Errorf("%s: no user variable from label_values(zoom_user_info..., user)", d.file)
			}
		}

		ids := map[int]bool{}
		panels := d.allPanels()
		if len(panels) == 0 {
			t.Errorf("%s has no panels", d.file)
		}
		for _, p := range panels {
			where := d.file + ": panel " + strings.TrimSpace(p.Title)
			if ids[p.ID] {
				t.Errorf("%s: duplicate panel id %d", where, p.ID)
			}
			ids[p.ID] = true
			if p.Title == "" || p.Description == "" {
				t.Errorf("%s: needs a title and a description", where)
			}
			if p.FieldConfig.Defaults.Unit == "" {
				t.Errorf("%s: no unit", where)
			}
			if p.GridPos == nil || p.GridPos.W == 0 || p.GridPos.H == 0 {
				t.Errorf("%s: no gridPos", where)
			}
			if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
				t.Errorf("%s: datasource is not ${datasource}", where)
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: no query", where)
			}
			for _, tg := range p.Targets {
				if tg.Expr == "" {
					t.Errorf("%s: target %s has no expr", where, tg.RefID)
					continue
				}
				if tg.Datasource != nil && tg.Datasource.UID != "${datasource}" {
					t.Errorf("%s: target %s does not use ${datasource}", where, tg.RefID)
				}
				if !strings.Contains(tg.Expr, `job=~"$job"`) || !strings.Contains(tg.Expr, `instance=~"$instance"`) {
					t.Errorf("%s: %s does not filter by $job and $instance", where, tg.Expr)
				}
				for _, m := range rangeSelector.FindAllStringSubmatch(tg.Expr, -1) {
					r := m[1]
					switch {
					case r == "$__rate_interval":
					case p.Type == "timeseries":
						// A graph's windows follow its step: rate() and
						// increase() there use $__rate_interval; rolling
						// fixed windows come from recording rules.
						t.Errorf("%s: range [%s] in a time series: use [$__rate_interval]", where, r)
					case r == "$__range" || fixedDuration.MatchString(r):
					default:
						t.Errorf("%s: unexpected range [%s] in %s", where, r, tg.Expr)
					}
				}
				for _, ref := range recordingRefRE.FindAllString(tg.Expr, -1) {
					if !records[ref] {
						t.Errorf("%s: reads recording rule %s, which rules.yml does not define", where, ref)
					}
				}
			}
		}
	}
}

// TestAlertConventions checks every alert's name, for, severity and
// annotations, and that alert tests make each alert fire in one case and stay
// quiet in another.
func TestAlertConventions(t *testing.T) {
	t.Parallel()
	root := moduleRoot(t)
	dir := filepath.Join(root, prometheusDir)
	alerts := map[string]bool{}
	for _, r := range loadRules(t, filepath.Join(dir, "alerts.yml")) {
		if r.Alert == "" {
			t.Errorf("alerts.yml has a recording rule %s; recording rules go in rules.yml", r.Record)
			continue
		}
		alerts[r.Alert] = true
		if !alertNameRE.MatchString(r.Alert) {
			t.Errorf("%s: alert names are CamelCase with the Zoom prefix", r.Alert)
		}
		if r.For == "" {
			t.Errorf("%s: no for:", r.Alert)
		}
		switch r.Labels["severity"] {
		case "critical", "warning", "info":
		default:
			t.Errorf("%s: severity %q, want critical, warning or info", r.Alert, r.Labels["severity"])
		}
		if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
			t.Errorf("%s: needs summary and description annotations", r.Alert)
		}
	}
	for _, want := range []string{"ZoomExporterDown", "ZoomAuthFailing", "ZoomDataStale", "ZoomRateLimited", "ZoomDailyQuotaNearlySpent"} {
		if !alerts[want] {
			t.Errorf("alerts.yml lacks %s", want)
		}
	}
	for _, r := range loadRules(t, filepath.Join(dir, "rules.yml")) {
		if r.Record == "" || strings.Count(r.Record, ":") != 2 {
			t.Errorf("rules.yml: %q is not a level:metric:operations recording rule", r.Record+r.Alert)
		}
	}

	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, name := range alertTestFiles {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		var f struct {
			Tests []struct {
				AlertRuleTest []struct {
					Alertname string `yaml:"alertname"`
					ExpAlerts []any  `yaml:"exp_alerts"`
				} `yaml:"alert_rule_test"`
			} `yaml:"tests"`
		}
		if err := yaml.Unmarshal(data, &f); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, tc := range f.Tests {
			for _, a := range tc.AlertRuleTest {
				if len(a.ExpAlerts) > 0 {
					fires[a.Alertname] = true
				} else {
					quiet[a.Alertname] = true
				}
			}
		}
	}
	for a := range alerts {
		if !fires[a] {
			t.Errorf("no promtool test makes %s fire", a)
		}
		if !quiet[a] {
			t.Errorf("no promtool test keeps %s quiet", a)
		}
	}
}

// TestExamplesWithPromtool checks the example configuration, rules and
// Alertmanager routing with promtool and amtool, and runs the alert unit
// tests.
func TestExamplesWithPromtool(t *testing.T) {
	t.Parallel()
	promtool := requireProgram(t, "promtool", "prometheus")
	amtool := requireProgram(t, "amtool", "prometheus-alertmanager")
	root := moduleRoot(t)
	dir := filepath.Join(root, prometheusDir)
	run(t, dir, promtool, "check", "config", "prometheus.yml")
	run(t, dir, promtool, "check", "rules", "rules.yml", "alerts.yml")
	out := run(t, dir, promtool, append([]string{"test", "rules"}, alertTestFiles...)...)
	if strings.Count(out, "SUCCESS") != len(alertTestFiles) {
		t.Errorf("promtool test rules did not report SUCCESS for every file:\n%s", out)
	}
	run(t, root, amtool, "check-config", alertmanagerConfig)
}
