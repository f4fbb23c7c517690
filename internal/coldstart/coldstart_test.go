package coldstart

import (
	"testing"

	"github.com/zoomexporter/zoom_exporter/zoom"
)

// A small cold start, scaled: every user covered by the first refresh,
// the budget's accounting matches the calls Zoom answered, and the ideals
// follow from the plan's pacing rate.
func TestMeasure(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		plan       string
		reportType string
		budget     int
	}{
		{"pro", zoom.ReportPast, 0},
		{"business", zoom.ReportPastJoined, 20}, // a bucket of 2 calls: the cold start borrows
	} {
		t.Run(tc.plan+"/"+tc.reportType, func(t *testing.T) {
			t.Parallel()
			r, err := Measure(Options{Users: 15, Plan: tc.plan, ReportType: tc.reportType, Budget: tc.budget, Scale: 3})
			if err != nil {
				t.Fatal(err)
			}
			if r.Tracked != 15 || r.Covered != 15 || r.Pending != 0 {
				t.Errorf("%d of %d users covered, %d pending", r.Covered, r.Tracked, r.Pending)
			}
			if r.BudgetUsed != r.HeavyCalls || r.HeavyCalls < r.ReportCalls || r.ReportCalls == 0 {
				t.Errorf("budget used %d, %d Heavy calls (%d 429s), %d reports", r.BudgetUsed, r.HeavyCalls, r.QPS429, r.ReportCalls)
			}
			limits, _ := zoom.PlanLimits(tc.plan)
			if r.PacingRate != limits.HeavyPerSecond*zoom.PacingMargin || r.IdealUsers <= 0 || r.IdealCalls <= 0 || r.Took <= 0 {
				t.Errorf("pacing rate %v, ideals %v and %v, took %v", r.PacingRate, r.IdealUsers, r.IdealCalls, r.Took)
			}
		})
	}
	if _, err := Measure(Options{Users: 5, Plan: "enterprise-plus"}); err == nil {
		t.Error("an unknown plan measured")
	}
}
