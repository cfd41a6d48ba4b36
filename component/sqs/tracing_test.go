package sqs_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	clientsns "github.com/patron-go/patron/client/sns"
	clientsqs "github.com/patron-go/patron/client/sqs"
	"github.com/patron-go/patron/component/sqs"
	"github.com/patron-go/patron/correlation"
	"github.com/patron-go/patron/observability/observabilitytest"
	"github.com/patron-go/patron/patrontest/sqstest"
)

func recordingHandler(rec *recorder) sqs.Handler {
	return func(ctx context.Context, msg *sqs.Message) error {
		id, _ := correlation.FromContext(ctx)
		rec.add(seen{msg: msg, at: time.Now(), correlation: id})
		return nil
	}
}

// TestTraceFromSQSPublisher: a message sent by client/sqs is processed in a
// CONSUMER span whose parent (and link) is the PRODUCER span, the handler
// sees the correlation ID of the sender, and the message is deleted.
func TestTraceFromSQSPublisher(t *testing.T) {
	f := newFixture(t)
	name := sqstest.UniqueName("trace")
	url, _ := sqstest.CreateQueue(t, f.sqs, name, nil)

	pub, err := clientsqs.New(f.sqs, clientsqs.WithTracerProvider(f.kit.TracerProvider),
		clientsqs.WithMeterProvider(f.kit.MeterProvider), clientsqs.WithPropagator(f.kit.Propagator))
	if err != nil {
		t.Fatal(err)
	}
	ctx, parent := f.kit.TracerProvider.Tracer("test").Start(t.Context(), "request")
	ctx = correlation.ContextWithID(ctx, "corr-42")
	id, err := pub.Send(ctx, url, clientsqs.Message{Body: `{"n":1}`})
	parent.End()
	if err != nil {
		t.Fatal(err)
	}

	rec := &recorder{}
	c, err := sqs.New("consumer", url, recordingHandler(rec), f.opts()...)
	if err != nil {
		t.Fatal(err)
	}
	start(t, c)
	spans := f.kit.WaitForSpanCount(t, 10*time.Second, "process "+name, 1)

	observabilitytest.AssertTree(t, spans, observabilitytest.Want{
		Name: "request",
		Children: []observabilitytest.Want{{
			Name: "publish " + name, Kind: trace.SpanKindProducer,
			Attrs: []attribute.KeyValue{semconv.MessagingSystemAWSSQS, semconv.MessagingMessageID(id)},
			Children: []observabilitytest.Want{{
				Name: "process " + name, Kind: trace.SpanKindConsumer,
				LinksTo: []string{"publish " + name},
				Attrs: []attribute.KeyValue{
					semconv.MessagingSystemAWSSQS,
					semconv.MessagingDestinationName(name),
					semconv.MessagingMessageID(id),
					sqs.ReceiveCountKey.Int(1),
				},
			}},
		}},
	})
	got := rec.all()
	if len(got) != 1 || string(got[0].msg.Body) != `{"n":1}` || got[0].correlation != "corr-42" {
		t.Fatalf("handler saw %+v", got)
	}
	sqstest.WaitFor(t, 10*time.Second, "the message to be deleted", func() bool { return sqstest.QueueDepth(t, f.sqs, url) == 0 })
}

// TestTraceFromSNS: a message published by client/sns reaches two queues,
// one with raw delivery (attributes on the SQS message) and one with the
// JSON envelope; both consumers continue the publisher's trace and hand the
// published body (not the envelope) to the handler.
func TestTraceFromSNS(t *testing.T) {
	f := newFixture(t)
	snsClient := sqstest.NewSNSClient(f.emu.Endpoint())
	topicName := sqstest.UniqueName("topic")
	topic := sqstest.CreateTopic(t, snsClient, topicName)
	rawName, envName := sqstest.UniqueName("raw"), sqstest.UniqueName("env")
	rawURL, rawARN := sqstest.CreateQueue(t, f.sqs, rawName, nil)
	envURL, envARN := sqstest.CreateQueue(t, f.sqs, envName, nil)
	sqstest.Subscribe(t, snsClient, topic, rawARN, true)
	sqstest.Subscribe(t, snsClient, topic, envARN, false)

	pub, err := clientsns.New(snsClient, clientsns.WithTracerProvider(f.kit.TracerProvider),
		clientsns.WithMeterProvider(f.kit.MeterProvider), clientsns.WithPropagator(f.kit.Propagator))
	if err != nil {
		t.Fatal(err)
	}
	ctx := correlation.ContextWithID(t.Context(), "corr-sns")
	if _, err := pub.Publish(ctx, topic, clientsns.Message{Body: "hello subscribers"}); err != nil {
		t.Fatal(err)
	}

	rawRec, envRec := &recorder{}, &recorder{}
	for _, q := range []struct {
		url string
		rec *recorder
	}{{rawURL, rawRec}, {envURL, envRec}} {
		c, err := sqs.New("consumer", q.url, recordingHandler(q.rec), f.opts()...)
		if err != nil {
			t.Fatal(err)
		}
		start(t, c)
	}
	spans := f.kit.WaitForSpans(t, 10*time.Second, func(ss []sdktrace.ReadOnlySpan) bool {
		return len(observabilitytest.Named(ss, "process "+rawName)) == 1 && len(observabilitytest.Named(ss, "process "+envName)) == 1
	})
	observabilitytest.AssertTree(t, spans, observabilitytest.Want{
		Name: "publish " + topicName, Kind: trace.SpanKindProducer,
		Attrs: []attribute.KeyValue{semconv.MessagingSystemAWSSNS},
		Children: []observabilitytest.Want{
			{Name: "process " + rawName, Kind: trace.SpanKindConsumer, LinksTo: []string{"publish " + topicName}},
			{
				Name: "process " + envName, Kind: trace.SpanKindConsumer, LinksTo: []string{"publish " + topicName},
				Attrs: []attribute.KeyValue{semconv.AWSSNSTopicARN(topic)},
			},
		},
	})
	for _, rec := range []*recorder{rawRec, envRec} {
		got := rec.all()
		if len(got) != 1 || string(got[0].msg.Body) != "hello subscribers" || got[0].correlation != "corr-sns" {
			t.Fatalf("handler saw %+v", got)
		}
	}
	if got := envRec.all()[0].msg.TopicARN; got != topic {
		t.Fatalf("TopicARN %q, want %q", got, topic)
	}
}

