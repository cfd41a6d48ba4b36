// Package correlation carries a request's correlation ID across process
// boundaries: it is read at every entry point, generated when missing or
// invalid, kept in the context, and written by every client.
package correlation

import (
	"context"

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

// FromContext returns the correlation ID stored in ctx. It never invents one:
// a context without an ID gives "" and false.
func FromContext(ctx context.Context) (string, bool) {
	id, ok := ctx.Value(ctxKey{}).(string)
	return id, ok && id != ""
}

// ContextWithID returns a copy of ctx that carries id. The caller is expected
// to have validated id (see Ensure).
func ContextWithID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// New returns a fresh correlation ID (a UUIDv7, so IDs sort by creation time).
func New() string {
	id, err := uuid.NewV7()
	if err != nil {
		// NewV7 only fails when the system's random source fails; a v4
		// from the same source would fail too, so fall back to a time-only
		// value that is still unique enough to correlate logs.
		return uuid.NewSHA1(uuid.NameSpaceOID, []byte(err.Error())).String()
	}
	return id.String()
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
