package scrape

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/go-kit/log/level"

	"github.com/zoomexporter/zoom_exporter/internal/sanitize"
	"github.com/zoomexporter/zoom_exporter/store"
	"github.com/zoomexporter/zoom_exporter/zoom"
)

// Encodings of what the store keeps. A meeting's record is small and
// binary (one is kept per meeting); counters and histograms are JSON.

// compactRecord marks the first byte of a meeting record written since
// issue 16: 0x80 | type code, then duration, total minutes and
// participants (uvarints) and flags (1 byte): 5 to 9 bytes. A record
// written before starts with the length of its type's name (under 0x80),
// the name, the three figures as big-endian uint32 and flags; it is still
// read, so no record needs rewriting.
const compactRecord = 0x80

func encodeCounted(c countedMeeting) []byte {
	b := make([]byte, 0, 2+3*binary.MaxVarintLen32)
	b = append(b, compactRecord|c.Type)
	b = binary.AppendUvarint(b, uint64(uint32(c.Duration)))
	b = binary.AppendUvarint(b, uint64(uint32(c.TotalMinutes)))
	b = binary.AppendUvarint(b, uint64(uint32(c.Participants)))
	return append(b, c.Flags)
}

func decodeCounted(b []byte) (countedMeeting, error) {
	if len(b) > 0 && b[0]&compactRecord != 0 {
		c := countedMeeting{Type: b[0] &^ compactRecord}
		if c.Type > maxTypeCode {
			return countedMeeting{}, fmt.Errorf("meeting record has unknown type code %d", c.Type)
		}
		rest := b[1:]
		for _, f := range []*int32{&c.Duration, &c.TotalMinutes, &c.Participants} {
			v, n := binary.Uvarint(rest)
			if n <= 0 || v > math.MaxInt32 {
				return countedMeeting{}, fmt.Errorf("meeting record of %d bytes is malformed", len(b))
			}
			*f, rest = int32(v), rest[n:]
		}
		if len(rest) != 1 {
			return countedMeeting{}, fmt.Errorf("meeting record of %d bytes is malformed", len(b))
		}
		c.Flags = rest[0]
		return c, nil
	}
	if len(b) < 1 || len(b) != 1+int(b[0])+13 {
		return countedMeeting{}, fmt.Errorf("meeting record of %d bytes is malformed", len(b))
	}
	n := int(b[0])
	rest := b[1+n:]
	return countedMeeting{
		Type:         typeCodeOf(string(b[1 : 1+n])),
		Duration:     int32(binary.BigEndian.Uint32(rest[0:4])),
		TotalMinutes: int32(binary.BigEndian.Uint32(rest[4:8])),
		Participants: int32(binary.BigEndian.Uint32(rest[8:12])),
		Flags:        rest[12],
	}, nil
}

// binaryCounters marks counter totals written since issue 16: then, in
// type order, each type's name (uvarint length, bytes) and its seven
// figures (varints), about 30 bytes a type where JSON took 150, so that a
// user's e-mail and counters fit in the store's page they share with other
// users. Counters written before are JSON (starting with '{', or null) and
// still read.
const binaryCounters = 0x01

func encodeCounters(counters map[string]Totals) []byte {
	b := []byte{binaryCounters}
	for _, typ := range slices.Sorted(maps.Keys(counters)) {
		t := counters[typ]
		b = binary.AppendUvarint(b, uint64(len(typ)))
		b = append(b, typ...)
		for _, v := range []int64{t.Meetings, t.DurationSeconds, t.ParticipantSeconds, t.Participants, t.WithRecording, t.WithScreenShare, t.WithChat} {
			b = binary.AppendVarint(b, v)
		}
	}
	return b
}

func decodeCounters(b []byte) (map[string]Totals, error) {
	out := make(map[string]Totals)
	if len(b) == 0 || b[0] != binaryCounters {
		if err := json.Unmarshal(b, &out); err != nil {
			return nil, err
		}
		if out == nil { // a stored null
			out = make(map[string]Totals)
		}
		return out, nil
	}
	rest := b[1:]
	for len(rest) > 0 {
		n, w := binary.Uvarint(rest)
		if w <= 0 || n > uint64(len(rest)-w) || n > 64 {
			return nil, fmt.Errorf("counters of %d bytes are malformed", len(b))
		}
		typ := string(rest[w : w+int(n)])
		rest = rest[w+int(n):]
		var t Totals
		for _, f := range []*int64{&t.Meetings, &t.DurationSeconds, &t.ParticipantSeconds, &t.Participants, &t.WithRecording, &t.WithScreenShare, &t.WithChat} {
			v, w := binary.Varint(rest)
			if w <= 0 {
				return nil, fmt.Errorf("counters of %d bytes are malformed", len(b))
			}
			*f, rest = v, rest[w:]
		}
		if _, dup := out[typ]; dup {
			return nil, fmt.Errorf("counters list type %q twice", typ)
		}
		out[typ] = t
	}
	return out, nil
}

