package collector

import (
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/zoomexporter/zoom_exporter/scrape"
)

// SnapshotGatherer gathers a registry holding only the Exporter once per
// snapshot, so concurrent and repeated scrapes share one gathered copy.
//
// Deprecated: main.go serves through UsageSource and HealthSource, encoded
// once by internal/metricsserve, which keeps bytes rather than hundreds of
// MB of gathered families.
type SnapshotGatherer struct {
	reg *prometheus.Registry
	src SnapshotSource

	mu   sync.Mutex
	snap *scrape.Snapshot
	mfs  []*dto.MetricFamily
	err  error
}

// NewSnapshotGatherer registers e in a registry of its own and returns a
// Gatherer that gathers it once per snapshot of src.
func NewSnapshotGatherer(e *Exporter, src SnapshotSource) (*SnapshotGatherer, error) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(e); err != nil {
		return nil, err
	}
	return &SnapshotGatherer{reg: reg, src: src}, nil
}

// Gather returns the families of the current snapshot, gathering them if
// the snapshot changed. Callers must not modify what it returns;
// prometheus.Gatherers and promhttp only read it.
func (g *SnapshotGatherer) Gather() ([]*dto.MetricFamily, error) {
	// Keyed on the snapshot itself: a refresh that changed no usage data
	// still publishes a new snapshot for its health (zoom_up, the users'
	// last refresh), which Usage() does not hold.
	snap := g.src.Snapshot()
	g.mu.Lock()
	defer g.mu.Unlock()
	if snap != g.snap || g.mfs == nil {
		g.mfs, g.err = g.reg.Gather()
		g.snap = snap
	}
	return g.mfs, g.err
}

// The Exporter's families in two parts for internal/metricsserve, which
// encodes each once per version: UsageSource, the usage metrics (month
// gauges, counters, histograms, zoom_user_info, the account collectors),
// whose version is the usage snapshot (Snapshot.Usage), the same as long
// as no refresh changed usage data; and HealthSource, the health metrics
// (zoom_up, refresh times, each user's last refresh), which change with
// every refresh. Together they serve what the Exporter serves; the live
// gauges are a LiveCollector's (Options.SeparateLive).

// UsageSource serves the Exporter's usage families version by version. The
// families of a version are gathered from that very snapshot, even when a
// refresh published another meanwhile, so that every encoding of a
// version holds the same data.
type UsageSource struct {
	e   *Exporter
	src SnapshotSource
}

// NewUsageSource returns the UsageSource of e, whose snapshots come from src.
func NewUsageSource(e *Exporter, src SnapshotSource) *UsageSource {
	return &UsageSource{e: e, src: src}
}

// Version is the current usage snapshot (a *scrape.Snapshot, maybe nil).
func (u *UsageSource) Version() any {
	snap := u.src.Snapshot()
	if snap == nil {
		return snap
	}
	return snap.Usage()
}

// Gather gathers the usage families of version v, a value Version returned.
func (u *UsageSource) Gather(v any) ([]*dto.MetricFamily, error) {
	var mfs []*dto.MetricFamily
	err := u.stream(v, false, func(mf *dto.MetricFamily) error {
		mfs = append(mfs, mf)
		return nil
	})
	return mfs, err
}

// Stream hands the usage families of version v to yield one at a time,
// sorted by name; a family and its series are only valid until yield
// returns (they are reused). It holds one family of the big ones at a time
// (stream.go), so that encoding 440,000 series does not hold them all.
func (u *UsageSource) Stream(v any, yield func(*dto.MetricFamily) error) error {
	return u.stream(v, true, yield)
}

// Describe sends the descriptor of every family Gather may return.
func (u *UsageSource) Describe(ch chan<- *prometheus.Desc) { usagePart{e: u.e}.Describe(ch) }

// usagePart is what Exporter.Collect serves but its health, and but the
// subcollectors in skip (which stream.go builds itself).
type usagePart struct {
	e    *Exporter
	snap *scrape.Snapshot
	skip map[string]bool
}

