package zoom

import "fmt"

// PacingMargin is the share of each per-second limit the client's calls
// leave at, evenly spaced: the pacer's rate is PacingMargin x the limit.
const PacingMargin = pacingMargin

// Limits are the account-wide rate limits of a Zoom plan (zoom-api.md section 4).
type Limits struct {
	HeavyPerSecond  float64 // /report/*
	MediumPerSecond float64 // /users
	HeavyPerDay     int     // shared by every app on the account
}

// PlanLimits returns the limits of a plan name as accepted by --zoom.plan.
func PlanLimits(plan string) (Limits, error) {
	switch plan {
	case "pro", "":
		return Limits{HeavyPerSecond: 10, MediumPerSecond: 20, HeavyPerDay: 30000}, nil
	case "business":
		return Limits{HeavyPerSecond: 40, MediumPerSecond: 60, HeavyPerDay: 60000}, nil
	}
	return Limits{}, fmt.Errorf("unknown Zoom plan %q (want pro or business)", plan)
}

// ShareOf returns shard's part of an integer budget split over totalShards
// shards. The parts differ by at most one and add up to total exactly: the
// remainder goes one each to the lowest shards. total must not be negative;
// a totalShards below 2 gives the whole, a shard out of range nothing.
func ShareOf(total, shard, totalShards int) int {
	if totalShards < 2 {
		return total
	}
	if shard < 0 || shard >= totalShards {
		return 0
	}
	share := total / totalShards
	if shard < total%totalShards {
		share++
	}
	return share
}

// ShareOfFloat returns shard's part of a rate (such as calls per second)
// split over totalShards shards: about total/totalShards each. Each part is
// the difference of two consecutive cut points total*(i/n), so the parts
// are exact differences and, added up in shard order, give exactly total
// in floating point. A totalShards below 2 gives the whole, a shard out of
// range nothing.
func ShareOfFloat(total float64, shard, totalShards int) float64 {
	if totalShards < 2 {
		return total
	}
	if shard < 0 || shard >= totalShards {
		return 0
	}
	n := float64(totalShards)
	cut := func(i int) float64 { return total * (float64(i) / n) }
	return cut(shard+1) - cut(shard)
}

// Share returns the limits one shard may use: its part of the per-second
// limits and of the daily Heavy budget, so that all shards together stay
// within the account's limits.
func (l Limits) Share(shard, totalShards int) Limits {
	return Limits{
		HeavyPerSecond:  ShareOfFloat(l.HeavyPerSecond, shard, totalShards),
		MediumPerSecond: ShareOfFloat(l.MediumPerSecond, shard, totalShards),
		HeavyPerDay:     ShareOf(l.HeavyPerDay, shard, totalShards),
	}
}
