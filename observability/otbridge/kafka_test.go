package otbridge_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	ot "github.com/opentracing/opentracing-go"
	"github.com/opentracing/opentracing-go/ext"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/trace"

	kafkaclient "github.com/patron-go/patron/client/kafka"
	"github.com/patron-go/patron/component/kafka"
	"github.com/patron-go/patron/observability/observabilitytest"
	"github.com/patron-go/patron/patrontest/kafkatest"
	"github.com/patron-go/patron/patrontest/testenv"
)

const wait = 30 * time.Second

// kafkaEnv is an embedded cluster, the shared kit, and two services: one
// that publishes, one that consumes.
type kafkaEnv struct {
	cluster            *kafkatest.Cluster
	kit                *observabilitytest.Kit
	producer, consumer service
}

func newKafkaEnv(t *testing.T) *kafkaEnv {
	t.Helper()
	kit := observabilitytest.New(t)
	return &kafkaEnv{cluster: kafkatest.New(t), kit: kit, producer: newService(t, kit), consumer: newService(t, kit)}
}

// consume runs a component/kafka consumer of topic on the consumer
// service's wrapper provider until t ends.
func (e *kafkaEnv) consume(t *testing.T, topic string, h kafka.Handler) {
	t.Helper()
	c, err := kafka.New("ot-consumer", e.cluster.Unique(t, "group"), e.cluster.Addrs(), []string{topic}, h,
		kafka.WithTracerProvider(e.consumer.tp), kafka.WithMeterProvider(e.kit.MeterProvider),
		kafka.WithPropagator(e.kit.Propagator))
	if err != nil {
		t.Fatal(err)
	}
	runUntilCleanup(t, c)
	testenv.WaitFor(t, wait, "consumer ready", func() bool { return c.Ready(t.Context()) == nil })
}

// patronProducer is a client/kafka producer of the producer service.
func (e *kafkaEnv) patronProducer(t *testing.T) *kafkaclient.Producer {
	t.Helper()
	p, err := kafkaclient.NewProducer(e.cluster.Addrs(), kafkaclient.WithTracerProvider(e.producer.tp),
		kafkaclient.WithMeterProvider(e.kit.MeterProvider), kafkaclient.WithPropagator(e.kit.Propagator))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	return p
}

// An OpenTracing span around a Patron publish, and the Patron consumer's
// handler in OpenTracing: OpenTracing span > PRODUCER > CONSUMER >
// OpenTracing span, and the handler's active OpenTracing span is the
// CONSUMER span.
func TestKafkaPatronProducerUnderOpenTracing(t *testing.T) {
	e := newKafkaEnv(t)
	topic := e.cluster.Topic(t, 1)
	active := make(chan error, 1)
	e.consume(t, topic, func(ctx context.Context, _ *kafka.Message) error {
		consumer := trace.SpanContextFromContext(ctx)
		if sc, ok := ot.SpanFromContext(ctx).Context().(interface{ SpanID() trace.SpanID }); !ok || sc.SpanID() != consumer.SpanID() {
			active <- fmt.Errorf("active OpenTracing span is not the CONSUMER span %s", consumer.SpanID())
		} else {
			active <- nil
		}
		span, _ := ot.StartSpanFromContextWithTracer(ctx, e.consumer.tracer, "handle")
		span.Finish()
		return nil
	})
	producer := e.patronProducer(t)

	span, ctx := ot.StartSpanFromContextWithTracer(t.Context(), e.producer.tracer, "place order")
	if err := producer.Send(ctx, kafkaclient.NewMessage(topic, []byte("{}"))); err != nil {
		t.Fatal(err)
	}
	span.Finish()
	if err := <-active; err != nil {
		t.Error(err)
	}
	// The CONSUMER span ends after the handler's span, so wait for it.
	spans := e.kit.WaitForSpanCount(t, wait, "process "+topic, 1)
	observabilitytest.AssertTree(t, spans, observabilitytest.Want{
		Name: "place order",
		Children: []observabilitytest.Want{{
			Name: "publish " + topic, Kind: trace.SpanKindProducer,
			Children: []observabilitytest.Want{{
				Name: "process " + topic, Kind: trace.SpanKindConsumer, LinksTo: []string{"publish " + topic},
				Children: []observabilitytest.Want{{Name: "handle"}},
			}},
		}},
	})
}

// OpenTracing code that publishes with its own Kafka client and injects its
// PRODUCER span into the record headers: PRODUCER > Patron CONSUMER.
func TestKafkaOpenTracingProducerToPatronConsumer(t *testing.T) {
	e := newKafkaEnv(t)
	topic := e.cluster.Topic(t, 1)
	e.consume(t, topic, func(context.Context, *kafka.Message) error { return nil })

	span := e.producer.tracer.StartSpan("send "+topic, ext.SpanKindProducer)
	ext.MessageBusDestination.Set(span, topic)
	rec := &kgo.Record{Topic: topic, Value: []byte("{}")}
	if err := e.producer.tracer.Inject(span.Context(), ot.TextMap, kafkaclient.HeaderCarrier{Headers: &rec.Headers}); err != nil {
		t.Fatal(err)
	}
	if err := e.cluster.Client(t).ProduceSync(t.Context(), rec).FirstErr(); err != nil {
		t.Fatal(err)
	}
	span.Finish()

	spans := e.kit.WaitForSpanCount(t, wait, "process "+topic, 1)
	observabilitytest.AssertTree(t, spans, observabilitytest.Want{
		Name: "send " + topic, Kind: trace.SpanKindProducer,
		Children: []observabilitytest.Want{{
			Name: "process " + topic, Kind: trace.SpanKindConsumer, LinksTo: []string{"send " + topic},
		}},
	})
}

// A Patron publish read by OpenTracing code with its own Kafka client, which
// extracts the producer's context and follows from it, as chapter 5 of
// Mastering Distributed Tracing does: PRODUCER > OpenTracing span (with a
// link marking the FollowsFrom reference).
func TestKafkaPatronProducerToOpenTracingConsumer(t *testing.T) {
	e := newKafkaEnv(t)
	topic := e.cluster.Topic(t, 1)
	producer := e.patronProducer(t)
	if err := producer.Send(t.Context(), kafkaclient.NewMessage(topic, []byte("{}"))); err != nil {
		t.Fatal(err)
	}

	cl := e.cluster.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	var rec *kgo.Record
	for rec == nil {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("no record within %s: %v", wait, err)
		}
		if recs := fetches.Records(); len(recs) > 0 {
			rec = recs[0]
		}
	}
	sc, err := e.consumer.tracer.Extract(ot.TextMap, kafka.HeaderCarrier{Headers: &rec.Headers})
	if err != nil {
		t.Fatal(err)
	}
	span := e.consumer.tracer.StartSpan("receive "+topic, ot.FollowsFrom(sc), ext.SpanKindConsumer)
	span.Finish()

	spans := e.kit.WaitForSpanCount(t, wait, "receive "+topic, 1)
	observabilitytest.AssertTree(t, spans, observabilitytest.Want{
		Name: "publish " + topic, Kind: trace.SpanKindProducer,
		Children: []observabilitytest.Want{{
			Name: "receive " + topic, Kind: trace.SpanKindConsumer, LinksTo: []string{"publish " + topic},
		}},
	})
}
