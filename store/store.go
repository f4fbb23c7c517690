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
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// FileName is the store's file inside --storage.path.
const FileName = "zoom_exporter.db"

// SchemaVersion is the layout this code reads and writes. A store written
// by a newer version is refused, never reset.
const SchemaVersion = 1

// lockTimeout bounds the wait for another process's lock on the file.
const lockTimeout = 2 * time.Second

// Layout:
//
//	meta/schema_version        -> "1"
//	users/<user>/email         -> e-mail for the user label
//	users/<user>/counters      -> encoded counter totals
//	users/<user>/months/<YYYY-MM>/<uuid> -> encoded contribution of one meeting
//	shared/histograms          -> encoded histograms
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
	metrics storeMetrics

	mu         sync.Mutex
	lastCommit time.Time
}

type storeMetrics struct {
	size         prometheus.GaugeFunc
	lastCommit   prometheus.GaugeFunc
	commits      prometheus.Counter
	commitErrors prometheus.Counter
	commitTime   prometheus.Histogram
}

// Open opens (creating it if needed) the store in dir. Every failure names
// the file and says what to do; nothing is ever reset silently.
func Open(dir string, reg prometheus.Registerer) (*Store, error) {
	path := filepath.Join(dir, FileName)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("store %s: cannot create the directory: %w; give the exporter a writable --storage.path", path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout})
	if err != nil {
		return nil, openError(path, err)
	}
	s := &Store{db: db, path: path}
	if err := s.checkSchema(); err != nil {
		db.Close()
		return nil, err
	}
	s.metrics = newStoreMetrics(s)
	if reg != nil {
		reg.MustRegister(s.metrics.size, s.metrics.lastCommit, s.metrics.commits, s.metrics.commitErrors, s.metrics.commitTime)
	}
	return s, nil
}

func openError(path string, err error) error {
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return fmt.Errorf("store %s is locked by another process (another zoom_exporter on the same --storage.path?); give each exporter its own --storage.path", path)
	case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrChecksum),
		errors.Is(err, bolterrors.ErrVersionMismatch), errors.Is(err, bolterrors.ErrInvalidMapping):
		return fmt.Errorf("store %s is corrupt (%v); restore it from a backup, or move it aside to start afresh (counters then start again from zero)", path, err)
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("store %s is not writable (%v); give the exporter a writable --storage.path", path, err)
	}
	return fmt.Errorf("store %s cannot be opened: %w; check --storage.path (a directory the exporter can write)", path, err)
}

// checkSchema writes the schema version into a new store and refuses a
// store of any other version.
func (s *Store) checkSchema() (err error) {
	defer func() {
		// bbolt panics on some damaged pages: a corrupt file, not a crash.
		if r := recover(); r != nil {
			err = fmt.Errorf("store %s is corrupt (%v); restore it from a backup, or move it aside to start afresh (counters then start again from zero)", s.path, r)
		}
	}()
	err = s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			if tx.Bucket(bucketUsers) != nil {
				return fmt.Errorf("store %s has data but no schema version; it was not written by zoom_exporter: move it aside", s.path)
			}
			meta, err := tx.CreateBucket(bucketMeta)
			if err != nil {
				return err
			}
			if _, err := tx.CreateBucketIfNotExists(bucketUsers); err != nil {
				return err
			}
			if _, err := tx.CreateBucketIfNotExists(bucketShared); err != nil {
				return err
			}
			return meta.Put(keySchema, []byte(strconv.Itoa(SchemaVersion)))
		}
		raw := meta.Get(keySchema)
		v, err := strconv.Atoi(string(raw))
		if err != nil {
			return fmt.Errorf("store %s has an unreadable schema version %q; it is damaged: restore a backup or move it aside", s.path, raw)
		}
		if v != SchemaVersion {
			return fmt.Errorf("store %s has schema version %d, but this zoom_exporter reads version %d; run the zoom_exporter version that wrote it, or move the file aside to start afresh", s.path, v, SchemaVersion)
		}
		return nil
	})
	return err
}

// Path is the store's file.
func (s *Store) Path() string { return s.path }

// Close closes the store.
func (s *Store) Close() error { return s.db.Close() }

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

