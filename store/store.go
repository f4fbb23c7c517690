// Package store keeps what the exporter's counters need across restarts, in
// an embedded bbolt file: per user and month, the meetings already counted
// and their figures, the counter totals, and the histograms. It stores
// opaque values; the scraper encodes and decodes them.
package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// FileName is the store's file inside --storage.path.
const FileName = "zoom_exporter.db"

// SchemaVersion is the layout this code reads and writes. A store written
// by a newer version is refused, never reset; one of version 1 (values
// without checksums) or 2 (a bucket per user and month) is migrated when
// opened.
const SchemaVersion = 3

// lockTimeout bounds the wait for another process's lock on the file.
const lockTimeout = 2 * time.Second

// Layout (every value but the schema version ends with its checksum: see
// seal):
//
//	meta/schema_version        -> "3"
//	meta/owner                 -> JSON Owner: the account and shard layout
//	users/<user>/email         -> e-mail for the user label
//	users/<user>/counters      -> encoded counter totals
//	months/<YYYY-MM>/<user>    -> the user's meetings of the month, by uuid,
//	                              each with its encoded contribution (months.go)
//	shared/histograms          -> encoded histograms
//	shared/state/<key>         -> PutShared values
//
// Version 2 kept each meeting under users/<user>/months/<YYYY-MM>/<uuid>.
var (
	bucketMeta    = []byte("meta")
	bucketUsers   = []byte("users")
	bucketShared  = []byte("shared")
	bucketMonths  = []byte("months")
	keySchema     = []byte("schema_version")
	keyEmail      = []byte("email")
	keyCounters   = []byte("counters")
	keyHistograms = []byte("histograms")
)

// Store is an open store. Its methods are safe for concurrent use.
type Store struct {
	db      *bolt.DB
	path    string
	logger  log.Logger
	metrics storeMetrics

	mu         sync.Mutex
	lastCommit time.Time

	migrated bool // init migrated it: compact it

	keepMapped bool // the baseline of BenchmarkCommitCycle: releaseMapped does nothing
}

type storeMetrics struct {
	size         prometheus.GaugeFunc
	lastCommit   prometheus.GaugeFunc
	commits      prometheus.Counter
	commitErrors prometheus.Counter
	commitTime   prometheus.Histogram
}

// Options are Open's settings besides the directory.
type Options struct {
	// Registerer gets the store's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Logger gets the store's rare events (migration, adoption, discard);
	// nil logs nothing.
	Logger log.Logger
	// Owner is the account and shard layout the exporter runs for. A store
	// recorded for another owner is refused; one that records none is
	// adopted. A zero Owner (tools, tests) checks nothing and records nothing.
	Owner Owner
	// DiscardForeign empties a store recorded for another owner, and takes
	// it over, instead of refusing it.
	DiscardForeign bool
}

// Open opens (creating it if needed) the store in dir, without an owner:
// OpenWith with only a Registerer.
func Open(dir string, reg prometheus.Registerer) (*Store, error) {
	return OpenWith(dir, Options{Registerer: reg})
}

// OpenWith opens (creating it if needed) the store in dir. It refuses a
// damaged file (checking its pages and every value's checksum), a store of
// another schema version or owner; every failure names the file and says
// what to do, and nothing is ever reset silently.
func OpenWith(dir string, opts Options) (*Store, error) {
	path := filepath.Join(dir, FileName)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("store %s: cannot create the directory: %w; give the exporter a writable --storage.path", path, err)
	}
	if err := checkFile(path); err != nil {
		return nil, err
	}
	db, err := openBolt(path)
	if err != nil {
		if errors.Is(err, ErrCorrupt) {
			return nil, err
		}
		return nil, openError(path, err)
	}
	s := &Store{db: db, path: path, logger: opts.Logger}
	if s.logger == nil {
		s.logger = log.NewNopLogger()
	}
	os.Remove(path + compactSuffix) // a copy a crash left behind; the lock is ours
	s.metrics = newStoreMetrics(s)
	if err := s.init(opts); err != nil {
		s.db.Close()
		return nil, err
	}
	if s.migrated {
		if err := s.compact(); err != nil {
			return nil, err
		}
	}
	s.releaseMapped() // the checks read every page
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(s.metrics.size, s.metrics.lastCommit, s.metrics.commits, s.metrics.commitErrors, s.metrics.commitTime)
	}
	return s, nil
}

