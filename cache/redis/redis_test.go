package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/patron-go/patron/cache"
	"github.com/patron-go/patron/cache/internal/cachetest"
	"github.com/patron-go/patron/observability/observabilitytest"
	"github.com/patron-go/patron/patrontest/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func redisClient(t *testing.T) *goredis.Client {
	t.Helper()
	testenv.RequireTCP(t, "redis", testenv.RedisAddr)
	c := goredis.NewClient(&goredis.Options{Addr: testenv.RedisAddr})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// uniquePrefix keeps tests (and concurrent runs) from seeing each other's
// keys.
func uniquePrefix(t *testing.T) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := strings.NewReplacer("/", "-", " ", "_").Replace(t.Name())
	return "patron-test:" + name + ":" + hex.EncodeToString(b) + ":"
}

func newCache(t *testing.T, client goredis.UniversalClient, prefix string, opts ...Option) *Cache {
	t.Helper()
	c, err := New(client, prefix, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Purge(context.Background()) })
	return c
}

func TestConformance(t *testing.T) {
	client := redisClient(t)
	cachetest.Run(t, func(t *testing.T) cache.Cache { return newCache(t, client, uniquePrefix(t)) })
}

func TestKeysLiveUnderPrefix(t *testing.T) {
	client := redisClient(t)
	prefix := uniquePrefix(t)
	c := newCache(t, client, prefix)
	if err := c.Set(t.Context(), "k", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if v, err := client.Get(t.Context(), prefix+"k").Result(); err != nil || v != "v" {
		t.Fatalf("raw GET %s = %q, %v; want v", prefix+"k", v, err)
	}
	ttl, err := client.PTTL(t.Context(), prefix+"k").Result()
	if err != nil || ttl <= 0 || ttl > time.Minute {
		t.Fatalf("PTTL = %s, %v; want in (0, 1m]", ttl, err)
	}
	if err := c.Set(t.Context(), "forever", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if ttl, _ := client.PTTL(t.Context(), prefix+"forever").Result(); ttl != -1 {
		t.Fatalf("PTTL of a ttl-0 entry = %s, want -1 (no expiry)", ttl)
	}
}

func TestPurgeDeletesOnlyOwnKeys(t *testing.T) {
	client := redisClient(t)
	ctx := t.Context()
	base := uniquePrefix(t)
	// A glob character in the prefix must not widen the match: "a*:"
	// must not match "ab:".
	prefix := base + "a*:"
	c := newCache(t, client, prefix, WithScanCount(100))

	foreign := []string{
		base + "ab:x",           // would match an unescaped a*
		base + "a:x",            // shares the start of the prefix
		"other:" + prefix + "x", // contains the prefix, not at the start
		base + "a*",             // the prefix without its last character
	}
	for _, k := range foreign {
		if err := client.Set(ctx, k, "keep", time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _ = client.Del(context.Background(), foreign...).Err() })

	const n = 1234 // several SCAN pages and UNLINK batches
	pipe := client.Pipeline()
	for i := range n {
		pipe.Set(ctx, fmt.Sprintf("%sk%d", prefix, i), "v", time.Minute)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}

	if err := c.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	left, err := client.Keys(ctx, escapeGlob(prefix)+"*").Result()
	if err != nil || len(left) != 0 {
		t.Fatalf("after Purge %d own keys left (%v), want 0", len(left), err)
	}
	for _, k := range foreign {
		if v, err := client.Get(ctx, k).Result(); err != nil || v != "keep" {
			t.Errorf("foreign key %q = %q, %v after Purge; want it intact", k, v, err)
		}
	}
}

func TestTelemetry(t *testing.T) {
	client := redisClient(t)
	kit := observabilitytest.New(t)
	c := newCache(t, client, uniquePrefix(t), WithName("routes"),
		WithTracerProvider(kit.TracerProvider), WithMeterProvider(kit.MeterProvider))
	ctx, parent := kit.TracerProvider.Tracer("test").Start(t.Context(), "handler")
	_ = c.Set(ctx, "k", []byte("v"), time.Minute)
	_, _, _ = c.Get(ctx, "k")
	_, _, _ = c.Get(ctx, "absent")
	_ = c.Delete(ctx, "k")
	_ = c.Purge(ctx)
	parent.End()

	db := []attribute.KeyValue{semconv.DBSystemNameRedis, semconv.ServerAddress("127.0.0.1"), semconv.ServerPort(6379), semconv.DBNamespace("0")}
	with := func(extra ...attribute.KeyValue) []attribute.KeyValue {
		return append(append([]attribute.KeyValue{}, db...), extra...)
	}
	observabilitytest.AssertTree(t, kit.Spans(), observabilitytest.Want{
		Name: "handler",
		Children: []observabilitytest.Want{
			{Name: "cache.set", Kind: trace.SpanKindClient, Attrs: with(semconv.DBOperationName("SET"), cache.ResultKey.String(cache.ResultOK))},
			{Name: "cache.get", Kind: trace.SpanKindClient, Attrs: with(semconv.DBOperationName("GET"), cache.ResultKey.String(cache.ResultHit))},
			{Name: "cache.get", Kind: trace.SpanKindClient, Attrs: with(cache.ResultKey.String(cache.ResultMiss))},
			{Name: "cache.delete", Kind: trace.SpanKindClient, Attrs: with(semconv.DBOperationName("UNLINK"))},
			{Name: "cache.purge", Kind: trace.SpanKindClient, Attrs: with(attribute.Int64("cache.purge.deleted", 0))},
		},
	})
	name := cache.NameKey.String("routes")
	get := cache.OperationKey.String(cache.OperationGet)
	if got := kit.Sum(t, cache.OperationsMetric, name, get, cache.ResultKey.String(cache.ResultHit)); got != 1 {
		t.Errorf("get hits = %v, want 1", got)
	}
	if got := kit.Sum(t, cache.OperationsMetric, name, get, cache.ResultKey.String(cache.ResultMiss)); got != 1 {
		t.Errorf("get misses = %v, want 1", got)
	}
}

func TestRedisDownFailsWithinDeadline(t *testing.T) {
	// A port that was just closed refuses connections.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	client := goredis.NewClient(&goredis.Options{Addr: addr})
	t.Cleanup(func() { _ = client.Close() })
	kit := observabilitytest.New(t)
	c, err := New(client, uniquePrefix(t), WithTracerProvider(kit.TracerProvider), WithMeterProvider(kit.MeterProvider))
	if err != nil {
		t.Fatal(err)
	}

	const budget = 2 * time.Second
	ops := map[string]func(ctx context.Context) error{
		"get":    func(ctx context.Context) error { _, _, err := c.Get(ctx, "k"); return err },
		"set":    func(ctx context.Context) error { return c.Set(ctx, "k", []byte("v"), time.Minute) },
		"delete": func(ctx context.Context) error { return c.Delete(ctx, "k") },
		"purge":  func(ctx context.Context) error { return c.Purge(ctx) },
	}
	for name, op := range ops {
		ctx, cancel := context.WithTimeout(t.Context(), budget)
		start := time.Now()
		err := op(ctx)
		elapsed := time.Since(start)
		cancel()
		if err == nil {
			t.Errorf("%s against a closed port succeeded", name)
		}
		// Generous slack: this checks "bounded by the deadline", not speed.
		if elapsed > budget+3*time.Second {
			t.Errorf("%s took %s, past its %s deadline", name, elapsed, budget)
		}
	}
	if got := kit.Sum(t, cache.OperationsMetric, cache.ResultKey.String(cache.ResultError)); got != 4 {
		t.Errorf("error count = %v, want 4", got)
	}
}

func TestNewValidates(t *testing.T) {
	client := goredis.NewClient(&goredis.Options{Addr: testenv.RedisAddr})
	t.Cleanup(func() { _ = client.Close() })
	if _, err := New(nil, "p:"); err == nil {
		t.Error("New accepted a nil client")
	}
	if _, err := New(client, ""); err == nil {
		t.Error("New accepted an empty prefix")
	}
	for i, o := range []Option{WithName(""), WithScanCount(0), WithTracerProvider(nil), WithMeterProvider(nil)} {
		if _, err := New(client, "p:", o); err == nil {
			t.Errorf("option %d accepted", i)
		}
	}
}

func TestEscapeGlob(t *testing.T) {
	if got, want := escapeGlob(`a*b?c[d]e\f`), `a\*b\?c\[d\]e\\f`; got != want {
		t.Fatalf("escapeGlob = %q, want %q", got, want)
	}
}
