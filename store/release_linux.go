//go:build linux

package store

import (
	"syscall"

	bolt "go.etcd.io/bbolt"
)

// releaseMapped drops this process's mapping of the store file's pages;
// they stay in the kernel's page cache, which reclaims them as it needs.
//
// bbolt reads through a shared mmap, and the kernel maps up to 64 KiB
// around every page a transaction reads (fault-around ignores bbolt's
// MADV_RANDOM): within one refresh cycle of a large account the whole file
// counted in the exporter's resident memory, although a commit reads a few
// pages. Dropping the mapping after each write keeps VmRSS to the
// exporter's own memory; the next transaction maps back the pages it reads
// (minor faults, no disk read).
//
// A read transaction keeps bbolt from remapping the file meanwhile, so the
// range is the mapping's. A failure is harmless (the pages stay mapped) and
// ignored.
func (s *Store) releaseMapped() {
	if s.keepMapped {
		return
	}
	_ = s.db.View(func(tx *bolt.Tx) error {
		if size := tx.Size(); size > 0 {
			syscall.Syscall(syscall.SYS_MADVISE, tx.DB().Info().Data, uintptr(size), syscall.MADV_DONTNEED)
		}
		return nil
	})
}