// Commit writes c in one transaction.
func (s *Store) Commit(c Change) error {
	start := time.Now()
	err := s.db.Update(func(tx *bolt.Tx) error {
		user, err := tx.Bucket(bucketUsers).CreateBucketIfNotExists([]byte(c.User))
		if err != nil {
			return err
		}
		if err := user.Put(keyEmail, []byte(c.Email)); err != nil {
			return err
		}
		if err := user.Put(keyCounters, c.Counters); err != nil {
			return err
		}
		months, err := user.CreateBucketIfNotExists(bucketMonths)
		if err != nil {
			return err
		}
		for month, meetings := range c.Meetings {
			mb, err := months.CreateBucketIfNotExists([]byte(month))
			if err != nil {
				return err
			}
			for uuid, v := range meetings {
				if err := mb.Put([]byte(uuid), v); err != nil {
					return err
				}
			}
		}
		if c.Histograms != nil {
			return tx.Bucket(bucketShared).Put(keyHistograms, c.Histograms)
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
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("store %s is corrupt (%v); restore it from a backup, or move it aside to start afresh (counters then start again from zero)", s.path, r)
		}
	}()
	users = make(map[string]*UserData)
	err = s.db.View(func(tx *bolt.Tx) error {
		histograms = bytes.Clone(tx.Bucket(bucketShared).Get(keyHistograms))
		return tx.Bucket(bucketUsers).ForEachBucket(func(name []byte) error {
			ub := tx.Bucket(bucketUsers).Bucket(name)
			u := &UserData{
				Email:    string(ub.Get(keyEmail)),
				Counters: bytes.Clone(ub.Get(keyCounters)),
				Meetings: make(map[string]map[string][]byte),
			}
			if months := ub.Bucket(bucketMonths); months != nil {
				err := months.ForEachBucket(func(month []byte) error {
					if !keep(string(month)) {
						return nil
					}
					m := make(map[string][]byte)
					err := months.Bucket(month).ForEach(func(k, v []byte) error {
						m[string(k)] = bytes.Clone(v)
						return nil
					})
					u.Meetings[string(month)] = m
					return err
				})
				if err != nil {
					return err
				}
			}
			users[string(name)] = u
			return nil
		})
	})
	if err != nil {
		return nil, nil, fmt.Errorf("store %s: reading: %w", s.path, err)
	}
	return users, histograms, nil
}

// PutShared keeps a small value of the whole exporter (not of one user),
// such as the daily budget spent so far.
func (s *Store) PutShared(key string, value []byte) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketShared).Put([]byte("state/"+key), value)
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
	err := s.db.View(func(tx *bolt.Tx) error {
		v = bytes.Clone(tx.Bucket(bucketShared).Get([]byte("state/" + key)))
		return nil
	})
	return v, err
}

// DeleteUser forgets a user that is no longer tracked.
func (s *Store) DeleteUser(user string) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		err := tx.Bucket(bucketUsers).DeleteBucket([]byte(user))
		if errors.Is(err, bolterrors.ErrBucketNotFound) {
			return nil
		}
		return err
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
	err := s.db.Update(func(tx *bolt.Tx) error {
		users := tx.Bucket(bucketUsers)
		return users.ForEachBucket(func(name []byte) error {
			months := users.Bucket(name).Bucket(bucketMonths)
			if months == nil {
				return nil
			}
			var old [][]byte
			err := months.ForEachBucket(func(month []byte) error {
				if string(month) < oldest {
					old = append(old, bytes.Clone(month))
				}
				return nil
			})
			if err != nil {
				return err
			}
			for _, m := range old {
				if err := months.DeleteBucket(m); err != nil {
					return err
				}
			}
			return nil
		})
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
	err := s.db.View(func(tx *bolt.Tx) error {
		ub := tx.Bucket(bucketUsers).Bucket([]byte(user))
		if ub == nil || ub.Bucket(bucketMonths) == nil {
			return nil
		}
		return ub.Bucket(bucketMonths).ForEachBucket(func(m []byte) error {
			out = append(out, string(m))
			return nil
		})
	})
	return out, err
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
