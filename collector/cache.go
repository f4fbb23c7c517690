package collector

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/zoomexporter/zoom_exporter/scrape"
)

// SnapshotGatherer gathers a registry holding only the Exporter once per
// snapshot: the usage metrics change only when a refresh publishes a new
// snapshot, so concurrent and repeated scrapes share one gathered copy
// instead of each building hundreds of thousands of metrics again.
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
	// Keyed on the usage data only: live state (Zoom events) changes the
	// snapshot's pointer far more often, and a LiveCollector serves it.
	snap := g.src.Snapshot().Usage()
	g.mu.Lock()
	defer g.mu.Unlock()
	if snap != g.snap || g.mfs == nil {
		g.mfs, g.err = g.reg.Gather()
		g.snap = snap
	}
	return g.mfs, g.err
}
