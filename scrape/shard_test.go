package scrape

import (
	"encoding/base64"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/zoomexporter/zoom_exporter/zoom"
)

// shardTestUsers returns n distinct user ids of one of two families: ids
// shaped like Zoom's (22 base64url characters from 16 random bytes, from a
// fixed seed) or sequential ids that differ only in their last characters.
func shardTestUsers(family string, n int) []string {
	ids := make([]string, n)
	r := rand.New(rand.NewPCG(7, 11))
	for i := range ids {
		switch family {
		case "zoom":
			b := make([]byte, 16)
			for j := range b {
				b[j] = byte(r.Uint32())
			}
			ids[i] = base64.RawURLEncoding.EncodeToString(b)
		default:
			ids[i] = fmt.Sprintf("user%05d", i)
		}
	}
	return ids
}

var shardFamilies = []string{"zoom", "sequential"}

func TestShardOfEveryUserInExactlyOneShard(t *testing.T) {
	t.Parallel()
	for _, family := range shardFamilies {
		users := shardTestUsers(family, 10000)
		for total := 1; total <= 16; total++ {
			counts := make([]int, total)
			for _, u := range users {
				s := ShardOf(u, total)
				if s < 0 || s >= total {
					t.Fatalf("%s: ShardOf(%q, %d) = %d: out of range", family, u, total, s)
				}
				if again := ShardOf(u, total); again != s {
					t.Fatalf("%s: ShardOf(%q, %d) gave %d, then %d", family, u, total, s, again)
				}
				counts[s]++
			}
			sum := 0
			for _, c := range counts {
				sum += c
			}
			if sum != len(users) {
				t.Errorf("%s, %d shards: %d assignments for %d users", family, total, sum, len(users))
			}
		}
	}
}

func TestShardOfSmallTotals(t *testing.T) {
	t.Parallel()
	for _, total := range []int{-1, 0, 1} {
		if got := ShardOf("KDcuGIm1QgePTO8WbOqwIQ", total); got != 0 {
			t.Errorf("ShardOf(_, %d) = %d, want 0", total, got)
		}
	}
	if got := ShardOf("", 4); got < 0 || got >= 4 {
		t.Errorf("ShardOf(\"\", 4) = %d: out of range", got)
	}
}

func TestShardOfBalanced(t *testing.T) {
	t.Parallel()
	for _, family := range shardFamilies {
		users := shardTestUsers(family, 10000)
		for total := 2; total <= 8; total++ {
			counts := make([]int, total)
			for _, u := range users {
				counts[ShardOf(u, total)]++
			}
			mean := float64(len(users)) / float64(total)
			for s, c := range counts {
				if dev := math.Abs(float64(c)-mean) / mean; dev > 0.10 {
					t.Errorf("%s, %d shards: shard %d has %d users, %.1f%% away from the mean %.0f (counts %v)",
						family, total, s, c, 100*dev, mean, counts)
				}
			}
		}
	}
}

// TestShardOfMinimalMovement: going from n to n+1 shards moves about
// 1/(n+1) of the users, all of them to the new shard; the others stay.
func TestShardOfMinimalMovement(t *testing.T) {
	t.Parallel()
	for _, family := range shardFamilies {
		users := shardTestUsers(family, 10000)
		for n := 1; n <= 15; n++ {
			moved := 0
			for _, u := range users {
				before, after := ShardOf(u, n), ShardOf(u, n+1)
				if before == after {
					continue
				}
				moved++
				if after != n {
					t.Fatalf("%s, %d -> %d shards: %q moved from shard %d to %d, not to the new shard %d",
						family, n, n+1, u, before, after, n)
				}
			}
			ideal := 1 / float64(n+1)
			frac := float64(moved) / float64(len(users))
			if frac > 1.2*ideal || frac < 0.8*ideal {
				t.Errorf("%s, %d -> %d shards: %.2f%% of users moved, want about %.2f%% (within 20%%)",
					family, n, n+1, 100*frac, 100*ideal)
			}
		}
	}
}

// TestShardOfIsStable pins the assignment: changing the hash would move
// users between running shards on upgrade, restarting their counters.
func TestShardOfIsStable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		id    string
		total int
		want  int
	}{
		{"KDcuGIm1QgePTO8WbOqwIQ", 2, 1},
		{"KDcuGIm1QgePTO8WbOqwIQ", 3, 1},
		{"KDcuGIm1QgePTO8WbOqwIQ", 8, 1},
		{"z8yCxjabcdEFGHijklMNop", 2, 0},
		{"z8yCxjabcdEFGHijklMNop", 5, 4},
		{"z8yCxjabcdEFGHijklMNop", 16, 6},
		{"user00001", 4, 1},
		{"user00002", 4, 0},
		{"user00003", 4, 2},
	} {
		if got := ShardOf(tc.id, tc.total); got != tc.want {
			t.Errorf("ShardOf(%q, %d) = %d, want %d", tc.id, tc.total, got, tc.want)
		}
	}
}

