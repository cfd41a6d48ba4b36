package sqstest

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/uuid"

	"github.com/patron-go/patron/patrontest/testenv"
)

// Config returns an aws.Config with static credentials and Region, pointed
// at endpoint; httpClient may be nil for the SDK's default.
func Config(endpoint string, httpClient aws.HTTPClient) aws.Config {
	cfg := aws.Config{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String(endpoint),
	}
	if httpClient != nil {
		cfg.HTTPClient = httpClient
	}
	return cfg
}

// NewSQSClient returns an SQS client for the emulator at endpoint.
func NewSQSClient(endpoint string, optFns ...func(*sqs.Options)) *sqs.Client {
	return sqs.NewFromConfig(Config(endpoint, nil), optFns...)
}

// NewSNSClient returns an SNS client for the emulator at endpoint.
func NewSNSClient(endpoint string, optFns ...func(*sns.Options)) *sns.Client {
	return sns.NewFromConfig(Config(endpoint, nil), optFns...)
}

// shared is the process-wide emulator of Shared.
var shared struct {
	mu  sync.Mutex
	emu *Emulator
}

// Shared returns the emulator shared by the tests of this process, starting
// it on a free loopback port on first use. Call CloseShared from TestMain
// once the tests ran.
func Shared(tb testing.TB) *Emulator {
	tb.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.emu == nil {
		emu, err := Start(context.Background(), "127.0.0.1:0")
		if err != nil {
			tb.Fatalf("starting the SQS/SNS emulator: %v", err)
		}
		shared.emu = emu
	}
	return shared.emu
}

// CloseShared stops the emulator started by Shared, if any.
func CloseShared() error {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.emu == nil {
		return nil
	}
	err := shared.emu.Close()
	shared.emu = nil
	return err
}

// UniqueName returns prefix followed by a random suffix, a valid queue or
// topic name (letters, digits, '-' and '_', at most 80 characters).
func UniqueName(prefix string) string {
	name := prefix + "-" + strings.ReplaceAll(uuid.NewString(), "-", "")[:16]
	if len(name) > 80 {
		name = name[len(name)-80:]
	}
	return name
}

// CreateQueue creates a queue with attrs (for example "VisibilityTimeout" or
// "RedrivePolicy") and returns its URL and ARN.
func CreateQueue(tb testing.TB, c *sqs.Client, name string, attrs map[string]string) (url, arn string) {
	tb.Helper()
	ctx := context.Background()
	out, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		tb.Fatalf("creating queue %s: %v", name, err)
	}
	url = aws.ToString(out.QueueUrl)
	ga, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       out.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{"QueueArn"},
	})
	if err != nil {
		tb.Fatalf("reading the ARN of queue %s: %v", name, err)
	}
	return url, ga.Attributes["QueueArn"]
}

// CreateTopic creates a topic and returns its ARN.
func CreateTopic(tb testing.TB, c *sns.Client, name string) string {
	tb.Helper()
	out, err := c.CreateTopic(context.Background(), &sns.CreateTopicInput{Name: aws.String(name)})
	if err != nil {
		tb.Fatalf("creating topic %s: %v", name, err)
	}
	return aws.ToString(out.TopicArn)
}

// Subscribe subscribes the queue queueARN to topicARN, with raw message
// delivery (attributes on the SQS message, body as published) or the JSON
// notification envelope.
func Subscribe(tb testing.TB, c *sns.Client, topicARN, queueARN string, raw bool) {
	tb.Helper()
	_, err := c.Subscribe(context.Background(), &sns.SubscribeInput{
		TopicArn:   aws.String(topicARN),
		Protocol:   aws.String("sqs"),
		Endpoint:   aws.String(queueARN),
		Attributes: map[string]string{"RawMessageDelivery": fmt.Sprint(raw)},
	})
	if err != nil {
		tb.Fatalf("subscribing %s to %s: %v", queueARN, topicARN, err)
	}
}

// QueueDepth returns the number of messages in the queue, visible or not
// (goaws's ApproximateNumberOfMessages counts both).
func QueueDepth(tb testing.TB, c *sqs.Client, url string) int {
	tb.Helper()
	out, err := c.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{"ApproximateNumberOfMessages"},
	})
	if err != nil {
		tb.Fatalf("reading the depth of %s: %v", url, err)
	}
	var n int
	_, _ = fmt.Sscan(out.Attributes["ApproximateNumberOfMessages"], &n)
	return n
}

// WaitFor polls cond every 20ms until it holds, failing tb after timeout.
func WaitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	testenv.WaitFor(tb, timeout, what, cond)
}

// Call is one request seen by a CountingTransport.
type Call struct {
	Action   string
	Start    time.Time
	Duration time.Duration
	Status   int
}

// CountingTransport is an http.RoundTripper that records the action (from
// X-Amz-Target or the form's Action) and duration of every request, so that
// tests can count ReceiveMessage calls.
type CountingTransport struct {
	Base http.RoundTripper

	mu    sync.Mutex
	calls []Call
}

// RoundTrip records the call and forwards it to Base (or the default).
func (t *CountingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	action := r.Header.Get("X-Amz-Target")
	if _, op, ok := strings.Cut(action, "."); ok {
		action = op
	}
	start := time.Now()
	resp, err := base.RoundTrip(r)
	c := Call{Action: action, Start: start, Duration: time.Since(start)}
	if resp != nil {
		c.Status = resp.StatusCode
	}
	t.mu.Lock()
	t.calls = append(t.calls, c)
	t.mu.Unlock()
	return resp, err
}

// Calls returns the recorded calls of action ("" for all).
func (t *CountingTransport) Calls(action string) []Call {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Call
	for _, c := range t.calls {
		if action == "" || c.Action == action {
			out = append(out, c)
		}
	}
	return out
}