func (p usagePart) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range p.e.enabled {
		for _, d := range c.descs(p.e.userLabel != UserLabelNone) {
			ch <- d
		}
	}
	p.e.describeAccount(ch)
}

func (p usagePart) Collect(ch chan<- prometheus.Metric) {
	if p.snap == nil {
		return
	}
	for _, c := range p.e.enabled {
		if p.skip[c.name] {
			continue
		}
		c.collect(p.e, p.snap, ch)
	}
	p.e.collectAccount(p.snap, ch)
}

// healthPart is the Exporter's health, as Exporter.Collect serves it.
type healthPart struct {
	e    *Exporter
	snap *scrape.Snapshot
}

func (p healthPart) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range p.e.healthDescs() {
		ch <- d
	}
}

func (p healthPart) Collect(ch chan<- prometheus.Metric) {
	if p.snap != nil {
		p.e.collectHealth(p.snap, ch)
	}
}

// HealthSource serves the Exporter's health families. Its version changes
// when what they are made of does: the usage snapshot (users and labels)
// or a health field of the snapshot (healthKey). A refresh publishes a new
// snapshot, so the version may change every refresh; live state (Zoom
// events), which makes new snapshots far more often, never changes it.
type HealthSource struct {
	e   *Exporter
	src SnapshotSource

	mu   sync.Mutex
	last *healthVersion
}

// NewHealthSource returns the HealthSource of e, whose snapshots come from src.
func NewHealthSource(e *Exporter, src SnapshotSource) *HealthSource {
	return &HealthSource{e: e, src: src}
}

// healthVersion is one version of the health families: the snapshot they
// are gathered from, and what they are made of, to tell the next one.
type healthVersion struct {
	snap *scrape.Snapshot
	key  healthKey
}

// healthKey is what collectHealth reads beside the users' labels and
// retirement, which are usage data (TestHealthVersionFollowsEveryField
// checks that nothing else changes the health families).
type healthKey struct {
	usage                       *scrape.Snapshot
	up                          bool
	lastSuccess                 time.Time
	refreshDuration, effective  time.Duration
	pending                     int
	clamped, refusedM, refusedU uint64
	lastRefresh                 []time.Time // per user, in order
}

func keyOf(snap *scrape.Snapshot) healthKey {
	if snap == nil {
		return healthKey{}
	}
	k := healthKey{
		usage: snap.Usage(), up: snap.Up, lastSuccess: snap.LastSuccess, refreshDuration: snap.RefreshDuration,
		effective: snap.EffectiveInterval, pending: snap.PendingUsers,
		clamped: uint64(snap.ClampedFigures), refusedM: uint64(snap.RefusedMeetings), refusedU: uint64(snap.RefusedUsers),
		lastRefresh: make([]time.Time, len(snap.Users)),
	}
	for i, u := range snap.Users {
		k.lastRefresh[i] = u.LastRefresh
	}
	return k
}

// matches reports whether snap would make the health families of k,
// without allocating: it runs on every scrape.
func (k healthKey) matches(snap *scrape.Snapshot) bool {
	if snap == nil {
		return k.usage == nil && k.lastRefresh == nil
	}
	if k.usage != snap.Usage() || k.up != snap.Up || !k.lastSuccess.Equal(snap.LastSuccess) || k.refreshDuration != snap.RefreshDuration ||
		k.effective != snap.EffectiveInterval || k.pending != snap.PendingUsers || k.clamped != uint64(snap.ClampedFigures) ||
		k.refusedM != uint64(snap.RefusedMeetings) || k.refusedU != uint64(snap.RefusedUsers) || len(k.lastRefresh) != len(snap.Users) {
		return false
	}
	for i, u := range snap.Users {
		if !k.lastRefresh[i].Equal(u.LastRefresh) {
			return false
		}
	}
	return true
}

