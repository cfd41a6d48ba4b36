package awsattr_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"go.opentelemetry.io/contrib/propagators/autoprop"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	clientsns "github.com/patron-go/patron/client/sns"
	clientsqs "github.com/patron-go/patron/client/sqs"
	componentsqs "github.com/patron-go/patron/component/sqs"
	"github.com/patron-go/patron/correlation"
	"github.com/patron-go/patron/observability/observabilitytest"
	"github.com/patron-go/patron/patrontest/sqstest"
)

// TestMain stops the shared emulator, then checks for leaked goroutines.
func TestMain(m *testing.M) { os.Exit(sqstest.Main(m, func() error { return goleak.Find() })) }

// widePropagator is what OTEL_PROPAGATORS=tracecontext,baggage,b3multi,jaeger
// gives a service: with baggage and the correlation ID, eight attributes per
// message, so that a legal message with six of its own no longer fits one
// attribute per field.
func widePropagator(t *testing.T) propagation.TextMapPropagator {
	t.Helper()
	t.Setenv("OTEL_PROPAGATORS", "tracecontext,baggage,b3multi,jaeger")
	return autoprop.NewTextMapPropagator()
}

// consumed is what the consumer's handler saw of one message.
type consumed struct {
	span        trace.SpanContext
	correlation string
	member      string
}

// consume runs a component/sqs consumer of url until the test ends and
// returns what its handler saw of the first message.
func consume(t *testing.T, kit *observabilitytest.Kit, prop propagation.TextMapPropagator, url string) consumed {
	t.Helper()
	var (
		once sync.Once
		got  = make(chan consumed, 1)
	)
	c, err := componentsqs.New("consumer", url, func(ctx context.Context, _ *componentsqs.Message) error {
		id, _ := correlation.FromContext(ctx)
		once.Do(func() {
			got <- consumed{trace.SpanContextFromContext(ctx), id, baggage.FromContext(ctx).Member("user").Value()}
		})
		return nil
	}, componentsqs.WithClient(sqstest.NewSQSClient(sqstest.Shared(t).Endpoint())),
		componentsqs.WithTracerProvider(kit.TracerProvider), componentsqs.WithMeterProvider(kit.MeterProvider),
		componentsqs.WithPropagator(prop), componentsqs.WithWaitTime(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Run: %v", err)
		}
	}()
	select {
	case m := <-got:
		return m
	case <-time.After(30 * time.Second):
		t.Fatal("the consumer got no message")
		return consumed{}
	}
}

// sendCtx is a publisher's context: a parent span, baggage and a
// correlation ID.
func sendCtx(t *testing.T, kit *observabilitytest.Kit) (context.Context, trace.Span) {
	t.Helper()
	m, err := baggage.NewMember("user", "ann")
	if err != nil {
		t.Fatal(err)
	}
	b, err := baggage.New(m)
	if err != nil {
		t.Fatal(err)
	}
	ctx := baggage.ContextWithBaggage(correlation.ContextWithID(t.Context(), "corr-e2e"), b)
	return kit.TracerProvider.Tracer("test").Start(ctx, "request")
}

// assertContinues checks that the consumer's span is a child of the
// producer span "publish <dest>" and that baggage and the correlation ID
// came through.
func assertContinues(t *testing.T, kit *observabilitytest.Kit, dest string, got consumed) {
	t.Helper()
	producer := kit.Span(t, "publish "+dest).SpanContext()
	if got.span.TraceID() != producer.TraceID() {
		t.Fatalf("consumer trace %s, want the producer's %s", got.span.TraceID(), producer.TraceID())
	}
	// The handler runs inside the consumer span, which ends after it.
	sqstest.WaitFor(t, 10*time.Second, "the consumer span", func() bool {
		for _, s := range kit.Spans() {
			if s.SpanContext().SpanID() == got.span.SpanID() {
				if s.Parent().SpanID() != producer.SpanID() {
					t.Fatalf("consumer span's parent %s, want the producer span %s", s.Parent().SpanID(), producer.SpanID())
				}
				return true
			}
		}
		return false
	})
	if got.correlation != "corr-e2e" || got.member != "ann" {
		t.Fatalf("correlation ID %q and baggage %q, want corr-e2e and ann", got.correlation, got.member)
	}
}

// TestPackedSQS: a message with six attributes of its own, sent with four
// propagators, is sent (the fields packed into one attribute), and the
// component/sqs consumer continues the trace with baggage and the
// correlation ID.
func TestPackedSQS(t *testing.T) {
	kit := observabilitytest.New(t)
	prop := widePropagator(t)
	client := sqstest.NewSQSClient(sqstest.Shared(t).Endpoint())
	name := sqstest.UniqueName("packed")
	url, _ := sqstest.CreateQueue(t, client, name, nil)
	p, err := clientsqs.New(client, clientsqs.WithTracerProvider(kit.TracerProvider),
		clientsqs.WithMeterProvider(kit.MeterProvider), clientsqs.WithPropagator(prop))
	if err != nil {
		t.Fatal(err)
	}
	own := map[string]sqstypes.MessageAttributeValue{}
	for i := range 6 {
		own[fmt.Sprintf("a%d", i)] = sqstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String("v")}
	}
	ctx, parent := sendCtx(t, kit)
	if _, err := p.Send(ctx, url, clientsqs.Message{Body: "hi", Attributes: own}); err != nil {
		t.Fatalf("a legal message with 6 attributes was refused: %v", err)
	}
	parent.End()
	assertContinues(t, kit, name, consume(t, kit, prop, url))
}

// TestPackedSNSToSQS: the same through SNS to a subscribed queue (envelope
// delivery).
func TestPackedSNSToSQS(t *testing.T) {
	kit := observabilitytest.New(t)
	prop := widePropagator(t)
	emu := sqstest.Shared(t)
	snsClient := sqstest.NewSNSClient(emu.Endpoint())
	sqsClient := sqstest.NewSQSClient(emu.Endpoint())
	topicName := sqstest.UniqueName("packed")
	topic := sqstest.CreateTopic(t, snsClient, topicName)
	url, arn := sqstest.CreateQueue(t, sqsClient, sqstest.UniqueName("packed-sub"), nil)
	sqstest.Subscribe(t, snsClient, topic, arn, false)
	p, err := clientsns.New(snsClient, clientsns.WithTracerProvider(kit.TracerProvider),
		clientsns.WithMeterProvider(kit.MeterProvider), clientsns.WithPropagator(prop))
	if err != nil {
		t.Fatal(err)
	}
	own := map[string]snstypes.MessageAttributeValue{}
	for i := range 6 {
		own[fmt.Sprintf("a%d", i)] = snstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String("v")}
	}
	ctx, parent := sendCtx(t, kit)
	if _, err := p.Publish(ctx, topic, clientsns.Message{Body: "hi", Attributes: own}); err != nil {
		t.Fatalf("a legal message with 6 attributes was refused: %v", err)
	}
	parent.End()
	assertContinues(t, kit, topicName, consume(t, kit, prop, url))
}
