package lru

import (
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/patron-go/patron/cache"
	"github.com/patron-go/patron/cache/internal/cachetest"
	"github.com/patron-go/patron/observability/observabilitytest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newLRU(t *testing.T, opts ...Option) *Cache {
	t.Helper()
	c, err := New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConformance(t *testing.T) {
	cachetest.Run(t, func(t *testing.T) cache.Cache { return newLRU(t) })
}

// fakeClock lets TTL tests move time instead of waiting for it.
type fakeClock struct{ t time.Time }

func (f *fakeClock) now() time.Time { return f.t }

func TestPerEntryTTLExact(t *testing.T) {
	c := newLRU(t)
	clk := &fakeClock{t: time.Unix(1000, 0)}
	c.now = clk.now
	ctx := t.Context()
	_ = c.Set(ctx, "a", []byte("a"), time.Second)
	_ = c.Set(ctx, "b", []byte("b"), 3*time.Second)

	clk.t = clk.t.Add(time.Second - time.Nanosecond)
	if _, ok, _ := c.Get(ctx, "a"); !ok {
		t.Fatal("a expired before its ttl")
	}
	clk.t = clk.t.Add(time.Nanosecond)
	if _, ok, _ := c.Get(ctx, "a"); ok {
		t.Fatal("a still present at its ttl")
	}
	if _, ok, _ := c.Get(ctx, "b"); !ok {
		t.Fatal("b expired with a")
	}
	if c.Len() != 1 {
		t.Fatalf("Len = %d, want 1: an expired entry that was read must be removed", c.Len())
	}
	// Overwriting resets the ttl.
	_ = c.Set(ctx, "b", []byte("b2"), 10*time.Second)
	clk.t = clk.t.Add(5 * time.Second)
	if v, ok, _ := c.Get(ctx, "b"); !ok || string(v) != "b2" {
		t.Fatalf("b = %q, %v after overwrite with a longer ttl", v, ok)
	}
}

func TestSizeBoundEvictsLeastRecentlyUsed(t *testing.T) {
	c := newLRU(t, WithSize(3))
	ctx := t.Context()
	for _, k := range []string{"a", "b", "c"} {
		_ = c.Set(ctx, k, []byte(k), 0)
	}
	_, _, _ = c.Get(ctx, "a") // a is now the most recently used
	_ = c.Set(ctx, "d", []byte("d"), 0)
	if _, ok, _ := c.Get(ctx, "b"); ok {
		t.Fatal("b, the least recently used, was not evicted")
	}
	for _, k := range []string{"a", "c", "d"} {
		if _, ok, _ := c.Get(ctx, k); !ok {
			t.Fatalf("%s evicted", k)
		}
	}
	if c.Len() != 3 {
		t.Fatalf("Len = %d, want 3", c.Len())
	}
}

func TestMaxBytes(t *testing.T) {
	c := newLRU(t, WithMaxBytes(10))
	ctx := t.Context()
	_ = c.Set(ctx, "a", []byte("aaaa"), 0)
	_ = c.Set(ctx, "b", []byte("bbbb"), 0)
	_ = c.Set(ctx, "c", []byte("cccc"), 0) // 12 bytes: a goes
	if _, ok, _ := c.Get(ctx, "a"); ok {
		t.Fatal("a not evicted by the byte bound")
	}
	_ = c.Set(ctx, "b", []byte("b"), 0) // replace: 5 bytes now
	_ = c.Set(ctx, "d", []byte("ddd"), 0)
	for _, k := range []string{"b", "c", "d"} {
		if _, ok, _ := c.Get(ctx, k); !ok {
			t.Fatalf("%s evicted although everything fits", k)
		}
	}
	_ = c.Set(ctx, "huge", make([]byte, 11), 0)
	if _, ok, _ := c.Get(ctx, "huge"); ok {
		t.Fatal("a value larger than the bound was stored")
	}
	if c.Len() != 3 {
		t.Fatalf("a value larger than the bound flushed the cache: Len = %d", c.Len())
	}
	_ = c.Purge(ctx)
	if c.bytes != 0 {
		t.Fatalf("byte count %d after Purge, want 0", c.bytes)
	}
}

func TestTelemetry(t *testing.T) {
	kit := observabilitytest.New(t)
	c := newLRU(t, WithName("sessions"), WithTracerProvider(kit.TracerProvider), WithMeterProvider(kit.MeterProvider))

	// Without a sampled parent: counted, not traced.
	_, _, _ = c.Get(t.Context(), "nope")
	if n := len(kit.Spans()); n != 0 {
		t.Fatalf("%d spans without a parent span, want 0", n)
	}

	ctx, parent := kit.TracerProvider.Tracer("test").Start(t.Context(), "handler")
	_ = c.Set(ctx, "k", []byte("v"), 0)
	_, _, _ = c.Get(ctx, "k")
	_, _, _ = c.Get(ctx, "missing")
	_ = c.Delete(ctx, "k")
	_ = c.Purge(ctx)
	_ = c.Set(ctx, "k", []byte("v"), -1)
	parent.End()

	observabilitytest.AssertTree(t, kit.Spans(), observabilitytest.Want{
		Name: "handler",
		Children: []observabilitytest.Want{
			{Name: "cache.set", Kind: trace.SpanKindInternal, Attrs: attrs("sessions", cache.OperationSet, cache.ResultOK)},
			{Name: "cache.get", Kind: trace.SpanKindInternal, Attrs: attrs("sessions", cache.OperationGet, cache.ResultHit)},
			{Name: "cache.get", Kind: trace.SpanKindInternal, Attrs: attrs("sessions", cache.OperationGet, cache.ResultMiss)},
			{Name: "cache.delete", Kind: trace.SpanKindInternal},
			{Name: "cache.purge", Kind: trace.SpanKindInternal},
			{Name: "cache.set", Kind: trace.SpanKindInternal, Error: true, Attrs: attrs("sessions", cache.OperationSet, cache.ResultError)},
		},
	})

	for _, tc := range []struct {
		op, result string
		want       float64
	}{
		{cache.OperationGet, cache.ResultHit, 1},
		{cache.OperationGet, cache.ResultMiss, 2},
		{cache.OperationSet, cache.ResultOK, 1},
		{cache.OperationSet, cache.ResultError, 1},
		{cache.OperationDelete, cache.ResultOK, 1},
		{cache.OperationPurge, cache.ResultOK, 1},
	} {
		if got := kit.Sum(t, cache.OperationsMetric, attrs("sessions", tc.op, tc.result)...); got != tc.want {
			t.Errorf("%s{%s,%s} = %v, want %v", cache.OperationsMetric, tc.op, tc.result, got, tc.want)
		}
	}
}

func TestOptionsValidated(t *testing.T) {
	for i, o := range []Option{WithSize(0), WithMaxBytes(0), WithName(""), WithTracerProvider(nil), WithMeterProvider(nil)} {
		if _, err := New(o); err == nil {
			t.Errorf("option %d: New accepted an invalid option", i)
		}
	}
}

func BenchmarkGetHit(b *testing.B) {
	c, _ := New()
	ctx := b.Context()
	for i := range 100 {
		_ = c.Set(ctx, fmt.Sprint(i), make([]byte, 512), 0)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		_, _, _ = c.Get(ctx, "42")
	}
}
