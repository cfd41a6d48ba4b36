package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/patron-go/patron/observability/observabilitytest"
	"github.com/patron-go/patron/patrontest/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type W = observabilitytest.Want

var keySeq atomic.Int64

func uniqueKey(prefix string) string {
	return fmt.Sprintf("patron:test:%s:%d:%d", prefix, time.Now().UnixNano(), keySeq.Add(1))
}

func newTraced(t *testing.T, kit *observabilitytest.Kit, opts ...Option) *redis.Client {
	t.Helper()
	testenv.RequireTCP(t, "redis", testenv.RedisAddr)
	opts = append([]Option{WithAddr(testenv.RedisAddr), WithTracerProvider(kit.TracerProvider), WithMeterProvider(kit.MeterProvider)}, opts...)
	rdb, err := New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

func cleanupKeys(t *testing.T, rdb redis.UniversalClient, keys ...string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = rdb.Del(ctx, keys...).Err()
	})
}

func parent(t *testing.T, kit *observabilitytest.Kit) (context.Context, func()) {
	ctx, span := kit.TracerProvider.Tracer("test").Start(t.Context(), "test")
	return ctx, func() { span.End() }
}

func assertNoSecret(t *testing.T, spans []sdktrace.ReadOnlySpan, secrets ...string) {
	t.Helper()
	for _, s := range spans {
		kvs := append([]attribute.KeyValue(nil), s.Attributes()...)
		for _, e := range s.Events() {
			kvs = append(kvs, e.Attributes...)
		}
		for _, kv := range kvs {
			for _, secret := range secrets {
				if strings.Contains(kv.Value.String(), secret) {
					t.Errorf("span %q: %s = %q contains %q", s.Name(), kv.Key, kv.Value.String(), secret)
				}
			}
		}
	}
}

func TestCommandsAndPipeline(t *testing.T) {
	kit := observabilitytest.New(t)
	rdb := newTraced(t, kit)
	key, counter := uniqueKey("user"), uniqueKey("counter")
	cleanupKeys(t, rdb, key, counter)

	ctx, end := parent(t, kit)
	if err := rdb.Set(ctx, key, "redis-secret-value", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if v, err := rdb.Get(ctx, key).Result(); err != nil || v != "redis-secret-value" {
		t.Fatalf("get: %q %v", v, err)
	}
	if err := rdb.Get(ctx, key+":missing").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("missing key: %v", err)
	}
	cmds, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Incr(ctx, counter)
		p.Expire(ctx, counter, time.Minute)
		p.Get(ctx, key)
		return nil
	})
	if err != nil || len(cmds) != 3 {
		t.Fatalf("pipeline: %v", err)
	}
	if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Get(ctx, key)
		p.Get(ctx, counter)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	end()

	spans := kit.WaitForSpanCount(t, 5*time.Second, "test", 1)
	assertNoSecret(t, spans, "redis-secret-value", "patron:test")
	common := []attribute.KeyValue{
		semconv.DBSystemNameRedis, semconv.DBNamespace("0"),
		semconv.ServerAddress("127.0.0.1"), semconv.ServerPort(6379),
	}
	client := trace.SpanKindClient
	observabilitytest.AssertTree(t, spans, W{Name: "test", Children: []W{
		{Name: "SET", Kind: client, Attrs: append(common, semconv.DBOperationName("SET"), semconv.DBQueryText("SET ? ? ? ?"))},
		{Name: "GET", Kind: client, Attrs: append(common, semconv.DBOperationName("GET"), semconv.DBQueryText("GET ?"))},
		{Name: "BATCH INCR EXPIRE GET", Kind: client, Attrs: append(common,
			semconv.DBOperationName("BATCH"), semconv.DBQuerySummary("BATCH INCR EXPIRE GET"),
			semconv.DBOperationBatchSize(3), semconv.DBQueryText("INCR ?\nEXPIRE ? ?\nGET ?"))},
		{Name: "BATCH GET", Kind: client, Attrs: []attribute.KeyValue{semconv.DBOperationName("BATCH GET"), semconv.DBOperationBatchSize(2)}},
	}})
	// The connection handshake (HELLO, CLIENT SETINFO) that go-redis sends
	// by itself is not traced: only the user's commands are.
	for _, s := range spans {
		if n := s.Name(); n == "HELLO" || strings.Contains(n, "CLIENT") {
			t.Errorf("handshake command traced: %q", n)
		}
	}
	// A missing key (redis.Nil) is an answer, not an error.
	for _, s := range observabilitytest.Named(spans, "GET") {
		if s.Status().Code.String() == "Error" {
			t.Errorf("GET span has status Error")
		}
	}
	if n := kit.Sum(t, "db.client.operation.duration", semconv.DBOperationName("GET"), semconv.DBSystemNameRedis); n != 2 {
		t.Errorf("GET duration count = %v, want 2", n)
	}
	if n := kit.Sum(t, "db.client.operation.duration", semconv.DBOperationName("BATCH")); n != 1 {
		t.Errorf("BATCH duration count = %v, want 1", n)
	}
	// Pool metrics from redisotel, under Patron's provider.
	if n := kit.Sum(t, "db.client.connections.usage"); n < 1 {
		t.Errorf("db.client.connections.usage = %v, want >= 1", n)
	}
	kit.Metric(t, "db.client.connections.max")
	kit.Metric(t, "db.client.connections.waits")
}

