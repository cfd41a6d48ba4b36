package sqs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/patron-go/patron/observability"
)

// Names of the SQS consumer's own instruments. The others are the ones every
// Patron consumer shares (see observability.ConsumerMetrics):
// messaging.process.duration, messaging.client.consumed.messages,
// observability.MetricConsumerMessages by outcome (processed, failed,
// requeued: made visible again after a backoff, dead_lettered: left to the
// queue's redrive policy) and observability.MetricMessageAge (from
// SentTimestamp).
const (
	MetricDeleteFailed  = "patron.messaging.aws_sqs.delete.failed"
	MetricQueueMessages = "patron.messaging.aws_sqs.queue.messages"
)

// QueueStateKey is the attribute of the MetricQueueMessages gauge: visible,
// not_visible (in flight) or delayed.
const QueueStateKey = attribute.Key("patron.messaging.aws_sqs.queue.state")

type metrics struct {
	*observability.DestinationMetrics
	delFailed metric.Int64Counter
	depth     metric.Int64ObservableGauge
	attrs     []attribute.KeyValue
}

func newMetrics(m metric.Meter, c *Component) (*metrics, error) {
	cm, err := observability.NewConsumerMetrics(m, semconv.MessagingSystemAWSSQS)
	if err != nil {
		return nil, fmt.Errorf("sqs: %w", err)
	}
	ms := metrics{
		DestinationMetrics: cm.Destination(c.queueName),
		attrs: []attribute.KeyValue{
			semconv.MessagingSystemAWSSQS,
			semconv.MessagingDestinationName(c.queueName),
			semconv.MessagingOperationName(observability.OperationProcess),
		},
	}
	var errs []error
	ms.delFailed, err = m.Int64Counter(MetricDeleteFailed, metric.WithUnit("{message}"),
		metric.WithDescription("Processed messages that could not be deleted (they are delivered again)."))
	errs = append(errs, err)
	ms.depth, err = m.Int64ObservableGauge(MetricQueueMessages, metric.WithUnit("{message}"),
		metric.WithDescription("Messages in the queue by state, from GetQueueAttributes at the queue depth interval."))
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("sqs: creating metrics: %w", err)
	}
	if c.cfg.depthInterval > 0 {
		if _, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
			c.depth.observe(func(state string, n int64) {
				o.ObserveInt64(ms.depth, n, metric.WithAttributes(append(ms.attrs[:2:2], QueueStateKey.String(state))...))
			})
			return nil
		}, ms.depth); err != nil {
			return nil, fmt.Errorf("sqs: registering queue depth gauge: %w", err)
		}
	}
	return &ms, nil
}

func (m *metrics) deleteFailed(ctx context.Context, err error) {
	m.delFailed.Add(ctx, 1, metric.WithAttributes(append(m.attrs[:len(m.attrs):len(m.attrs)], semconv.ErrorTypeKey.String(observability.ErrorType(err)))...))
}

// depthGauges holds the last queue depth read, for the observable gauge.
type depthGauges struct {
	mu     sync.Mutex
	known  bool
	values map[string]int64
}

var depthAttributes = map[types.QueueAttributeName]string{
	types.QueueAttributeNameApproximateNumberOfMessages:           "visible",
	types.QueueAttributeNameApproximateNumberOfMessagesNotVisible: "not_visible",
	types.QueueAttributeNameApproximateNumberOfMessagesDelayed:    "delayed",
}

func (d *depthGauges) set(attrs map[string]string) {
	values := make(map[string]int64, len(depthAttributes))
	for name, state := range depthAttributes {
		if v, err := strconv.ParseInt(attrs[string(name)], 10, 64); err == nil {
			values[state] = v
		}
	}
	d.mu.Lock()
	d.known, d.values = true, values
	d.mu.Unlock()
}

func (d *depthGauges) observe(f func(state string, n int64)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.known {
		return
	}
	for state, n := range d.values {
		f(state, n)
	}
}

// pollDepth reads the queue's depth at the configured interval until ctx
// ends.
func (c *Component) pollDepth(ctx context.Context, url string, logger *slog.Logger) {
	if c.cfg.depthInterval <= 0 {
		return
	}
	names := make([]types.QueueAttributeName, 0, len(depthAttributes))
	for n := range depthAttributes {
		names = append(names, n)
	}
	t := time.NewTicker(c.cfg.depthInterval)
	defer t.Stop()
	for {
		out, err := c.client.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: names})
		if err == nil {
			c.depth.set(out.Attributes)
		} else if ctx.Err() == nil {
			logger.WarnContext(ctx, "cannot read the queue depth", slog.Any("error", err))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
