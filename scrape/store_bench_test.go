package scrape

import (
	"fmt"
	"testing"
	"time"

	"github.com/zoomexporter/zoom_exporter/store"
	"github.com/zoomexporter/zoom_exporter/zoom"
)

// syntheticMeetings makes n distinct meetings with realistic figures.
func syntheticMeetings(n int, user string) []zoom.Meeting {
	out := make([]zoom.Meeting, n)
	for i := range out {
		out[i] = zoom.Meeting{
			UUID:              fmt.Sprintf("%s/%016x==", user, i*7919),
			Type:              1 + i%9,
			Duration:          5 + i%115,
			TotalMinutes:      (5 + i%115) * (2 + i%12),
			ParticipantsCount: 2 + i%12,
			HasRecording:      i%3 == 0,
			HasScreenShare:    i%2 == 0,
			HasChat:           i%5 != 0,
			UserEmail:         user + "@example.com",
		}
	}
	return out
}

// BenchmarkStoreRefresh measures committing a refresh that counts 10,000
// new meetings: as one user's single transaction, and as 100 users' 100
// transactions of 100 meetings. It reports the store's bytes per meeting
// and the time per commit.
func BenchmarkStoreRefresh(b *testing.B) {
	const total = 10000
	for _, users := range []int{1, 100} {
		perUser := total / users
		b.Run(fmt.Sprintf("users=%d/meetings=%d", users, total), func(b *testing.B) {
			month := monthStart(time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC))
			w := reportWindow{month: month, from: month, to: month.AddDate(0, 0, 19), current: true}
			reports := make([][]windowReport, users)
			for u := range reports {
				reports[u] = []windowReport{{window: w, meetings: syntheticMeetings(perUser, fmt.Sprintf("user%03d", u))}}
			}
			var size int64
			var commits time.Duration
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				st, err := store.Open(b.TempDir(), nil)
				if err != nil {
					b.Fatal(err)
				}
				s, err := NewScraper(ScraperConfig{Store: st})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				start := time.Now()
				for u := range users {
					if err := s.apply(s.stateFor(fmt.Sprintf("user%03d", u)), reports[u]); err != nil {
						b.Fatal(err)
					}
				}
				commits += time.Since(start)
				b.StopTimer()
				size = st.Size()
				st.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(size)/total, "store-bytes/meeting")
			b.ReportMetric(float64(commits.Microseconds())/1000/float64(b.N*users), "ms/commit")
			b.ReportMetric(float64(commits.Microseconds())/1000/float64(b.N), "ms/refresh")
		})
	}
}
