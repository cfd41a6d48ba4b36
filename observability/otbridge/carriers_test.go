package otbridge_test

import (
	"testing"

	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	ot "github.com/opentracing/opentracing-go"
	"github.com/opentracing/opentracing-go/mocktracer"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/twmb/franz-go/pkg/kgo"

	amqpclient "github.com/patron-go/patron/client/amqp"
	kafkaclient "github.com/patron-go/patron/client/kafka"
	"github.com/patron-go/patron/client/sns"
	"github.com/patron-go/patron/client/sqs"
	amqpcomponent "github.com/patron-go/patron/component/amqp"
	kafkacomponent "github.com/patron-go/patron/component/kafka"
	"github.com/patron-go/patron/observability/observabilitytest"
	"github.com/patron-go/patron/observability/otbridge"
)

// carrier is what OpenTracing code hands to Inject and Extract.
type carrier interface {
	ot.TextMapWriter
	ot.TextMapReader
}

// messageCarriers returns, per transport, a fresh carrier for the
// publishing side and the carrier the consuming side makes of the same
// message.
func messageCarriers() map[string]func() (out, in carrier) {
	return map[string]func() (carrier, carrier){
		"kafka": func() (carrier, carrier) {
			headers := []kgo.RecordHeader{{Key: "other", Value: []byte("x")}}
			return kafkaclient.HeaderCarrier{Headers: &headers}, kafkacomponent.HeaderCarrier{Headers: &headers}
		},
		"amqp": func() (carrier, carrier) {
			table := amqp.Table{"other": int32(1), "nested": amqp.Table{"a": "b"}}
			return amqpclient.HeaderCarrier(table), amqpcomponent.HeaderCarrier(table)
		},
		"sqs": func() (carrier, carrier) {
			attrs := map[string]sqstypes.MessageAttributeValue{}
			return sqs.AttributeCarrier(attrs), attributes(attrs, func(v sqstypes.MessageAttributeValue) *string { return v.StringValue })
		},
		"sns": func() (carrier, carrier) {
			attrs := map[string]snstypes.MessageAttributeValue{}
			return sns.AttributeCarrier(attrs), attributes(attrs, func(v snstypes.MessageAttributeValue) *string { return v.StringValue })
		},
	}
}

// consumed reads a message's attributes as component/sqs hands them over
// (Message.Attributes, String values by name) with
// opentracing.TextMapCarrier, once the producer has written them.
type consumed func() ot.TextMapCarrier

func (c consumed) Set(string, string)                             {}
func (c consumed) ForeachKey(h func(key, val string) error) error { return c().ForeachKey(h) }

func attributes[V any](attrs map[string]V, value func(V) *string) consumed {
	return func() ot.TextMapCarrier {
		m := ot.TextMapCarrier{}
		for k, v := range attrs {
			if s := value(v); s != nil {
				m[k] = *s
			}
		}
		return m
	}
}

// Injecting into a message's headers or attributes in one service and
// extracting in another continues the trace, in both formats, through the
// bridge and through any OpenTracing tracer (mocktracer here).
func TestMessageCarriers(t *testing.T) {
	for name, carriers := range messageCarriers() {
		t.Run(name, func(t *testing.T) {
			kit := observabilitytest.New(t)
			producer, _, err := otbridge.New(kit.TracerProvider, kit.Propagator)
			if err != nil {
				t.Fatal(err)
			}
			consumer, _, err := otbridge.New(kit.TracerProvider, kit.Propagator)
			if err != nil {
				t.Fatal(err)
			}
			for _, format := range []ot.BuiltinFormat{ot.TextMap, ot.HTTPHeaders} {
				out, in := carriers()
				span := producer.StartSpan("publish")
				if err := producer.Inject(span.Context(), format, out); err != nil {
					t.Fatalf("format %d: Inject: %v", format, err)
				}
				span.Finish()
				sc, err := consumer.Extract(format, in)
				if err != nil {
					t.Fatalf("format %d: Extract: %v", format, err)
				}
				consumer.StartSpan("process", ot.ChildOf(sc)).Finish()
			}
			spans := kit.Spans()
			for _, p := range observabilitytest.Named(spans, "publish") {
				found := false
				for _, c := range observabilitytest.Named(spans, "process") {
					found = found || (c.Parent().SpanID() == p.SpanContext().SpanID() && c.SpanContext().TraceID() == p.SpanContext().TraceID())
				}
				if !found {
					t.Errorf("publish %s has no process child:\n%s", p.SpanContext().SpanID(), observabilitytest.Describe(spans))
				}
			}

			mt := mocktracer.New()
			out, in := carriers()
			span := mt.StartSpan("publish")
			if err := mt.Inject(span.Context(), ot.TextMap, out); err != nil {
				t.Fatal(err)
			}
			sc, err := mt.Extract(ot.TextMap, in)
			if err != nil {
				t.Fatalf("mocktracer Extract: %v", err)
			}
			if got, want := sc.(mocktracer.MockSpanContext).SpanID, span.Context().(mocktracer.MockSpanContext).SpanID; got != want {
				t.Errorf("mocktracer round trip: span %d, want %d", got, want)
			}
		})
	}
}
