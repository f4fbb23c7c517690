package deploy

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// composeFile is the part of a compose file the tests read.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Build       composeBuild      `yaml:"build"`
	Command     []string          `yaml:"command"`
	Entrypoint  []string          `yaml:"entrypoint"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	Volumes     []string          `yaml:"volumes"`
	ReadOnly    bool              `yaml:"read_only"`
	CapDrop     []string          `yaml:"cap_drop"`
}

type composeBuild struct {
	Context string `yaml:"context"`
}

// composeMount is one "source:target[:mode]" entry of a service's volumes.
type composeMount struct {
	source, target string
	bind           bool   // a host path, not a named volume
	hostPath       string // the bind's absolute path
}

func (s composeService) mounts(dir string) []composeMount {
	var out []composeMount
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		m := composeMount{source: parts[0], target: path.Clean(parts[0])} // anonymous volume
		if len(parts) >= 2 {
			m.target = path.Clean(parts[1])
		}
		if strings.HasPrefix(m.source, ".") || strings.HasPrefix(m.source, "/") {
			m.bind = true
			m.hostPath = m.source
			if !filepath.IsAbs(m.hostPath) {
				m.hostPath = filepath.Join(dir, m.hostPath)
			}
		}
		out = append(out, m)
	}
	return out
}

// hostPathOf returns the host path behind a path inside the container, when
// a bind mount holds it.
func (s composeService) hostPathOf(dir, p string) (string, bool) {
	p = path.Clean(p)
	for _, m := range s.mounts(dir) {
		if !m.bind {
			continue
		}
		if p == m.target {
			return m.hostPath, true
		}
		if rel, ok := strings.CutPrefix(p, m.target+"/"); ok {
			return filepath.Join(m.hostPath, filepath.FromSlash(rel)), true
		}
	}
	return "", false
}

// containerPorts returns the container side of "host:container" entries.
func (s composeService) containerPorts() []string {
	var out []string
	for _, p := range s.Ports {
		parts := strings.Split(strings.TrimSuffix(p, "/tcp"), ":")
		out = append(out, parts[len(parts)-1])
	}
	return out
}

// interpolate resolves ${NAME:-default} as compose does when NAME is unset.
func interpolate(v string) (name, def string, isVar bool) {
	m := composeVarRe.FindStringSubmatch(v)
	if m == nil {
		return "", v, false
	}
	return m[1], m[2], true
}

func loadCompose(t *testing.T) (string, composeFile) {
	t.Helper()
	dir := repoPath("examples", "compose")
	var c composeFile
	decodeYAMLFile(t, filepath.Join(dir, "compose.yaml"), &c)
	return dir, c
}

// composeRole finds the service of a role by its image or build.
func composeRole(t *testing.T, c composeFile, dir, role string) (string, composeService) {
	t.Helper()
	for _, name := range sortedKeys(c.Services) {
		s := c.Services[name]
		switch role {
		case "exporter":
			if s.Build.Context != "" && filepath.Clean(filepath.Join(dir, s.Build.Context)) == root {
				return name, s
			}
		default:
			if strings.HasPrefix(s.Image, role+":") || strings.Contains(s.Image, "/"+role+":") {
				return name, s
			}
		}
	}
	t.Fatalf("compose.yaml: no %s service", role)
	return "", composeService{}
}

func TestComposeExporter(t *testing.T) {
	t.Parallel()
	needBinary(t)
	dir, c := loadCompose(t)
	name, s := composeRole(t, c, dir, "exporter")
	where := "compose.yaml service " + name

	// Its command is the image's unless it sets one.
	args := s.Command
	if len(args) == 0 {
		stages, err := parseDockerfile(repoPath("Dockerfile"))
		if err != nil {
			t.Fatal(err)
		}
		if in := stages[len(stages)-1].all("CMD"); len(in) == 1 {
			if args, err = execForm(in[0]); err != nil {
				t.Fatal(err)
			}
		}
	}
	// ${NAME:-default} in the command: checked with its default, the demo's.
	resolved := make([]string, 0, len(args))
	for _, a := range args {
		if name, def, found := strings.Cut(a, "="); found {
			if _, d, isVar := interpolate(def); isVar {
				a = name + "=" + d
			}
		}
		resolved = append(resolved, a)
	}
	values := checkArgs(t, where, append(s.Entrypoint, resolved...))
	// The demo and a real account never share a store (one account a store).
	if storage := values["storage.path"]; storage == "" || s.Environment["ZOOM_EXPORTER_STORAGE_PATH"] != "" {
		t.Errorf("%s: want --storage.path=${ZOOM_EXPORTER_STORE:-/demo}: the demo's store apart from a real account's", where)
	} else if real := "/data"; storage == real || !slices.ContainsFunc(s.mounts(dir), func(m composeMount) bool { return m.target == real }) {
		t.Errorf("%s: the demo's store %s must differ from a real account's, a mounted %s", where, storage, real)
	}

	checkEnvNames(t, where, sortedKeys(s.Environment), nil)
	if _, def, isVar := interpolate(s.Environment["ZOOM_EXPORTER_DEMO"]); !isVar || def != "true" {
		t.Errorf("%s: ZOOM_EXPORTER_DEMO=%q: want ${ZOOM_EXPORTER_DEMO:-true}, the demo account by default", where, s.Environment["ZOOM_EXPORTER_DEMO"])
	}
	for _, env := range []string{"ZOOM_ACCOUNT_ID", "ZOOM_CLIENT_ID", "ZOOM_CLIENT_SECRET"} {
		if v, ok := s.Environment[env]; !ok {
			t.Errorf("%s: no %s: real credentials come from the environment", where, env)
		} else if from, _, isVar := interpolate(v); !isVar || from != env {
			t.Errorf("%s: %s=%q: want it from the environment of compose, ${%s:-}", where, env, v, env)
		}
	}

	// The store is on a volume.
	storage := values["storage.path"]
	if v := s.Environment["ZOOM_EXPORTER_STORAGE_PATH"]; storage == "" && v != "" {
		storage = v
	}
	if storage == "" {
		t.Fatalf("%s: no --storage.path: the store would be lost with the container", where)
	}
	found := false
	for _, m := range s.mounts(dir) {
		if m.target == path.Clean(storage) {
			found = true
			if !m.bind {
				if _, ok := c.Volumes[m.source]; !ok {
					t.Errorf("%s: volume %s is not declared under volumes:", where, m.source)
				}
			}
		}
	}
	if !found {
		t.Errorf("%s: --storage.path=%s is not a mounted volume", where, storage)
	}

	if _, set := values["web.listen-address"]; !set && !slices.Contains(s.containerPorts(), cli.listenPort) {
		t.Errorf("%s: ports %v do not publish the exporter's port %s", where, s.Ports, cli.listenPort)
	}
	if !s.ReadOnly || !slices.Contains(s.CapDrop, "ALL") {
		t.Errorf("%s: want read_only: true and cap_drop: [ALL]", where)
	}
}

// TestComposeBindMountsExist: every file or directory a service mounts from
// the repository exists.
func TestComposeBindMountsExist(t *testing.T) {
	t.Parallel()
	dir, c := loadCompose(t)
	for _, name := range sortedKeys(c.Services) {
		for _, m := range c.Services[name].mounts(dir) {
			if !m.bind {
				if _, ok := c.Volumes[m.source]; !ok {
					t.Errorf("service %s: volume %s is not declared under volumes:", name, m.source)
				}
				continue
			}
			if _, err := os.Stat(m.hostPath); err != nil {
				t.Errorf("service %s mounts %s on %s: %v", name, m.source, m.target, err)
			}
		}
	}
}

// prometheusConfig is the part of a Prometheus configuration the tests read.
type prometheusConfig struct {
	RuleFiles []string `yaml:"rule_files"`
	Alerting  struct {
		Alertmanagers []struct {
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"alertmanagers"`
	} `yaml:"alerting"`
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		MetricsPath   string `yaml:"metrics_path"`
		StaticConfigs []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

