package store

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	bolt "go.etcd.io/bbolt"
)

func openTest(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir, prometheus.NewPedanticRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestCommitLoadRoundTrip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openTest(t, dir)
	changes := []Change{
		{User: "u1", Email: "a@example.com", Counters: []byte(`{"pmi":1}`), Histograms: []byte(`{"h":1}`),
			Meetings: map[string]map[string][]byte{"2026-11": {"abc/def==": {1, 2}, "x": {3}}, "2026-10": {"old": {4}}}},
		{User: "u1", Email: "a@example.com", Counters: []byte(`{"pmi":2}`),
			Meetings: map[string]map[string][]byte{"2026-11": {"y": {5}}}},
		{User: "u2", Email: "b@example.com", Counters: []byte(`{}`)},
	}
	for _, c := range changes {
		if err := s.Commit(c); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	s = openTest(t, dir) // reopen: everything came from disk
	users, hist, err := s.Load(func(m string) bool { return m == "2026-11" })
	if err != nil {
		t.Fatal(err)
	}
	if string(hist) != `{"h":1}` {
		t.Errorf("histograms = %s (a commit without histograms must keep the last ones)", hist)
	}
	u1 := users["u1"]
	if u1 == nil || u1.Email != "a@example.com" || string(u1.Counters) != `{"pmi":2}` {
		t.Fatalf("u1 = %+v", u1)
	}
	if got := len(u1.Meetings["2026-11"]); got != 3 {
		t.Errorf("u1 has %d November meetings, want 3 (upserts add up)", got)
	}
	if _, ok := u1.Meetings["2026-10"]; ok {
		t.Error("a month the caller did not keep was loaded")
	}
	if string(u1.Meetings["2026-11"]["abc/def=="]) != "\x01\x02" {
		t.Error("a uuid with / lost its value")
	}
	if users["u2"] == nil {
		t.Error("u2 lost")
	}
	if err := s.DeleteUser("u2"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser("never-there"); err != nil {
		t.Errorf("deleting an unknown user: %v", err)
	}
	users, _, _ = s.Load(func(string) bool { return true })
	if _, ok := users["u2"]; ok {
		t.Error("deleted user still loads")
	}
	if s.Size() == 0 {
		t.Error("store size is 0")
	}
}

func TestPruneBefore(t *testing.T) {
	t.Parallel()
	s := openTest(t, t.TempDir())
	months := map[string]map[string][]byte{}
	for _, m := range []string{"2026-04", "2026-05", "2026-06", "2026-11"} {
		months[m] = map[string][]byte{"uuid": {1}}
	}
	if err := s.Commit(Change{User: "u", Counters: []byte(`{}`), Meetings: months}); err != nil {
		t.Fatal(err)
	}
	if err := s.PruneBefore("2026-05"); err != nil {
		t.Fatal(err)
	}
	got, err := s.Months("u")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "2026-05,2026-06,2026-11" {
		t.Errorf("months after pruning = %v", got)
	}
}

func TestOpenFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(t *testing.T) string // returns the --storage.path
		want  []string
	}{
		{
			name: "corrupt file",
			setup: func(t *testing.T) string {
				dir := t.TempDir()
				garbage := []byte(strings.Repeat("this is not a bbolt file ", 1000))
				if err := os.WriteFile(filepath.Join(dir, FileName), garbage, 0o600); err != nil {
					t.Fatal(err)
				}
				return dir
			},
			want: []string{FileName, "is corrupt", "move it aside"},
		},
		{
			name: "future schema version",
			setup: func(t *testing.T) string {
				dir := t.TempDir()
				db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
				if err != nil {
					t.Fatal(err)
				}
				err = db.Update(func(tx *bolt.Tx) error {
					b, err := tx.CreateBucket(bucketMeta)
					if err != nil {
						return err
					}
					return b.Put(keySchema, []byte("7"))
				})
				db.Close()
				if err != nil {
					t.Fatal(err)
				}
				return dir
			},
			want: []string{FileName, "schema version 7", "reads version 3"},
		},
		{
			name: "foreign bbolt file",
			setup: func(t *testing.T) string {
				dir := t.TempDir()
				db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
				if err != nil {
					t.Fatal(err)
				}
				err = db.Update(func(tx *bolt.Tx) error {
					_, err := tx.CreateBucket(bucketUsers)
					return err
				})
				db.Close()
				if err != nil {
					t.Fatal(err)
				}
				return dir
			},
			want: []string{FileName, "no schema version"},
		},
		{
			name: "not writable",
			setup: func(t *testing.T) string {
				// A regular file where the directory should be: no process,
				// root included, can create the store below it.
				f := filepath.Join(t.TempDir(), "a-file")
				if err := os.WriteFile(f, nil, 0o600); err != nil {
					t.Fatal(err)
				}
				return filepath.Join(f, "store")
			},
			want: []string{FileName, "writable --storage.path"},
		},
		{
			name: "locked by another exporter",
			setup: func(t *testing.T) string {
				dir := t.TempDir()
				openTest(t, dir) // held until the test ends
				return dir
			},
			want: []string{FileName, "locked by another process", "its own --storage.path"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := tt.setup(t)
			s, err := Open(dir, nil)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestMetricsLint(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	s, err := Open(t.TempDir(), reg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Commit(Change{User: "u", Counters: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	if v := testutil.ToFloat64(s.metrics.lastCommit); v == 0 {
		t.Error("last commit timestamp not set")
	}
}
