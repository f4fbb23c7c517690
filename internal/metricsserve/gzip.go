package metricsserve

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"strings"
)

// A gzip response is one gzip member (RFC 1952): the header; each cached
// part's deflate blocks, which end with a sync flush (an empty stored
// block: byte-aligned, not final); the fresh part in stored blocks, the
// last one final; and the trailer, CRC-32 and length of the whole.
// Concatenated gzip members would be valid too, but some clients (curl,
// browsers) stop after the first. Stored blocks cost 5 bytes per 64 KiB of
// the small fresh part and no compressor per scrape: under many
// concurrent scrapes, memory stays flat.

var gzipHeader = []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255} // deflate, no flags, no mtime, unknown OS

const maxStored = 65535

// deflate compresses raw into deflate blocks that end byte-aligned and not
// final, and gives raw's CRC-32; hint is the size it expects.
func deflate(raw []byte, hint int) ([]byte, uint32) {
	var buf bytes.Buffer
	buf.Grow(max(hint+hint/16, len(raw)/8+1024))
	fw, _ := flate.NewWriter(&buf, flate.DefaultCompression) // the level is valid: no error
	fw.Write(raw)                                            // a bytes.Buffer does not fail
	fw.Flush()                                               // sync flush: the empty stored block
	return buf.Bytes(), crc32.ChecksumIEEE(raw)
}

// inflate gives back the identity bytes of a cached gzip entry.
func inflate(e *entry) ([]byte, error) {
	deflated := io.MultiReader(bytes.NewReader(e.body), bytes.NewReader(finalEmptyBlock))
	out := make([]byte, e.size)
	if _, err := io.ReadFull(flate.NewReader(deflated), out); err != nil {
		return nil, fmt.Errorf("metricsserve: inflating the cached gzip: %w", err)
	}
	return out, nil
}

var finalEmptyBlock = []byte{1, 0, 0, 0xff, 0xff} // BFINAL, stored, LEN 0, NLEN

// appendGzipTail appends to dst the fresh bytes in stored deflate blocks,
// the last one final, and the gzip trailer of the parts' bytes followed by
// fresh.
func appendGzipTail(dst []byte, parts []*entry, fresh []byte) []byte {
	var crc uint32
	var size int64
	for _, e := range parts {
		crc = crc32Combine(crc, e.crc, e.size)
		size += e.size
	}
	crc = crc32.Update(crc, crc32.IEEETable, fresh)
	size += int64(len(fresh))
	for {
		n := min(len(fresh), maxStored)
		final := byte(0)
		if n == len(fresh) {
			final = 1
		}
		dst = append(dst, final)
		dst = binary.LittleEndian.AppendUint16(dst, uint16(n))
		dst = binary.LittleEndian.AppendUint16(dst, ^uint16(n))
		dst = append(dst, fresh[:n]...)
		fresh = fresh[n:]
		if final == 1 {
			break
		}
	}
	dst = binary.LittleEndian.AppendUint32(dst, crc)
	return binary.LittleEndian.AppendUint32(dst, uint32(size)) // ISIZE is the length modulo 2^32
}

// crc32Combine is the CRC-32 of A followed by B, given CRC-32 crc1 of A
// and crc2 of B, len2 bytes long: crc1 times x^(8 len2) modulo the CRC-32
// polynomial, plus crc2. It runs on every gzip scrape, once per cached
// part: with the powers x^(2^k) computed once, it takes a few dozen 32-bit
// carry-less products whatever len2: 0.48 us for a 37.7 MB part, where
// squaring GF(2) matrices, as zlib's crc32_combine once did, took 25 us
// (BenchmarkCRC32Combine).
func crc32Combine(crc1, crc2 uint32, len2 int64) uint32 {
	if len2 <= 0 {
		return crc1
	}
	return mulModP(xPow8n(len2), crc1) ^ crc2
}

// Polynomials modulo the CRC-32 polynomial are kept as hash/crc32 keeps
// them, reflected: bit 31 is the coefficient of x^0, bit 0 that of x^31.
const polyOne = uint32(1) << 31

