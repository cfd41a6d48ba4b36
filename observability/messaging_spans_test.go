package observability_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/patron-go/patron/correlation"
	"github.com/patron-go/patron/observability"
	"github.com/patron-go/patron/observability/observabilitytest"
)

// TestProducerConsumerSpans proves the cached starters behave as
// StartProducerSpan and StartConsumerSpan: a PRODUCER span whose context
// and correlation ID travel in the carrier, and a CONSUMER span with that
// context as parent and link, the constant attributes, and the ID in ctx.
func TestProducerConsumerSpans(t *testing.T) {
	kit := observabilitytest.New(t)
	tr := observability.Tracer(kit.TracerProvider, "test")
	ps := observability.NewProducerSpans(tr, kit.Propagator, semconv.MessagingSystemKafka, "orders")
	cs := observability.NewConsumerSpans(tr, kit.Propagator, semconv.MessagingSystemKafka, "orders",
		semconv.MessagingConsumerGroupName("g"))
	if cs.Name() != "process orders" {
		t.Fatalf("name %q", cs.Name())
	}
	carrier := propagation.MapCarrier{}
	_, pspan := ps.Start(correlation.ContextWithID(t.Context(), "corr-1"), carrier)
	pspan.End()
	if carrier[correlation.HeaderKey] != "corr-1" || carrier["traceparent"] == "" {
		t.Fatalf("carrier %v", carrier)
	}
	ctx, cspan := cs.Start(t.Context(), carrier)
	cspan.End()
	if id, _ := correlation.FromContext(ctx); id != "corr-1" {
		t.Fatalf("correlation ID %q, want corr-1", id)
	}
	spans := kit.Spans()
	observabilitytest.AssertTree(t, spans, observabilitytest.Want{
		Name: "publish orders", Kind: trace.SpanKindProducer,
		Attrs: []attribute.KeyValue{semconv.MessagingSystemKafka, semconv.MessagingDestinationName("orders"), semconv.MessagingOperationTypeSend},
		Children: []observabilitytest.Want{{
			Name: "process orders", Kind: trace.SpanKindConsumer, LinksTo: []string{"publish orders"},
			Attrs: []attribute.KeyValue{semconv.MessagingConsumerGroupName("g"), semconv.MessagingOperationTypeProcess},
		}},
	})
}

// A malformed or missing context starts a new trace, without a link, and a
// missing correlation ID is replaced by a new UUIDv7.
func TestConsumerSpansMalformedContext(t *testing.T) {
	kit := observabilitytest.New(t)
	cs := observability.NewConsumerSpans(observability.Tracer(kit.TracerProvider, "test"), kit.Propagator,
		semconv.MessagingSystemRabbitMQ, "q")
	for _, carrier := range []propagation.MapCarrier{{"traceparent": "00-zz-bad"}, {}} {
		ctx, span := cs.Start(t.Context(), carrier)
		span.End()
		sc := trace.SpanContextFromContext(ctx)
		if !sc.IsValid() {
			t.Fatal("no span context")
		}
		id, _ := correlation.FromContext(ctx)
		if u, err := uuid.Parse(id); err != nil || u.Version() != 7 {
			t.Fatalf("correlation ID %q, want a UUIDv7", id)
		}
	}
	for _, s := range kit.Spans() {
		if s.Parent().IsValid() || len(s.Links()) != 0 {
			t.Fatalf("span %s has parent %v, links %v", s.Name(), s.Parent(), s.Links())
		}
	}
}

// seenSampler records the attributes a sampler is given at a span's start.
type seenSampler struct{ attrs []attribute.KeyValue }

func (s *seenSampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	s.attrs = append(s.attrs, p.Attributes...)
	return sdktrace.SamplingResult{Decision: sdktrace.RecordAndSample}
}

func (s *seenSampler) Description() string { return "seen" }

// StartWithOptions gives the caller's attributes at the start, where a
// sampler sees them, and the options' buffer may be reused once it returns.
func TestConsumerSpansStartWithOptions(t *testing.T) {
	sampler := &seenSampler{}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sampler))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	cs := observability.NewConsumerSpans(tp.Tracer("test"), propagation.TraceContext{}, semconv.MessagingSystemKafka, "orders")
	attrs := append(cs.Attributes(), semconv.MessagingKafkaOffset(7))
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attrs...)}
	_, span := cs.StartWithOptions(t.Context(), propagation.MapCarrier{}, opts)
	attrs[len(attrs)-1] = semconv.MessagingKafkaOffset(8) // the next message's
	span.End()
	want := attribute.NewSet(semconv.MessagingSystemKafka, semconv.MessagingDestinationName("orders"), semconv.MessagingKafkaOffset(7))
	for _, kvs := range [][]attribute.KeyValue{sampler.attrs, span.(sdktrace.ReadOnlySpan).Attributes()} {
		set := attribute.NewSet(kvs...)
		for _, kv := range want.ToSlice() {
			if v, ok := set.Value(kv.Key); !ok || v != kv.Value {
				t.Errorf("attributes %v, want %v among them", kvs, kv)
			}
		}
	}
	if k := span.(sdktrace.ReadOnlySpan).SpanKind(); k != trace.SpanKindConsumer {
		t.Errorf("kind %v", k)
	}
}
