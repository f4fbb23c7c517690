// Package collector serves the usage the scraper fetched. It never calls
// Zoom: Collect reads the latest immutable snapshot and builds const metrics.
package collector

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/zoomexporter/zoom_exporter/scrape"
)

// SnapshotSource is what the collectors read: the scraper, or a fixed
// snapshot in tests.
type SnapshotSource interface {
	Snapshot() *scrape.Snapshot
}

// User label modes of --collector.user-label.
const (
	UserLabelEmail = "email"
	UserLabelID    = "id"
	UserLabelHash  = "hash"
	UserLabelNone  = "none"
)

// Options are the collector flags.
type Options struct {
	Enabled   map[string]*bool // by collector name
	UserLabel string
	HashSalt  string
	// SeparateLive leaves the live gauges (zoom_events_live_known and the
	// *_in_progress gauges) to a LiveCollector: they change with every Zoom
	// event, so a cache of the usage metrics (SnapshotGatherer, keyed on
	// scrape.Snapshot.Usage) need not be rebuilt for them.
	SeparateLive bool
}

// subcollector is one switchable group of metrics, node_exporter style.
type subcollector struct {
	name        string
	help        string
	defaultOn   bool
	descs       func(userLabel bool) []*prometheus.Desc
	collect     func(e *Exporter, snap *scrape.Snapshot, ch chan<- prometheus.Metric)
	perUserOnly bool // makes no sense without a user label
}

// AddFlags registers --collector.<name> (and kingpin's --no-collector.<name>)
// for every collector, and --collector.user-label. As in node_exporter, a
// collector flag is spelled as its collector is named (user_info serves
// zoom_user_info; node_exporter has --collector.meminfo_numa), and an option
// of every collector uses dashes, like node_exporter's
// --collector.disable-defaults.
func AddFlags(app *kingpin.Application) *Options {
	o := &Options{Enabled: make(map[string]*bool)}
	for _, c := range subcollectors {
		def := "false"
		if c.defaultOn {
			def = "true"
		}
		o.Enabled[c.name] = app.Flag("collector."+c.name, fmt.Sprintf("Enable the %s collector: %s (default: %s).", c.name, c.help, map[bool]string{true: "enabled", false: "disabled"}[c.defaultOn])).
			Envar("ZOOM_EXPORTER_COLLECTOR_" + strings.ToUpper(c.name)).Default(def).Bool()
	}
	// The salt is read from the environment only (main.go), never shown:
	// the help names the variable so that it can be found.
	app.Flag("collector.user-label", "What the user label of every collector holds: email (the user's e-mail), id (Zoom user id), "+
		"hash (a stable hash of the e-mail, for privacy: SHA-256 salted with the environment variable ZOOM_EXPORTER_USER_HASH_SALT, "+
		"by default the account ID) or none (no user label: series summed by type, for very large accounts).").
		Envar("ZOOM_EXPORTER_COLLECTOR_USER_LABEL").Default(UserLabelEmail).EnumVar(&o.UserLabel, UserLabelEmail, UserLabelID, UserLabelHash, UserLabelNone)
	return o
}

// Exporter is the prometheus.Collector that serves every enabled collector.
type Exporter struct {
	src          SnapshotSource
	userLabel    string
	salt         string
	enabled      []subcollector
	separateLive bool
}

// New returns the Exporter for src. With user label "hash", salt keys the
// hash (the e-mail cannot be recovered without it).
func New(src SnapshotSource, o Options) (*Exporter, error) {
	switch o.UserLabel {
	case UserLabelEmail, UserLabelID, UserLabelHash, UserLabelNone:
	case "":
		o.UserLabel = UserLabelEmail
	default:
		return nil, fmt.Errorf("--collector.user-label: %q is not one of email, id, hash, none", o.UserLabel)
	}
	e := &Exporter{src: src, userLabel: o.UserLabel, salt: o.HashSalt, separateLive: o.SeparateLive}
	for _, c := range subcollectors {
		on := c.defaultOn
		if p, ok := o.Enabled[c.name]; ok && p != nil {
			on = *p
		}
		if !on || (c.perUserOnly && o.UserLabel == UserLabelNone) {
			continue
		}
		e.enabled = append(e.enabled, c)
	}
	return e, nil
}