func openError(path string, err error) error {
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return fmt.Errorf("store %s is locked by another process (another zoom_exporter on the same --storage.path?); give each exporter its own --storage.path: %w", path, err)
	case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrChecksum),
		errors.Is(err, bolterrors.ErrVersionMismatch), errors.Is(err, bolterrors.ErrInvalidMapping):
		return fmt.Errorf("store %s is %w (%w); restore it from a backup, or move it aside to start afresh (counters then start again from zero)", path, ErrCorrupt, err)
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("store %s is not writable (%w); give the exporter a writable --storage.path", path, err)
	}
	return fmt.Errorf("store %s cannot be opened: %w; check --storage.path (a directory the exporter can write)", path, err)
}

// init checks every page and value of the store, writes the schema version
// into a new store, migrates one of version 1 or 2, refuses one of any other
// version, and claims it for its owner.
func (s *Store) init(opts Options) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard(s.path, &err)
	var version int
	err = s.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			if tx.Bucket(bucketUsers) != nil {
				return fmt.Errorf("store %s has data but no schema version; it was not written by zoom_exporter: move it aside", s.path)
			}
			return checkStructure(s.path, tx, false)
		}
		raw := meta.Get(keySchema)
		v, err := strconv.Atoi(string(raw))
		if err != nil {
			return corrupt(s.path, fmt.Sprintf("its schema version %q is unreadable", raw))
		}
		if v < 1 || v > SchemaVersion {
			return fmt.Errorf("store %s has schema version %d, but this zoom_exporter reads version %d; run the zoom_exporter version that wrote it, or move the file aside to start afresh", s.path, v, SchemaVersion)
		}
		buckets := [][]byte{bucketUsers, bucketShared}
		if v == SchemaVersion {
			buckets = append(buckets, bucketMonths)
		}
		for _, b := range buckets {
			if tx.Bucket(b) == nil {
				return corrupt(s.path, fmt.Sprintf("its bucket %q is missing", b))
			}
		}
		version = v
		return checkStructure(s.path, tx, v >= 2)
	})
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		if version == 0 {
			meta, err := tx.CreateBucketIfNotExists(bucketMeta)
			if err != nil {
				return err
			}
			for _, b := range [][]byte{bucketUsers, bucketShared, bucketMonths} {
				if _, err := tx.CreateBucketIfNotExists(b); err != nil {
					return err
				}
			}
			if err := meta.Put(keySchema, []byte(strconv.Itoa(SchemaVersion))); err != nil {
				return err
			}
		}
		if version == 1 {
			n := 0
			for _, b := range [][]byte{bucketMeta, bucketUsers, bucketShared} {
				m, err := sealBucket(tx.Bucket(b), [][]byte{b})
				if err != nil {
					return fmt.Errorf("store %s: migrating to schema version %d: %w", s.path, SchemaVersion, err)
				}
				n += m
			}
			level.Info(s.logger).Log("msg", "Store migrated from schema version 1: every value now carries a checksum; zoom_exporter versions before this one no longer open it",
				"path", s.path, "schema_version", SchemaVersion, "values", n)
		}
		if version == 1 || version == 2 {
			users, meetings, err := s.oneValuePerMonth(tx)
			if err != nil {
				return fmt.Errorf("store %s: migrating to schema version %d: %w", s.path, SchemaVersion, err)
			}
			if err := tx.Bucket(bucketMeta).Put(keySchema, []byte(strconv.Itoa(SchemaVersion))); err != nil {
				return err
			}
			level.Info(s.logger).Log("msg", "Store migrated to schema version 3: each user's meetings of a month are one value; zoom_exporter versions before this one no longer open it",
				"path", s.path, "schema_version", SchemaVersion, "users", users, "meetings", meetings)
			s.migrated = true
		}
		if opts.Owner == (Owner{}) {
			return nil
		}
		return s.claim(tx, opts.Owner, opts.DiscardForeign)
	})
}

