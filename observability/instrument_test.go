package observability

import (
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// SpanStartTime gives a sampled SDK span's own start time, and the clock for
// a span that records none.
func TestSpanStartTime(t *testing.T) {
	at := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	tp := sdktrace.NewTracerProvider()
	_, span := tp.Tracer("t").Start(t.Context(), "op", trace.WithTimestamp(at))
	if got := SpanStartTime(span); !got.Equal(at) {
		t.Errorf("sampled span: %v, want %v", got, at)
	}
	before := time.Now()
	if got := SpanStartTime(trace.SpanFromContext(t.Context())); got.Before(before) {
		t.Errorf("span without a start time: %v, want the clock (after %v)", got, before)
	}
}