func TestCommandError(t *testing.T) {
	kit := observabilitytest.New(t)
	rdb := newTraced(t, kit)
	key := uniqueKey("str")
	cleanupKeys(t, rdb, key)
	if err := rdb.Set(t.Context(), key, "not-a-number", 0).Err(); err != nil {
		t.Fatal(err)
	}
	ctx, end := parent(t, kit)
	if err := rdb.Incr(ctx, key).Err(); err == nil {
		t.Fatal("INCR of a string: want an error")
	}
	if err := rdb.LPush(ctx, key, "x").Err(); err == nil {
		t.Fatal("LPUSH on a string: want an error")
	}
	end()
	spans := kit.WaitForSpanCount(t, 5*time.Second, "test", 1)
	observabilitytest.AssertTree(t, spans, W{Name: "test", Children: []W{
		{Name: "INCR", Error: true, Attrs: []attribute.KeyValue{semconv.ErrorTypeKey.String("ERR")}},
		{Name: "LPUSH", Error: true, Attrs: []attribute.KeyValue{semconv.ErrorTypeKey.String("WRONGTYPE")}},
	}})
	assertNoSecret(t, spans, "not-a-number")
	if n := kit.Sum(t, "db.client.operation.duration", semconv.ErrorTypeKey.String("WRONGTYPE")); n != 1 {
		t.Errorf("failed LPUSH count = %v, want 1", n)
	}
}

func TestRawStatements(t *testing.T) {
	kit := observabilitytest.New(t)
	rdb := newTraced(t, kit, WithRawStatements())
	key := uniqueKey("raw")
	cleanupKeys(t, rdb, key)
	if err := rdb.Set(t.Context(), key, "visible", 0).Err(); err != nil {
		t.Fatal(err)
	}
	spans := kit.WaitForSpanCount(t, 5*time.Second, "SET", 1)
	v, _ := observabilitytest.Attr(observabilitytest.Named(spans, "SET")[0], semconv.DBQueryTextKey)
	if v.AsString() != "set "+key+" visible" {
		t.Errorf("raw db.query.text = %q", v.AsString())
	}
}

func TestRedisDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	kit := observabilitytest.New(t)
	rdb, err := New(WithAddr(addr), WithTracerProvider(kit.TracerProvider), WithMeterProvider(kit.MeterProvider))
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	ctx, end := parent(t, kit)
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := rdb.Get(cctx, "k").Err(); err == nil || errors.Is(err, redis.Nil) {
		t.Fatalf("want a connection error, got %v", err)
	}
	end()
	spans := kit.WaitForSpanCount(t, 5*time.Second, "test", 1)
	observabilitytest.AssertTree(t, spans, W{Name: "test", Children: []W{
		{Name: "GET", Error: true, Attrs: []attribute.KeyValue{semconv.DBSystemNameRedis}},
	}})
	if len(spans) != 2 {
		t.Errorf("want only the test and GET spans (no parentless dial spans), have:\n%s", observabilitytest.Describe(spans))
	}
}

func TestNewUniversal(t *testing.T) {
	testenv.RequireTCP(t, "redis", testenv.RedisAddr)
	kit := observabilitytest.New(t)
	rdb, err := NewUniversal(&redis.UniversalOptions{Addrs: []string{testenv.RedisAddr}, DB: 1},
		WithTracerProvider(kit.TracerProvider), WithMeterProvider(kit.MeterProvider))
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	if err := rdb.Ping(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	spans := kit.WaitForSpanCount(t, 5*time.Second, "PING", 1)
	observabilitytest.AssertTree(t, spans, W{Name: "PING", Attrs: []attribute.KeyValue{semconv.DBNamespace("1"), semconv.DBSystemNameRedis}})
}

func TestOptionValidation(t *testing.T) {
	bad := map[string][]Option{
		"nil option":     {nil},
		"nil tracer":     {WithTracerProvider(nil)},
		"nil meter":      {WithMeterProvider(nil)},
		"nil propagator": {WithPropagator(nil)},
		"nil logger":     {WithLogger(nil)},
		"nil options":    {WithOptions(nil)},
		"bad address":    {WithAddr("no-port")},
	}
	for name, opts := range bad {
		if rdb, err := New(opts...); err == nil {
			_ = rdb.Close()
			t.Errorf("%s: want an error", name)
		}
	}
	if _, err := NewUniversal(nil); err == nil {
		t.Error("nil universal options: want an error")
	}
	if _, err := NewUniversal(&redis.UniversalOptions{}); err == nil {
		t.Error("no addresses: want an error")
	}
	if _, err := NewUniversal(&redis.UniversalOptions{Addrs: []string{"a:1"}}, WithAddr("b:2")); err == nil {
		t.Error("WithAddr with NewUniversal: want an error")
	}
}

// TestTimeoutErrorType: a command cut short by its context's deadline is
// error.type "timeout" on its span and duration metric, as on every Patron
// transport (observability.ErrorType).
func TestTimeoutErrorType(t *testing.T) {
	testenv.RequireTCP(t, "redis", testenv.RedisAddr)
	kit := observabilitytest.New(t)
	rdb, err := New(WithOptions(&redis.Options{Addr: testenv.RedisAddr, ContextTimeoutEnabled: true}),
		WithTracerProvider(kit.TracerProvider), WithMeterProvider(kit.MeterProvider))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	if err := rdb.Ping(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if err := rdb.BLPop(ctx, 10*time.Second, uniqueKey("never")).Err(); err == nil {
		t.Fatal("BLPOP of an empty list returned within 100ms")
	}
	if n := kit.Sum(t, "db.client.operation.duration", semconv.DBOperationName("BLPOP"), semconv.ErrorTypeKey.String("timeout")); n != 1 {
		t.Errorf("timed-out BLPOPs measured with error.type timeout = %v, want 1", n)
	}
}
