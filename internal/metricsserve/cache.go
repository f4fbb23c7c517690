package metricsserve

import (
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// Streamer is a Source that can hand its families one at a time, sorted by
// name, each valid only until the next: a cache encodes from it without
// holding every family at once.
type Streamer interface {
	Stream(version any, yield func(*dto.MetricFamily) error) error
}

// key is one encoding of a part: a format (content type with its escaping
// scheme) and whether it is gzipped.
type key struct {
	format expfmt.Format
	gzip   bool
}

// entry is one encoding of one version, built once. Its fields are set
// before ready is closed and never change after.
type entry struct {
	ready chan struct{}
	body  []byte              // identity: the encoded families; gzip: their deflate blocks, none final, ending byte-aligned
	crc   uint32              // gzip: CRC-32 of the identity bytes
	size  int64               // gzip: length of the identity bytes
	names map[string]struct{} // the families' names
	err   error
}

func newEntry() *entry { return &entry{ready: make(chan struct{})} }

func (e *entry) done() bool {
	select {
	case <-e.ready:
		return true
	default:
		return false
	}
}

// formatEntries are the encodings of one format: identity, gzip, or both.
type formatEntries struct{ raw, gz *entry }

var errTooManyFormats = errors.New("metricsserve: more formats asked for than are cached")

// cache holds the encodings of one part's current version only.
type cache struct {
	src        Source
	maxFormats int

	mu        sync.Mutex
	version   any
	started   bool // version is set
	formats   map[expfmt.Format]*formatEntries
	requested map[key]struct{} // asked for during this version
	last      map[key]struct{} // asked for during the last version that was scraped
	sizeHint  map[key]int
}

func newCache(src Source, maxFormats int) *cache {
	return &cache{src: src, maxFormats: maxFormats, sizeHint: map[key]int{}}
}

// switchLocked makes v the current version, dropping the encodings of the
// one before (scrapes writing them keep their references). When the one
// before was scraped, what was scraped is encoded for v in the background.
func (c *cache) switchLocked(v any) {
	scraped := len(c.requested) > 0
	if scraped {
		c.last = c.requested
	}
	c.version, c.started = v, true
	c.formats = map[expfmt.Format]*formatEntries{}
	c.requested = map[key]struct{}{}
	if scraped {
		for k := range c.last {
			c.ensureLocked(k)
		}
	}
}

func (c *cache) currentVersion() any {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.src.Version()
	if !c.started || v != c.version {
		c.switchLocked(v)
	}
	return v
}

func (c *cache) poll() { c.currentVersion() }

// get returns the encoding k of the current version, building it or
// waiting for the build under way (one build per version and key, however
// many scrapers ask at once). The build goes on if ctx ends first: the next
// scraper will want it.
func (c *cache) get(ctx context.Context, k key) (*entry, error) {
	c.mu.Lock()
	// Read under the lock, so the cache's version only moves forward.
	v := c.src.Version()
	if !c.started || v != c.version {
		c.switchLocked(v)
	}
	e := c.ensureLocked(k)
	if e == nil {
		c.mu.Unlock()
		return nil, errTooManyFormats
	}
	c.requested[k] = struct{}{}
	c.mu.Unlock()
	select {
	case <-e.ready:
		return e, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// ensureLocked returns the entry of k in the current version, starting its
// build if there is none; nil when k's format would be one too many. An
// encoding is made from the other encoding of its format when there is one
// (compressing or inflating is cheaper than gathering), else from the
// source.
func (c *cache) ensureLocked(k key) *entry {
	fe := c.formats[k.format]
	if fe == nil {
		if len(c.formats) >= c.maxFormats {
			return nil
		}
		fe = &formatEntries{}
		c.formats[k.format] = fe
	}
	if k.gzip {
		if fe.gz == nil {
			fe.gz = newEntry()
			go c.build(c.version, k, fe.gz, fe.raw)
		}
		return fe.gz
	}
	if fe.raw == nil {
		fe.raw = newEntry()
		go c.build(c.version, k, fe.raw, fe.gz)
	}
	return fe.raw
}

// build fills e, the encoding k of version v, from the other encoding of
// its format when there is one, else from the source.
func (c *cache) build(v any, k key, e, from *entry) {
	var (
		body  []byte
		crc   uint32
		size  int64
		names map[string]struct{}
		err   error
	)
	defer func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		e.body, e.crc, e.size, e.names, e.err = body, crc, size, names, err
		if err == nil {
			c.sizeHint[k] = len(body)
		}
		close(e.ready)
	}()
	c.mu.Lock()
	hint := c.sizeHint[k]
	c.mu.Unlock()
	if from != nil {
		<-from.ready
		if err = from.err; err != nil {
			return
		}
		names = from.names
		if k.gzip {
			body, crc = deflate(from.body, hint)
			size = int64(len(from.body))
		} else {
			body, err = inflate(from)
		}
		return
	}
	buf := bytes.NewBuffer(make([]byte, 0, hint+hint/16)) // the last version's size: no copying while growing
	var w io.Writer = buf
	var fw *flate.Writer
	var sum *crcCounter
	if k.gzip {
		// Encoded straight into the compressor: the identity bytes (37.7
		// MB at 10,000 users) are never held.
		fw, _ = flate.NewWriter(buf, flate.DefaultCompression) // the level is valid: no error
		sum = &crcCounter{}
		w = io.MultiWriter(sum, fw)
	}
	if names, err = encode(c.src, v, k.format, w); err != nil {
		return
	}
	if fw != nil {
		fw.Flush() // a sync flush: the empty stored block, byte-aligned, not final
		crc, size = sum.crc, sum.n
	}
	body = buf.Bytes()
}

// encode writes the families of version v in format, without OpenMetrics'
// final "# EOF" (the fresh part follows), and returns their names.
func encode(src Source, v any, format expfmt.Format, w io.Writer) (map[string]struct{}, error) {
	names := map[string]struct{}{}
	enc := expfmt.NewEncoder(w, format)
	one := func(mf *dto.MetricFamily) error {
		names[mf.GetName()] = struct{}{}
		if err := enc.Encode(mf); err != nil {
			return fmt.Errorf("encoding %s: %w", mf.GetName(), err)
		}
		return nil
	}
	if s, ok := src.(Streamer); ok {
		return names, s.Stream(v, one)
	}
	mfs, err := src.Gather(v)
	if err != nil {
		return nil, err
	}
	for _, mf := range mfs {
		if err := one(mf); err != nil {
			return nil, err
		}
	}
	return names, nil
}

// crcCounter sums the CRC-32 and the length of what is written to it.
type crcCounter struct {
	crc uint32
	n   int64
}

func (c *crcCounter) Write(p []byte) (int, error) {
	c.crc = crc32.Update(c.crc, crc32.IEEETable, p)
	c.n += int64(len(p))
	return len(p), nil
}

// mayServe reports whether the part may hold one of names: false only
// when the version's names are known and hold none of them.
func (c *cache) mayServe(v any, names []string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.started || v != c.version {
		return true
	}
	for _, fe := range c.formats {
		for _, e := range []*entry{fe.raw, fe.gz} {
			if e == nil || !e.done() || e.err != nil {
				continue
			}
			for _, n := range names {
				if _, ok := e.names[n]; ok {
					return true
				}
			}
			return false
		}
	}
	return true
}

func (c *cache) cachedBytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var n int64
	for _, fe := range c.formats {
		for _, e := range []*entry{fe.raw, fe.gz} {
			if e != nil && e.done() {
				n += int64(len(e.body))
			}
		}
	}
	return n
}

var cacheBytesDesc = prometheus.NewDesc("zoom_exporter_metrics_cache_bytes",
	"Bytes of /metrics kept encoded: the usage metrics of the current snapshot and its health metrics, once per format and compression scrapers asked for, "+
		"encoded once and written by every scrape.", nil, nil)

type cacheCollector struct{ h *Handler }

func (cacheCollector) Describe(ch chan<- *prometheus.Desc) { ch <- cacheBytesDesc }
func (c cacheCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(cacheBytesDesc, prometheus.GaugeValue, float64(c.h.CachedBytes()))
}
