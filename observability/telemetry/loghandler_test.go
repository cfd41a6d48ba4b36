package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"reflect"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/contrib/bridges/otelslog"
	"go.opentelemetry.io/otel/attribute"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/patron-go/patron/correlation"
)

// memLogs keeps the records it is given.
type memLogs struct {
	mu   sync.Mutex
	recs []sdklog.Record
}

func (m *memLogs) Export(_ context.Context, recs []sdklog.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range recs {
		m.recs = append(m.recs, recs[i].Clone())
	}
	return nil
}
func (m *memLogs) Shutdown(context.Context) error   { return nil }
func (m *memLogs) ForceFlush(context.Context) error { return nil }

func (m *memLogs) take() []sdklog.Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.recs
	m.recs = nil
	return r
}

// exported is what a receiver sees of a record, the observed timestamp
// (set when the record is emitted) aside.
type exported struct {
	Body, SeverityText string
	Severity           int
	Time               time.Time
	TraceID, SpanID    string
	Attrs              []string
	Dropped            int
	Resource, Scope    string
}

func view(r sdklog.Record) exported {
	e := exported{
		Body:         r.Body().String(),
		SeverityText: r.SeverityText(),
		Severity:     int(r.Severity()),
		Time:         r.Timestamp(),
		TraceID:      r.TraceID().String(),
		SpanID:       r.SpanID().String(),
		Dropped:      r.DroppedAttributes(),
		Resource:     r.Resource().String(),
		Scope:        r.InstrumentationScope().Name,
	}
	r.WalkAttributes(func(kv attribute.KeyValue) bool {
		e.Attrs = append(e.Attrs, fmt.Sprintf("%s=%s:%s", kv.Key, kv.Value.Type(), kv.Value.String()))
		return true
	})
	return e
}

type valuer struct{ v slog.Value }

func (v valuer) LogValue() slog.Value { return v.v }

type point struct{ X, Y int }

