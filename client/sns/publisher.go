// Package sns publishes messages to Amazon SNS topics with the AWS SDK v2:
// one PRODUCER span per message and the trace context and correlation ID
// written as String message attributes, which SNS hands on to subscribed
// SQS queues (as message attributes with raw delivery, inside the JSON
// notification envelope otherwise), where Patron's SQS consumer reads them.
//
// The Publisher takes the SDK client the caller built, usually from
// config.LoadDefaultConfig (AWS_REGION, AWS_ENDPOINT_URL or
// AWS_ENDPOINT_URL_SNS, the credentials chain).
package sns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/smithy-go"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/patron-go/patron/internal/awsattr"
	"github.com/patron-go/patron/observability"
)

const scope = observability.ModulePath + "/client/sns"

// MaxAttributes is the number of message attributes a message may carry to
// be delivered to SQS subscribers (SQS's own limit); the trace context and
// correlation ID take the room that the message's own attributes leave (see
// PackedAttribute).
const MaxAttributes = awsattr.Max

// PackedAttribute is the String attribute that carries the trace context and
// correlation ID as one JSON object of strings when the message's own
// attributes leave no room for one attribute per propagated field (with
// OTEL_PROPAGATORS=tracecontext,baggage,b3multi,jaeger that is eight). When
// one more fits, traceparent is also sent on its own, for consumers that
// read only W3C Trace Context. When the message's own attributes take all
// MaxAttributes, it is sent without trace context and a warning is logged:
// tracing never fails a send. The component/sqs consumer reads both forms.
const PackedAttribute = awsattr.PackedKey

// ErrTooManyAttributes is returned when a message has more attributes of its
// own than MaxAttributes, which SQS would refuse; tracing never causes it.
var ErrTooManyAttributes = errors.New("sns: too many message attributes")

// API is the part of *sns.Client that the Publisher uses.
type API interface {
	Publish(ctx context.Context, in *awssns.PublishInput, optFns ...func(*awssns.Options)) (*awssns.PublishOutput, error)
}

// Message is a message to publish.
type Message struct {
	Body string
	// Attributes are the message's own attributes, at most MaxAttributes;
	// the propagation attributes take the room left (see PackedAttribute).
	Attributes map[string]types.MessageAttributeValue
	Subject    string
	// GroupID and DeduplicationID are for FIFO topics.
	GroupID         string
	DeduplicationID string
}

// Publisher publishes messages to SNS topics. It is safe for concurrent use.
type Publisher struct {
	client  API
	attrs   *awsattr.Writer[types.MessageAttributeValue]
	metrics *observability.ProducerMetrics
}

// New returns a Publisher that publishes with client.
func New(client API, opts ...Option) (*Publisher, error) {
	if client == nil {
		return nil, errors.New("sns: client is nil")
	}
	var c config
	for _, o := range opts {
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	metrics, err := observability.NewProducerMetrics(observability.Meter(c.mp, scope), semconv.MessagingSystemAWSSNS)
	if err != nil {
		return nil, fmt.Errorf("sns: %w", err)
	}
	attrs := awsattr.NewWriter(observability.Tracer(c.tp, scope), observability.Propagator(c.prop),
		semconv.MessagingSystemAWSSNS, stringAttribute, ErrTooManyAttributes, c.logger)
	return &Publisher{client: client, attrs: attrs, metrics: metrics}, nil
}

func stringAttribute(v string) types.MessageAttributeValue {
	return types.MessageAttributeValue{DataType: aws.String(awsattr.DataTypeString), StringValue: aws.String(v)}
}

// TopicName returns the name of the topic with ARN arn: its last segment.
func TopicName(arn string) string {
	if i := strings.LastIndexByte(arn, ':'); i >= 0 {
		return arn[i+1:]
	}
	return arn
}

// Publish publishes msg to the topic topicARN and returns its SNS message ID.
func (p *Publisher) Publish(ctx context.Context, topicARN string, msg Message) (string, error) {
	dest := TopicName(topicARN)
	ctx, span, attrs, err := p.attrs.Start(ctx, dest, msg.Attributes,
		semconv.MessagingMessageBodySize(len(msg.Body)),
		semconv.AWSSNSTopicARN(topicARN))
	defer span.End()

	start := time.Now()
	var id string
	if err == nil {
		var out *awssns.PublishOutput
		out, err = p.client.Publish(ctx, &awssns.PublishInput{
			TopicArn:               aws.String(topicARN),
			Message:                aws.String(msg.Body),
			MessageAttributes:      attrs,
			Subject:                optional(msg.Subject),
			MessageGroupId:         optional(msg.GroupID),
			MessageDeduplicationId: optional(msg.DeduplicationID),
		})
		if err == nil {
			id = aws.ToString(out.MessageId)
		} else {
			err = fmt.Errorf("sns: publishing to %s: %w", dest, err)
		}
	}
	var et string
	if err != nil {
		observability.RecordError(span, err)
		et = errorType(err)
	} else {
		span.SetAttributes(semconv.MessagingMessageID(id))
	}
	p.metrics.Sent(ctx, dest, 1, et)
	p.metrics.Duration(ctx, dest, time.Since(start), et)
	return id, err
}

func errorType(err error) string {
	var ae smithy.APIError
	switch {
	case errors.Is(err, ErrTooManyAttributes):
		return "too_many_attributes"
	case errors.As(err, &ae) && ae.ErrorCode() != "":
		return ae.ErrorCode()
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	default:
		return "_OTHER"
	}
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
