package store

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/go-kit/log/level"
	bolt "go.etcd.io/bbolt"
)

// compactSuffix names the file a migrated store is copied into.
const compactSuffix = ".compact"

// compact copies the store into a new file and puts it in its place, after
// a migration: the migration rewrote every value in one transaction, and
// bbolt never shrinks a file, so a migrated store of version 2 would keep
// twice its old size, its live pages scattered among free ones. The copy
// holds the live pages only, packed. It runs with the store's lock held; a
// crash leaves the old file whole (the rename is the last step), and the
// copy is removed at the next start. When the copy fails the store is used
// as it is.
func (s *Store) compact() error {
	tmp := s.path + compactSuffix
	before := s.Size()
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: lockTimeout})
	if err == nil {
		err = bolt.Compact(dst, s.db, 64<<20)
		if cerr := dst.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil {
		err = syncFile(tmp)
	}
	if err != nil {
		os.Remove(tmp)
		level.Warn(s.logger).Log("msg", "Cannot compact the migrated store; using it as it is", "path", s.path, "err", err)
		return nil
	}
	if err := s.db.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("store %s: closing it to put its compacted copy in place: %w", s.path, err)
	}
	renameErr := os.Rename(tmp, s.path)
	if renameErr == nil {
		renameErr = syncDir(s.path)
	} else {
		os.Remove(tmp)
	}
	db, err := openBolt(s.path)
	if err != nil {
		return err
	}
	s.db = db
	if renameErr != nil {
		level.Warn(s.logger).Log("msg", "Cannot put the compacted copy of the migrated store in place; using it as it is", "path", s.path, "err", renameErr)
		return nil
	}
	level.Info(s.logger).Log("msg", "Store compacted after its migration", "path", s.path, "bytes_before", before, "bytes", s.Size())
	return nil
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// syncDir makes a rename in path's directory durable.
func syncDir(path string) error {
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