// oneValuePerMonth is the migration from schema version 2: each bucket
// users/<user>/months/<YYYY-MM> becomes the value months/<YYYY-MM>/<user>.
// Every value it reads is checked against its checksum.
func (s *Store) oneValuePerMonth(tx *bolt.Tx) (users, meetings int, err error) {
	top, err := tx.CreateBucketIfNotExists(bucketMonths)
	if err != nil {
		return 0, 0, err
	}
	ub := tx.Bucket(bucketUsers)
	var names [][]byte
	if err := ub.ForEachBucket(func(name []byte) error {
		names = append(names, bytes.Clone(name))
		return nil
	}); err != nil {
		return 0, 0, err
	}
	for _, name := range names {
		user := ub.Bucket(name)
		old := user.Bucket(bucketMonths)
		if old == nil {
			continue
		}
		var months [][]byte
		if err := old.ForEachBucket(func(m []byte) error {
			months = append(months, bytes.Clone(m))
			return nil
		}); err != nil {
			return 0, 0, err
		}
		for _, mk := range months {
			var entries []entry
			err := old.Bucket(mk).ForEach(func(k, v []byte) error {
				if v == nil {
					return corrupt(s.path, fmt.Sprintf("%s is a bucket where a meeting was expected", showPath([][]byte{bucketUsers, name, bucketMonths, mk, k})))
				}
				v, err := s.unseal(v, bucketUsers, name, bucketMonths, mk, k)
				entries = append(entries, entry{bytes.Clone(k), v}) // bbolt gives keys in order
				return err
			})
			if err != nil {
				return 0, 0, err
			}
			mb, err := top.CreateBucketIfNotExists(mk)
			if err != nil {
				return 0, 0, err
			}
			if err := mb.Put(name, seal(appendEntries(nil, entries), bucketMonths, mk, name)); err != nil {
				return 0, 0, err
			}
			meetings += len(entries)
		}
		if err := user.DeleteBucket(bucketMonths); err != nil {
			return 0, 0, err
		}
		users++
	}
	return users, meetings, nil
}

// Path is the store's file.
func (s *Store) Path() string { return s.path }

// Close closes the store.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store %s: closing: %w", s.path, err)
	}
	return nil
}

// UserData is one user's stored data.
type UserData struct {
	Email    string
	Counters []byte
	// Meetings holds, by month (YYYY-MM) then meeting uuid, each meeting's
	// encoded contribution.
	Meetings map[string]map[string][]byte
}

// Change is what one user's refresh wrote: committed in one transaction,
// so a crash leaves either all of it or none.
type Change struct {
	User       string
	Email      string
	Counters   []byte                       // replaces the stored value
	Meetings   map[string]map[string][]byte // month -> uuid -> value: upserted
	Histograms []byte                       // replaces the stored value when not nil
}

// fillPercent is how full bbolt fills a page before it splits it. Users
// are mostly written in key order (a refresh goes through them sorted), for
// which bbolt's default of half a page leaves every page half empty.
const fillPercent = 0.9

// Commit writes c in one transaction.
func (s *Store) Commit(c Change) error {
	start := time.Now()
	err := s.update(func(tx *bolt.Tx) error {
		name := []byte(c.User)
		users := tx.Bucket(bucketUsers)
		users.FillPercent = fillPercent
		user, err := users.CreateBucketIfNotExists(name)
		if err != nil {
			return err
		}
		if err := user.Put(keyEmail, seal([]byte(c.Email), bucketUsers, name, keyEmail)); err != nil {
			return err
		}
		if err := user.Put(keyCounters, seal(c.Counters, bucketUsers, name, keyCounters)); err != nil {
			return err
		}
		for month, meetings := range c.Meetings {
			mk := []byte(month)
			mb, err := tx.Bucket(bucketMonths).CreateBucketIfNotExists(mk)
			if err != nil {
				return err
			}
			mb.FillPercent = fillPercent
			old, err := s.unseal(mb.Get(name), bucketMonths, mk, name)
			if err != nil {
				return err
			}
			merged, err := mergeEntries(old, meetings)
			if err != nil {
				return corrupt(s.path, fmt.Sprintf("the value at %s: %v", showPath([][]byte{bucketMonths, mk, name}), err))
			}
			if err := mb.Put(name, seal(merged, bucketMonths, mk, name)); err != nil {
				return err
			}
		}
		if c.Histograms != nil {
			return tx.Bucket(bucketShared).Put(keyHistograms, seal(c.Histograms, bucketShared, keyHistograms))
		}
		return nil
	})
	s.metrics.commitTime.Observe(time.Since(start).Seconds())
	if err != nil {
		s.metrics.commitErrors.Inc()
		return fmt.Errorf("store %s: commit for user %s: %w", s.path, c.User, err)
	}
	s.metrics.commits.Inc()
	s.mu.Lock()
	s.lastCommit = time.Now()
	s.mu.Unlock()
	return nil
}

