package sqstest_test

import (
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"go.uber.org/goleak"

	"github.com/patron-go/patron/patrontest/sqstest"
)

// TestMain stops the shared emulator, then checks for leaked goroutines.
func TestMain(m *testing.M) { os.Exit(sqstest.Main(m, func() error { return goleak.Find() })) }

func startEmulator(t *testing.T) *sqstest.Emulator {
	t.Helper()
	emu, err := sqstest.Start(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := emu.Close(); err != nil {
			t.Error(err)
		}
	})
	return emu
}

// TestStartTwiceFails: goaws keeps global state, so a second emulator is
// refused while one runs, and allowed (empty) once it closed.
func TestStartTwiceFails(t *testing.T) {
	emu := sqstest.Shared(t)
	if _, err := sqstest.Start(t.Context(), "127.0.0.1:0"); err == nil {
		t.Fatal("a second emulator started while one runs")
	}
	c := sqstest.NewSQSClient(emu.Endpoint())
	sqstest.CreateQueue(t, c, "left-over", nil)
	if err := sqstest.CloseShared(); err != nil {
		t.Fatal(err)
	}
	emu = startEmulator(t)
	out, err := sqstest.NewSQSClient(emu.Endpoint()).ListQueues(t.Context(), &sqs.ListQueuesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.QueueUrls) != 0 {
		t.Fatalf("a new emulator starts with queues %v", out.QueueUrls)
	}
}

// TestProtocol checks the SQS JSON and SNS query actions that the consumer
// and publishers rely on, against the embedded goaws.
func TestProtocol(t *testing.T) {
	emu := startEmulator(t)
	c := sqstest.NewSQSClient(emu.Endpoint())
	ctx := t.Context()
	url, arn := sqstest.CreateQueue(t, c, sqstest.UniqueName("proto"), nil)
	if !strings.HasPrefix(url, emu.Endpoint()) || arn == "" {
		t.Fatalf("url %q arn %q", url, arn)
	}
	_, err := c.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:    aws.String(url),
		MessageBody: aws.String("hello"),
		MessageAttributes: map[string]types.MessageAttributeValue{
			"traceparent": {DataType: aws.String("String"), StringValue: aws.String("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 2,
		MessageAttributeNames:       []string{"All"},
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 1 {
		t.Fatalf("received %d messages", len(out.Messages))
	}
	m := out.Messages[0]
	t.Logf("attributes %v", m.Attributes)
	if aws.ToString(m.MessageAttributes["traceparent"].StringValue) == "" {
		t.Fatalf("message attributes lost: %v", m.MessageAttributes)
	}
	if _, err := c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 5}); err != nil {
		t.Fatal(err)
	}
	del, err := c.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(url), Entries: []types.DeleteMessageBatchRequestEntry{
		{Id: aws.String("0"), ReceiptHandle: m.ReceiptHandle},
		{Id: aws.String("1"), ReceiptHandle: aws.String("nope")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(del.Successful) != 1 || len(del.Failed) != 1 {
		t.Fatalf("delete batch: %+v", del)
	}
	if d := sqstest.QueueDepth(t, c, url); d != 0 {
		t.Fatalf("depth %d", d)
	}
	batch, err := c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: []types.SendMessageBatchRequestEntry{
		{Id: aws.String("a"), MessageBody: aws.String("1")}, {Id: aws.String("b"), MessageBody: aws.String("2")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(batch.Successful) != 2 {
		t.Fatalf("batch results %+v (goaws names them differently; the guard renames)", batch)
	}
	if _, err := c.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: aws.String(url)}); err != nil {
		t.Fatal(err)
	}

	s := sqstest.NewSNSClient(emu.Endpoint())
	topic := sqstest.CreateTopic(t, s, sqstest.UniqueName("topic"))
	sqstest.Subscribe(t, s, topic, arn, false)
	_, err = s.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("via sns"),
		MessageAttributes: map[string]snstypes.MessageAttributeValue{"k": {DataType: aws.String("String"), StringValue: aws.String("v")}}})
	if err != nil {
		t.Fatal(err)
	}
	out, err = c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 1 {
		t.Fatalf("received %d messages", len(out.Messages))
	}
	t.Logf("envelope: %s", aws.ToString(out.Messages[0].Body))
}
