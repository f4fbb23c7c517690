//go:build linux

package store

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// mappedBytes is how much of path this process has resident through its
// mappings, from /proc/self/smaps.
func mappedBytes(t testing.TB, path string) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var total int64
	inFile := false
	lines := bufio.NewScanner(f)
	for lines.Scan() {
		fields := strings.Fields(lines.Text())
		if len(fields) == 0 {
			continue
		}
		if !strings.HasSuffix(fields[0], ":") { // a mapping's header: address range, perms, offset, dev, inode, path
			inFile = len(fields) >= 6 && fields[len(fields)-1] == path
			continue
		}
		if inFile && fields[0] == "Rss:" && len(fields) == 3 {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			total += kb << 10
		}
	}
	if err := lines.Err(); err != nil {
		t.Fatal(err)
	}
	return total
}

// TestStorePagesNotKeptMapped: after a commit, a full read and opening,
// the store's file is not kept in the process's resident memory; the same
// read without the release keeps it there (so the measure sees them).
func TestStorePagesNotKeptMapped(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	value := make([]byte, 200)
	for u := range 2000 {
		meetings := map[string][]byte{}
		for m := range 20 {
			meetings[fmt.Sprintf("uuid-%d-%d", u, m)] = value
		}
		if err := s.Commit(Change{User: fmt.Sprintf("user-%05d", u), Email: "e", Counters: []byte("{}"),
			Meetings: map[string]map[string][]byte{"2026-11": meetings}}); err != nil {
			t.Fatal(err)
		}
	}
	size := s.Size()
	if size < 4<<20 {
		t.Fatalf("the store is %d bytes: too small to tell", size)
	}
	const kept = 256 << 10 // a few pages a transaction may leave, with the kernel's fault-around
	if got := mappedBytes(t, s.Path()); got > kept {
		t.Errorf("after commits, %d bytes of the %d-byte store are resident in the process, want <= %d", got, size, kept)
	}

	// A raw read of every value maps the file...
	read := func() {
		t.Helper()
		if err := s.db.View(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMonths).Bucket([]byte("2026-11")).ForEach(func(_, v []byte) error {
				_ = v[len(v)-1]
				return nil
			})
		}); err != nil {
			t.Fatal(err)
		}
	}
	read()
	if got := mappedBytes(t, s.Path()); got < size/2 {
		t.Fatalf("reading every value left only %d bytes of %d resident: the measure does not see the store's pages", got, size)
	}
	// ...and the release unmaps it.
	s.releaseMapped()
	if got := mappedBytes(t, s.Path()); got > kept {
		t.Errorf("after releaseMapped, %d bytes of the store are resident, want <= %d", got, kept)
	}

	read()
	n := 0
	if _, err := s.Each(func(string) bool { return true }, func(string, *UserData) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 2000 {
		t.Fatalf("Each read %d users, want 2000", n)
	}
	if got := mappedBytes(t, s.Path()); got > kept {
		t.Errorf("after Each, %d bytes of the store are resident, want <= %d", got, kept)
	}

	s.Close()
	s = openTest(t, dir) // opening checks every page
	if got := mappedBytes(t, s.Path()); got > kept {
		t.Errorf("after opening, %d bytes of the store are resident, want <= %d", got, kept)
	}
}

// BenchmarkCommitCycle measures one refresh cycle's commits on a store of
// 10,000 users x 50 meetings (24 MB, as internal/membench's account): 500
// users (5%) each commit a new meeting, one transaction each, fsync
// included. The cycle with the store's pages released after each commit
// (what ships) alternates with the same cycle keeping them mapped (the
// baseline); each prints its time and how much of the file is resident
// in the process after it.
//
//	go test -run XXX -bench CommitCycle -benchtime 6x ./store
func BenchmarkCommitCycle(b *testing.B) {
	dir := b.TempDir()
	s, err := Open(dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const users, meetings, changed = 10000, 50, 500
	name := func(u int) string { return fmt.Sprintf("user-%05d", u) }
	record := make([]byte, 40)
	if err := s.db.Update(func(tx *bolt.Tx) error {
		for u := range users {
			m := map[string][]byte{}
			for k := range meetings {
				m[fmt.Sprintf("%022d", u*meetings+k)] = record
			}
			ub, err := tx.Bucket(bucketUsers).CreateBucketIfNotExists([]byte(name(u)))
			if err != nil {
				return err
			}
			if err := ub.Put(keyCounters, seal([]byte("{}"), bucketUsers, []byte(name(u)), keyCounters)); err != nil {
				return err
			}
			mb, err := tx.Bucket(bucketMonths).CreateBucketIfNotExists([]byte("2026-11"))
			if err != nil {
				return err
			}
			merged, err := mergeEntries(nil, m)
			if err != nil {
				return err
			}
			if err := mb.Put([]byte(name(u)), seal(merged, bucketMonths, []byte("2026-11"), []byte(name(u)))); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	s.releaseMapped()
	next := 0 // numbers the new meetings
	cycle := func(keep bool) (time.Duration, int64) {
		s.keepMapped = keep
		began := time.Now()
		for i := range changed {
			next++
			u := (next*7919 + i) % users
			if err := s.Commit(Change{User: name(u), Email: "e", Counters: []byte("{}"),
				Meetings: map[string]map[string][]byte{"2026-11": {fmt.Sprintf("new-%022d", next): record}}}); err != nil {
				b.Fatal(err)
			}
		}
		took := time.Since(began)
		resident := mappedBytes(b, s.Path())
		s.keepMapped = false
		s.releaseMapped() // each cycle starts from nothing mapped
		return took, resident
	}
	var shipped, baseline []time.Duration
	var shippedRes, baselineRes int64
	b.ResetTimer()
	for i := range b.N {
		for _, keep := range [][]bool{{false, true}, {true, false}}[i%2] {
			took, res := cycle(keep)
			if keep {
				baseline, baselineRes = append(baseline, took), max(baselineRes, res)
			} else {
				shipped, shippedRes = append(shipped, took), max(shippedRes, res)
			}
		}
	}
	b.StopTimer()
	median := func(d []time.Duration) time.Duration { slices.Sort(d); return d[len(d)/2] }
	fmt.Printf("a cycle of %d commits on a %.1f MB store (%d users x %d meetings), median of %d, alternating:\n", changed, float64(s.Size())/1e6, users, meetings, b.N)
	fmt.Printf("  pages released after each commit (shipped): %v, %.1f MB of the file resident after it\n", median(shipped).Round(time.Millisecond), float64(shippedRes)/1e6)
	fmt.Printf("  pages kept mapped (baseline):               %v, %.1f MB resident: %.3f x the time\n", median(baseline).Round(time.Millisecond), float64(baselineRes)/1e6,
		float64(median(shipped))/float64(median(baseline)))
	b.ReportMetric(float64(median(shipped))/float64(median(baseline)), "time-ratio")
	b.ReportMetric(float64(shippedRes), "resident-bytes")
	b.ReportMetric(float64(baselineRes), "baseline-resident-bytes")
}