// Version is a *healthVersion, the same as long as the health families
// would be the same.
func (h *HealthSource) Version() any {
	snap := h.src.Snapshot()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.last != nil && (h.last.snap == snap || h.last.key.matches(snap)) {
		return h.last
	}
	h.last = &healthVersion{snap: snap, key: keyOf(snap)}
	return h.last
}

// Gather gathers the health families of version v, a value Version returned.
func (h *HealthSource) Gather(v any) ([]*dto.MetricFamily, error) {
	hv, ok := v.(*healthVersion)
	if !ok {
		return nil, fmt.Errorf("collector: health version %T is not a HealthSource's", v)
	}
	return gatherUnsorted(healthPart{h.e, hv.snap})
}

// Describe sends the descriptor of every family Gather may return.
func (h *HealthSource) Describe(ch chan<- *prometheus.Desc) { healthPart{e: h.e}.Describe(ch) }

// gatherUnsorted gathers c as a prometheus.Registry does, less what costs
// most at hundreds of thousands of series and serves nothing here: it
// neither sorts the series of a family (they keep the order Collect sent
// them in; Prometheus needs none) nor hashes each to look for duplicates
// (the collector's tests compare its output with a Registry's). Families
// are sorted by name and carry the name, help and type a Registry gives.
func gatherUnsorted(c prometheus.Collector) (mfs []*dto.MetricFamily, err error) {
	ch := make(chan prometheus.Metric, 4096)
	panicked := make(chan any, 1)
	go func() {
		defer close(ch)
		defer func() {
			if p := recover(); p != nil {
				panicked <- p
			}
		}()
		c.Collect(ch)
	}()
	type family struct {
		first   prometheus.Metric
		metrics []*dto.Metric
	}
	byDesc := make(map[*prometheus.Desc]*family)
	var (
		descs []*prometheus.Desc
		slab  []dto.Metric // one allocation per thousand series
		errs  prometheus.MultiError
	)
	for m := range ch {
		if len(slab) == 0 {
			slab = make([]dto.Metric, 1024)
		}
		dm := &slab[0]
		slab = slab[1:]
		if err := m.Write(dm); err != nil {
			errs = append(errs, err)
			continue
		}
		f := byDesc[m.Desc()]
		if f == nil {
			f = &family{first: m}
			byDesc[m.Desc()] = f
			descs = append(descs, m.Desc())
		}
		f.metrics = append(f.metrics, dm)
	}
	select {
	case p := <-panicked:
		return nil, fmt.Errorf("collector panicked: %v", p)
	default:
	}
	byName := make(map[string]*dto.MetricFamily, len(descs))
	for _, d := range descs {
		f := byDesc[d]
		// A Registry over the family's first series names and types it.
		meta, err := gatherOne(f.first)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if mf, ok := byName[meta.GetName()]; ok {
			if mf.GetType() != meta.GetType() || mf.GetHelp() != meta.GetHelp() {
				errs = append(errs, fmt.Errorf("collector: two descriptors of %s differ in type or help", meta.GetName()))
				continue
			}
			mf.Metric = append(mf.Metric, f.metrics...)
			continue
		}
		meta.Metric = f.metrics
		byName[meta.GetName()] = meta
		mfs = append(mfs, meta)
	}
	sort.Slice(mfs, func(i, j int) bool { return mfs[i].GetName() < mfs[j].GetName() })
	return mfs, errs.MaybeUnwrap()
}

// gatherOne gathers m alone in a Registry, for its family's metadata.
func gatherOne(m prometheus.Metric) (*dto.MetricFamily, error) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(oneMetric{m}); err != nil {
		return nil, err
	}
	mfs, err := reg.Gather()
	if err != nil {
		return nil, err
	}
	if len(mfs) != 1 {
		return nil, fmt.Errorf("collector: %d families gathered from one metric", len(mfs))
	}
	return mfs[0], nil
}

// oneMetric is an unchecked collector of one metric.
type oneMetric struct{ m prometheus.Metric }

func (oneMetric) Describe(chan<- *prometheus.Desc)      {}
func (o oneMetric) Collect(ch chan<- prometheus.Metric) { ch <- o.m }
