//go:build !linux

package store

// releaseMapped is a no-op where madvise is not used (see release_linux.go).
func (s *Store) releaseMapped() {}
