package observability

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// BenchmarkSpanHelpers compares the messaging helpers with a bare tracer.Start
// on the same provider, sampled and unsampled, in one run.
func BenchmarkSpanHelpers(b *testing.B) {
	prop := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	for _, sampled := range []bool{true, false} {
		sampler := sdktrace.NeverSample()
		name := "unsampled"
		if sampled {
			sampler, name = sdktrace.AlwaysSample(), "sampled"
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sampler))
		tr := Tracer(tp, "bench")
		b.Run(name+"/bare-start", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, s := tr.Start(context.Background(), "publish orders", trace.WithSpanKind(trace.SpanKindProducer))
				s.End()
			}
		})
		b.Run(name+"/producer-helper", func(b *testing.B) {
			carrier := propagation.MapCarrier{}
			b.ReportAllocs()
			for b.Loop() {
				_, s := StartProducerSpan(context.Background(), tr, prop, carrier, semconv.MessagingSystemKafka, "orders")
				s.End()
			}
		})
		b.Run(name+"/consumer-helper", func(b *testing.B) {
			carrier := propagation.MapCarrier{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
			b.ReportAllocs()
			for b.Loop() {
				_, s := StartConsumerSpan(context.Background(), tr, prop, carrier, semconv.MessagingSystemKafka, "orders")
				s.End()
			}
		})
		_ = tp.Shutdown(context.Background())
	}
}