// storedHistograms is the JSON form: counts per bucket in bound order.
type storedHistogram struct {
	Count  uint64    `json:"count"`
	Sum    float64   `json:"sum"`
	Bounds []float64 `json:"bounds"`
	Counts []uint64  `json:"counts"` // cumulative, one per bound
}

type storedHistograms struct {
	Durations    map[string]storedHistogram `json:"durations"`
	Participants map[string]storedHistogram `json:"participants"`
}

func toStored(hs map[string]*Histogram, bounds []float64) map[string]storedHistogram {
	out := make(map[string]storedHistogram, len(hs))
	for typ, h := range hs {
		sh := storedHistogram{Count: h.Count, Sum: h.Sum, Bounds: bounds}
		for _, b := range bounds {
			sh.Counts = append(sh.Counts, h.Buckets[b])
		}
		out[typ] = sh
	}
	return out
}

func fromStored(in map[string]storedHistogram, bounds []float64) (map[string]*Histogram, error) {
	out := make(map[string]*Histogram, len(in))
	for typ, sh := range in {
		if len(sh.Bounds) != len(bounds) || len(sh.Counts) != len(bounds) {
			return nil, fmt.Errorf("histogram %s has %d buckets, this version uses %d", typ, len(sh.Bounds), len(bounds))
		}
		h := newHistogram(bounds)
		h.Count, h.Sum = sh.Count, sh.Sum
		for i, b := range bounds {
			if sh.Bounds[i] != b {
				return nil, fmt.Errorf("histogram %s has bucket %v where this version has %v", typ, sh.Bounds[i], b)
			}
			h.Buckets[b] = sh.Counts[i]
		}
		out[typ] = h
	}
	return out, nil
}

func encodeHistograms(durations, sizes map[string]*Histogram) ([]byte, error) {
	return json.Marshal(storedHistograms{
		Durations:    toStored(durations, DurationBuckets),
		Participants: toStored(sizes, ParticipantsBuckets),
	})
}

// budgetKey is where the store keeps the daily budget spent so far.
const budgetKey = "daily_budget"

// saveBudget records today's spending so a restart does not spend it again.
func (s *Scraper) saveBudget() {
	if s.store == nil || s.client == nil {
		return
	}
	raw, err := json.Marshal(s.client.BudgetRecord())
	if err == nil {
		err = s.store.PutShared(budgetKey, raw)
	}
	if err != nil {
		level.Warn(s.logger).Log("msg", "Cannot record the daily budget spent", "err", err)
	}
}

// coverageKey is where the store keeps, by month, when every tracked
// user's data of the month was last known current.
const coverageKey = "month_coverage"

// coverageMonths is how many months of coverage are kept, and
// coverageSaveEvery how much it must advance before it is written again.
const (
	coverageMonths    = 7
	coverageSaveEvery = time.Hour
)

// noteCoverage records, for each month refreshed, when every tracked
// user's data of it was last known current, and keeps it in the store when
// it advanced. A user that never refreshed and fails (a --zoom.user Zoom
// does not know) is left out: no catch-up would help it.
func (s *Scraper) noteCoverage(tracked []*userState, windows []reportWindow, now time.Time) {
	changed := false
	for _, w := range windows {
		mk := monthKey(w.month)
		var oldest time.Time
		complete := true
		for _, u := range tracked {
			if u.lastOK.IsZero() && u.lastError != "" {
				continue
			}
			at, ok := u.knownAt[mk]
			if !ok {
				complete = false
				break
			}
			if oldest.IsZero() || at.Before(oldest) {
				oldest = at
			}
		}
		if !complete || oldest.IsZero() || !oldest.After(s.coverage[mk]) {
			continue
		}
		s.coverage[mk] = oldest
		changed = true
	}
	if c := s.catchUp; c != nil {
		cur := monthStart(now)
		switch {
		case !s.coverage[monthKey(c.month)].Before(cur.Add(s.conf.GracePeriod)):
			level.Info(s.logger).Log("msg", "The previous month is caught up after the downtime", "month", monthKey(c.month))
			s.catchUp = nil
		case !now.Before(c.until) || !c.month.Equal(cur.AddDate(0, -1, 0)):
			level.Warn(s.logger).Log("msg", "Giving up catching up the previous month after the downtime; meetings that reached its report late may be missing", "month", monthKey(c.month))
			s.catchUp = nil
		}
	}
	if !changed || s.store == nil {
		return
	}
	// The catch-up looks at half a grace period: saving an hour's progress
	// at most once is plenty, and spares a write a cycle.
	due := false
	for mk, at := range s.coverage {
		saved, ok := s.savedCoverage[mk]
		due = due || !ok || at.Sub(saved) >= coverageSaveEvery
	}
	if !due {
		return
	}
	oldest := monthKey(monthStart(now).AddDate(0, -coverageMonths, 0))
	maps.DeleteFunc(s.coverage, func(k string, _ time.Time) bool { return k < oldest })
	raw, err := json.Marshal(s.coverage)
	if err == nil {
		err = s.store.PutShared(coverageKey, raw)
	}
	if err == nil {
		if s.coverage == nil { // a stored null
			s.coverage = make(map[string]time.Time)
		}
		s.savedCoverage = maps.Clone(s.coverage)
	}
	if err != nil && s.failures.shouldLog("\x00coverage", "store", now, s.conf.Interval) {
		level.Warn(s.logger).Log("msg", "Cannot record which months were refreshed to their end", "err", sanitize.Message(err.Error()))
	}
}

