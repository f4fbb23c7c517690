package store

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/go-kit/log"
)

var (
	acctA     = Owner{AccountID: "acct-A", Shard: 0, TotalShards: 1}
	acctB     = Owner{AccountID: "acct-B", Shard: 0, TotalShards: 1}
	acctA1of2 = Owner{AccountID: "acct-A", Shard: 1, TotalShards: 2}
	demo      = Owner{AccountID: "fake-account", Demo: true, Shard: 0, TotalShards: 1}
	// A real run against a fake Zoom that uses the demo's account id.
	notDemo = Owner{AccountID: "fake-account", Shard: 0, TotalShards: 1}
)

// openAs opens dir for owner and returns the store (nil on error), the
// logs and the error.
func openAs(t *testing.T, dir string, owner Owner, discard bool) (*Store, string, error) {
	t.Helper()
	var logs bytes.Buffer
	s, err := OpenWith(dir, Options{Owner: owner, DiscardForeign: discard, Logger: log.NewLogfmtLogger(&logs)})
	if err == nil {
		t.Cleanup(func() { s.Close() })
	}
	return s, logs.String(), err
}

// commitOne gives the store one user with one meeting.
func commitOne(t *testing.T, s *Store) {
	t.Helper()
	err := s.Commit(Change{User: "u1", Email: "a@example.com", Counters: []byte(`{"pmi":1}`),
		Meetings: map[string]map[string][]byte{"2026-11": {"m1": {1}}}})
	if err != nil {
		t.Fatal(err)
	}
}

func userCount(t *testing.T, s *Store) int {
	t.Helper()
	users, _, err := s.Load(func(string) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	return len(users)
}

func TestStoreBelongsToOneOwner(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		first       Owner // opens the store and writes one user; zero: a store of schema version 1
		then        Owner
		discard     bool
		wantErr     []string // refused, with these in the message
		wantForeign bool     // the error is a *ForeignError
		wantUsers   int      // users left when it opens
		wantLog     string
	}{
		{name: "same owner keeps its counters", first: acctA, then: acctA, wantUsers: 1},
		{name: "another account is refused", first: acctA, then: acctB, wantForeign: true,
			wantErr: []string{`belongs to Zoom account "acct-A", shard 0 of 1`, `runs for Zoom account "acct-B", shard 0 of 1`,
				"merged", "new --storage.path", "--storage.discard-foreign"}},
		{name: "another shard layout is refused", first: acctA, then: acctA1of2, wantForeign: true,
			wantErr: []string{`Zoom account "acct-A", shard 0 of 1`, `Zoom account "acct-A", shard 1 of 2`, "its own shard's users"}},
		{name: "discard takes over another account's store", first: acctA, then: acctB, discard: true, wantUsers: 0,
			wantLog: `DISCARDED the store`},
		{name: "discard with the same owner discards nothing", first: acctA, then: acctA, discard: true, wantUsers: 1,
			wantLog: "nothing discarded"},
		{name: "a real account refuses the demo's store", first: demo, then: notDemo, wantForeign: true,
			wantErr: []string{"the built-in demo account (--demo", `runs for Zoom account "fake-account"`, "--storage.discard-foreign"}},
		{name: "a real account discards the demo's store", first: demo, then: notDemo, discard: true, wantUsers: 0,
			wantLog: `DISCARDED`},
		{name: "the demo refuses a real account's store", first: notDemo, then: demo, wantForeign: true,
			wantErr: []string{"--demo never writes into a real account's store", "without --storage.path"}},
		{name: "the demo refuses it even with discard", first: acctA, then: demo, discard: true, wantForeign: true,
			wantErr: []string{"--demo never writes into a real account's store"}},
		{name: "a store of version 1 is adopted", then: acctA, wantUsers: 2,
			wantLog: "Store adopted"},
		{name: "the demo refuses a store of version 1", then: demo,
			wantErr: []string{"holds counters of an account it does not record", "--demo never writes into a real account's store"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if tt.first == (Owner{}) {
				writeV1(t, dir)
			} else {
				s, logs, err := openAs(t, dir, tt.first, false)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(logs, "Store recorded for this account") {
					t.Errorf("first open logs: %s", logs)
				}
				commitOne(t, s)
				s.Close()
			}
			s, logs, err := openAs(t, dir, tt.then, tt.discard)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatal("opened")
				}
				var fe *ForeignError
				if errors.As(err, &fe) != tt.wantForeign {
					t.Errorf("error %T: a *ForeignError: %v, want %v", err, !tt.wantForeign, tt.wantForeign)
				}
				for _, w := range append(tt.wantErr, dir) {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				// Refused, and untouched: the first owner opens it as before.
				if tt.first != (Owner{}) {
					s, _, err := openAs(t, dir, tt.first, false)
					if err != nil {
						t.Fatalf("the first owner cannot reopen a refused store: %v", err)
					}
					if n := userCount(t, s); n != 1 {
						t.Errorf("the refused store has %d users, want 1", n)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n := userCount(t, s); n != tt.wantUsers {
				t.Errorf("%d users, want %d", n, tt.wantUsers)
			}
			if !strings.Contains(logs, tt.wantLog) {
				t.Errorf("logs lack %q: %s", tt.wantLog, logs)
			}
			s.Close()
			// It now belongs to the second owner, with no flag.
			if _, _, err := openAs(t, dir, tt.then, false); err != nil {
				t.Errorf("reopening as its new owner: %v", err)
			}
		})
	}
}

func TestDiscardLogsWhatIsLost(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, _, err := openAs(t, dir, acctA, false)
	if err != nil {
		t.Fatal(err)
	}
	commitOne(t, s)
	if err := s.PutShared("daily_budget", []byte("x")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, logs, err := openAs(t, dir, acctB, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"level=warn", `discarded_owner="Zoom account \"acct-A\", shard 0 of 1"`, "discarded_users=1", "discarded_meetings=1", `owner="Zoom account \"acct-B\"`} {
		if !strings.Contains(logs, w) {
			t.Errorf("discard log lacks %s: %s", w, logs)
		}
	}
	if b, err := s.Shared("daily_budget"); err != nil || b != nil {
		t.Errorf("shared state of the old account kept: %q, %v", b, err)
	}
}

// TestNoOwnerChecksNothing: tools and tests open any store without an owner.
func TestNoOwnerChecksNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, _, err := openAs(t, dir, acctA, false)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, _, err := openAs(t, dir, acctA, false); err != nil {
		t.Errorf("opening without an owner changed the owner: %v", err)
	}
}
