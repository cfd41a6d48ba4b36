package kafka_test

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/patron-go/patron/client/kafka"
	"github.com/patron-go/patron/correlation"
	"github.com/patron-go/patron/observability/observabilitytest"
	"github.com/patron-go/patron/patrontest/kafkatest"
)

// NewHooks traces a plain kgo.Client's records as the Producer does: a
// PRODUCER span under the record's context, its context and the
// correlation ID in the headers, and the sent counter.
func TestHooks(t *testing.T) {
	cluster := kafkatest.New(t)
	kit := observabilitytest.New(t)
	topic := cluster.Topic(t, 1)
	hooks, err := kafka.NewHooks(kafka.WithTracerProvider(kit.TracerProvider), kafka.WithMeterProvider(kit.MeterProvider),
		kafka.WithPropagator(kit.Propagator))
	if err != nil {
		t.Fatal(err)
	}
	cl := cluster.Client(t, hooks)
	ctx, parent := kit.TracerProvider.Tracer("test").Start(correlation.ContextWithID(t.Context(), "corr-h"), "parent")
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte("k"), Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	parent.End()
	observabilitytest.AssertTree(t, kit.Spans(), observabilitytest.Want{Name: "parent", Children: []observabilitytest.Want{{
		Name: "publish " + topic, Kind: trace.SpanKindProducer,
		Attrs: []attribute.KeyValue{semconv.MessagingSystemKafka, semconv.MessagingKafkaOffset(0), semconv.MessagingKafkaMessageKey("k")},
	}}})
	rec := readAll(t, cluster, topic, 1)[0]
	h := headerMap(rec)
	span := kit.Span(t, "publish "+topic)
	if h["traceparent"] != "00-"+span.SpanContext().TraceID().String()+"-"+span.SpanContext().SpanID().String()+"-01" || h[correlation.HeaderKey] != "corr-h" {
		t.Fatalf("headers %v", h)
	}
	if got := kit.Sum(t, "messaging.client.sent.messages", semconv.MessagingDestinationName(topic)); got != 1 {
		t.Fatalf("sent = %v, want 1", got)
	}
	if _, err := kafka.NewHooks(nil); err == nil {
		t.Fatal("nil option accepted")
	}
}

// Records produced through Producer.Client directly are traced by the same
// hooks.
func TestProducerClientIsTraced(t *testing.T) {
	cluster := kafkatest.New(t)
	kit := observabilitytest.New(t)
	topic := cluster.Topic(t, 1)
	p := newProducer(t, cluster, kit)
	if err := p.Client().ProduceSync(t.Context(), &kgo.Record{Topic: topic, Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if s := kit.Span(t, "publish "+topic); s.SpanKind() != trace.SpanKindProducer {
		t.Fatalf("span kind %s", s.SpanKind())
	}
	if h := headerMap(readAll(t, cluster, topic, 1)[0]); h["traceparent"] == "" {
		t.Fatalf("headers %v: no trace context", h)
	}
}