// TestBatchNoLeak: one receive brings messages with and without trace
// context; each traced message's span is the child of its own producer, and
// each untraced one starts its own new trace with no parent and no link:
// nothing leaks from one message into the next.
func TestBatchNoLeak(t *testing.T) {
	f := newFixture(t)
	name := sqstest.UniqueName("batch")
	url, _ := sqstest.CreateQueue(t, f.sqs, name, nil)
	pub, err := clientsqs.New(f.sqs, clientsqs.WithTracerProvider(f.kit.TracerProvider), clientsqs.WithPropagator(f.kit.Propagator))
	if err != nil {
		t.Fatal(err)
	}
	// Interleave traced and untraced messages in the queue's order.
	producers := map[string]trace.SpanContext{} // body -> producer span
	const n = 8
	for i := range n {
		body := fmt.Sprintf("m%d", i)
		if i%2 == 0 {
			ctx, parent := f.kit.TracerProvider.Tracer("test").Start(t.Context(), fmt.Sprintf("request %d", i))
			if _, err := pub.Send(ctx, url, clientsqs.Message{Body: body}); err != nil {
				t.Fatal(err)
			}
			parent.End()
			continue
		}
		if _, err := f.sqs.SendMessage(t.Context(), &awssqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(body),
			MessageAttributes: map[string]types.MessageAttributeValue{"other": {DataType: aws.String("String"), StringValue: aws.String("x")}}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range observabilitytest.Named(f.kit.Spans(), "publish "+name) {
		// The producer span's parent is its request; match by trace.
		producers[s.SpanContext().TraceID().String()] = s.SpanContext()
	}

	rec := &recorder{}
	c, err := sqs.New("consumer", url, recordingHandler(rec), f.opts(sqs.WithMaxMessages(10), sqs.WithWorkers(10))...)
	if err != nil {
		t.Fatal(err)
	}
	start(t, c)
	spans := f.kit.WaitForSpanCount(t, 10*time.Second, "process "+name, n)

	traces := map[trace.TraceID]bool{}
	for _, s := range observabilitytest.Named(spans, "process "+name) {
		id, _ := observabilitytest.Attr(s, semconv.MessagingMessageIDKey)
		var body string
		for _, m := range rec.all() {
			if m.msg.ID == id.AsString() {
				body = string(m.msg.Body)
			}
		}
		var i int
		if _, err := fmt.Sscanf(body, "m%d", &i); err != nil {
			t.Fatalf("span for unknown message %q", id.AsString())
		}
		tid := s.SpanContext().TraceID()
		if traces[tid] {
			t.Fatalf("two consumer spans share trace %s", tid)
		}
		traces[tid] = true
		if i%2 == 0 {
			prod, ok := producers[tid.String()]
			if !ok || s.Parent().SpanID() != prod.SpanID() || len(s.Links()) != 1 || s.Links()[0].SpanContext.SpanID() != prod.SpanID() {
				t.Fatalf("traced message %s: parent %s links %d, want producer %v", body, s.Parent().SpanID(), len(s.Links()), prod.SpanID())
			}
			continue
		}
		if s.Parent().IsValid() || len(s.Links()) != 0 {
			t.Fatalf("untraced message %s got parent %s and %d links: context leaked", body, s.Parent().SpanID(), len(s.Links()))
		}
		if _, known := producers[tid.String()]; known {
			t.Fatalf("untraced message %s joined a producer's trace", body)
		}
	}
	// Each message got its own correlation ID, too.
	ids := map[string]bool{}
	for _, m := range rec.all() {
		if m.correlation == "" || ids[m.correlation] {
			t.Fatalf("correlation ID %q missing or shared", m.correlation)
		}
		ids[m.correlation] = true
	}
}