// planCatchUp decides, at start, whether the previous month is refreshed
// once more: when the store shows it was last seen complete before the
// second half of its grace period (the exporter was down across the month
// turn for longer than that), meetings may have reached its report after
// the last look. It is refreshed, as during the grace period, until every
// tracked user's data of it is current, for at most one grace period.
func (s *Scraper) planCatchUp(now time.Time) {
	grace := s.conf.GracePeriod
	cur := monthStart(now)
	prev := cur.AddDate(0, -1, 0)
	if grace <= 0 || now.Sub(cur) < grace {
		return // no grace period, or the previous month is in it anyway
	}
	seen, ok := s.coverage[monthKey(prev)]
	if !ok || !seen.Before(cur.Add(grace/2)) {
		return // never seen by this store (nothing to catch up), or seen to its end
	}
	s.catchUp = &catchUpWindow{month: prev, until: now.Add(grace)}
	level.Info(s.logger).Log("msg", "The exporter was down across the month turn for longer than the grace period; refreshing the previous month once more",
		"month", monthKey(prev), "last_complete", seen.Format(time.RFC3339))
}

// restore loads the store into the scraper's state, keeping the meetings of
// the months still refreshed, and publishes a first snapshot so restored
// counters are served before the first refresh ends.
func (s *Scraper) restore(st *store.Store) error {
	now := s.now().UTC()
	if raw, err := st.Shared(coverageKey); err != nil {
		return fmt.Errorf("store %s: reading the months refreshed: %w", st.Path(), err)
	} else if len(raw) > 0 {
		if err := json.Unmarshal(raw, &s.coverage); err != nil {
			return fmt.Errorf("store %s: the months refreshed do not decode: %w; move the file aside to start afresh", st.Path(), err)
		}
		if s.coverage == nil { // a stored null
			s.coverage = make(map[string]time.Time)
		}
		s.savedCoverage = maps.Clone(s.coverage)
	}
	s.planCatchUp(now)
	keep := make(map[string]bool)
	for _, w := range s.monthsToRefresh(now) {
		keep[monthKey(w.month)] = true
	}
	// One user at a time: the store's copy of a user is garbage once
	// decoded, and a whole store's copy would double the memory at start.
	restoredUsers, meetings := 0, 0
	hist, err := st.Each(func(month string) bool { return keep[month] }, func(key string, data *store.UserData) error {
		u := s.stateFor(key)
		u.email = sanitize.Text(data.Email, maxEmailBytes) // a label until the directory is read
		if len(data.Counters) > 0 {
			var err error
			if u.counters, err = decodeCounters(data.Counters); err != nil {
				return fmt.Errorf("store %s: counters of user %s do not decode: %w", st.Path(), key, err)
			}
		}
		for month, recs := range data.Meetings {
			counted := make(map[meetingID]countedMeeting, len(recs))
			for uuid, b := range recs {
				c, err := decodeCounted(b)
				if err != nil {
					return fmt.Errorf("store %s: user %s month %s meeting %s: %w", st.Path(), key, month, uuid, err)
				}
				counted[idOf(uuid)] = c
			}
			u.counted[month] = counted
			meetings += len(counted)
		}
		restoredUsers++
		return nil
	})
	if err != nil {
		return err
	}
	for mk := range keep {
		s.inMemory[mk] = true
	}
	s.restored = restoredUsers > 0
	if len(hist) > 0 {
		var sh storedHistograms
		if err := json.Unmarshal(hist, &sh); err != nil {
			return fmt.Errorf("store %s: histograms do not decode: %w; move the file aside to start afresh", st.Path(), err)
		}
		if s.durations, err = fromStored(sh.Durations, DurationBuckets); err != nil {
			return fmt.Errorf("store %s: %w", st.Path(), err)
		}
		if s.sizes, err = fromStored(sh.Participants, ParticipantsBuckets); err != nil {
			return fmt.Errorf("store %s: %w", st.Path(), err)
		}
	}
	if raw, err := st.Shared(budgetKey); err != nil {
		return fmt.Errorf("store %s: reading the daily budget: %w", st.Path(), err)
	} else if len(raw) > 0 && s.client != nil {
		var r zoom.BudgetRecord
		if err := json.Unmarshal(raw, &r); err != nil {
			return fmt.Errorf("store %s: the daily budget does not decode: %w; move the file aside to start afresh", st.Path(), err)
		}
		s.client.RestoreBudget(r)
	}
	level.Info(s.logger).Log("msg", "Restored counters from the store", "path", st.Path(), "users", restoredUsers, "meetings", meetings)
	s.publish(now, false, 0)
	return nil
}
