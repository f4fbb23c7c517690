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
			want:   []string{"months/2026-10/user-7 fails its checksum"},
		},
		{
			name:   "flipped byte in a meeting key",
			damage: func(t *testing.T, path string) { flip(t, path, markerUUID) },
			want:   []string{"months/2026-10/user-7 fails its checksum"},
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
	// Cut just before the freelist page, which bolt.Open reads.
	m := liveMeta(t, path)
	if m.freelist == pgidNoFreelist || m.freelist < 2 {
		t.Fatalf("freelist at page %d", m.freelist)
	}
	if err := os.Truncate(path, int64(m.freelist*m.pageSize)); err != nil {
		t.Fatal(err)
	}
	db, err := openBolt(path)
	if err == nil {
		db.Close()
		t.Fatal("bbolt opened a store cut short")
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
				if string(v) != "3" {
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
	// Each user's e-mail, counters and month of meetings, user-7's second
	// month, the histograms and the shared state.
	if want := 50*3 + 3; n != want {
		t.Errorf("%d values checked, want %d", n, want)
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
	for _, w := range []string{"Store migrated from schema version 1", "values=14", "Store migrated to schema version 3", "users=2 meetings=8"} {
		if !strings.Contains(logs.String(), w) {
			t.Errorf("migration log lacks %q: %s", w, logs.String())
		}
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

	// Reopened: version 3, no second migration, the same values.
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

// writeV2 writes a store as zoom_exporter wrote schema version 2: a bucket
// per user and month, each meeting a value with its checksum. users maps a
// user to its months, each to its meetings.
func writeV2(t testing.TB, dir string, users map[string]map[string]map[string][]byte) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		meta, _ := tx.CreateBucket(bucketMeta)
		ub, _ := tx.CreateBucket(bucketUsers)
		shared, _ := tx.CreateBucket(bucketShared)
		if err := meta.Put(keySchema, []byte("2")); err != nil {
			return err
		}
		for u, months := range users {
			name := []byte(u)
			user, err := ub.CreateBucket(name)
			if err != nil {
				return err
			}
			user.Put(keyEmail, seal([]byte(u+"@example.com"), bucketUsers, name, keyEmail))
			user.Put(keyCounters, seal([]byte(`{"pmi":{"Meetings":3}}`), bucketUsers, name, keyCounters))
			mbs, _ := user.CreateBucket(bucketMonths)
			for m, meetings := range months {
				mk := []byte(m)
				mb, _ := mbs.CreateBucket(mk)
				for uuid, v := range meetings {
					if err := mb.Put([]byte(uuid), seal(v, bucketUsers, name, bucketMonths, mk, []byte(uuid))); err != nil {
						return err
					}
				}
			}
		}
		return shared.Put(keyHistograms, seal([]byte(`{"h":2}`), bucketShared, keyHistograms))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A store of schema version 2 is migrated once, in one transaction, to one
// value per user and month: every meeting, e-mail, counter and histogram is
// kept, and the old buckets are gone.
func TestMigrateFromVersion2(t *testing.T) {
	t.Parallel()
	want := map[string]map[string]map[string][]byte{
		"u1": {"2026-10": {"uuid/a==": {1, 2, 3}, "uuid-b": []byte("b")}, "2026-11": {"c+d==": {4}}},
		"u2": {"2026-11": {"uuid/a==": {5}}}, // the same uuid for another user
		"u3": {},
	}
	dir := t.TempDir()
	writeV2(t, dir, want)
	var logs bytes.Buffer
	s, err := OpenWith(dir, Options{Logger: log.NewLogfmtLogger(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	if w := "Store migrated to schema version 3"; !strings.Contains(logs.String(), w) || !strings.Contains(logs.String(), "users=3 meetings=4") {
		t.Errorf("migration log lacks %q, users=3 meetings=4: %s", w, logs.String())
	}
	check := func(s *Store) {
		t.Helper()
		users, hist, err := s.Load(func(string) bool { return true })
		if err != nil {
			t.Fatal(err)
		}
		if string(hist) != `{"h":2}` || len(users) != len(want) {
			t.Fatalf("histograms %q, %d users", hist, len(users))
		}
		for u, months := range want {
			d := users[u]
			if d == nil || d.Email != u+"@example.com" || string(d.Counters) != `{"pmi":{"Meetings":3}}` {
				t.Fatalf("%s = %+v", u, d)
			}
			if len(d.Meetings) != len(months) {
				t.Errorf("%s has months %v, want %d", u, d.Meetings, len(months))
			}
			for m, meetings := range months {
				got := d.Meetings[m]
				if len(got) != len(meetings) {
					t.Errorf("%s %s: %d meetings, want %d", u, m, len(got), len(meetings))
				}
				for uuid, v := range meetings {
					if !bytes.Equal(got[uuid], v) {
						t.Errorf("%s %s %s = %q, want %q", u, m, uuid, got[uuid], v)
					}
				}
			}
		}
	}
	check(s)
	s.Close()

	// Reopened: no second migration; the old buckets are gone.
	logs.Reset()
	s, err = OpenWith(dir, Options{Logger: log.NewLogfmtLogger(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "migrated") {
		t.Errorf("migrated twice: %s", logs.String())
	}
	check(s)
	err = s.view(func(tx *bolt.Tx) error {
		return walkAll(tx, func(p [][]byte, _ []byte) error {
			if len(p) > 3 {
				t.Errorf("a value left in the old layout: %s", showPath(p))
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	// The migrated values are checked: a flipped byte is caught.
	flip(t, filepath.Join(dir, FileName), "uuid-b")
	if _, err := Open(dir, nil); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "months/2026-10/u1 fails its checksum") {
		t.Errorf("a flipped byte in a migrated meeting: %v", err)
	}
}

// A damaged version 2 store is refused before the migration rewrites it.
func TestMigrationFromVersion2RefusesDamage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeV2(t, dir, map[string]map[string]map[string][]byte{"u1": {"2026-11": {"uuid-x": []byte(markerMeeting)}}})
	path := filepath.Join(dir, FileName)
	flip(t, path, markerMeeting)
	before, _ := os.ReadFile(path)
	if _, err := Open(dir, nil); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "users/u1/months/2026-11/uuid-x fails its checksum") {
		t.Errorf("a damaged version 2 store: %v", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("the damaged store was rewritten")
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
// every value's checksum is checked; a store of version 1 is migrated to
// checksums and to one value per user and month, one of version 2 to one
// value per user and month. It reports the file's size before and after.
//
//	go test -run '^$' -bench Open -benchtime 3x ./store/
func BenchmarkOpen(b *testing.B) {
	const users, meetings = 100, 1000 // 100,000 meetings
	uuid := func(u, i int) string { return fmt.Sprintf("uuid-%d-%d-abcdefghij==", u, i) }
	const record = "\x09scheduled0123456789abc" // as version 2 wrote them
	build := map[int]func(b *testing.B, dir string){
		1: func(b *testing.B, dir string) {
			db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
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
						if err := mb.Put([]byte(uuid(u, i)), []byte(record)); err != nil {
							return err
						}
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		},
		2: func(b *testing.B, dir string) {
			data := make(map[string]map[string]map[string][]byte, users)
			for u := range users {
				m := make(map[string][]byte, meetings)
				for i := range meetings {
					m[uuid(u, i)] = []byte(record)
				}
				data[fmt.Sprintf("user-%d", u)] = map[string]map[string][]byte{"2026-11": m}
			}
			writeV2(b, dir, data)
		},
		3: func(b *testing.B, dir string) {
			s, err := Open(dir, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			for u := range users {
				m := make(map[string][]byte, meetings)
				for i := range meetings {
					m[uuid(u, i)] = []byte{0x82, 45, 0x87, 0x01, 3, 5}
				}
				c := Change{User: fmt.Sprintf("user-%d", u), Counters: []byte(`{"pmi":{"meetings":1000,"duration":60000}}`), Meetings: map[string]map[string][]byte{"2026-11": m}}
				if err := s.Commit(c); err != nil {
					b.Fatal(err)
				}
			}
		},
	}
	for _, version := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("schema_v%d", version), func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				dir := b.TempDir()
				build[version](b, dir)
				before, _ := os.Stat(filepath.Join(dir, FileName))
				b.StartTimer()
				s, err := Open(dir, nil)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				s.Close()
				after, _ := os.Stat(filepath.Join(dir, FileName))
				b.ReportMetric(float64(before.Size())/1e6, "MB-before")
				b.ReportMetric(float64(after.Size())/1e6, "MB-after")
				b.StartTimer()
			}
		})
	}
}
