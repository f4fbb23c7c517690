package main

import (
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"

	"github.com/zoomexporter/zoom_exporter/collector"
	"github.com/zoomexporter/zoom_exporter/internal/metricsserve"
	"github.com/zoomexporter/zoom_exporter/scrape"
	"github.com/zoomexporter/zoom_exporter/store"
	"github.com/zoomexporter/zoom_exporter/zoom"
)

// recordingRegisterer keeps the collectors registered with it, so a test can
// ask each for its descriptors.
type recordingRegisterer struct{ collectors []prometheus.Collector }

func (r *recordingRegisterer) Register(c prometheus.Collector) error {
	r.collectors = append(r.collectors, c)
	return nil
}

func (r *recordingRegisterer) MustRegister(cs ...prometheus.Collector) {
	r.collectors = append(r.collectors, cs...)
}

func (r *recordingRegisterer) Unregister(prometheus.Collector) bool { return false }

type emptySource struct{}

func (emptySource) Snapshot() *scrape.Snapshot { return &scrape.Snapshot{Month: time.Now()} }

var (
	descName   = regexp.MustCompile(`fqName: "([^"]+)"`)
	descLabels = regexp.MustCompile(`variableLabels: \{([^}]*)\}\}$`)
	descConst  = regexp.MustCompile(`constLabels: \{([^}]*)\}`)
	constName  = regexp.MustCompile(`(\w+)="`)
	readmeRow  = regexp.MustCompile("^\\| `([a-z_]+)` \\| (gauge|counter|histogram) \\|([^|]*)\\|")
)

// TestREADMEMetricsReference keeps the README's metrics table equal to the
// descriptors of every metric the exporter serves (its own Go and process
// metrics aside).
func TestREADMEMetricsReference(t *testing.T) {
	t.Parallel()
	reg := &recordingRegisterer{}
	reg.MustRegister(versioncollector.NewCollector("zoom_exporter"), scrape.NewShardCollector(0, 1))
	client, err := zoom.NewClient(zoom.ClientConfig{APIURL: "http://127.0.0.1:1/v2", Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	// Both event transports, which register their metrics when created,
	// and the scraper's event path.
	events, ignore := zoom.NewEventMetrics(reg), zoom.EventHandlerFunc(func(string, zoom.Event) {})
	if _, err := zoom.NewWebhookHandler(zoom.WebhookConfig{SecretToken: "x", Handler: ignore, Metrics: events}); err != nil {
		t.Fatal(err)
	}
	if _, err := zoom.NewEventStream(zoom.EventStreamConfig{URL: "wss://ws.zoom.us/ws", Tokens: client, Handler: ignore, Metrics: events}); err != nil {
		t.Fatal(err)
	}
	if _, err := scrape.NewScraper(scrape.ScraperConfig{Client: client, Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(t.TempDir(), reg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	exporter, err := collector.New(emptySource{}, collector.Options{UserLabel: collector.UserLabelEmail})
	if err != nil {
		t.Fatal(err)
	}
	reg.MustRegister(exporter)
	// The /metrics handler's own self-metric.
	if _, err := metricsserve.New(metricsserve.Options{Cached: []metricsserve.Source{collector.NewUsageSource(exporter, emptySource{})}, Registerer: reg}); err != nil {
		t.Fatal(err)
	}

	served := map[string]string{} // name -> sorted labels
	for _, c := range reg.collectors {
		ch := make(chan *prometheus.Desc, 100)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			s := d.String()
			name := descName.FindStringSubmatch(s)
			labels := descLabels.FindStringSubmatch(s)
			if name == nil || labels == nil {
				t.Fatalf("cannot read descriptor %s", s)
			}
			all := strings.Split(labels[1], ",")
			// Build info carries its labels as constant labels.
			for _, c := range constName.FindAllStringSubmatch(descConst.FindStringSubmatch(s)[1], -1) {
				all = append(all, c[1])
			}
			served[name[1]] = sortedLabels(all)
		}
	}

	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(readme), "<!-- metrics-reference:start -->")
	table, _, ok2 := strings.Cut(table, "<!-- metrics-reference:end -->")
	if !ok || !ok2 {
		t.Fatal("README.md lacks the metrics-reference markers")
	}
	documented := map[string]string{}
	for _, line := range strings.Split(table, "\n") {
		m := readmeRow.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if _, dup := documented[m[1]]; dup {
			t.Errorf("README documents %s twice", m[1])
		}
		var labels []string
		for _, l := range strings.Split(m[3], ",") {
			labels = append(labels, strings.Trim(strings.TrimSpace(l), "`"))
		}
		documented[m[1]] = sortedLabels(labels)
		if strings.HasSuffix(m[1], "_total") != (m[2] == "counter") {
			t.Errorf("README: %s is documented as a %s", m[1], m[2])
		}
	}
	for name, labels := range served {
		doc, ok := documented[name]
		switch {
		case !ok:
			t.Errorf("%s is served but not in the README's metrics reference", name)
		case doc != labels:
			t.Errorf("%s: README labels [%s], served [%s]", name, doc, labels)
		}
	}
	for name := range documented {
		if _, ok := served[name]; !ok {
			t.Errorf("README documents %s, which is not served", name)
		}
	}
}

func sortedLabels(labels []string) string {
	var out []string
	for _, l := range labels {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}
