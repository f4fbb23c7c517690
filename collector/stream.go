package collector

import (
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/zoomexporter/zoom_exporter/scrape"
)

// Streaming the usage families. The month gauges and the counters are 14
// families of one series per user and type (420,000 at 10,000 users x 3
// types); collectFigures sends them interleaved, row by row, so a
// Registry (or gatherUnsorted) must hold every one of them, as a const
// metric and as a dto.Metric, before the first family can be encoded:
// 190 MB live at that size, which the Go heap then doubles. The stream
// builds them one family at a time instead, from the same rows
// (byUserAndType), label pairs (MakeLabelPairs) and figures (usageFigures)
// collectFigures uses, reusing one family's series for the next: what it
// holds is the rows and their label pairs, shared by the 7 families of a
// pick. Every other family (histograms, zoom_user_info, the account
// collectors) is gathered as the Exporter collects it, with gatherUnsorted.
// TestSourcesGatherAsARegistry keeps both equal to a Registry's output.

// figureSubcollectors are the subcollectors made of usageFigures: the
// totals each picks, its value type and its descriptors by label mode.
var figureSubcollectors = map[string]struct {
	pick  func(scrape.UserSnapshot) map[string]scrape.Totals
	vt    prometheus.ValueType
	descs map[bool][]*prometheus.Desc
}{
	"month":    {func(u scrape.UserSnapshot) map[string]scrape.Totals { return u.Month }, prometheus.GaugeValue, monthDescs},
	"meetings": {func(u scrape.UserSnapshot) map[string]scrape.Totals { return u.Counters }, prometheus.CounterValue, counterDescs},
}

// streamed is one family of the stream: built on demand, or gathered.
type streamed struct {
	name  string
	build func(reuse bool) (*dto.MetricFamily, error)
}

func (u *UsageSource) stream(v any, reuse bool, yield func(*dto.MetricFamily) error) error {
	snap, ok := v.(*scrape.Snapshot)
	if !ok && v != nil {
		return fmt.Errorf("collector: usage version %T is not a *scrape.Snapshot", v)
	}
	if snap == nil {
		return nil
	}
	e := u.e
	var families []streamed
	skip := map[string]bool{}
	for _, c := range e.enabled {
		fig, ok := figureSubcollectors[c.name]
		if !ok {
			continue
		}
		skip[c.name] = true
		fs, err := e.figureFamilies(snap, fig.pick, fig.vt, fig.descs[e.userLabel != UserLabelNone])
		if err != nil {
			return err
		}
		families = append(families, fs...)
	}
	rest, err := gatherUnsorted(usagePart{e: e, snap: snap, skip: skip})
	if err != nil {
		return err
	}
	for _, mf := range rest {
		families = append(families, streamed{mf.GetName(), func(bool) (*dto.MetricFamily, error) { return mf, nil }})
	}
	slices.SortFunc(families, func(a, b streamed) int {
		switch {
		case a.name < b.name:
			return -1
		case a.name > b.name:
			return 1
		}
		return 0
	})
	for i, f := range families {
		if i > 0 && families[i-1].name == f.name {
			return fmt.Errorf("collector: family %s is served twice", f.name)
		}
		mf, err := f.build(reuse)
		if err != nil {
			return err
		}
		if err := yield(mf); err != nil {
			return err
		}
	}
	return nil
}

// figureFamilies are the families of one figure subcollector, each built
// when the stream reaches it. The rows and their label pairs are made for
// the first and dropped after the last; with reuse, the families share one
// set of series, refilled for each: only one is valid at a time.
func (e *Exporter) figureFamilies(snap *scrape.Snapshot, pick func(scrape.UserSnapshot) map[string]scrape.Totals,
	vt prometheus.ValueType, descs []*prometheus.Desc) ([]streamed, error) {
	var (
		rows   []row
		labels [][]*dto.LabelPair
		shared *seriesSlab
		left   = len(usageFigures)
	)
	prepare := func() error {
		rows = e.byUserAndType(snap.Users, pick)
		labels = make([][]*dto.LabelPair, len(rows))
		for i, r := range rows {
			values := e.labels(r)
			for _, lv := range values {
				if !utf8.ValidString(lv) {
					return fmt.Errorf("label value %q is not valid UTF-8", lv) // as NewConstMetric says
				}
			}
			labels[i] = prometheus.MakeLabelPairs(descs[0], values) // every figure of a subcollector has the same labels
		}
		return nil
	}
	// A Registry serves no family without series: none without a row.
	if !slices.ContainsFunc(snap.Users, func(u scrape.UserSnapshot) bool { return len(pick(u)) > 0 }) {
		return nil, nil
	}
	families := make([]streamed, len(usageFigures))
	for i, f := range usageFigures {
		meta, err := familyOf(descs[i], vt, e.userLabel == UserLabelNone)
		if err != nil {
			return nil, err
		}
		families[i] = streamed{meta.GetName(), func(reuse bool) (*dto.MetricFamily, error) {
			if rows == nil {
				if err := prepare(); err != nil {
					return nil, err
				}
			}
			slab := shared
			if slab == nil || !reuse {
				slab = newSeriesSlab(len(rows), vt)
				if reuse {
					shared = slab
				}
			}
			for j, r := range rows {
				slab.set(j, labels[j], float64(f.value(r.totals)))
			}
			if left--; left == 0 {
				rows, labels, shared = nil, nil, nil // the slab lives on in the family handed out
			}
			return &dto.MetricFamily{Name: meta.Name, Help: meta.Help, Type: meta.Type, Unit: meta.Unit, Metric: slab.ptrs}, nil
		}}
	}
	return families, nil
}

// familyOf is the name, help and type a Registry gives desc's family.
func familyOf(desc *prometheus.Desc, vt prometheus.ValueType, typeOnly bool) (*dto.MetricFamily, error) {
	values := []string{"u", "t"}
	if typeOnly {
		values = values[1:]
	}
	m, err := prometheus.NewConstMetric(desc, vt, 0, values...)
	if err != nil {
		return nil, err
	}
	return gatherOne(m)
}

// seriesSlab is the series of one family, allocated together.
type seriesSlab struct {
	metrics  []dto.Metric
	ptrs     []*dto.Metric
	values   []float64
	gauges   []dto.Gauge
	counters []dto.Counter
}

func newSeriesSlab(n int, vt prometheus.ValueType) *seriesSlab {
	s := &seriesSlab{metrics: make([]dto.Metric, n), ptrs: make([]*dto.Metric, n), values: make([]float64, n)}
	if vt == prometheus.CounterValue {
		s.counters = make([]dto.Counter, n)
	} else {
		s.gauges = make([]dto.Gauge, n)
	}
	for i := range s.metrics {
		s.ptrs[i] = &s.metrics[i]
		if s.counters != nil {
			s.counters[i].Value = &s.values[i]
			s.metrics[i].Counter = &s.counters[i]
		} else {
			s.gauges[i].Value = &s.values[i]
			s.metrics[i].Gauge = &s.gauges[i]
		}
	}
	return s
}

func (s *seriesSlab) set(i int, labels []*dto.LabelPair, v float64) {
	s.metrics[i].Label = labels
	s.values[i] = v
}
