// Package correlation carries a request's correlation ID across process
// boundaries: it is read at every entry point, generated when missing or
// invalid, kept in the context, and written by every client.
package correlation

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// HeaderKey is the header (HTTP, Kafka, AMQP) or attribute (SQS, SNS) name
// under which the correlation ID travels.
const HeaderKey = "X-Correlation-Id"

// MetadataKey is the gRPC metadata key; gRPC requires lower-case keys.
const MetadataKey = "x-correlation-id"

// MaxLength bounds an accepted ID so that a hostile peer cannot make every
// log record and span carry an arbitrarily large value.
const MaxLength = 128

type ctxKey struct{}

// idContext carries the ID in one allocation: context.WithValue would make
// a second to box the string into an interface. Value answers ctxKey{}
// with the *idContext itself, a pointer that boxes for free, and hands
// every other key to the parent, so cancellation, deadlines, context.Cause
// and context.AfterFunc see straight through it.
type idContext struct {
	context.Context
	id string
}

func (c *idContext) Value(key any) any {
	if _, ok := key.(ctxKey); ok {
		return c
	}
	return c.Context.Value(key)
}

// String names the context in the way context.WithValue's does, for
// debugging output; the ID is printable ASCII (see Valid).
func (c *idContext) String() string {
	parent := "context"
	if s, ok := c.Context.(fmt.Stringer); ok {
		parent = s.String()
	}
	return parent + ".WithCorrelationID(" + strconv.Quote(c.id) + ")"
}

// FromContext returns the correlation ID stored in ctx. It never invents one:
// a context without an ID gives "" and false.
func FromContext(ctx context.Context) (string, bool) {
	c, ok := ctx.Value(ctxKey{}).(*idContext)
	if !ok {
		return "", false
	}
	return c.id, c.id != ""
}

// ContextWithID returns a copy of ctx that carries id. The caller is expected
// to have validated id (see Ensure).
func ContextWithID(ctx context.Context, id string) context.Context {
	if ctx == nil {
		// As context.WithValue does: a nil parent would otherwise fail
		// later, far from the mistake.
		panic("correlation: cannot create context from nil parent")
	}
	return &idContext{Context: ctx, id: id}
}

// New returns a fresh correlation ID (a UUIDv7, so IDs sort by creation time).
func New() string {
	id, err := uuid.NewV7()
	if err != nil {
		return fallbackID(time.Now())
	}
	return id.String()
}

// fallbackID is New's ID when the system's random source fails: still a
// UUIDv7 of now, whose 74 random bits come from the runtime's generator
// (math/rand/v2, seeded at start and never failing). Correlation IDs are
// not secrets, so that generator's randomness is enough; what matters is
// that two IDs never share a value, as a constant fallback would make every
// request of an ailing machine share one.
func fallbackID(now time.Time) string {
	var u uuid.UUID
	binary.BigEndian.PutUint64(u[:8], uint64(now.UnixMilli())<<16|uint64(rand.Uint32()&0xffff))
	binary.BigEndian.PutUint64(u[8:], rand.Uint64())
	u[6] = u[6]&0x0f | 0x70 // version 7
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	return u.String()
}

// Valid reports whether id may be used as a correlation ID: 1 to MaxLength
// printable ASCII characters (no spaces or control characters), so that it is
// safe to echo in headers and logs.
func Valid(id string) bool {
	if len(id) == 0 || len(id) > MaxLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

// Ensure returns candidate when it is valid and a new ID otherwise, together
// with a context carrying the chosen ID. Entry points call it with the value
// they read from the wire ("" when absent).
func Ensure(ctx context.Context, candidate string) (context.Context, string) {
	id := candidate
	if !Valid(id) {
		id = New()
	}
	return ContextWithID(ctx, id), id
}