// Load reads every user, with the meetings of the months keep accepts, and
// the histograms.
func (s *Store) Load(keep func(month string) bool) (users map[string]*UserData, histograms []byte, err error) {
	users = make(map[string]*UserData)
	histograms, err = s.Each(keep, func(user string, data *UserData) error {
		users[user] = data
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return users, histograms, nil
}

// Each calls fn for every user, one at a time, with the meetings of the
// months keep accepts, and returns the histograms: Load without holding
// every user's data at once. fn may keep what it is given.
func (s *Store) Each(keep func(month string) bool, fn func(user string, data *UserData) error) (histograms []byte, err error) {
	var fnErr error         // fn's own error, returned as it is
	defer s.releaseMapped() // it read every user's pages
	err = s.view(func(tx *bolt.Tx) error {
		var err error
		histograms, err = s.unseal(tx.Bucket(bucketShared).Get(keyHistograms), bucketShared, keyHistograms)
		if err != nil {
			return err
		}
		top := tx.Bucket(bucketMonths)
		var months [][]byte
		if err := top.ForEachBucket(func(m []byte) error {
			if keep(string(m)) {
				months = append(months, m)
			}
			return nil
		}); err != nil {
			return err
		}
		return tx.Bucket(bucketUsers).ForEachBucket(func(name []byte) error {
			ub := tx.Bucket(bucketUsers).Bucket(name)
			email, err := s.unseal(ub.Get(keyEmail), bucketUsers, name, keyEmail)
			if err != nil {
				return err
			}
			counters, err := s.unseal(ub.Get(keyCounters), bucketUsers, name, keyCounters)
			if err != nil {
				return err
			}
			u := &UserData{
				Email:    string(email),
				Counters: counters,
				Meetings: make(map[string]map[string][]byte),
			}
			for _, mk := range months {
				stored := top.Bucket(mk).Get(name)
				if stored == nil {
					continue
				}
				if err := verify(s.path, stored, [][]byte{bucketMonths, mk, name}); err != nil {
					return err
				}
				m := make(map[string][]byte)
				err := eachEntry(stored[:len(stored)-sumSize], func(k, v []byte) error {
					m[string(k)] = bytes.Clone(v)
					return nil
				})
				if err != nil {
					return corrupt(s.path, fmt.Sprintf("the value at %s: %v", showPath([][]byte{bucketMonths, mk, name}), err))
				}
				u.Meetings[string(mk)] = m
			}
			fnErr = fn(string(name), u)
			return fnErr
		})
	})
	if fnErr != nil {
		return nil, fnErr
	}
	if errors.Is(err, ErrCorrupt) {
		return nil, err // the message names the file and the fix
	}
	if err != nil {
		return nil, fmt.Errorf("store %s: reading: %w", s.path, err)
	}
	return histograms, nil
}

// PutShared keeps a small value of the whole exporter (not of one user),
// such as the daily budget spent so far.
func (s *Store) PutShared(key string, value []byte) error {
	err := s.update(func(tx *bolt.Tx) error {
		k := []byte("state/" + key)
		return tx.Bucket(bucketShared).Put(k, seal(value, bucketShared, k))
	})
	if err != nil {
		s.metrics.commitErrors.Inc()
		return fmt.Errorf("store %s: writing %s: %w", s.path, key, err)
	}
	return nil
}

// Shared returns what PutShared kept under key, or nil.
func (s *Store) Shared(key string) ([]byte, error) {
	var v []byte
	err := s.view(func(tx *bolt.Tx) error {
		k := []byte("state/" + key)
		var err error
		v, err = s.unseal(tx.Bucket(bucketShared).Get(k), bucketShared, k)
		return err
	})
	return v, err
}

// DeleteUser forgets a user that is no longer tracked.
func (s *Store) DeleteUser(user string) error {
	err := s.update(func(tx *bolt.Tx) error {
		name := []byte(user)
		err := tx.Bucket(bucketUsers).DeleteBucket(name)
		if err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
			return err
		}
		top := tx.Bucket(bucketMonths)
		var months [][]byte
		if err := top.ForEachBucket(func(m []byte) error {
			months = append(months, bytes.Clone(m))
			return nil
		}); err != nil {
			return err
		}
		for _, mk := range months {
			if err := top.Bucket(mk).Delete(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.metrics.commitErrors.Inc()
		return fmt.Errorf("store %s: deleting user %s: %w", s.path, user, err)
	}
	return nil
}

// PruneBefore deletes every month older than oldest (YYYY-MM): Zoom serves
// reports for the past six months only, so older ones can never change.
func (s *Store) PruneBefore(oldest string) error {
	err := s.update(func(tx *bolt.Tx) error {
		top := tx.Bucket(bucketMonths)
		var old [][]byte
		if err := top.ForEachBucket(func(month []byte) error {
			if string(month) < oldest {
				old = append(old, bytes.Clone(month))
			}
			return nil
		}); err != nil {
			return err
		}
		for _, m := range old {
			if err := top.DeleteBucket(m); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.metrics.commitErrors.Inc()
		return fmt.Errorf("store %s: pruning months before %s: %w", s.path, oldest, err)
	}
	return nil
}

// Months lists the months stored for user, oldest first (for tests and tools).
func (s *Store) Months(user string) ([]string, error) {
	var out []string
	err := s.view(func(tx *bolt.Tx) error {
		top := tx.Bucket(bucketMonths)
		return top.ForEachBucket(func(m []byte) error {
			if top.Bucket(m).Get([]byte(user)) != nil {
				out = append(out, string(m))
			}
			return nil
		})
	})
	return out, err
}

// update and view run a transaction, with bbolt's panics and faults on a
// damaged page turned into errors: a damaged store must not crash the
// exporter in the middle of a refresh.
func (s *Store) update(fn func(*bolt.Tx) error) (err error) {
	defer s.releaseMapped()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard(s.path, &err)
	return s.db.Update(fn)
}

func (s *Store) view(fn func(*bolt.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard(s.path, &err)
	return s.db.View(fn)
}

// Size is the file's size in bytes.
func (s *Store) Size() int64 {
	var size int64
	_ = s.db.View(func(tx *bolt.Tx) error {
		size = tx.Size()
		return nil
	})
	return size
}

func newStoreMetrics(s *Store) storeMetrics {
	return storeMetrics{
		size: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "zoom_storage_size_bytes",
			Help: "Size of the store file at --storage.path.",
		}, func() float64 { return float64(s.Size()) }),
		lastCommit: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "zoom_storage_last_commit_timestamp_seconds",
			Help: "Unix time of the last successful commit to the store; 0 before the first.",
		}, func() float64 {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.lastCommit.IsZero() {
				return 0
			}
			return float64(s.lastCommit.UnixNano()) / 1e9
		}),
		commits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zoom_storage_commits_total",
			Help: "Transactions committed to the store (one per user refresh that changed something).",
		}),
		commitErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zoom_storage_commit_errors_total",
			Help: "Store writes that failed; the refresh's changes are then counted again by a later refresh.",
		}),
		commitTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "zoom_storage_commit_duration_seconds",
			Help:    "Time taken by store commits, fsync included.",
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1},
		}),
	}
}
