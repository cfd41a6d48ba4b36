package log

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/patron-go/patron/correlation"
)

func TestHandlerAddsContextIDs(t *testing.T) {
	var buf bytes.Buffer
	l := New(&buf, FormatJSON, slog.LevelInfo, slog.String("service", "svc"))
	tp := sdktrace.NewTracerProvider()
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	ctx, span := tp.Tracer("t").Start(t.Context(), "op")
	ctx = correlation.ContextWithID(ctx, "corr-1")
	l.InfoContext(ctx, "hello")
	span.End()

	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("decoding %q: %v", buf.String(), err)
	}
	sc := span.SpanContext()
	want := map[string]string{
		TraceIDKey: sc.TraceID().String(), SpanIDKey: sc.SpanID().String(),
		CorrelationIDKey: "corr-1", "service": "svc", "msg": "hello",
	}
	for k, v := range want {
		if rec[k] != v {
			t.Errorf("record[%q] = %v, want %q", k, rec[k], v)
		}
	}
}

func TestHandlerWithoutSpan(t *testing.T) {
	var buf bytes.Buffer
	New(&buf, FormatText, slog.LevelInfo).WithGroup("g").With("a", 1).InfoContext(t.Context(), "x")
	if bytes.Contains(buf.Bytes(), []byte(TraceIDKey)) {
		t.Fatalf("record without span has trace id: %s", buf.String())
	}
}

func TestLevelVarChangesAtRunTime(t *testing.T) {
	var buf bytes.Buffer
	lv := new(slog.LevelVar)
	l := New(&buf, FormatJSON, lv)
	l.Debug("hidden")
	lv.Set(slog.LevelDebug)
	l.Debug("shown")
	if bytes.Contains(buf.Bytes(), []byte("hidden")) || !bytes.Contains(buf.Bytes(), []byte("shown")) {
		t.Fatalf("level change not applied: %s", buf.String())
	}
}

func TestParse(t *testing.T) {
	for _, s := range []string{"debug", "INFO", "warn", "warning", "error", ""} {
		if _, err := ParseLevel(s); err != nil {
			t.Errorf("ParseLevel(%q): %v", s, err)
		}
	}
	if _, err := ParseLevel("loud"); err == nil {
		t.Error("ParseLevel(loud) succeeded")
	}
	if _, err := ParseFormat("xml"); err == nil {
		t.Error("ParseFormat(xml) succeeded")
	}
}

func TestFromContext(t *testing.T) {
	if FromContext(t.Context()) != slog.Default() {
		t.Fatal("empty context should give slog.Default()")
	}
	l := slog.New(slog.NewTextHandler(io.Discard, nil))
	if FromContext(WithContext(t.Context(), l)) != l {
		t.Fatal("logger not carried")
	}
}

func BenchmarkHandler(b *testing.B) {
	tp := sdktrace.NewTracerProvider()
	defer func() { _ = tp.Shutdown(context.Background()) }()
	ctx, span := tp.Tracer("b").Start(context.Background(), "op")
	defer span.End()
	ctx = correlation.ContextWithID(ctx, "corr-1")
	b.Run("bare-json", func(b *testing.B) {
		l := slog.New(slog.NewJSONHandler(io.Discard, nil))
		b.ReportAllocs()
		for b.Loop() {
			l.InfoContext(ctx, "request", "status", 200)
		}
	})
	b.Run("patron-json", func(b *testing.B) {
		l := New(io.Discard, FormatJSON, slog.LevelInfo)
		b.ReportAllocs()
		for b.Loop() {
			l.InfoContext(ctx, "request", "status", 200)
		}
	})
}
