package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"os"
	"runtime/debug"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// ErrCorrupt is wrapped by every error about a damaged store file.
var ErrCorrupt = errors.New("corrupt")

// corrupt is the error for a damaged file: it names the file, the damage
// and the two ways out.
func corrupt(path, reason string) error {
	return fmt.Errorf("store %s is %w: %s; restore it from a backup, or move it aside to start afresh (counters then start again from zero)", path, ErrCorrupt, reason)
}

// corruptBy is corrupt with the error that revealed the damage, kept for
// errors.Is and errors.As.
func corruptBy(path, what string, cause error) error {
	return fmt.Errorf("store %s is %w: %s (%w); restore it from a backup, or move it aside to start afresh (counters then start again from zero)", path, ErrCorrupt, what, cause)
}

// panicError is a recovered panic value as an error.
func panicError(r any) error {
	if e, ok := r.(error); ok {
		return e
	}
	return fmt.Errorf("%v", r)
}

// guard turns a panic, or a fault reading the mapped file, of the database
// library into an error: bbolt panics on some damaged pages, and a damaged
// file must stop the exporter with a message, not crash it.
func guard(path string, err *error) {
	if r := recover(); r != nil {
		*err = corruptBy(path, "reading it failed", panicError(r))
	}
}

// Every value but the schema version ends with a CRC32-C of the value and
// of the bucket names and key it is stored under, so that a flipped byte in
// the value or in any of its keys is caught when it is read.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

const sumSize = 4

func sum(value []byte, path [][]byte) uint32 {
	var c uint32
	var n [binary.MaxVarintLen64]byte
	for _, p := range path {
		c = crc32.Update(c, castagnoli, n[:binary.PutUvarint(n[:], uint64(len(p)))])
		c = crc32.Update(c, castagnoli, p)
	}
	return crc32.Update(c, castagnoli, value)
}

// seal returns value with its checksum appended, stored under path.
func seal(value []byte, path ...[]byte) []byte {
	out := make([]byte, len(value), len(value)+sumSize)
	copy(out, value)
	return binary.BigEndian.AppendUint32(out, sum(value, path))
}

// unseal checks a stored value against its checksum and returns a copy of
// it without the checksum; nil when nothing is stored.
func (s *Store) unseal(stored []byte, path ...[]byte) ([]byte, error) {
	if stored == nil {
		return nil, nil
	}
	if err := verify(s.path, stored, path); err != nil {
		return nil, err
	}
	return bytes.Clone(stored[:len(stored)-sumSize]), nil
}

func verify(file string, stored []byte, path [][]byte) error {
	if len(stored) < sumSize {
		return corrupt(file, fmt.Sprintf("the value at %s is too short to hold its checksum", showPath(path)))
	}
	v := stored[:len(stored)-sumSize]
	if binary.BigEndian.Uint32(stored[len(v):]) != sum(v, path) {
		return corrupt(file, fmt.Sprintf("the value at %s fails its checksum", showPath(path)))
	}
	return nil
}

// showPath prints a value's place in the store for a message: its keys are
// ids, uuids and month names, but a damaged key may hold anything.
func showPath(path [][]byte) string {
	parts := make([]string, len(path))
	for i, p := range path {
		parts[i] = strings.Trim(fmt.Sprintf("%q", p), `"`)
		if len(parts[i]) > 80 {
			parts[i] = parts[i][:80] + "..."
		}
	}
	return strings.Join(parts, "/")
}

// isSchemaKey reports whether path is the schema version, the one value
// kept without a checksum so that every version can read it.
func isSchemaKey(path [][]byte) bool {
	return len(path) == 2 && bytes.Equal(path[0], bucketMeta) && bytes.Equal(path[1], keySchema)
}

// walk calls fn for every value of b and of its buckets, at any depth,
// with the path of bucket names and key leading to it.
func walk(b *bolt.Bucket, path [][]byte, fn func(path [][]byte, v []byte) error) error {
	return b.ForEach(func(k, v []byte) error {
		p := append(path[:len(path):len(path)], k)
		if v == nil {
			if sub := b.Bucket(k); sub != nil {
				return walk(sub, p, fn)
			}
		}
		return fn(p, v)
	})
}

// walkAll is walk from the root of tx.
func walkAll(tx *bolt.Tx, fn func(path [][]byte, v []byte) error) error {
	return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
		return walk(b, [][]byte{name}, fn)
	})
}

