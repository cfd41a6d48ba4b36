package sns_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/patron-go/patron/client/sns"
	"github.com/patron-go/patron/correlation"
	"github.com/patron-go/patron/observability/observabilitytest"
	"github.com/patron-go/patron/patrontest/sqstest"
)

// TestMain stops the shared emulator, then checks for leaked goroutines.
func TestMain(m *testing.M) { os.Exit(sqstest.Main(m, func() error { return goleak.Find() })) }

func attrs(n int) map[string]types.MessageAttributeValue {
	m := make(map[string]types.MessageAttributeValue, n)
	for i := range n {
		m[fmt.Sprintf("a%d", i)] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String("v")}
	}
	return m
}

// TestPublishPropagates: Publish writes traceparent and the correlation ID
// as attributes, which reach a subscribed queue inside the JSON envelope,
// under a PRODUCER span; 11 attributes give ErrTooManyAttributes and
// publish nothing (9 go with the trace context packed: see
// internal/awsattr's end-to-end tests).
func TestPublishPropagates(t *testing.T) {
	emu := sqstest.Shared(t)
	kit := observabilitytest.New(t)
	snsClient := sqstest.NewSNSClient(emu.Endpoint())
	sqsClient := sqstest.NewSQSClient(emu.Endpoint())
	topicName := sqstest.UniqueName("topic")
	topic := sqstest.CreateTopic(t, snsClient, topicName)
	url, arn := sqstest.CreateQueue(t, sqsClient, sqstest.UniqueName("sub"), nil)
	sqstest.Subscribe(t, snsClient, topic, arn, false)

	p, err := sns.New(snsClient, sns.WithTracerProvider(kit.TracerProvider), sns.WithMeterProvider(kit.MeterProvider), sns.WithPropagator(kit.Propagator))
	if err != nil {
		t.Fatal(err)
	}
	ctx := correlation.ContextWithID(t.Context(), "corr-7")
	if _, err := p.Publish(ctx, topic, sns.Message{Body: "x", Attributes: attrs(11)}); !errors.Is(err, sns.ErrTooManyAttributes) || !strings.Contains(err.Error(), "at most 10") {
		t.Fatalf("11 attributes: %v, want a clear ErrTooManyAttributes", err)
	}
	id, err := p.Publish(ctx, topic, sns.Message{Body: "hello", Attributes: attrs(1)})
	if err != nil {
		t.Fatal(err)
	}
	out, err := sqsClient.ReceiveMessage(t.Context(), &awssqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: 2, MaxNumberOfMessages: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 1 {
		t.Fatalf("queue got %d messages, want only the valid one", len(out.Messages))
	}
	var env struct {
		Message           string
		MessageAttributes map[string]map[string]string
	}
	if err := json.Unmarshal([]byte(aws.ToString(out.Messages[0].Body)), &env); err != nil {
		t.Fatal(err)
	}
	spans := observabilitytest.Named(kit.Spans(), "publish "+topicName)
	span := spans[len(spans)-1]
	if env.Message != "hello" || len(env.MessageAttributes) != 3 ||
		!strings.Contains(fmt.Sprint(env.MessageAttributes["traceparent"]), span.SpanContext().SpanID().String()) ||
		!strings.Contains(fmt.Sprint(env.MessageAttributes[correlation.HeaderKey]), "corr-7") {
		t.Fatalf("envelope %+v", env)
	}
	observabilitytest.AssertTree(t, kit.Spans(), observabilitytest.Want{
		Name: "publish " + topicName, Kind: trace.SpanKindProducer,
		Attrs: []attribute.KeyValue{semconv.MessagingSystemAWSSNS, semconv.MessagingMessageID(id), semconv.AWSSNSTopicARN(topic)},
	})
	if n := kit.Sum(t, "messaging.client.sent.messages", semconv.ErrorTypeKey.String("too_many_attributes")); n != 1 {
		t.Fatalf("rejected publishes counted %v, want 2", n)
	}
	if _, err := sns.New(nil); err == nil {
		t.Fatal("New accepted a nil client")
	}
}
