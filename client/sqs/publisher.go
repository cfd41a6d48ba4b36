// Package sqs publishes messages to Amazon SQS with the AWS SDK v2: one
// PRODUCER span per message, the trace context and correlation ID written as
// String message attributes, and client metrics.
//
// The Publisher takes the SDK client the caller built, usually from
// config.LoadDefaultConfig, so the standard AWS configuration applies
// (AWS_REGION, AWS_ENDPOINT_URL or AWS_ENDPOINT_URL_SQS for a local
// emulator, the credentials chain).
package sqs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/patron-go/patron/internal/awsattr"
	"github.com/patron-go/patron/observability"
)

const scope = observability.ModulePath + "/client/sqs"

// MaxBatch is the number of messages SQS accepts in one SendMessageBatch;
// SendBatch splits larger slices.
const MaxBatch = 10

// ErrPartialBatch is returned by SendBatch when some messages were not sent;
// the per-message results say which and why.
var ErrPartialBatch = errors.New("sqs: some messages of the batch were not sent")

// API is the part of *sqs.Client that the Publisher uses.
type API interface {
	SendMessage(ctx context.Context, in *awssqs.SendMessageInput, optFns ...func(*awssqs.Options)) (*awssqs.SendMessageOutput, error)
	SendMessageBatch(ctx context.Context, in *awssqs.SendMessageBatchInput, optFns ...func(*awssqs.Options)) (*awssqs.SendMessageBatchOutput, error)
}

// Message is a message to send.
type Message struct {
	Body string
	// Attributes are the message's own attributes, at most MaxAttributes;
	// the propagation attributes take the room left (see PackedAttribute).
	Attributes map[string]types.MessageAttributeValue
	// DelaySeconds postpones delivery (0 to 900).
	DelaySeconds int32
	// GroupID and DeduplicationID are for FIFO queues.
	GroupID         string
	DeduplicationID string
}

// Result is the outcome of one message of SendBatch: its SQS message ID, or
// the reason it was not sent.
type Result struct {
	MessageID string
	Err       error
}

// EntryError is SQS's reason for rejecting one entry of a batch.
type EntryError struct {
	Code        string
	Message     string
	SenderFault bool
}

// Error describes the rejection.
func (e *EntryError) Error() string {
	return fmt.Sprintf("sqs: entry rejected: %s: %s (sender fault %t)", e.Code, e.Message, e.SenderFault)
}

// Publisher sends messages to SQS queues. It is safe for concurrent use.
type Publisher struct {
	client  API
	attrs   *awsattr.Writer[types.MessageAttributeValue]
	metrics *observability.ProducerMetrics
}

