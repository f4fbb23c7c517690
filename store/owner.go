package store

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/go-kit/log/level"
	bolt "go.etcd.io/bbolt"
)

// Owner is what a store's counters belong to: one Zoom account, as one
// shard of a layout. Counters of another owner must never be merged in.
type Owner struct {
	AccountID string `json:"account_id"`
	// Demo marks the built-in simulated account: it never matches a real
	// account, whatever its id.
	Demo        bool `json:"demo,omitempty"`
	Shard       int  `json:"shard"`
	TotalShards int  `json:"total_shards"`
}

func (o Owner) String() string {
	who := fmt.Sprintf("Zoom account %q", o.AccountID)
	if o.Demo {
		who = fmt.Sprintf("the built-in demo account (--demo, %q)", o.AccountID)
	}
	return fmt.Sprintf("%s, shard %d of %d", who, o.Shard, o.TotalShards)
}

// ForeignError is Open's error for a store recorded for another owner.
type ForeignError struct {
	Path          string
	Stored, Wants Owner
}

func (e *ForeignError) Error() string {
	fix := "give this exporter a new --storage.path, or start it once with --storage.discard-foreign to empty the store and take it over (its counters are then lost)"
	if e.Wants.Demo && !e.Stored.Demo {
		fix = "--demo never writes into a real account's store: run --demo without --storage.path (it then uses a temporary store) or with a directory of its own"
	}
	what := "the counters of one would be merged into the other's"
	if e.Stored.AccountID == e.Wants.AccountID && e.Stored.Demo == e.Wants.Demo {
		what = "a store keeps the counters of its own shard's users only"
	}
	return fmt.Sprintf("store %s belongs to %s, but this exporter runs for %s: %s; %s", e.Path, e.Stored, e.Wants, what, fix)
}

// ErrUnownedForDemo is Open's error when --demo is given a store that holds
// counters but no owner: it was written before stores recorded their
// account, and may be a real account's.
var ErrUnownedForDemo = errors.New("holds counters of an account it does not record")

var keyOwner = []byte("owner")

// claim records the owner of a store that has none, and refuses a store
// recorded for another owner unless discard is set. It runs in the
// transaction that opens the store.
func (s *Store) claim(tx *bolt.Tx, want Owner, discard bool) error {
	meta := tx.Bucket(bucketMeta)
	raw, err := s.unseal(meta.Get(keyOwner), bucketMeta, keyOwner)
	if err != nil {
		return err
	}
	users, meetings := countData(tx)
	shared, _ := tx.Bucket(bucketShared).Cursor().First()
	hasData := users > 0 || shared != nil
	record := func() error {
		b, err := json.Marshal(want)
		if err != nil {
			return err
		}
		return meta.Put(keyOwner, seal(b, bucketMeta, keyOwner))
	}
	if raw == nil {
		switch {
		case want.Demo && hasData:
			return fmt.Errorf("store %s %w (it was written before stores recorded their account, and may be a real account's): --demo never writes into a real account's store: run --demo without --storage.path (it then uses a temporary store) or with a directory of its own",
				s.path, ErrUnownedForDemo)
		case hasData:
			level.Info(s.logger).Log("msg", "Store adopted: it was written before stores recorded their account, and now belongs to this one",
				"path", s.path, "owner", want, "users", users, "meetings", meetings)
		default:
			level.Info(s.logger).Log("msg", "Store recorded for this account", "path", s.path, "owner", want)
		}
		return record()
	}
	var stored Owner
	if err := json.Unmarshal(raw, &stored); err != nil {
		return corruptBy(s.path, "its owner record does not decode", err)
	}
	if stored == want {
		if discard {
			level.Info(s.logger).Log("msg", "--storage.discard-foreign is set, but the store already belongs to this account: nothing discarded. Remove the flag: while it is set, a change of account or shard layout empties the store",
				"path", s.path)
		}
		return nil
	}
	if !discard || (want.Demo && !stored.Demo) {
		return &ForeignError{Path: s.path, Stored: stored, Wants: want}
	}
	for _, name := range [][]byte{bucketUsers, bucketShared, bucketMonths} {
		if err := tx.DeleteBucket(name); err != nil {
			return err
		}
		if _, err := tx.CreateBucket(name); err != nil {
			return err
		}
	}
	level.Warn(s.logger).Log("msg", "DISCARDED the store of another account or shard layout (--storage.discard-foreign): its counters are gone, this account's start from zero",
		"path", s.path, "discarded_owner", stored, "discarded_users", users, "discarded_meetings", meetings, "owner", want)
	return record()
}

// countData counts the users and the meetings a store holds.
func countData(tx *bolt.Tx) (users, meetings int) {
	_ = tx.Bucket(bucketUsers).ForEachBucket(func([]byte) error {
		users++
		return nil
	})
	top := tx.Bucket(bucketMonths)
	_ = top.ForEachBucket(func(m []byte) error {
		return top.Bucket(m).ForEach(func(_, v []byte) error {
			if len(v) >= sumSize {
				meetings += max(countEntries(v[:len(v)-sumSize]), 0)
			}
			return nil
		})
	})
	return users, meetings
}