// EnabledNames lists the enabled collectors, for the start-up log.
func (e *Exporter) EnabledNames() []string {
	names := make([]string, 0, len(e.enabled))
	for _, c := range e.enabled {
		names = append(names, c.name)
	}
	return names
}

// Describe sends every descriptor of the enabled collectors.
func (e *Exporter) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range e.healthDescs() {
		ch <- d
	}
	for _, c := range e.enabled {
		for _, d := range c.descs(e.userLabel != UserLabelNone) {
			ch <- d
		}
	}
	e.describeAccount(ch) // account.go
}

// Collect builds metrics from the latest snapshot; it never waits for a refresh.
func (e *Exporter) Collect(ch chan<- prometheus.Metric) {
	snap := e.src.Snapshot()
	if snap == nil {
		return
	}
	e.collectHealth(snap, ch)
	for _, c := range e.enabled {
		c.collect(e, snap, ch)
	}
	e.collectAccount(snap, ch) // account.go
}

// userValue is the user label value of u under the configured mode.
func (e *Exporter) userValue(u scrape.UserSnapshot) string {
	switch e.userLabel {
	case UserLabelID:
		if u.ID != "" {
			return u.ID
		}
		return u.Key
	case UserLabelHash:
		sum := sha256.Sum256([]byte(e.salt + "\x00" + strings.ToLower(u.Email)))
		return hex.EncodeToString(sum[:8])
	}
	return u.Email
}

// UserLabelValue is u's user label exactly as /metrics serves it, and false
// with --collector.user-label=none: other pages (/status) show users through
// it, so they never reveal more than the metrics do.
func (e *Exporter) UserLabelValue(u scrape.UserSnapshot) (string, bool) {
	if e.userLabel == UserLabelNone {
		return "", false
	}
	return e.userValue(u), true
}

// byUserAndType yields one row per (user label, type), summing users that
// share a label value (all of them with user-label none).
func (e *Exporter) byUserAndType(users []scrape.UserSnapshot, pick func(scrape.UserSnapshot) map[string]scrape.Totals) []row {
	type key struct{ user, typ string }
	sums := make(map[key]scrape.Totals)
	for _, u := range users {
		label := ""
		if e.userLabel != UserLabelNone {
			label = e.userValue(u)
		}
		for typ, t := range pick(u) {
			k := key{label, typ}
			s := sums[k]
			s.Add(t)
			sums[k] = s
		}
	}
	rows := make([]row, 0, len(sums))
	for k, t := range sums {
		rows = append(rows, row{user: k.user, typ: k.typ, totals: t})
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].user != rows[j].user {
			return rows[i].user < rows[j].user
		}
		return rows[i].typ < rows[j].typ
	})
	return rows
}

type row struct {
	user, typ string
	totals    scrape.Totals
}

// labels returns the label values of a row: type alone without a user label.
func (e *Exporter) labels(r row) []string {
	if e.userLabel == UserLabelNone {
		return []string{r.typ}
	}
	return []string{r.user, r.typ}
}

func userTypeLabels(withUser bool) []string {
	if withUser {
		return []string{"user", "type"}
	}
	return []string{"type"}
}

// LiveCollector serves the live gauges alone, from the latest snapshot of
// src, for an Exporter built with Options.SeparateLive.
type LiveCollector struct{ src SnapshotSource }

// NewLiveCollector returns the LiveCollector of src.
func NewLiveCollector(src SnapshotSource) *LiveCollector { return &LiveCollector{src: src} }

// Describe sends the live gauges' descriptors.
func (c *LiveCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range liveDescs {
		ch <- d
	}
}

// Collect serves the live gauges of the latest snapshot.
func (c *LiveCollector) Collect(ch chan<- prometheus.Metric) {
	if snap := c.src.Snapshot(); snap != nil {
		collectLive(snap.Live, ch)
	}
}
