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

// Markers written into a test store, found again in the file to damage it.
const (
	markerCounters = `{"marker":"counters-7f3a9c"}`
	markerMeeting  = "meeting-value-7f3a9c"
	markerUUID     = "uuid-key-7f3a9c"
	markerState    = "state-value-7f3a9c"
)

// pageSize is bbolt's page size for the stores the tests create.
var pageSize = os.Getpagesize()

// writeStore writes a store with the markers and enough users and meetings
// to span many pages, and closes it.
func writeStore(t *testing.T, dir string) {
	t.Helper()
	s, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for u := range 50 {
		meetings := map[string][]byte{}
		for i := range 50 {
			meetings[fmt.Sprintf("uuid-%d-%d==", u, i)] = []byte("0123456789abcdef")
		}
		c := Change{User: fmt.Sprintf("user-%d", u), Email: fmt.Sprintf("u%d@example.com", u), Counters: []byte(`{"pmi":1}`),
			Meetings: map[string]map[string][]byte{"2026-11": meetings}, Histograms: []byte(`{"h":1}`)}
		if u == 7 {
			c.Counters = []byte(markerCounters)
			c.Meetings["2026-10"] = map[string][]byte{markerUUID: []byte("x"), "other": []byte(markerMeeting)}
		}
		if err := s.Commit(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutShared("daily_budget", []byte(markerState)); err != nil {
		t.Fatal(err)
	}
}

// flip changes one byte in the middle of every copy of marker in the file
// (bbolt keeps stale copies of rewritten pages: the live one is among them).
func flip(t *testing.T, path, marker string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for i := 0; ; {
		j := bytes.Index(data[i:], []byte(marker))
		if j < 0 {
			break
		}
		data[i+j+len(marker)/2] ^= 0x04
		i += j + len(marker)
		n++
	}
	if n == 0 {
		t.Fatalf("%q is not in %s", marker, path)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestDamagedStoreRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		damage func(t *testing.T, path string)
		want   []string
	}{
		{
			name: "zero bytes",
			damage: func(t *testing.T, path string) {
				if err := os.Truncate(path, 0); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"is empty (0 bytes)"},
		},
		{
			name:   "truncated to half",
			damage: truncateHalf,
			want:   []string{"is cut short"},
		},
		{
			name:   "flipped byte in a counters value",
			damage: func(t *testing.T, path string) { flip(t, path, markerCounters) },
			want:   []string{"users/user-7/counters fails its checksum"},
		},
		{
			name:   "flipped byte in a meeting value of a month no longer loaded",
			damage: func(t *testing.T, path string) { flip(t, path, markerMeeting) },
			want:   []string{"users/user-7/months/2026-10/other fails its checksum"},
		},
		{
			name:   "flipped byte in a meeting key",
			damage: func(t *testing.T, path string) { flip(t, path, markerUUID) },
			want:   []string{"users/user-7/months/2026-10/uuid-ke", "fails its checksum"},
		},
		{
			name:   "flipped byte in a shared value",
			damage: func(t *testing.T, path string) { flip(t, path, markerState) },
			want:   []string{"shared/state/daily_budget fails its checksum"},
		},
		{
			name: "damaged page header",
			damage: func(t *testing.T, path string) {
				f, err := os.OpenFile(path, os.O_RDWR, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				// Page 4 is a data page; its header is its id and type.
				if _, err := f.WriteAt(bytes.Repeat([]byte{0x5a}, 16), 4*int64(pageSize)); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"reading it failed"},
		},
		{
			name: "both meta pages damaged",
			damage: func(t *testing.T, path string) {
				f, err := os.OpenFile(path, os.O_RDWR, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				for _, off := range []int64{0, int64(pageSize)} {
					if _, err := f.WriteAt([]byte{1, 2, 3, 4}, off+metaOffset+8); err != nil {
						t.Fatal(err)
					}
				}
			},
			want: []string{"both of its header pages are damaged"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			writeStore(t, dir)
			path := filepath.Join(dir, FileName)
			tt.damage(t, path)
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			s, err := Open(dir, nil)
			if err == nil {
				s.Close()
				t.Fatal("a damaged store opened")
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("error does not wrap ErrCorrupt: %v", err)
			}
			for _, w := range append(tt.want, path, "is corrupt", "restore it from a backup", "move it aside") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			// Refusing loses nothing: the file is as it was.
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(before, after) {
				t.Errorf("refusing the store changed the file (%d bytes, now %d)", len(before), len(after))
			}
		})
	}
}

// truncateHalf cuts the file to half its size, checking that this cuts
// pages in use (bbolt grows its file ahead of its pages).
func truncateHalf(t *testing.T, path string) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	m := liveMeta(t, path)
	if m.highWater*m.pageSize <= uint64(info.Size()/2) {
		t.Fatalf("the pages in use (%d bytes) fit in half the file (%d bytes): write more", m.highWater*m.pageSize, info.Size())
	}
	if err := os.Truncate(path, info.Size()/2); err != nil {
		t.Fatal(err)
	}
}

// liveMeta is the meta page bbolt would use.
func liveMeta(t *testing.T, path string) boltMeta {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m0, m1 := parseMeta(data[:metaSize]), parseMeta(data[pageSize:pageSize+metaSize])
	if !m0.valid || !m1.valid {
		t.Fatal("a meta page is invalid")
	}
	if m1.txid > m0.txid {
		return m1
	}
	return m0
}

// TestOpenBoltRecoversPanic proves the second line of defence: bbolt
// panics inside bolt.Open on a file cut short, which checkFile would have
// refused first.
func TestOpenBoltRecoversPanic(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeStore(t, dir)
	path := filepath.Join(dir, FileName)
	truncateHalf(t, path)
	db, err := openBolt(path)
	if err == nil {
		db.Close()
		t.Fatal("bbolt opened a store cut in half")
	}
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "opening it failed") {
		t.Errorf("error = %v", err)
	}
	// The file and its lock were released: a healthy store opens after it.
	if _, err := openBolt(filepath.Join(t.TempDir(), FileName)); err != nil {
		t.Fatal(err)
	}
}

// TestValuesCarryChecksums reads the raw file: every value but the schema
// version ends with the CRC32-C of its path and value.
func TestValuesCarryChecksums(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeStore(t, dir)
	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n := 0
	err = db.View(func(tx *bolt.Tx) error {
		return walkAll(tx, func(p [][]byte, v []byte) error {
			if isSchemaKey(p) {
				if string(v) != "2" {
					t.Errorf("schema version %q", v)
				}
				return nil
			}
			n++
			return verify("test", v, p)
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 50*52 {
		t.Errorf("only %d values checked", n)
	}
}

// writeV1 writes a store as zoom_exporter wrote schema version 1: the same
// buckets, values without checksums.
func writeV1(t *testing.T, dir string) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		meta, _ := tx.CreateBucket(bucketMeta)
		users, _ := tx.CreateBucket(bucketUsers)
		shared, _ := tx.CreateBucket(bucketShared)
		if err := meta.Put(keySchema, []byte("1")); err != nil {
			return err
		}
		for _, u := range []string{"u1", "u2"} {
			ub, err := users.CreateBucket([]byte(u))
			if err != nil {
				return err
			}
			ub.Put(keyEmail, []byte(u+"@example.com"))
			ub.Put(keyCounters, []byte(`{"pmi":3,"user":"`+u+`"}`))
			months, _ := ub.CreateBucket(bucketMonths)
			for _, m := range []string{"2026-10", "2026-11"} {
				mb, _ := months.CreateBucket([]byte(m))
				mb.Put([]byte("uuid/a=="), []byte{1, 2, 3})
				mb.Put([]byte("uuid-b"), []byte(m))
			}
		}
		shared.Put(keyHistograms, []byte(`{"h":1}`))
		return shared.Put([]byte("state/daily_budget"), []byte(`{"day":"2026-11-15","used":12}`))
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestMigrateFromVersion1(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeV1(t, dir)
	var logs bytes.Buffer
	s, err := OpenWith(dir, Options{Logger: log.NewLogfmtLogger(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "Store migrated from schema version 1") || !strings.Contains(logs.String(), "values=14") {
		t.Errorf("migration log: %s", logs.String())
	}
	check := func(s *Store) {
		t.Helper()
		users, hist, err := s.Load(func(string) bool { return true })
		if err != nil {
			t.Fatal(err)
		}
		if string(hist) != `{"h":1}` {
			t.Errorf("histograms = %q", hist)
		}
		for _, u := range []string{"u1", "u2"} {
			d := users[u]
			if d == nil || d.Email != u+"@example.com" || string(d.Counters) != `{"pmi":3,"user":"`+u+`"}` {
				t.Fatalf("%s = %+v", u, d)
			}
			for _, m := range []string{"2026-10", "2026-11"} {
				if got := d.Meetings[m]; len(got) != 2 || !bytes.Equal(got["uuid/a=="], []byte{1, 2, 3}) || string(got["uuid-b"]) != m {
					t.Errorf("%s %s meetings = %q", u, m, got)
				}
			}
		}
		if b, err := s.Shared("daily_budget"); err != nil || string(b) != `{"day":"2026-11-15","used":12}` {
			t.Errorf("shared = %q, %v", b, err)
		}
	}
	check(s)
	s.Close()

	// Reopened: version 2, no second migration, the same values.
	logs.Reset()
	s, err = OpenWith(dir, Options{Logger: log.NewLogfmtLogger(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "migrated") {
		t.Errorf("migrated twice: %s", logs.String())
	}
	check(s)
	s.Close()

	// The migrated values are checked: a flipped byte is caught.
	flip(t, filepath.Join(dir, FileName), `"user":"u2"`)
	if _, err := Open(dir, nil); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "users/u2/counters fails its checksum") {
		t.Errorf("a flipped byte in a migrated value: %v", err)
	}
}

// TestMigrationRefusedStoreUntouched: a version 1 store that is damaged is
// refused before the migration rewrites anything.
func TestMigrationRefusedStoreUntouched(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeV1(t, dir)
	path := filepath.Join(dir, FileName)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The root bucket's page: its header damaged.
	if _, err := f.WriteAt(bytes.Repeat([]byte{0x5a}, 16), int64(liveMeta(t, path).root)*int64(pageSize)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	before, _ := os.ReadFile(path)
	if _, err := Open(dir, nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a damaged version 1 store: %v", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("the damaged store was rewritten")
	}
}

func TestErrorsKeepTheirType(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	openTest(t, dir)
	_, err := Open(dir, nil)
	if !errors.Is(err, bolterrors.ErrTimeout) {
		t.Errorf("a locked store: %v does not wrap bbolt's ErrTimeout", err)
	}
	dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, FileName), bytes.Repeat([]byte("not a store "), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, nil); !errors.Is(err, ErrCorrupt) {
		t.Errorf("a garbage file: %v does not wrap ErrCorrupt", err)
	}
}

// BenchmarkOpen measures what opening costs a large store: every page and
// every value's checksum is checked, and a store of version 1 migrated.
//
//	go test -run '^$' -bench Open -benchtime 3x ./store/
func BenchmarkOpen(b *testing.B) {
	const users, meetings = 100, 1000 // 100,000 meetings
	for _, version := range []int{1, 2} {
		b.Run(fmt.Sprintf("schema_v%d", version), func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				dir := b.TempDir()
				db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
				if err != nil {
					b.Fatal(err)
				}
				err = db.Update(func(tx *bolt.Tx) error {
					meta, _ := tx.CreateBucket(bucketMeta)
					ub, _ := tx.CreateBucket(bucketUsers)
					tx.CreateBucket(bucketShared)
					meta.Put(keySchema, []byte("1"))
					for u := range users {
						user, _ := ub.CreateBucket(fmt.Appendf(nil, "user-%d", u))
						user.Put(keyCounters, []byte(`{"pmi":{"meetings":1000,"duration":60000}}`))
						months, _ := user.CreateBucket(bucketMonths)
						mb, _ := months.CreateBucket([]byte("2026-11"))
						for i := range meetings {
							if err := mb.Put(fmt.Appendf(nil, "uuid-%d-%d-abcdefghij==", u, i), []byte("\x09scheduled0123456789abc")); err != nil {
								return err
							}
						}
					}
					return nil
				})
				db.Close()
				if err != nil {
					b.Fatal(err)
				}
				if version == 2 { // migrated once, outside the timing
					s, err := Open(dir, nil)
					if err != nil {
						b.Fatal(err)
					}
					s.Close()
				}
				info, _ := os.Stat(filepath.Join(dir, FileName))
				b.StartTimer()
				s, err := Open(dir, nil)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				s.Close()
				b.ReportMetric(float64(info.Size())/1e6, "MB")
				b.StartTimer()
			}
		})
	}
}