// mulModP is a(x) b(x) modulo the CRC-32 polynomial.
func mulModP(a, b uint32) uint32 {
	var p uint32
	for m := polyOne; m != 0; m >>= 1 {
		if a&m != 0 {
			p ^= b
		}
		// b(x) times x: a shift toward x^31, reduced when x^32 appears.
		if b&1 != 0 {
			b = b>>1 ^ crc32.IEEE
		} else {
			b >>= 1
		}
	}
	return p
}

// xPow2k[k] is x^(2^k) modulo the CRC-32 polynomial, for every k an int64
// length in bits can need.
var xPow2k = func() (t [67]uint32) {
	t[0] = polyOne >> 1 // x
	for k := 1; k < len(t); k++ {
		t[k] = mulModP(t[k-1], t[k-1])
	}
	return t
}()

// xPow8n is x^(8n) modulo the CRC-32 polynomial: n zero bytes.
func xPow8n(n int64) uint32 {
	p := polyOne
	for k := 3; n != 0; k, n = k+1, n>>1 {
		if n&1 != 0 {
			p = mulModP(xPow2k[k], p)
		}
	}
	return p
}

// negotiateEncoding is promhttp's (golang/gddo's httputil
// NegotiateContentEncoding, BSD licence): the offer with the highest q in
// Accept-Encoding, the earlier one on a tie; identity without the header;
// "" when every offer is refused.
func negotiateEncoding(h http.Header, offers []string) string {
	bestOffer := "identity"
	bestQ := -1.0
	specs := parseAccept(h, "Accept-Encoding")
	for _, offer := range offers {
		for _, spec := range specs {
			if spec.q > bestQ && (spec.value == "*" || spec.value == offer) {
				bestQ = spec.q
				bestOffer = offer
			}
		}
	}
	if bestQ == 0 {
		bestOffer = ""
	}
	return bestOffer
}

type acceptSpec struct {
	value string
	q     float64
}

// parseAccept is gddo's header.ParseAccept.
func parseAccept(h http.Header, key string) (specs []acceptSpec) {
loop:
	for _, s := range h[key] {
		for {
			var spec acceptSpec
			spec.value, s = expectTokenSlash(s)
			if spec.value == "" {
				continue loop
			}
			spec.q = 1.0
			s = skipSpace(s)
			if strings.HasPrefix(s, ";") {
				s = skipSpace(s[1:])
				if !strings.HasPrefix(s, "q=") {
					continue loop
				}
				spec.q, s = expectQuality(s[2:])
				if spec.q < 0.0 {
					continue loop
				}
			}
			specs = append(specs, spec)
			s = skipSpace(s)
			if !strings.HasPrefix(s, ",") {
				continue loop
			}
			s = skipSpace(s[1:])
		}
	}
	return specs
}

func skipSpace(s string) string {
	i := 0
	for ; i < len(s); i++ {
		if !strings.ContainsRune(" \t\r\n", rune(s[i])) {
			break
		}
	}
	return s[i:]
}

// isToken: any CHAR except CTLs or separators (RFC 2616).
func isToken(b byte) bool {
	return b > 31 && b < 127 && !strings.ContainsRune(" \t\"(),/:;<=>?@[]\\{}", rune(b))
}

func expectTokenSlash(s string) (token, rest string) {
	i := 0
	for ; i < len(s); i++ {
		if b := s[i]; !isToken(b) && b != '/' {
			break
		}
	}
	return s[:i], s[i:]
}

func expectQuality(s string) (q float64, rest string) {
	switch {
	case len(s) == 0:
		return -1, ""
	case s[0] == '0':
		q = 0
	case s[0] == '1':
		q = 1
	default:
		return -1, ""
	}
	s = s[1:]
	if !strings.HasPrefix(s, ".") {
		return q, s
	}
	s = s[1:]
	i, n, d := 0, 0, 1
	for ; i < len(s); i++ {
		b := s[i]
		if b < '0' || b > '9' {
			break
		}
		n = n*10 + int(b) - '0'
		d *= 10
	}
	return q + float64(n)/float64(d), s[i:]
}