// TestJumpHash checks the jump consistent hash against the values
// published with the algorithm's reference implementations.
func TestJumpHash(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		key     uint64
		buckets int
		want    int
	}{
		{1, 1, 0},
		{42, 57, 43},
		{0xDEAD10CC, 1, 0},
		{0xDEAD10CC, 666, 361},
		{256, 1024, 520},
	} {
		if got := jumpHash(tc.key, tc.buckets); got != tc.want {
			t.Errorf("jumpHash(%#x, %d) = %d, want %d", tc.key, tc.buckets, got, tc.want)
		}
	}
}

func TestShareOfAddsUpToTheWhole(t *testing.T) {
	t.Parallel()
	for _, total := range []int{0, 1, 2, 7, 999, 10001, 30000, 60000} {
		for n := 1; n <= 64; n++ {
			sum, lo, hi := 0, math.MaxInt, math.MinInt
			for s := range n {
				share := zoom.ShareOf(total, s, n)
				sum += share
				lo, hi = min(lo, share), max(hi, share)
			}
			if sum != total {
				t.Errorf("ShareOf(%d, _, %d): shares add up to %d", total, n, sum)
			}
			if lo < 0 || hi-lo > 1 {
				t.Errorf("ShareOf(%d, _, %d): shares from %d to %d, want non-negative and at most 1 apart", total, n, lo, hi)
			}
		}
	}
	if got := zoom.ShareOf(100, 3, 3); got != 0 {
		t.Errorf("ShareOf(100, 3, 3) = %d, want 0 for a shard out of range", got)
	}
	if got := zoom.ShareOf(100, 0, 0); got != 100 {
		t.Errorf("ShareOf(100, 0, 0) = %d, want the whole", got)
	}
}

func TestShareOfFloatAddsUpToTheWhole(t *testing.T) {
	t.Parallel()
	for _, total := range []float64{10, 20, 40, 60, 0.5, 1.0 / 3, 7.3, 1e6 + 0.1} {
		for n := 1; n <= 64; n++ {
			sum := 0.0
			for s := range n {
				share := zoom.ShareOfFloat(total, s, n)
				if share <= 0 {
					t.Fatalf("ShareOfFloat(%v, %d, %d) = %v, want positive", total, s, n, share)
				}
				if even := total / float64(n); math.Abs(share-even) > 1e-9*even {
					t.Errorf("ShareOfFloat(%v, %d, %d) = %v, want about %v", total, s, n, share, even)
				}
				sum += share
			}
			if sum != total {
				t.Errorf("ShareOfFloat(%v, _, %d): shares add up to %v (off by %g)", total, n, sum, sum-total)
			}
		}
	}
	if got := zoom.ShareOfFloat(10, -1, 3); got != 0 {
		t.Errorf("ShareOfFloat(10, -1, 3) = %v, want 0 for a shard out of range", got)
	}
	if got := zoom.ShareOfFloat(10, 0, 1); got != 10 {
		t.Errorf("ShareOfFloat(10, 0, 1) = %v, want the whole", got)
	}
}

// TestLimitsShare: all shards together use exactly the account's limits.
func TestLimitsShare(t *testing.T) {
	t.Parallel()
	for _, plan := range []string{"pro", "business"} {
		whole, err := zoom.PlanLimits(plan)
		if err != nil {
			t.Fatal(err)
		}
		for n := 1; n <= 16; n++ {
			var sum zoom.Limits
			for s := range n {
				part := whole.Share(s, n)
				sum.HeavyPerSecond += part.HeavyPerSecond
				sum.MediumPerSecond += part.MediumPerSecond
				sum.HeavyPerDay += part.HeavyPerDay
			}
			if sum != whole {
				t.Errorf("%s, %d shards: shares add up to %+v, want %+v", plan, n, sum, whole)
			}
		}
	}
}

func TestValidateShard(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		shard, total int
		wantErr      string
	}{
		{0, 1, ""},
		{3, 4, ""},
		{0, 0, "--total-shards=0: must be at least 1"},
		{4, 4, "--shard=4: must be between 0 and 3 (--total-shards=4)"},
		{-1, 2, "--shard=-1: must be between 0 and 1 (--total-shards=2)"},
	} {
		err := ValidateShard(tc.shard, tc.total)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("ValidateShard(%d, %d) = %v, want nil", tc.shard, tc.total, err)
		case tc.wantErr != "" && (err == nil || err.Error() != tc.wantErr):
			t.Errorf("ValidateShard(%d, %d) = %v, want %q", tc.shard, tc.total, err, tc.wantErr)
		}
	}
}

func TestShardCollector(t *testing.T) {
	t.Parallel()
	c := NewShardCollector(2, 3)
	want := `
# HELP zoom_exporter_shard_ordinal Shard of this exporter (--shard): it refreshes the users whose Zoom user id hashes to it.
# TYPE zoom_exporter_shard_ordinal gauge
zoom_exporter_shard_ordinal 2
# HELP zoom_exporter_total_shards Number of shards the account is split into (--total-shards).
# TYPE zoom_exporter_total_shards gauge
zoom_exporter_total_shards 3
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}
