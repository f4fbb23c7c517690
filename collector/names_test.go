package collector

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// TestOpenMetricsFamilyNamesUnique: in OpenMetrics a counter's family name
// drops _total, so a histogram zoom_meeting_duration_seconds would share its
// family name with the counter zoom_meeting_duration_seconds_total, and
// Prometheus would keep only one of their types and HELP texts. promlint
// does not see this; every family must have a name of its own, and every
// sample name must belong to one family.
func TestOpenMetricsFamilyNamesUnique(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{nil, {"--collector.user-label=none"}} {
		app := kingpin.New("test", "")
		opts := AddFlags(app)
		if _, err := app.Parse(args); err != nil {
			t.Fatal(err)
		}
		opts.HashSalt = "test-salt"
		e, err := New(fixedSource{testSnapshot()}, *opts)
		if err != nil {
			t.Fatal(err)
		}
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(e)
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeOpenMetrics))
		for _, mf := range families {
			if err := enc.Encode(mf); err != nil {
				t.Fatal(err)
			}
		}
		if c, ok := enc.(expfmt.Closer); ok {
			c.Close()
		}

		familyOf := map[string]string{} // sample name -> family
		seen := map[string]bool{}
		family := ""
		sc := bufio.NewScanner(&buf)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
				family, _, _ = strings.Cut(rest, " ")
				if seen[family] {
					t.Errorf("%v: OpenMetrics family %s is exposed twice", args, family)
				}
				seen[family] = true
				continue
			}
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			sample := strings.FieldsFunc(line, func(r rune) bool { return r == '{' || r == ' ' })[0]
			if f, ok := familyOf[sample]; ok && f != family {
				t.Errorf("%v: sample %s belongs to families %s and %s", args, sample, f, family)
			}
			familyOf[sample] = family
		}
		if len(seen) < 10 {
			t.Fatalf("%v: only %d families in the OpenMetrics exposition:\n%s", args, len(seen), buf.String())
		}
	}
}
