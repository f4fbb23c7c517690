// Package snapshotgen builds the synthetic snapshot the /metrics
// benchmarks and tests serve: one definition, so that the benchmark
// command and the Go benchmark measure the same series.
package snapshotgen

import (
	"fmt"
	"time"

	"github.com/zoomexporter/zoom_exporter/scrape"
)

// Types are the meeting types every synthetic user has figures for.
var Types = []string{"scheduled", "instant", "recurring_fixed_time"}

// Snapshot is users x len(Types), every figure set, and both histograms of
// every type, published at a fixed instant (2026-11-20 12:00 UTC).
func Snapshot(users int) *scrape.Snapshot {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	snap := &scrape.Snapshot{Published: now, Month: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Up: true, LastSuccess: now,
		RefreshDuration: 42 * time.Second, EffectiveInterval: 5 * time.Minute,
		Durations: map[string]scrape.Histogram{}, Participants: map[string]scrape.Histogram{}}
	for i := range users {
		u := scrape.UserSnapshot{
			Key: fmt.Sprintf("id%07d", i), ID: fmt.Sprintf("id%07d", i), Email: fmt.Sprintf("user%05d@example.com", i),
			Listed: true, License: "licensed", Dept: fmt.Sprintf("dept%02d", i%40), LastRefresh: now,
			Month: map[string]scrape.Totals{}, Counters: map[string]scrape.Totals{},
		}
		for j, typ := range Types {
			t := scrape.Totals{Meetings: int64(i%50 + j), DurationSeconds: int64(i * 60), ParticipantSeconds: int64(i * 240),
				Participants: int64(i % 300), WithRecording: int64(i % 7), WithScreenShare: int64(i % 11), WithChat: int64(i % 13)}
			u.Month[typ], u.Counters[typ] = t, t
		}
		snap.Users = append(snap.Users, u)
	}
	for i, typ := range Types {
		snap.Durations[typ] = histogram(scrape.DurationBuckets, uint64(10000*(i+1)))
		snap.Participants[typ] = histogram(scrape.ParticipantsBuckets, uint64(10000*(i+1)))
	}
	return snap
}

func histogram(bounds []float64, count uint64) scrape.Histogram {
	h := scrape.Histogram{Count: count, Sum: float64(count) * 1234, Buckets: map[float64]uint64{}}
	for i, b := range bounds {
		h.Buckets[b] = count * uint64(i+1) / uint64(len(bounds)+1)
	}
	return h
}
