package observability_test

import (
	"testing"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
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
