package correlation_test

import (
	"context"
	"testing"

	"github.com/patron-go/patron/correlation"
)

var (
	ctxSink context.Context
	idSink  string
)

// BenchmarkContextWithID: every entry point and consumed message stores
// an ID, so the allocations count per request. The ID is made at run time,
// as one read from the wire is: a constant would box without allocating.
func BenchmarkContextWithID(b *testing.B) {
	ctx := context.Background()
	id := correlation.New()
	b.ReportAllocs()
	for b.Loop() {
		ctxSink = correlation.ContextWithID(ctx, id)
	}
}

// BenchmarkFromContext reads the ID through the span and logger contexts
// that sit between the entry point and a client.
func BenchmarkFromContext(b *testing.B) {
	ctx := correlation.ContextWithID(context.Background(), "0190e0a8-7c2f-7cc5-a3a5-5f6f6a1e2b3c")
	type k struct{}
	ctx, cancel := context.WithCancel(context.WithValue(ctx, k{}, 1))
	defer cancel()
	b.ReportAllocs()
	for b.Loop() {
		idSink, _ = correlation.FromContext(ctx)
	}
}
