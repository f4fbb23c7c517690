package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-kit/log"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

func TestMonthValueCodec(t *testing.T) {
	t.Parallel()
	enc := func(kv ...string) []byte {
		var es []entry
		for i := 0; i < len(kv); i += 2 {
			es = append(es, entry{[]byte(kv[i]), []byte(kv[i+1])})
		}
		return appendEntries(nil, es)
	}
	for _, tc := range []struct {
		name   string
		old    []byte
		upsert map[string][]byte
		want   []byte
	}{
		{"into nothing", nil, map[string][]byte{"b": {2}, "a": {1}}, enc("a", "\x01", "b", "\x02")},
		{"added between", enc("a", "1", "c", "3"), map[string][]byte{"b": []byte("2")}, enc("a", "1", "b", "2", "c", "3")},
		{"replaced", enc("a", "1", "b", "2"), map[string][]byte{"b": []byte("9")}, enc("a", "1", "b", "9")},
		{"first and last", enc("m", "1"), map[string][]byte{"a": nil, "z": []byte("26")}, enc("a", "", "m", "1", "z", "26")},
		{"nothing new", enc("a", "1"), nil, enc("a", "1")},
		{"a uuid of 256 bytes", nil, map[string][]byte{strings.Repeat("u", 256): []byte("v")}, enc(strings.Repeat("u", 256), "v")},
	} {
		got, err := mergeEntries(tc.old, tc.upsert)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !bytes.Equal(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
		if n := countEntries(got); n != countEntries(tc.want) || n < 0 {
			t.Errorf("%s: %d entries", tc.name, n)
		}
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"cut in a key", enc("abc", "1")[:2], "meeting 0 does not parse"},
		{"cut in a value", enc("a", "1", "b", "22")[:7], "meeting 1 does not parse"},
		{"length past the end", []byte{0x7f, 'a'}, "meeting 0 does not parse"},
		{"bad varint", bytes.Repeat([]byte{0xff}, 11), "meeting 0 does not parse"},
		{"out of order", append(enc("b", "1"), enc("a", "2")...), "meeting 1 is out of order"},
		{"twice", append(enc("a", "1"), enc("a", "2")...), "meeting 1 is out of order"},
	} {
		err := eachEntry(tc.b, func(_, _ []byte) error { return nil })
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
		if _, err := mergeEntries(tc.b, map[string][]byte{"x": nil}); err == nil {
			t.Errorf("%s: merged into a value that does not parse", tc.name)
		}
		if countEntries(tc.b) != -1 {
			t.Errorf("%s: counted", tc.name)
		}
	}
}

// A month's value that passes its checksum but does not parse (written by
// a bug, never by a flipped byte) is refused with the file and the place.
func TestMalformedMonthValueRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openTest(t, dir)
	if err := s.Commit(Change{User: "u1", Counters: []byte(`{}`), Meetings: map[string]map[string][]byte{"2026-11": {"a": {1}}}}); err != nil {
		t.Fatal(err)
	}
	bad := append(appendEntries(nil, []entry{{[]byte("b"), nil}}), appendEntries(nil, []entry{{[]byte("a"), nil}})...)
	err := s.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMonths).Bucket([]byte("2026-11")).Put([]byte("u1"), seal(bad, bucketMonths, []byte("2026-11"), []byte("u1")))
	})
	if err != nil {
		t.Fatal(err)
	}
	for what, err := range map[string]error{
		"load":   func() error { _, _, err := s.Load(func(string) bool { return true }); return err }(),
		"commit": s.Commit(Change{User: "u1", Counters: []byte(`{}`), Meetings: map[string]map[string][]byte{"2026-11": {"c": {1}}}}),
	} {
		if err == nil || !strings.Contains(err.Error(), "months/2026-11/u1: meeting 1 is out of order") || !strings.Contains(err.Error(), filepath.Join(dir, FileName)) {
			t.Errorf("%s: %v", what, err)
		}
	}
}

// One value per user and month: at 50 meetings a user, a store takes a
// quarter of what a bucket per user and month (schema version 2) took, and
// a migrated store is compacted to the same.
func TestStoreBytesPerMeeting(t *testing.T) {
	t.Parallel()
	const users, perUser = 400, 50
	meetings := func(u int) map[string][]byte {
		m := make(map[string][]byte, perUser)
		for i := range perUser {
			// Zoom-like 24-character uuids; records as the scraper writes them.
			m[fmt.Sprintf("%020d%02d==", u*7919+i*104729, i%100)] = []byte{0x82, 45, 0x87, 0x01, 3, 5}
		}
		return m
	}
	dir := t.TempDir()
	s := openTest(t, dir)
	for u := range users {
		c := Change{User: fmt.Sprintf("Zoom-user-id-%09d", u), Email: fmt.Sprintf("user%d@example.com", u),
			Counters: bytes.Repeat([]byte("c"), 120), Meetings: map[string]map[string][]byte{"2026-11": meetings(u)}}
		if err := s.Commit(c); err != nil {
			t.Fatal(err)
		}
	}
	v3 := float64(s.Size()) / (users * perUser)

	old := map[string]map[string]map[string][]byte{}
	for u := range users {
		old[fmt.Sprintf("Zoom-user-id-%09d", u)] = map[string]map[string][]byte{"2026-11": meetings(u)}
	}
	dir2 := t.TempDir()
	writeV2(t, dir2, old)
	info, err := os.Stat(filepath.Join(dir2, FileName))
	if err != nil {
		t.Fatal(err)
	}
	v2 := float64(info.Size()) / (users * perUser)
	var logs bytes.Buffer
	s2, err := OpenWith(dir2, Options{Logger: log.NewLogfmtLogger(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	migrated := float64(s2.Size()) / (users * perUser)
	loaded, _, err := s2.Load(func(string) bool { return true })
	if err != nil || len(loaded) != users {
		t.Fatalf("the compacted store loads %d users, %v", len(loaded), err)
	}
	for u := range users {
		if got := loaded[fmt.Sprintf("Zoom-user-id-%09d", u)].Meetings["2026-11"]; len(got) != perUser {
			t.Fatalf("user %d has %d meetings after compaction", u, len(got))
		}
	}
	if _, err := os.Stat(filepath.Join(dir2, FileName+compactSuffix)); !os.IsNotExist(err) {
		t.Errorf("the compacted copy is left behind: %v", err)
	}
	if _, err := Open(dir2, nil); !errors.Is(err, bolterrors.ErrTimeout) {
		t.Errorf("the compacted store is not locked: a second open got %v", err)
	}
	s2.Close()
	t.Logf("store bytes per meeting: %.0f (version 2: %.0f; migrated from version 2 and compacted: %.0f)", v3, v2, migrated)
	if v3 > v2/4 || migrated > v2/4 {
		t.Errorf("%.0f store bytes per meeting, %.0f migrated, version 2 took %.0f: want at most a quarter", v3, migrated, v2)
	}
	if !strings.Contains(logs.String(), "Store compacted after its migration") {
		t.Errorf("no log of the compaction: %s", logs.String())
	}
}
