package correlation

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"sync"
	"time"
	"unsafe"

	"github.com/google/uuid"
)

// randomBatch is how many bytes of randomness a Generator reads at once:
// enough for 409 IDs (10 random bytes each) per read of the system source.
const randomBatch = 4096

// Generator makes correlation IDs (UUIDv7) like New, for entry points that
// start many IDs per second (consumers of messages without the header): it
// reads the system's random source in batches rather than once per ID. IDs
// carry 74 random bits after their millisecond timestamp, as New's do. The
// zero value is ready to use and safe for concurrent use; give each busy
// goroutine its own to avoid contention.
type Generator struct {
	mu  sync.Mutex
	buf [randomBatch]byte
	off int // next unused byte of buf; len(buf) (or 0 on a fresh value) means refill
	ok  bool
	// text is the unused rest of the storage that IDs' text is written
	// into, textBatch IDs per allocation instead of one each: a byte
	// handed out is never written again, so the strings that alias it
	// are immutable. An ID kept alive keeps its block (~1 KiB) alive.
	text []byte
}

// textBatch is how many IDs' text shares one allocation.
const textBatch = 32

// uuidLen is the length of a UUID's text, 8-4-4-4-12 hex digits.
const uuidLen = 36

// New returns a fresh UUIDv7 correlation ID.
func (g *Generator) New() string {
	var u uuid.UUID
	binary.BigEndian.PutUint64(u[:8], uint64(time.Now().UnixMilli())<<16)
	g.mu.Lock()
	if !g.ok || g.off+10 > len(g.buf) {
		if _, err := rand.Read(g.buf[:]); err != nil {
			g.mu.Unlock()
			return New() // New has its own fallback for a failing source
		}
		g.off, g.ok = 0, true
	}
	copy(u[6:], g.buf[g.off:g.off+10])
	// Each random byte is used once: an ID never shares its bits with
	// another one.
	clear(g.buf[g.off : g.off+10])
	g.off += 10
	if len(g.text) < uuidLen {
		g.text = make([]byte, uuidLen*textBatch)
	}
	t := g.text[:uuidLen:uuidLen]
	g.text = g.text[uuidLen:]
	g.mu.Unlock()
	u[6] = u[6]&0x0f | 0x70 // version 7
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	encodeUUID(t, u)
	return unsafe.String(&t[0], uuidLen)
}

// encodeUUID writes u's text into dst (uuidLen bytes) as uuid.UUID.String
// does, without allocating the string.
func encodeUUID(dst []byte, u uuid.UUID) {
	hex.Encode(dst[0:8], u[0:4])
	dst[8] = '-'
	hex.Encode(dst[9:13], u[4:6])
	dst[13] = '-'
	hex.Encode(dst[14:18], u[6:8])
	dst[18] = '-'
	hex.Encode(dst[19:23], u[8:10])
	dst[23] = '-'
	hex.Encode(dst[24:], u[10:])
}

// Ensure is the package's Ensure with IDs from g.
func (g *Generator) Ensure(ctx context.Context, candidate string) (context.Context, string) {
	id := candidate
	if !Valid(id) {
		id = g.New()
	}
	return ContextWithID(ctx, id), id
}