// sealBucket appends checksums to every value of b and of its buckets: the
// migration from schema version 1, whose values had none. It returns the
// number of values sealed.
func sealBucket(b *bolt.Bucket, path [][]byte) (int, error) {
	type kv struct{ k, v []byte }
	var values []kv
	var subs [][]byte
	// Copies: bbolt forbids writes while iterating, and a write may remap
	// the file under the slices ForEach hands out.
	err := b.ForEach(func(k, v []byte) error {
		p := append(path[:len(path):len(path)], k)
		switch {
		case v == nil && b.Bucket(k) != nil:
			subs = append(subs, bytes.Clone(k))
		case !isSchemaKey(p):
			values = append(values, kv{bytes.Clone(k), seal(v, p...)})
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, e := range values {
		if err := b.Put(e.k, e.v); err != nil {
			return 0, err
		}
	}
	n := len(values)
	for _, name := range subs {
		m, err := sealBucket(b.Bucket(name), append(path[:len(path):len(path)], name))
		if err != nil {
			return 0, err
		}
		n += m
	}
	return n, nil
}

// The layout of a bbolt meta page (go.etcd.io/bbolt/internal/common): a
// 16-byte page header, then the meta fields in the machine's byte order.
const (
	boltMagic        = 0xED0CDAED
	boltVersion      = 2
	metaOffset       = 16
	metaSumEnd       = metaOffset + 56 // the checksum covers the fields before it
	metaSize         = metaSumEnd + 8
	pgidNoFreelist   = ^uint64(0)
	minPageSize      = 1024
	maxPageSizeShift = 14 // bbolt looks for the second meta page up to 16 MiB
)

type boltMeta struct {
	pageSize           uint64
	root, freelist     uint64
	highWater, txid    uint64
	valid              bool
	magicOK, versionOK bool
}

func parseMeta(b []byte) boltMeta {
	if len(b) < metaSize {
		return boltMeta{}
	}
	ne := binary.NativeEndian
	m := boltMeta{
		pageSize:  uint64(ne.Uint32(b[metaOffset+8:])),
		root:      ne.Uint64(b[metaOffset+16:]),
		freelist:  ne.Uint64(b[metaOffset+32:]),
		highWater: ne.Uint64(b[metaOffset+40:]),
		txid:      ne.Uint64(b[metaOffset+48:]),
		magicOK:   ne.Uint32(b[metaOffset:]) == boltMagic,
		versionOK: ne.Uint32(b[metaOffset+4:]) == boltVersion,
	}
	h := fnv.New64a()
	h.Write(b[metaOffset:metaSumEnd])
	m.valid = m.magicOK && m.versionOK && h.Sum64() == ne.Uint64(b[metaSumEnd:])
	return m
}

// checkFile refuses, before bbolt maps it, a file that bbolt would take
// for a new store and silently re-initialise (zero bytes), or that it would
// crash on when reading pages past its end (a file cut short). A file that
// does not exist yet is a new store.
func checkFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return nil // a new store, or an error bolt.Open reports with the usual advice
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil || !info.Mode().IsRegular() {
		return nil
	}
	size := info.Size()
	if size == 0 {
		return corrupt(path, "it is empty (0 bytes): it was cut to nothing, or its creation was interrupted")
	}
	readAt := func(off int64) []byte {
		b := make([]byte, metaSize)
		n, _ := f.ReadAt(b, off)
		return b[:n]
	}
	m0 := parseMeta(readAt(0))
	var metas []boltMeta
	if m0.valid {
		metas = append(metas, m0, parseMeta(readAt(int64(m0.pageSize))))
	} else {
		// As bbolt does: the first page is damaged, look for the second.
		for i := range maxPageSizeShift + 1 {
			if m := parseMeta(readAt(minPageSize << i)); m.valid {
				metas = append(metas, m)
				break
			}
		}
	}
	var m *boltMeta
	for i := range metas {
		if metas[i].valid && (m == nil || metas[i].txid > m.txid) {
			m = &metas[i]
		}
	}
	switch {
	case m == nil && (m0.magicOK || m0.versionOK):
		return corrupt(path, "both of its header pages are damaged")
	case m == nil:
		return corrupt(path, "it is not a bbolt database (no valid header page)")
	case m.pageSize < minPageSize || m.pageSize > minPageSize<<maxPageSizeShift:
		return corrupt(path, fmt.Sprintf("its header gives a page size of %d bytes", m.pageSize))
	case m.highWater > uint64(size)/m.pageSize:
		return corrupt(path, fmt.Sprintf("it is cut short: %d bytes, but its pages reach %d bytes", size, m.highWater*m.pageSize))
	case m.root >= m.highWater || (m.freelist >= m.highWater && m.freelist != pgidNoFreelist):
		return corrupt(path, "its header points past the end of its pages")
	}
	return nil
}

// openBolt opens the file, turning a panic or a fault of bbolt on a damaged
// file into an error (and closing the file, which releases its lock).
func openBolt(path string) (db *bolt.DB, err error) {
	var file *os.File
	opts := &bolt.Options{
		Timeout: lockTimeout,
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag, perm)
			file = f
			return f, err
		},
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if file != nil {
				file.Close()
			}
			db, err = nil, corruptBy(path, "opening it failed", panicError(r))
		}
	}()
	return bolt.Open(path, 0o600, opts)
}

// maxCheckProblems bounds the problems a structural check reports.
const maxCheckProblems = 3

// checkStructure reads every page of the store, and every value's checksum
// when sealed is set; bbolt's own consistency check runs last, once every
// page is known to be readable (it reads pages in a goroutine of its own,
// where a fault could not be recovered).
func checkStructure(path string, tx *bolt.Tx, sealed bool) error {
	err := walkAll(tx, func(p [][]byte, v []byte) error {
		if !sealed || isSchemaKey(p) {
			return nil
		}
		return verify(path, v, p)
	})
	if err != nil {
		return err
	}
	var problems []string
	for e := range tx.Check() {
		if len(problems) < maxCheckProblems {
			problems = append(problems, e.Error())
		}
	}
	if len(problems) > 0 {
		return corrupt(path, "its pages are inconsistent: "+strings.Join(problems, "; "))
	}
	return nil
}
