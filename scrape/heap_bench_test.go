package scrape

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// BenchmarkHeapPerMeeting counts 10,000 users x 50 meetings into a scraper
// (no store) and reports the live heap they take per meeting: what the
// scraper keeps to count each meeting once, plus the per-user totals.
func BenchmarkHeapPerMeeting(b *testing.B) {
	const users, perUser = 10000, 50
	month := monthStart(time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC))
	w := reportWindow{month: month, from: month, to: month.AddDate(0, 0, 19), current: true}
	for range b.N {
		// Reports are what Zoom returned; they are garbage once counted.
		var base runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&base)
		s, err := NewScraper(ScraperConfig{})
		if err != nil {
			b.Fatal(err)
		}
		for u := range users {
			key := fmt.Sprintf("user%05d", u)
			report := []windowReport{{window: w, meetings: syntheticMeetings(perUser, key)}}
			if err := s.apply(s.stateFor(key), report); err != nil {
				b.Fatal(err)
			}
		}
		var after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&after)
		perMeeting := float64(after.HeapInuse-base.HeapInuse) / (users * perUser)
		b.ReportMetric(perMeeting, "heap-bytes/meeting")
		runtime.KeepAlive(s)
	}
}