// flagValue returns the value of --name=value in args.
func flagValue(args []string, name string) (string, bool) {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

func TestComposePrometheus(t *testing.T) {
	t.Parallel()
	needBinary(t)
	dir, c := loadCompose(t)
	exporterName, _ := composeRole(t, c, dir, "exporter")
	name, s := composeRole(t, c, dir, "prometheus")
	amName, am := composeRole(t, c, dir, "alertmanager")

	configPath, ok := flagValue(s.Command, "config.file")
	if !ok {
		configPath = "/etc/prometheus/prometheus.yml"
	}
	hostConfig, ok := s.hostPathOf(dir, configPath)
	if !ok {
		t.Fatalf("service %s: %s is not mounted from the repository", name, configPath)
	}
	var cfg prometheusConfig
	decodeYAMLFile(t, hostConfig, &cfg)

	// Rule files: mounted, and from examples/prometheus.
	if len(cfg.RuleFiles) == 0 {
		t.Errorf("%s: no rule_files", hostConfig)
	}
	for _, rf := range cfg.RuleFiles {
		host, ok := s.hostPathOf(dir, rf)
		if !ok {
			t.Errorf("%s: rule file %s is not mounted into service %s", hostConfig, rf, name)
			continue
		}
		if filepath.Dir(host) != repoPath("examples", "prometheus") {
			t.Errorf("%s: rule file %s comes from %s, want examples/prometheus/", hostConfig, rf, host)
		}
	}

	// The exporter is scraped at its service name and port, on its metrics path.
	want := net.JoinHostPort(exporterName, cli.listenPort)
	scraped := false
	for _, sc := range cfg.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			if slices.Contains(st.Targets, want) {
				scraped = true
				if sc.MetricsPath != "" && sc.MetricsPath != cli.metricsPath {
					t.Errorf("%s: job %s scrapes %s, the exporter serves %s", hostConfig, sc.JobName, sc.MetricsPath, cli.metricsPath)
				}
			}
		}
	}
	if !scraped {
		t.Errorf("%s: no job scrapes the exporter at %s", hostConfig, want)
	}
	for _, sc := range cfg.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			if !slices.Contains(st.Targets, want) {
				continue
			}
			for _, job := range exampleJobNames(t) {
				if sc.JobName != job {
					t.Errorf("%s: the exporter is scraped as job %q, but examples/prometheus/ uses job %q", hostConfig, sc.JobName, job)
				}
			}
		}
	}

	// Alerts go to the Alertmanager service.
	amPort := "9093"
	if ports := am.containerPorts(); len(ports) > 0 {
		amPort = ports[0]
	}
	wantAM := net.JoinHostPort(amName, amPort)
	found := false
	for _, a := range cfg.Alerting.Alertmanagers {
		for _, st := range a.StaticConfigs {
			found = found || slices.Contains(st.Targets, wantAM)
		}
	}
	if !found {
		t.Errorf("%s: alerts are not sent to %s", hostConfig, wantAM)
	}
	if cfgPath, ok := flagValue(am.Command, "config.file"); ok {
		if host, ok := am.hostPathOf(dir, cfgPath); !ok {
			t.Errorf("service %s: %s is not mounted from the repository", amName, cfgPath)
		} else if _, err := os.Stat(host); err != nil {
			t.Errorf("service %s: %v", amName, err)
		}
	}

	// promtool, when installed, checks the configuration with the rule files
	// at their repository paths.
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Log("promtool is not installed: the Prometheus configuration is not checked by promtool")
		return
	}
	var raw map[string]any
	decodeYAMLFile(t, hostConfig, &raw)
	var files []any
	for _, rf := range cfg.RuleFiles {
		host, _ := s.hostPathOf(dir, rf)
		files = append(files, host)
	}
	raw["rule_files"] = files
	tmp := filepath.Join(t.TempDir(), "prometheus.yml")
	writeYAML(t, tmp, raw)
	if out, err := exec.Command(promtool, "check", "config", tmp).CombinedOutput(); err != nil {
		t.Errorf("promtool check config %s (rule files at their repository paths): %v\n%s", hostConfig, err, out)
	}
}