// The handler exports what the contrib slog bridge exports, record for
// record, whichever of its paths a record takes; the context's correlation
// ID is the one attribute it adds.
func TestLogHandlerExportsWhatTheBridgeExports(t *testing.T) {
	mine := &memLogs{}
	p, err := Setup(t.Context(), "logs-test", "1", WithoutGlobals(), WithoutRuntimeMetrics(), WithLogExporter(mine))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	theirs := &memLogs{}
	lp := sdklog.NewLoggerProvider(sdklog.WithResource(p.Resource()), sdklog.WithProcessor(sdklog.NewSimpleProcessor(theirs)))
	t.Cleanup(func() { _ = lp.Shutdown(context.Background()) })
	bridge := otelslog.NewHandler(logScope, otelslog.WithLoggerProvider(lp))

	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("t").Start(t.Context(), "op")
	defer span.End()
	at := time.Date(2026, 12, 7, 10, 0, 0, 123, time.UTC)
	boom := fmt.Errorf("wrapped: %w", errors.New("boom"))

	for _, tc := range []struct {
		name  string
		with  func(slog.Handler) slog.Handler
		level slog.Level
		attrs []slog.Attr
	}{
		{name: "scalars", attrs: []slog.Attr{slog.Int("status", 200), slog.String("path", "/hello"), slog.Int64("duration", 1234),
			slog.Bool("ok", true), slog.Float64("ratio", 0.5), slog.Uint64("small", 7), slog.Uint64("big", math.MaxUint64),
			slog.Duration("took", 3*time.Millisecond), slog.Time("at", at)}},
		{name: "no attributes", level: slog.LevelWarn},
		{name: "levels in between", level: slog.LevelInfo + 2, attrs: []slog.Attr{slog.Int("a", 1)}},
		{name: "duplicate keys", attrs: []slog.Attr{slog.Int("a", 1), slog.Int("b", 2), slog.Int("a", 3)}},
		{name: "with attrs", with: func(h slog.Handler) slog.Handler {
			return h.WithAttrs([]slog.Attr{slog.String("component", "http"), slog.Int("b", 1)}).WithAttrs([]slog.Attr{slog.Int("c", 2)})
		}, attrs: []slog.Attr{slog.Int("b", 9), slog.Int("d", 4)}},
		{name: "an error value", level: slog.LevelError, attrs: []slog.Attr{slog.Any("err", boom), slog.Int("a", 1)}},
		{name: "an error in WithAttrs", with: func(h slog.Handler) slog.Handler {
			return h.WithAttrs([]slog.Attr{slog.Any("err", boom)})
		}, attrs: []slog.Attr{slog.Int("a", 1)}},
		{name: "log valuers", attrs: []slog.Attr{slog.Any("v", valuer{slog.IntValue(5)}), slog.Any("g", valuer{slog.GroupValue(slog.Int("x", 1))})}},
		{name: "any values", attrs: []slog.Attr{slog.Any("p", point{1, 2}), slog.Any("ss", []string{"a", "b"}), slog.Any("nil", nil)}},
		{name: "groups in the record", attrs: []slog.Attr{slog.Group("req", slog.String("method", "GET"), slog.Int("n", 1), slog.Int("n", 2)), slog.Group("", slog.Int("inline", 1))}},
		{name: "empty keys", attrs: []slog.Attr{slog.Int("", 1), slog.Any("", nil), slog.Int("a", 1)}},
		{name: "WithGroup", with: func(h slog.Handler) slog.Handler {
			return h.WithAttrs([]slog.Attr{slog.Int("top", 1)}).WithGroup("g").WithAttrs([]slog.Attr{slog.Int("in", 2)}).WithGroup("h")
		}, attrs: []slog.Attr{slog.Int("a", 1), slog.Int("a", 2)}},
		{name: "an unusual value in WithAttrs", with: func(h slog.Handler) slog.Handler {
			return h.WithAttrs([]slog.Attr{slog.Any("p", point{1, 2})}).WithAttrs([]slog.Attr{slog.Int("a", 1)})
		}, attrs: []slog.Attr{slog.Int("b", 1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, b := p.LogHandler(), slog.Handler(bridge)
			if tc.with != nil {
				h, b = tc.with(h), tc.with(b)
			}
			level := tc.level
			if level == 0 {
				level = slog.LevelInfo
			}
			r := slog.NewRecord(at, level, "a message", 0)
			r.AddAttrs(tc.attrs...)
			if err := h.Handle(ctx, r); err != nil {
				t.Fatal(err)
			}
			if err := b.Handle(ctx, r); err != nil {
				t.Fatal(err)
			}
			if err := p.ForceFlush(t.Context()); err != nil {
				t.Fatal(err)
			}
			got, want := mine.take(), theirs.take()
			if len(got) != 1 || len(want) != 1 {
				t.Fatalf("%d records exported, the bridge %d", len(got), len(want))
			}
			if g, w := view(got[0]), view(want[0]); !reflect.DeepEqual(g, w) {
				t.Fatalf("exported\n%+v\nthe bridge\n%+v", g, w)
			}
			if got[0].TraceID() != span.SpanContext().TraceID() || got[0].SpanID() != span.SpanContext().SpanID() {
				t.Fatalf("record %s/%s, span %s", got[0].TraceID(), got[0].SpanID(), span.SpanContext().SpanID())
			}
		})
	}
}

// The JSON output carries the context's correlation ID; so does the
// exported record, whichever path it takes, and an attribute of the same
// name gives way to it as in the JSON line.
func TestLogHandlerAddsCorrelationID(t *testing.T) {
	mem := &memLogs{}
	p, err := Setup(t.Context(), "logs-test", "1", WithoutGlobals(), WithoutRuntimeMetrics(), WithLogExporter(mem))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	ctx := correlation.ContextWithID(t.Context(), "corr-1")
	fast := slog.New(p.LogHandler()).With("component", "c")
	fast.InfoContext(ctx, "fast", "a", 1, "correlation_id", "from the caller")
	slog.New(p.LogHandler()).WithGroup("g").InfoContext(ctx, "grouped", "a", 1)
	fast.InfoContext(ctx, "any value", "p", point{1, 2})
	fast.InfoContext(t.Context(), "no id")
	if err := p.ForceFlush(t.Context()); err != nil {
		t.Fatal(err)
	}
	recs := mem.take()
	if len(recs) != 4 {
		t.Fatalf("%d records", len(recs))
	}
	for i, r := range recs {
		var ids []string
		r.WalkAttributes(func(kv attribute.KeyValue) bool {
			if kv.Key == "correlation_id" {
				ids = append(ids, kv.Value.AsString())
			}
			return true
		})
		want := []string{"corr-1"}
		if i == 3 {
			want = nil
		}
		if !reflect.DeepEqual(ids, want) {
			t.Errorf("record %q: correlation_id %q, want %q", r.Body().AsString(), ids, want)
		}
	}
}

// A request's record costs the SDK's one allocation (the record handed to
// the processor) and none of the handler's own, WithAttrs included, as long
// as it has at most five attributes (what the record keeps inline).
func TestLogHandlerAllocations(t *testing.T) {
	p, err := Setup(t.Context(), "logs-test", "1", WithoutGlobals(), WithoutRuntimeMetrics(), WithLogExporter(discardLogs{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	l := slog.New(p.LogHandler()).With("component", "http")
	ctx, span := sdktrace.NewTracerProvider().Tracer("t").Start(correlation.ContextWithID(t.Context(), "corr-1"), "op")
	defer span.End()
	if n := testing.AllocsPerRun(200, func() { l.InfoContext(ctx, "request", "status", 200, "path", "/hello") }); n > 1 {
		t.Fatalf("%v allocations per exported record, want 1", n)
	}
}
