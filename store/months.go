package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
)

// A user's meetings of one month are one value (schema version 3): bbolt
// gives every bucket a page of its own once it outgrows a quarter page, so
// a bucket per user and month (version 2) took three 4 KiB pages a user,
// 250 bytes a meeting at 50 meetings a user, all of it mapped into the
// exporter's memory. As one value per user and month, users share pages.
//
// The value lists the meetings in uuid order, each as uvarint(len(uuid)),
// uuid, uvarint(len(record)), record; the records are the scraper's.

// entry is one meeting of a month's value.
type entry struct{ key, value []byte }

// appendEntries encodes entries, which must be sorted by key and have no
// key twice.
func appendEntries(dst []byte, entries []entry) []byte {
	for _, e := range entries {
		dst = binary.AppendUvarint(dst, uint64(len(e.key)))
		dst = append(dst, e.key...)
		dst = binary.AppendUvarint(dst, uint64(len(e.value)))
		dst = append(dst, e.value...)
	}
	return dst
}

// eachEntry calls fn for every meeting of a month's value, in order. The
// slices it passes point into b. It refuses a value that does not parse,
// or whose uuids are out of order.
func eachEntry(b []byte, fn func(key, value []byte) error) error {
	var prev []byte
	for i := 0; len(b) > 0; i++ {
		var key, value []byte
		for _, part := range []*[]byte{&key, &value} {
			n, w := binary.Uvarint(b)
			if w <= 0 || n > uint64(len(b)-w) {
				return fmt.Errorf("meeting %d does not parse", i)
			}
			*part, b = b[w:w+int(n)], b[w+int(n):]
		}
		if i > 0 && bytes.Compare(prev, key) >= 0 {
			return fmt.Errorf("meeting %d is out of order", i)
		}
		if err := fn(key, value); err != nil {
			return err
		}
		prev = key
	}
	return nil
}

// mergeEntries returns the month's value with the meetings of upsert added
// or replaced.
func mergeEntries(old []byte, upsert map[string][]byte) ([]byte, error) {
	keys := make([]string, 0, len(upsert))
	for k := range upsert {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]byte, 0, len(old)+len(upsert)*40)
	add := func(k string) {
		out = appendEntries(out, []entry{{[]byte(k), upsert[k]}})
	}
	err := eachEntry(old, func(key, value []byte) error {
		for len(keys) > 0 && keys[0] < string(key) {
			add(keys[0])
			keys = keys[1:]
		}
		if len(keys) > 0 && keys[0] == string(key) {
			add(keys[0]) // replaced
			keys = keys[1:]
			return nil
		}
		out = appendEntries(out, []entry{{key, value}})
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		add(k)
	}
	return out, nil
}

// countEntries is how many meetings a month's value holds; -1 when it does
// not parse.
func countEntries(b []byte) int {
	n := 0
	if eachEntry(b, func(_, _ []byte) error { n++; return nil }) != nil {
		return -1
	}
	return n
}
