// Package sqs is the Amazon SQS consumer component: it long-polls a queue,
// hands each message to a handler on a bounded pool of workers, extends the
// visibility of messages still in progress, deletes processed messages in
// batches and applies a failure strategy to the others. Each message gets a
// CONSUMER span whose parent is the producer's context from its attributes,
// including messages delivered by SNS (raw or in the JSON envelope).
//
// The SDK client comes from the standard AWS configuration, so the same code
// runs against AWS and against a local emulator (AWS_ENDPOINT_URL_SQS).
package sqs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/patron-go/patron/internal/option"
	"github.com/patron-go/patron/observability"
	patronlog "github.com/patron-go/patron/observability/log"
)

const scope = observability.ModulePath + "/component/sqs"

// ReceiveCountKey is the span attribute with ApproximateReceiveCount; the
// semantic conventions have none for SQS.
const ReceiveCountKey = attribute.Key("messaging.aws_sqs.message.receive_count")

// ErrNotReady is returned by Ready before the first successful receive and
// while receives fail.
var ErrNotReady = errors.New("sqs: consumer not ready")

// API is the part of *sqs.Client that the consumer uses.
type API interface {
	ReceiveMessage(ctx context.Context, in *awssqs.ReceiveMessageInput, optFns ...func(*awssqs.Options)) (*awssqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(ctx context.Context, in *awssqs.DeleteMessageBatchInput, optFns ...func(*awssqs.Options)) (*awssqs.DeleteMessageBatchOutput, error)
	ChangeMessageVisibility(ctx context.Context, in *awssqs.ChangeMessageVisibilityInput, optFns ...func(*awssqs.Options)) (*awssqs.ChangeMessageVisibilityOutput, error)
	GetQueueUrl(ctx context.Context, in *awssqs.GetQueueUrlInput, optFns ...func(*awssqs.Options)) (*awssqs.GetQueueUrlOutput, error)
	GetQueueAttributes(ctx context.Context, in *awssqs.GetQueueAttributesInput, optFns ...func(*awssqs.Options)) (*awssqs.GetQueueAttributesOutput, error)
}

// Component consumes one SQS queue. Build it with New and run it with Run.
type Component struct {
	name      string
	queue     string // as given: a name or a URL
	queueName string
	handler   Handler
	cfg       config
	client    API
	tracer    trace.Tracer
	prop      propagation.TextMapPropagator
	metrics   *metrics

	running  atomic.Bool
	ready    atomic.Bool
	lastErr  atomic.Pointer[error]
	queueURL atomic.Pointer[string]
	depth    depthGauges
}

// New returns a consumer named name of queue, a queue name (resolved with
// GetQueueUrl when Run starts) or a queue URL, whose messages go to h (nil
// with WithBatch).
func New(name, queue string, h Handler, opts ...Option) (*Component, error) {
	if name == "" {
		return nil, errors.New("sqs: name is empty")
	}
	if queue == "" {
		return nil, errors.New("sqs: queue is empty")
	}
	cfg := defaultConfig()
	if err := option.Apply("sqs", &cfg, opts); err != nil {
		return nil, err
	}
	switch {
	case h == nil && cfg.batch == nil:
		return nil, errors.New("sqs: handler is nil")
	case h != nil && cfg.batch != nil:
		return nil, errors.New("sqs: give either a handler or WithBatch, not both")
	}
	cfg.workers = max(cfg.workers, cfg.batchSize)
	if cfg.client == nil {
		// Only environment and files are read here; credentials are
		// resolved on the first call, so this does not reach the network.
		awsCfg, err := awsconfig.LoadDefaultConfig(context.Background())
		if err != nil {
			return nil, fmt.Errorf("sqs: loading the default AWS configuration: %w", err)
		}
		cfg.client = awssqs.NewFromConfig(awsCfg)
	}
	c := &Component{
		name:      name,
		queue:     queue,
		queueName: queueName(queue),
		handler:   h,
		cfg:       cfg,
		client:    cfg.client,
		tracer:    observability.Tracer(cfg.tp, scope),
		prop:      observability.Propagator(cfg.prop),
	}
	if isURL(queue) {
		c.queueURL.Store(&queue)
	}
	m, err := newMetrics(observability.Meter(cfg.mp, scope), c)
	if err != nil {
		return nil, err
	}
	c.metrics = m
	return c, nil
}

// Name returns the component's name.
func (c *Component) Name() string { return c.name }

// Ready returns nil once a receive succeeded, and ErrNotReady (with the last
// error) before and while receives fail.
func (c *Component) Ready(context.Context) error {
	if c.ready.Load() {
		return nil
	}
	if p := c.lastErr.Load(); p != nil {
		return fmt.Errorf("%w: %w", ErrNotReady, *p)
	}
	return ErrNotReady
}

func (c *Component) setReady(err error) {
	if err == nil {
		c.ready.Store(true)
		return
	}
	c.lastErr.Store(&err)
	c.ready.Store(false)
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://")
}

func queueName(queue string) string {
	if !isURL(queue) {
		return queue
	}
	q := strings.TrimRight(queue, "/")
	if i := strings.LastIndexByte(q, '/'); i >= 0 {
		return q[i+1:]
	}
	return q
}

// Run consumes until ctx is cancelled, then stops receiving, lets the
// messages in flight finish (deleting those that succeeded) and returns nil.
// It returns an error when the Stop strategy was triggered.
func (c *Component) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return fmt.Errorf("sqs: component %s is already running", c.name)
	}
	defer c.running.Store(false)
	defer c.ready.Store(false)

	logger := c.cfg.logger
	if logger == nil {
		logger = patronlog.FromContext(ctx)
	}
	logger = logger.With(slog.String("component", c.name), slog.String("queue", c.queueName))

	url, err := c.resolveURL(ctx, logger)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	r := newRunner(c, ctx, url, logger, c.strategy(ctx, url, logger))
	return r.run(ctx)
}

