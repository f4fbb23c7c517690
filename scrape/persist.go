package scrape

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/go-kit/log/level"

	"github.com/zoomexporter/zoom_exporter/store"
)

// Encodings of what the store keeps. A meeting's record is small and
// binary (one is kept per meeting); counters and histograms are JSON.

// encodeCounted is: type length (1 byte), type, duration, total minutes,
// participants (uint32 each, big endian), flags (1 byte).
func encodeCounted(c countedMeeting) []byte {
	b := make([]byte, 0, 1+len(c.Type)+13)
	b = append(b, byte(len(c.Type)))
	b = append(b, c.Type...)
	b = binary.BigEndian.AppendUint32(b, uint32(c.Duration))
	b = binary.BigEndian.AppendUint32(b, uint32(c.TotalMinutes))
	b = binary.BigEndian.AppendUint32(b, uint32(c.Participants))
	return append(b, c.Flags)
}

func decodeCounted(b []byte) (countedMeeting, error) {
	if len(b) < 1 || len(b) != 1+int(b[0])+13 {
		return countedMeeting{}, fmt.Errorf("meeting record of %d bytes is malformed", len(b))
	}
	n := int(b[0])
	rest := b[1+n:]
	return countedMeeting{
		Type:         internType(string(b[1 : 1+n])),
		Duration:     int32(binary.BigEndian.Uint32(rest[0:4])),
		TotalMinutes: int32(binary.BigEndian.Uint32(rest[4:8])),
		Participants: int32(binary.BigEndian.Uint32(rest[8:12])),
		Flags:        rest[12],
	}, nil
}

// internType shares one string per type name instead of one per meeting.
func internType(name string) string {
	for code := 1; code <= 10; code++ {
		if t := TypeName(code); t == name {
			return t
		}
	}
	return name
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
	raw, err := json.Marshal(s.client.budgetRecord())
	if err == nil {
		err = s.store.PutShared(budgetKey, raw)
	}
	if err != nil {
		level.Warn(s.logger).Log("msg", "Cannot record the daily budget spent", "err", err)
	}
}

// restore loads the store into the scraper's state, keeping the meetings of
// the months still refreshed, and publishes a first snapshot so restored
// counters are served before the first refresh ends.
func (s *Scraper) restore(st *store.Store) error {
	now := s.now().UTC()
	keep := make(map[string]bool)
	for _, w := range s.monthsToRefresh(now) {
		keep[monthKey(w.month)] = true
	}
	users, hist, err := st.Load(func(month string) bool { return keep[month] })
	if err != nil {
		return err
	}
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
		var r budgetRecord
		if err := json.Unmarshal(raw, &r); err != nil {
			return fmt.Errorf("store %s: the daily budget does not decode: %w; move the file aside to start afresh", st.Path(), err)
		}
		s.client.restoreBudget(r)
	}
	meetings := 0
	for key, data := range users {
		u := s.stateFor(key)
		u.email = data.Email
		if len(data.Counters) > 0 {
			if err := json.Unmarshal(data.Counters, &u.counters); err != nil {
				return fmt.Errorf("store %s: counters of user %s do not decode: %w", st.Path(), key, err)
			}
		}
		for month, recs := range data.Meetings {
			counted := make(map[string]countedMeeting, len(recs))
			for uuid, b := range recs {
				c, err := decodeCounted(b)
				if err != nil {
					return fmt.Errorf("store %s: user %s month %s meeting %s: %w", st.Path(), key, month, uuid, err)
				}
				counted[uuid] = c
			}
			u.counted[month] = counted
			meetings += len(counted)
		}
	}
	level.Info(s.logger).Log("msg", "Restored counters from the store", "path", st.Path(), "users", len(users), "meetings", meetings)
	s.publish(now, false, 0)
	return nil
}
