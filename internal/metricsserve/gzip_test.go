package metricsserve

import (
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

// TestCRC32Combine: the CRC-32 of two parts combined is the CRC-32 of
// their concatenation, for lengths from 0 to past 2^16.
func TestCRC32Combine(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range [][2]int{{0, 0}, {0, 5}, {5, 0}, {1, 1}, {3, 1000}, {70000, 1}, {12345, 66000}} {
		a, b := make([]byte, n[0]), make([]byte, n[1])
		for i := range a {
			a[i] = byte(rng.Uint32())
		}
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		want := crc32.ChecksumIEEE(append(append([]byte(nil), a...), b...))
		if got := crc32Combine(crc32.ChecksumIEEE(a), crc32.ChecksumIEEE(b), int64(len(b))); got != want {
			t.Errorf("lengths %v: combined %08x, want %08x", n, got, want)
		}
	}
}

// TestCRC32CombineLong: combining is associative for lengths no test can
// hold in memory (up to 2^62 bytes), which the powers x^(2^k) of every k
// take part in.
func TestCRC32CombineLong(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		c1, c2, c3 := rng.Uint32(), rng.Uint32(), rng.Uint32()
		shift := rng.IntN(62)
		n2, n3 := rng.Int64N(1<<shift)+1, rng.Int64N(1<<shift)+1
		left := crc32Combine(crc32Combine(c1, c2, n2), c3, n3)
		right := crc32Combine(c1, crc32Combine(c2, c3, n3), n2+n3)
		if left != right {
			t.Fatalf("lengths %d and %d: (A B) C is %08x, A (B C) is %08x", n2, n3, left, right)
		}
	}
}

func BenchmarkCRC32Combine(b *testing.B) {
	for range b.N {
		crc32Combine(0x12345678, 0x9abcdef0, 37_745_048)
	}
}