// strategy returns the configured failure strategy, else the default:
// DeadLetter when the queue has a redrive policy to take the message, Skip
// when nothing would (leaving the message would redeliver it forever).
// When the policy cannot be read, DeadLetter, which loses nothing.
func (c *Component) strategy(ctx context.Context, url string, logger *slog.Logger) FailureStrategy {
	if s := c.cfg.delivery.Strategy; s != 0 {
		return s
	}
	out, err := c.client.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameRedrivePolicy},
	})
	if err != nil {
		logger.WarnContext(ctx, "cannot read the queue's redrive policy; failed messages are left to it", slog.Any("error", err))
		return DeadLetter
	}
	if out.Attributes[string(types.QueueAttributeNameRedrivePolicy)] != "" {
		return DeadLetter
	}
	logger.InfoContext(ctx, "the queue has no redrive policy; messages that still fail after their retries are skipped (deleted)")
	return Skip
}

// resolveURL returns the queue URL, asking GetQueueUrl (with backoff, until
// ctx ends) when the component was given a name.
func (c *Component) resolveURL(ctx context.Context, logger *slog.Logger) (string, error) {
	if p := c.queueURL.Load(); p != nil {
		return *p, nil
	}
	for attempt := 0; ; attempt++ {
		out, err := c.client.GetQueueUrl(ctx, &awssqs.GetQueueUrlInput{QueueName: aws.String(c.queue)})
		if err == nil {
			url := aws.ToString(out.QueueUrl)
			c.queueURL.Store(&url)
			return url, nil
		}
		err = fmt.Errorf("sqs: resolving the URL of queue %s: %w", c.queue, err)
		c.setReady(err)
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		logger.WarnContext(ctx, "cannot resolve queue URL, retrying", slog.Any("error", err), slog.Int("attempt", attempt+1))
		if serr := c.cfg.errBackoff.Sleep(ctx, attempt); serr != nil {
			return "", serr
		}
	}
}

// spanAttrs are the attributes of one message's span, built only for a span
// that records them.
func (c *Component) spanAttrs(msg *Message, url string) []attribute.KeyValue {
	attrs := make([]attribute.KeyValue, 0, 6)
	attrs = append(attrs,
		semconv.MessagingMessageID(msg.ID),
		semconv.MessagingMessageBodySize(len(msg.Body)),
		ReceiveCountKey.Int(msg.ReceiveCount),
		semconv.AWSSQSQueueURL(url))
	if msg.TopicARN != "" {
		attrs = append(attrs, semconv.AWSSNSTopicARN(msg.TopicARN),
			semconv.MessagingMessageEnvelopeSize(len(aws.ToString(msg.Raw.Body))))
	}
	return attrs
}
