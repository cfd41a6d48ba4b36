package sqs_test

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/patron-go/patron/client/sqs"
	"github.com/patron-go/patron/correlation"
	"github.com/patron-go/patron/observability/observabilitytest"
	"github.com/patron-go/patron/patrontest/sqstest"
)

// TestMain stops the shared emulator, then checks for leaked goroutines.
func TestMain(m *testing.M) { os.Exit(sqstest.Main(m, func() error { return goleak.Find() })) }

func setup(t *testing.T) (*awssqs.Client, *sqs.Publisher, *observabilitytest.Kit) {
	t.Helper()
	emu := sqstest.Shared(t)
	client := sqstest.NewSQSClient(emu.Endpoint())
	kit := observabilitytest.New(t)
	p, err := sqs.New(client, sqs.WithTracerProvider(kit.TracerProvider), sqs.WithMeterProvider(kit.MeterProvider), sqs.WithPropagator(kit.Propagator))
	if err != nil {
		t.Fatal(err)
	}
	return client, p, kit
}

func attrs(n int) map[string]types.MessageAttributeValue {
	m := make(map[string]types.MessageAttributeValue, n)
	for i := range n {
		m[fmt.Sprintf("a%d", i)] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String("v")}
	}
	return m
}

func receiveOne(t *testing.T, c *awssqs.Client, url string) types.Message {
	t.Helper()
	out, err := c.ReceiveMessage(t.Context(), &awssqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: 2, MessageAttributeNames: []string{"All"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 1 {
		t.Fatalf("received %d messages", len(out.Messages))
	}
	return out.Messages[0]
}

// TestSendPropagates: Send writes traceparent and the correlation ID as
// String attributes next to the message's own, under a PRODUCER span that
// records the message ID.
func TestSendPropagates(t *testing.T) {
	client, p, kit := setup(t)
	name := sqstest.UniqueName("send")
	url, _ := sqstest.CreateQueue(t, client, name, nil)
	ctx := correlation.ContextWithID(t.Context(), "corr-1")
	id, err := p.Send(ctx, url, sqs.Message{Body: "hi", Attributes: attrs(2)})
	if err != nil {
		t.Fatal(err)
	}
	m := receiveOne(t, client, url)
	if aws.ToString(m.MessageId) != id || len(m.MessageAttributes) != 4 {
		t.Fatalf("id %s attributes %v", aws.ToString(m.MessageId), m.MessageAttributes)
	}
	span := kit.Span(t, "publish "+name)
	tp := aws.ToString(m.MessageAttributes["traceparent"].StringValue)
	if !strings.Contains(tp, span.SpanContext().SpanID().String()) {
		t.Fatalf("traceparent %q does not name the producer span %s", tp, span.SpanContext().SpanID())
	}
	if got := aws.ToString(m.MessageAttributes[correlation.HeaderKey].StringValue); got != "corr-1" {
		t.Fatalf("correlation attribute %q", got)
	}
	observabilitytest.AssertTree(t, kit.Spans(), observabilitytest.Want{
		Name: "publish " + name, Kind: trace.SpanKindProducer,
		Attrs: []attribute.KeyValue{semconv.MessagingSystemAWSSQS, semconv.MessagingDestinationName(name),
			semconv.MessagingMessageID(id), semconv.MessagingMessageBodySize(2)},
	})
	if n := kit.Sum(t, "messaging.client.sent.messages", semconv.MessagingDestinationName(name)); n != 1 {
		t.Fatalf("sent counter %v", n)
	}
}

// TestTooManyAttributes: SQS takes at most 10 attributes. 11 of the user's
// give ErrTooManyAttributes with a message that says the limit, and nothing
// is sent; tracing never refuses a message: 9 of the user's go with the
// trace context packed into one attribute, 10 go untraced.
func TestTooManyAttributes(t *testing.T) {
	client, p, kit := setup(t)
	url, _ := sqstest.CreateQueue(t, client, sqstest.UniqueName("attrs"), nil)
	ctx := correlation.ContextWithID(t.Context(), "corr-1")
	_, err := p.Send(ctx, url, sqs.Message{Body: "x", Attributes: attrs(11)})
	if !errors.Is(err, sqs.ErrTooManyAttributes) || !strings.Contains(err.Error(), "at most 10") {
		t.Fatalf("11 attributes: err %v, want a clear ErrTooManyAttributes", err)
	}
	if d := sqstest.QueueDepth(t, client, url); d != 0 {
		t.Fatalf("%d messages sent despite the error", d)
	}
	for _, n := range []int{8, 9, 10} {
		if _, err := p.Send(ctx, url, sqs.Message{Body: "x", Attributes: attrs(n)}); err != nil {
			t.Fatalf("%d attributes: %v", n, err)
		}
		m := receiveOne(t, client, url)
		_, packed := m.MessageAttributes[sqs.PackedAttribute]
		if len(m.MessageAttributes) != min(n+2, 10) || packed != (n == 9) {
			t.Fatalf("%d attributes: received %d (packed %t)", n, len(m.MessageAttributes), packed)
		}
		// The carrier reads either form.
		if c := sqs.AttributeCarrier(m.MessageAttributes); n < 10 && (c.Get("traceparent") == "" || c.Get(correlation.HeaderKey) != "corr-1") {
			t.Fatalf("%d attributes: carrier reads traceparent %q, correlation %q", n, c.Get("traceparent"), c.Get(correlation.HeaderKey))
		}
		if _, err := client.DeleteMessage(t.Context(), &awssqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
			t.Fatal(err)
		}
	}
	if n := kit.Sum(t, "messaging.client.sent.messages", semconv.ErrorTypeKey.String("too_many_attributes")); n != 1 {
		t.Fatalf("failed sends counted %v, want 1", n)
	}
}

// TestSendBatch: more than ten messages go in several batches, each with its
// own PRODUCER span; an entry that cannot be sent is reported in its own
// result while the others are sent.
func TestSendBatch(t *testing.T) {
	client, p, kit := setup(t)
	name := sqstest.UniqueName("batch")
	url, _ := sqstest.CreateQueue(t, client, name, nil)
	msgs := make([]sqs.Message, 12)
	for i := range msgs {
		msgs[i] = sqs.Message{Body: fmt.Sprintf("m%d", i)}
	}
	msgs[5].Attributes = attrs(11)
	results, err := p.SendBatch(t.Context(), url, msgs)
	if !errors.Is(err, sqs.ErrPartialBatch) || !errors.Is(err, sqs.ErrTooManyAttributes) {
		t.Fatalf("err %v, want ErrPartialBatch with the cause", err)
	}
	for i, r := range results {
		if i == 5 {
			if !errors.Is(r.Err, sqs.ErrTooManyAttributes) || r.MessageID != "" {
				t.Fatalf("result 5: %+v", r)
			}
			continue
		}
		if r.Err != nil || r.MessageID == "" {
			t.Fatalf("result %d: %+v", i, r)
		}
	}
	if d := sqstest.QueueDepth(t, client, url); d != 11 {
		t.Fatalf("queue holds %d, want 11", d)
	}
	spans := observabilitytest.Named(kit.Spans(), "publish "+name)
	if len(spans) != 12 {
		t.Fatalf("%d producer spans, want 12", len(spans))
	}
	traced := 0
	for _, s := range spans {
		if s.Status().Code.String() == "Error" {
			traced++
		}
	}
	if traced != 1 {
		t.Fatalf("%d error spans, want 1", traced)
	}
}

// TestSendErrors: an API error (a missing queue) is returned wrapped, with
// the AWS code as error.type.
func TestSendErrors(t *testing.T) {
	client, p, kit := setup(t)
	_, err := p.Send(t.Context(), sqstest.Shared(t).Endpoint()+"/"+sqstest.AccountID+"/"+sqstest.UniqueName("missing"), sqs.Message{Body: "x"})
	if err == nil {
		t.Fatal("sending to a missing queue succeeded")
	}
	if sqs.ErrorType(err) == "_OTHER" {
		t.Fatalf("error type of %v not read from the API error", err)
	}
	_ = client
	_ = kit
	if _, err := sqs.New(nil); err == nil {
		t.Fatal("New accepted a nil client")
	}
	if _, err := sqs.New(client, sqs.WithTracerProvider(nil)); err == nil {
		t.Fatal("New accepted a nil tracer provider")
	}
}
