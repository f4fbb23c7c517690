package scrape

import (
	"fmt"
	"hash/fnv"

	"github.com/prometheus/client_golang/prometheus"
)

// Sharding splits one Zoom account across several exporters (--shard and
// --total-shards, as kube-state-metrics names them). Each user belongs to
// exactly one shard, chosen by a stable hash of the Zoom user id, and each
// shard spends its share of the account's daily budget and per-second
// limits, since Zoom counts them per account, not per app or process.
//
// The assignment must never change between versions for the same id and
// shard count: a user that moves loses its counters' continuity. The test
// TestShardOfIsStable pins it.

// ShardOf returns the shard, in [0, totalShards), that owns the user with
// the given Zoom user id. It hashes the id with 64-bit FNV-1a, mixes the
// result, and maps it with jump consistent hashing (Lamping and Veach), so
// that going from n to n+1 shards moves only the users that the new shard
// takes, about 1/(n+1) of them, and moves them all to the new shard.
// A totalShards below 2 gives 0.
func ShardOf(userID string, totalShards int) int {
	if totalShards < 2 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(userID)) // never fails
	return jumpHash(mix64(h.Sum64()), totalShards)
}

// mix64 spreads every input bit over the whole word (the splitmix64
// finalizer): FNV-1a alone leaves the high bits weakly dependent on the
// last bytes, and Zoom ids often differ only there.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// jumpHash maps key to a bucket in [0, buckets). Walking a pseudo-random
// sequence seeded by the key, it finds the last bucket count at which the
// key jumped to a new bucket: with one more bucket, a key either stays or
// jumps to the new bucket, with probability 1/(buckets+1).
func jumpHash(key uint64, buckets int) int {
	current, next := int64(-1), int64(0)
	for next < int64(buckets) {
		current = next
		key = key*2862933555777941757 + 1
		next = int64(float64(current+1) * (float64(uint64(1)<<31) / float64((key>>33)+1)))
	}
	return int(current)
}

// ValidateShard reports whether shard and totalShards describe a shard:
// totalShards at least 1 and shard in [0, totalShards).
func ValidateShard(shard, totalShards int) error {
	if totalShards < 1 {
		return fmt.Errorf("--total-shards=%d: must be at least 1", totalShards)
	}
	if shard < 0 || shard >= totalShards {
		return fmt.Errorf("--shard=%d: must be between 0 and %d (--total-shards=%d)", shard, totalShards-1, totalShards)
	}
	return nil
}

// shardCollector serves zoom_exporter_shard_ordinal and
// zoom_exporter_total_shards, so dashboards and alerts can tell shards apart
// and check that all of them are scraped.
type shardCollector struct {
	ordinal, total *prometheus.Desc
	shard, shards  int
}

// NewShardCollector returns the collector of the shard's two gauges.
func NewShardCollector(shard, totalShards int) prometheus.Collector {
	return &shardCollector{
		ordinal: prometheus.NewDesc("zoom_exporter_shard_ordinal",
			"Shard of this exporter (--shard): it refreshes the users whose Zoom user id hashes to it.", nil, nil),
		total: prometheus.NewDesc("zoom_exporter_total_shards",
			"Number of shards the account is split into (--total-shards).", nil, nil),
		shard:  shard,
		shards: totalShards,
	}
}

func (c *shardCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.ordinal
	ch <- c.total
}

func (c *shardCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(c.ordinal, prometheus.GaugeValue, float64(c.shard))
	ch <- prometheus.MustNewConstMetric(c.total, prometheus.GaugeValue, float64(c.shards))
}
