package scrape

import (
	"maps"
	"reflect"
)

// Publishing only what changed (issue 16). Every refresh publishes a new
// Snapshot, for its health (zoom_up, the last success, durations, each
// user's last refresh). When its usage data is the same as that of the
// usage snapshot before it, the new snapshot's Usage() is that earlier
// snapshot, so that a cache keyed on Usage() (the /metrics encodings) stays
// valid. A consumer reads usage fields from Usage() and health fields from
// the snapshot itself.

// Health fields: everything else in a Snapshot or a UserSnapshot is usage
// data, fields added later included, so that a new field is never left out
// of the comparison.
var (
	snapshotHealth = map[string]bool{
		"Published": true, "Up": true, "LastSuccess": true, "RefreshDuration": true, "NextRefresh": true,
		"EffectiveInterval": true, "OverdueAfter": true, "PendingUsers": true,
		"ClampedFigures": true, "RefusedMeetings": true, "RefusedUsers": true,
		"Live": true, "usage": true,
	}
	userHealth = map[string]bool{
		"LastRefresh": true, "LastAttempt": true, "LastError": true, "LastZoomErr": true,
		"Overdue": true, "OverdueSince": true,
	}
	// Compared field by field in sameUsage; the rest by reflection.
	snapshotCompared = map[string]bool{"Month": true, "Users": true, "Durations": true, "Participants": true}
	userCompared     = map[string]bool{"Key": true, "ID": true, "Email": true, "Listed": true, "Retired": true,
		"License": true, "Dept": true, "Month": true, "Counters": true}
)

// otherFields are the indexes of a struct type's fields that are neither
// health nor compared by hand.
func otherFields(t reflect.Type, health, compared map[string]bool) []int {
	var out []int
	for i := range t.NumField() {
		if name := t.Field(i).Name; !health[name] && !compared[name] {
			out = append(out, i)
		}
	}
	return out
}

var (
	snapshotOthers = otherFields(reflect.TypeFor[Snapshot](), snapshotHealth, snapshotCompared)
	userOthers     = otherFields(reflect.TypeFor[UserSnapshot](), userHealth, userCompared)
)

func sameOthers(a, b reflect.Value, fields []int) bool {
	for _, i := range fields {
		if !reflect.DeepEqual(a.Field(i).Interface(), b.Field(i).Interface()) {
			return false
		}
	}
	return true
}

// sameUsage reports whether a and b hold the same usage data.
func sameUsage(a, b *Snapshot) bool {
	if !a.Month.Equal(b.Month) || len(a.Users) != len(b.Users) ||
		!sameHistograms(a.Durations, b.Durations) || !sameHistograms(a.Participants, b.Participants) ||
		!sameOthers(reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem(), snapshotOthers) {
		return false
	}
	for i := range a.Users {
		x, y := &a.Users[i], &b.Users[i]
		if x.Key != y.Key || x.ID != y.ID || x.Email != y.Email || x.Listed != y.Listed || x.Retired != y.Retired ||
			x.License != y.License || x.Dept != y.Dept || (x.Month == nil) != (y.Month == nil) ||
			!maps.Equal(x.Month, y.Month) || !maps.Equal(x.Counters, y.Counters) {
			return false
		}
		if len(userOthers) > 0 && !sameOthers(reflect.ValueOf(x).Elem(), reflect.ValueOf(y).Elem(), userOthers) {
			return false
		}
	}
	return true
}

func sameHistograms(a, b map[string]Histogram) bool {
	return maps.EqualFunc(a, b, func(x, y Histogram) bool {
		return x.Count == y.Count && x.Sum == y.Sum && maps.Equal(x.Buckets, y.Buckets)
	})
}

// shareUsage points snap's Usage() at the usage snapshot last published
// when snap's usage data is the same.
func (s *Scraper) shareUsage(snap *Snapshot) {
	prev := s.snapshot.Load()
	if prev == nil {
		return
	}
	if root := prev.Usage(); sameUsage(root, snap) {
		snap.usage = root
	}
}