// TestComposeGrafana: the data source points at the Prometheus service and
// the dashboards provider reads the mounted dashboards/ directory, which
// holds the dashboards.
func TestComposeGrafana(t *testing.T) {
	t.Parallel()
	dir, c := loadCompose(t)
	promName, prom := composeRole(t, c, dir, "prometheus")
	name, s := composeRole(t, c, dir, "grafana")

	provisioning, ok := s.hostPathOf(dir, "/etc/grafana/provisioning")
	if !ok {
		t.Fatalf("service %s: /etc/grafana/provisioning is not mounted", name)
	}

	var datasources struct {
		Datasources []struct {
			Type string `yaml:"type"`
			URL  string `yaml:"url"`
			UID  string `yaml:"uid"`
		} `yaml:"datasources"`
	}
	dsFiles, _ := filepath.Glob(filepath.Join(provisioning, "datasources", "*.y*ml"))
	if len(dsFiles) != 1 {
		t.Fatalf("%s/datasources: %d files, want 1", provisioning, len(dsFiles))
	}
	decodeYAMLFile(t, dsFiles[0], &datasources)
	promPort := "9090"
	if ports := prom.containerPorts(); len(ports) > 0 {
		promPort = ports[0]
	}
	wantURL := "http://" + net.JoinHostPort(promName, promPort)
	if len(datasources.Datasources) != 1 || datasources.Datasources[0].Type != "prometheus" ||
		strings.TrimSuffix(datasources.Datasources[0].URL, "/") != wantURL {
		t.Errorf("%s: want one prometheus data source at %s, got %+v", dsFiles[0], wantURL, datasources.Datasources)
	}

	var providers struct {
		Providers []struct {
			Type    string `yaml:"type"`
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	provFiles, _ := filepath.Glob(filepath.Join(provisioning, "dashboards", "*.y*ml"))
	if len(provFiles) != 1 {
		t.Fatalf("%s/dashboards: %d files, want 1", provisioning, len(provFiles))
	}
	decodeYAMLFile(t, provFiles[0], &providers)
	if len(providers.Providers) != 1 || providers.Providers[0].Type != "file" {
		t.Fatalf("%s: want one file provider, got %+v", provFiles[0], providers.Providers)
	}
	dashPath := providers.Providers[0].Options.Path
	hostDash, ok := s.hostPathOf(dir, dashPath)
	if !ok {
		t.Fatalf("%s: provider path %s is not mounted into service %s", provFiles[0], dashPath, name)
	}
	if hostDash != repoPath("dashboards") {
		t.Errorf("service %s mounts %s on %s, want the repository's dashboards/", name, hostDash, dashPath)
	}
	for _, file := range []string{"zoom-usage.json", "zoom-user.json", "zoom-exporter.json"} {
		data, err := os.ReadFile(filepath.Join(hostDash, file))
		if err != nil {
			t.Errorf("dashboard %s, mounted by service %s: %v", file, name, err)
			continue
		}
		var d struct {
			UID   string `json:"uid"`
			Title string `json:"title"`
		}
		if err := json.Unmarshal(data, &d); err != nil || d.UID == "" {
			t.Errorf("dashboard %s: want JSON with a uid (%v)", file, err)
		}
	}
	if home := s.Environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]; home != "" {
		if host, ok := s.hostPathOf(dir, home); !ok {
			t.Errorf("service %s: home dashboard %s is not mounted", name, home)
		} else if _, err := os.Stat(host); err != nil {
			t.Errorf("service %s: home dashboard: %v", name, err)
		}
	}
}