// New returns a Publisher that sends with client.
func New(client API, opts ...Option) (*Publisher, error) {
	if client == nil {
		return nil, errors.New("sqs: client is nil")
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
	metrics, err := observability.NewProducerMetrics(observability.Meter(c.mp, scope), semconv.MessagingSystemAWSSQS)
	if err != nil {
		return nil, fmt.Errorf("sqs: %w", err)
	}
	attrs := awsattr.NewWriter(observability.Tracer(c.tp, scope), observability.Propagator(c.prop),
		semconv.MessagingSystemAWSSQS, stringAttribute, ErrTooManyAttributes, c.logger)
	return &Publisher{client: client, attrs: attrs, metrics: metrics}, nil
}

// QueueName returns the name of the queue at url: its last path segment.
func QueueName(url string) string {
	if i := strings.LastIndexByte(url, '/'); i >= 0 {
		return url[i+1:]
	}
	return url
}

// Send sends msg to the queue at queueURL and returns its SQS message ID.
func (p *Publisher) Send(ctx context.Context, queueURL string, msg Message) (string, error) {
	dest := QueueName(queueURL)
	ctx, span, attrs, err := p.start(ctx, queueURL, dest, msg)
	defer span.End()
	start := time.Now()
	var id string
	if err == nil {
		var out *awssqs.SendMessageOutput
		out, err = p.client.SendMessage(ctx, &awssqs.SendMessageInput{
			QueueUrl:               aws.String(queueURL),
			MessageBody:            aws.String(msg.Body),
			MessageAttributes:      attrs,
			DelaySeconds:           msg.DelaySeconds,
			MessageGroupId:         optional(msg.GroupID),
			MessageDeduplicationId: optional(msg.DeduplicationID),
		})
		if err == nil {
			id = aws.ToString(out.MessageId)
		} else {
			err = fmt.Errorf("sqs: sending to %s: %w", dest, err)
		}
	}
	p.finish(ctx, span, dest, id, err)
	p.metrics.Duration(ctx, dest, time.Since(start), errType(err))
	return id, err
}

// SendBatch sends msgs to the queue at queueURL with SendMessageBatch, ten
// at a time, each message with its own PRODUCER span. results[i] is the
// outcome of msgs[i]. err wraps ErrPartialBatch when some messages were not
// sent (and the first reason), and is nil when all were.
func (p *Publisher) SendBatch(ctx context.Context, queueURL string, msgs []Message) ([]Result, error) {
	dest := QueueName(queueURL)
	results := make([]Result, len(msgs))
	for lo := 0; lo < len(msgs); lo += MaxBatch {
		hi := min(lo+MaxBatch, len(msgs))
		p.sendChunk(ctx, queueURL, dest, msgs[lo:hi], results[lo:hi])
	}
	var failed int
	var first error
	for _, r := range results {
		if r.Err != nil {
			failed++
			if first == nil {
				first = r.Err
			}
		}
	}
	if failed > 0 {
		return results, fmt.Errorf("%w: %d of %d failed; first: %w", ErrPartialBatch, failed, len(msgs), first)
	}
	return results, nil
}

func (p *Publisher) sendChunk(ctx context.Context, queueURL, dest string, msgs []Message, results []Result) {
	type pending struct {
		ctx  context.Context
		span trace.Span
	}
	spans := make([]pending, len(msgs))
	entries := make([]types.SendMessageBatchRequestEntry, 0, len(msgs))
	for i, msg := range msgs {
		mctx, span, attrs, err := p.start(ctx, queueURL, dest, msg)
		spans[i] = pending{mctx, span}
		if err != nil {
			results[i].Err = err
			continue
		}
		entries = append(entries, types.SendMessageBatchRequestEntry{
			Id:                     aws.String(strconv.Itoa(i)),
			MessageBody:            aws.String(msg.Body),
			MessageAttributes:      attrs,
			DelaySeconds:           msg.DelaySeconds,
			MessageGroupId:         optional(msg.GroupID),
			MessageDeduplicationId: optional(msg.DeduplicationID),
		})
	}
	start := time.Now()
	if len(entries) > 0 {
		out, err := p.client.SendMessageBatch(ctx, &awssqs.SendMessageBatchInput{QueueUrl: aws.String(queueURL), Entries: entries})
		seen := make([]bool, len(msgs))
		if err != nil {
			err = fmt.Errorf("sqs: sending a batch to %s: %w", dest, err)
		} else {
			for _, ok := range out.Successful {
				if i, valid := entryIndex(ok.Id, len(msgs)); valid {
					results[i].MessageID = aws.ToString(ok.MessageId)
					seen[i] = true
				}
			}
			for _, f := range out.Failed {
				if i, valid := entryIndex(f.Id, len(msgs)); valid {
					results[i].Err = &EntryError{Code: aws.ToString(f.Code), Message: aws.ToString(f.Message), SenderFault: f.SenderFault}
					seen[i] = true
				}
			}
		}
		for _, e := range entries {
			i, _ := strconv.Atoi(aws.ToString(e.Id))
			if !seen[i] && results[i].Err == nil {
				if err == nil {
					err = errors.New("sqs: the batch response did not mention this message")
				}
				results[i].Err = err
			}
		}
		p.metrics.Duration(ctx, dest, time.Since(start), errType(err))
	}
	for i, s := range spans {
		p.finish(s.ctx, s.span, dest, results[i].MessageID, results[i].Err)
		s.span.End()
	}
}

func entryIndex(id *string, n int) (int, bool) {
	i, err := strconv.Atoi(aws.ToString(id))
	return i, err == nil && i >= 0 && i < n
}

// start begins the PRODUCER span of msg and returns the attributes to send.
func (p *Publisher) start(ctx context.Context, queueURL, dest string, msg Message) (context.Context, trace.Span, map[string]types.MessageAttributeValue, error) {
	return p.attrs.Start(ctx, dest, msg.Attributes,
		semconv.MessagingMessageBodySize(len(msg.Body)),
		semconv.AWSSQSQueueURL(queueURL))
}

func (p *Publisher) finish(ctx context.Context, span trace.Span, dest, id string, err error) {
	if err != nil {
		observability.RecordError(span, err)
		p.metrics.Sent(ctx, dest, 1, errType(err))
		return
	}
	span.SetAttributes(semconv.MessagingMessageID(id))
	p.metrics.Sent(ctx, dest, 1, "")
}

// errType is ErrorType, or "" for a nil err (success).
func errType(err error) string {
	if err == nil {
		return ""
	}
	return ErrorType(err)
}

// ErrorType names err for the error.type attribute: the AWS error code when
// there is one, "too_many_attributes", "timeout" or "_OTHER".
func ErrorType(err error) string {
	var ae smithy.APIError
	var ee *EntryError
	switch {
	case errors.Is(err, ErrTooManyAttributes):
		return "too_many_attributes"
	case errors.As(err, &ee) && ee.Code != "":
		return ee.Code
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
