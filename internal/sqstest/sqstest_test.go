package sqstest_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"go.uber.org/goleak"

	"github.com/patron-go/patron/internal/sqstest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if err := sqstest.CloseShared(); err != nil {
		fmt.Fprintln(os.Stderr, "closing emulator:", err)
		code = 1
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func TestStartTwiceFails(t *testing.T) {
	sqstest.Shared(t)
	if _, err := sqstest.Start(t.Context(), "127.0.0.1:0"); err == nil {
		t.Fatal("a second emulator started while one runs")
	}
}

// TestProtocol checks the SQS JSON and SNS query actions that the consumer
// and publishers rely on, against the embedded goaws.
func TestProtocol(t *testing.T) {
	emu := sqstest.Shared(t)
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
