package observability

import (
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// ModulePath is the instrumentation scope prefix of every Patron package.
const ModulePath = "github.com/patron-go/patron"

// Version is reported as the instrumentation scope version.
const Version = "0.1.0"

// Tracer returns the tracer of instrumentation scope for tp, falling back to
// the global provider when tp is nil (so a component built before the service
// set the globals still follows them: the global provider delegates).
func Tracer(tp trace.TracerProvider, scope string) trace.Tracer {
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	return tp.Tracer(scope, trace.WithInstrumentationVersion(Version), trace.WithSchemaURL(semconv.SchemaURL))
}

// Meter returns the meter of instrumentation scope for mp, falling back to
// the global provider when mp is nil.
func Meter(mp metric.MeterProvider, scope string) metric.Meter {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	return mp.Meter(scope, metric.WithInstrumentationVersion(Version), metric.WithSchemaURL(semconv.SchemaURL))
}

// Propagator returns p, or the global propagator when p is nil.
func Propagator(p propagation.TextMapPropagator) propagation.TextMapPropagator {
	if p == nil {
		return otel.GetTextMapPropagator()
	}
	return p
}

// DurationBuckets returns the bucket boundaries, in seconds, that the
// semantic conventions recommend for duration histograms.
func DurationBuckets() []float64 {
	return []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}
}

// DurationHistogram creates a histogram in seconds with DurationBuckets.
func DurationHistogram(m metric.Meter, name, description string) (metric.Float64Histogram, error) {
	return m.Float64Histogram(name,
		metric.WithUnit("s"),
		metric.WithDescription(description),
		metric.WithExplicitBucketBoundaries(DurationBuckets()...))
}

// RecordError marks span as failed with err, the way every Patron transport
// does it: an exception event, status Error, and error.type (from an
// ErrorType method in err's chain, or its type name, as semconv says).
func RecordError(span trace.Span, err error) {
	if err == nil || !span.IsRecording() {
		return
	}
	span.RecordError(err)
	span.SetStatus(codes.Error, err.Error())
	span.SetAttributes(semconv.ErrorType(err))
}

// SpanStartTime is the start time the SDK recorded on a sampled span, so
// that the span and the metrics and logs of its operation agree to the
// nanosecond and the clock is read once; other spans (unsampled, no SDK)
// fall back to the clock.
func SpanStartTime(span trace.Span) time.Time {
	if ro, ok := span.(interface{ StartTime() time.Time }); ok {
		if t := ro.StartTime(); !t.IsZero() {
			return t
		}
	}
	return time.Now()
}
