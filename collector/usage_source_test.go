package collector

import (
	"bytes"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/zoomexporter/zoom_exporter/internal/snapshotgen"
	"github.com/zoomexporter/zoom_exporter/scrape"
)

// sortedText renders families in the text format with every family's
// series sorted as a Registry sorts them.
func sortedText(t *testing.T, mfs []*dto.MetricFamily) string {
	t.Helper()
	var b bytes.Buffer
	for _, mf := range mfs {
		keys := make(map[*dto.Metric]string, len(mf.Metric))
		for _, m := range mf.Metric {
			var k strings.Builder
			for _, lp := range m.GetLabel() {
				fmt.Fprintf(&k, "%s=%q,", lp.GetName(), lp.GetValue())
			}
			keys[m] = k.String()
		}
		c := &dto.MetricFamily{Name: mf.Name, Help: mf.Help, Type: mf.Type, Unit: mf.Unit, Metric: append([]*dto.Metric(nil), mf.Metric...)}
		sort.Slice(c.Metric, func(i, j int) bool { return keys[c.Metric[i]] < keys[c.Metric[j]] })
		if _, err := expfmt.MetricFamilyToText(&b, c); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// TestSourcesGatherAsARegistry: UsageSource and HealthSource, which skip
// the Registry's sorting and hashing, gather together exactly the
// families, metadata and series a Registry gathers from the Exporter, in
// every label mode and with collectors switched off; families come sorted
// by name, each from one part, as described.
func TestSourcesGatherAsARegistry(t *testing.T) {
	t.Parallel()
	off := false
	big := snapshotgen.Snapshot(300)
	big.Users[7].Retired = true
	big.Users[9].Email = big.Users[8].Email // two entries for one e-mail: summed
	for _, snap := range []*scrape.Snapshot{testSnapshot(), big, {}} {
		for _, label := range []string{UserLabelEmail, UserLabelID, UserLabelHash, UserLabelNone} {
			for _, enabled := range []map[string]*bool{nil, {"month": &off}, {"meetings": &off, "distribution": &off, "user_info": &off}} {
				name := fmt.Sprintf("%d users, user label %s, %d collectors off", len(snap.Users), label, len(enabled))
				o := Options{UserLabel: label, HashSalt: "salt", Enabled: enabled, SeparateLive: true}
				e, err := New(fixedSource{snap}, o)
				if err != nil {
					t.Fatal(err)
				}
				reg := prometheus.NewRegistry()
				reg.MustRegister(e)
				want, err := reg.Gather()
				if err != nil {
					t.Fatal(err)
				}
				var got []*dto.MetricFamily
				described := map[string]int{}
				for i, part := range []interface {
					Version() any
					Gather(any) ([]*dto.MetricFamily, error)
					Describe(chan<- *prometheus.Desc)
				}{NewUsageSource(e, fixedSource{snap}), NewHealthSource(e, fixedSource{snap})} {
					mfs, err := part.Gather(part.Version())
					if err != nil {
						t.Fatalf("%s: part %d: %v", name, i, err)
					}
					if !sort.SliceIsSorted(mfs, func(i, j int) bool { return mfs[i].GetName() < mfs[j].GetName() }) {
						t.Errorf("%s: part %d: families not sorted by name", name, i)
					}
					ch := make(chan *prometheus.Desc, 100)
					part.Describe(ch)
					close(ch)
					for d := range ch {
						described[descName(d)] |= 1 << i
					}
					for _, mf := range mfs {
						if described[mf.GetName()] != 1<<i {
							t.Errorf("%s: %s gathered by part %d, described by parts %b", name, mf.GetName(), i, described[mf.GetName()])
						}
					}
					got = append(got, mfs...)
				}
				// Stream, which reuses series from one family to the next,
				// hands the families Gather gives, each valid while handed.
				var streamed, gathered bytes.Buffer
				u := NewUsageSource(e, fixedSource{snap})
				if err := u.Stream(u.Version(), func(mf *dto.MetricFamily) error {
					_, err := streamed.WriteString(sortedText(t, []*dto.MetricFamily{mf}))
					return err
				}); err != nil {
					t.Fatal(err)
				}
				um, _ := u.Gather(u.Version())
				gathered.WriteString(sortedText(t, um))
				if streamed.String() != gathered.String() {
					t.Errorf("%s: Stream differs from Gather", name)
				}
				sort.Slice(got, func(i, j int) bool { return got[i].GetName() < got[j].GetName() })
				if g, w := sortedText(t, got), sortedText(t, want); g != w {
					t.Errorf("%s: UsageSource and HealthSource gathered\n%.3000s\nwant (Registry)\n%.3000s", name, g, w)
				}
				ch := make(chan *prometheus.Desc, 100)
				e.Describe(ch)
				close(ch)
				n := 0
				for d := range ch {
					n++
					if described[descName(d)] == 0 {
						t.Errorf("%s: the Exporter describes %s, neither part does", name, descName(d))
					}
				}
				if n != len(described) {
					t.Errorf("%s: the parts describe %d families, the Exporter %d", name, len(described), n)
				}
			}
		}
	}
}

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func descName(d *prometheus.Desc) string {
	if m := fqName.FindStringSubmatch(d.String()); m != nil {
		return m[1]
	}
	return d.String()
}

// TestSourcesPinTheVersion: the families of a version come from that
// snapshot even after another was published.
func TestSourcesPinTheVersion(t *testing.T) {
	t.Parallel()
	first := testSnapshot()
	src := &swappableSource{snap: first}
	e, err := New(src, Options{UserLabel: UserLabelEmail, SeparateLive: true})
	if err != nil {
		t.Fatal(err)
	}
	u, h := NewUsageSource(e, src), NewHealthSource(e, src)
	uv, hv := u.Version(), h.Version()
	next := testSnapshot()
	next.Users = next.Users[:1]
	src.publish(next)
	if u.Version() == uv || h.Version() == hv {
		t.Fatal("a new snapshot kept a version")
	}
	um, err := u.Gather(uv)
	if err != nil {
		t.Fatal(err)
	}
	hm, err := h.Gather(hv)
	if err != nil {
		t.Fatal(err)
	}
	got := append(um, hm...)
	sort.Slice(got, func(i, j int) bool { return got[i].GetName() < got[j].GetName() })
	pinned, _ := New(fixedSource{first}, Options{UserLabel: UserLabelEmail, SeparateLive: true})
	reg := prometheus.NewRegistry()
	reg.MustRegister(pinned)
	want, _ := reg.Gather()
	if g, w := sortedText(t, got), sortedText(t, want); g != w {
		t.Errorf("versions of the first snapshot gathered after the next was published:\n%s\nwant\n%s", g, w)
	}
	if _, err := u.Gather("not a snapshot"); err == nil {
		t.Error("a version that is not a snapshot was gathered")
	}
	if _, err := h.Gather(uv); err == nil {
		t.Error("a usage version was gathered as a health version")
	}
	if got := (&UsageSource{e: e, src: fixedSource{nil}}).Version(); got != any((*scrape.Snapshot)(nil)) {
		t.Errorf("no snapshot: version %v", got)
	}
}

// sharing makes a copy of base whose Usage() is base's, as the scraper
// publishes a refresh that changed no usage data (scrape/publish.go).
func sharing(base *scrape.Snapshot) *scrape.Snapshot {
	c := *base
	c.Users = append([]scrape.UserSnapshot(nil), base.Users...)
	f := reflect.ValueOf(&c).Elem().FieldByName("usage")
	reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Set(reflect.ValueOf(base.Usage()))
	return &c
}

// perturb changes v, a field's value, if it is of a kind this test can
// change; it reports whether it did.
func perturb(v reflect.Value) bool {
	switch {
	case v.Type() == reflect.TypeFor[time.Time]():
		v.Set(reflect.ValueOf(v.Interface().(time.Time).Add(time.Hour + time.Second)))
	case v.Kind() == reflect.Bool:
		v.SetBool(!v.Bool())
	case v.CanInt():
		v.SetInt(v.Int() + 7)
	case v.CanUint():
		v.SetUint(v.Uint() + 7)
	case v.CanFloat():
		v.SetFloat(v.Float() + 7)
	case v.Kind() == reflect.String:
		v.SetString(v.String() + "-changed")
	default:
		return false
	}
	return true
}

// TestHealthVersionFollowsEveryField: whatever field of a snapshot (or of
// a user) the health families are made of, changing it under the same
// usage snapshot changes the HealthSource's version, so that a cached
// encoding of the health is never served stale. Fields of other kinds
// (maps, slices, pointers) and the users' label and retirement, which are
// usage data and the same under one Usage(), are not perturbed.
func TestHealthVersionFollowsEveryField(t *testing.T) {
	t.Parallel()
	usageOfUser := map[string]bool{"Key": true, "ID": true, "Email": true, "Retired": true}
	health := func(e *Exporter, snap *scrape.Snapshot) string {
		mfs, err := gatherUnsorted(healthPart{e, snap})
		if err != nil {
			t.Fatal(err)
		}
		return sortedText(t, mfs)
	}
	for _, label := range []string{UserLabelEmail, UserLabelNone} {
		base := testSnapshot()
		src := &swappableSource{snap: base}
		e, err := New(src, Options{UserLabel: label, SeparateLive: true})
		if err != nil {
			t.Fatal(err)
		}
		h := NewHealthSource(e, src)
		v0 := h.Version()
		if same := sharing(base); func() bool { src.publish(same); return h.Version() != v0 }() {
			t.Errorf("user label %s: a snapshot with the same usage and health made a new health version", label)
		}
		checked := 0
		for _, user := range []bool{false, true} {
			typ := reflect.TypeFor[scrape.Snapshot]()
			if user {
				typ = reflect.TypeFor[scrape.UserSnapshot]()
			}
			for i := range typ.NumField() {
				f := typ.Field(i)
				if !f.IsExported() || (user && usageOfUser[f.Name]) {
					continue
				}
				snap := sharing(base)
				target := reflect.ValueOf(snap).Elem()
				if user {
					target = reflect.ValueOf(&snap.Users[0]).Elem()
				}
				if !perturb(target.Field(i)) {
					continue
				}
				checked++
				src.publish(base)
				before := h.Version()
				src.publish(snap)
				if health(e, snap) != health(e, base) && h.Version() == before {
					t.Errorf("user label %s: %s.%s changes the health families but not the health version", label, typ.Name(), f.Name)
				}
			}
		}
		if checked < 10 {
			t.Errorf("only %d fields perturbed", checked)
		}
	}
}

type panicking struct{}

func (panicking) Describe(chan<- *prometheus.Desc) {}
func (panicking) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, 1)
	panic("broken collector")
}

type twoHelps struct{}

func (twoHelps) Describe(chan<- *prometheus.Desc) {}
func (twoHelps) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(prometheus.NewDesc("x", "one help", nil, nil), prometheus.GaugeValue, 1)
	ch <- prometheus.MustNewConstMetric(prometheus.NewDesc("x", "another help", nil, nil), prometheus.GaugeValue, 2)
}

// TestGatherUnsortedErrors: a collector that panics, or serves one name
// with two helps, is an error, as from a Registry, not a crash or a body
// Prometheus would refuse.
func TestGatherUnsortedErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		c    prometheus.Collector
		want string
	}{
		{"panic", panicking{}, "collector panicked: broken collector"},
		{"two helps", twoHelps{}, "two descriptors of x differ in type or help"},
	} {
		_, err := gatherUnsorted(c.c)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}
