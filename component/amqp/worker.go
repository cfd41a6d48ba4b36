package amqp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/patron-go/patron/internal/consume"
	"github.com/patron-go/patron/observability"
)

func (c *Component) worker(work, hctx context.Context, s *session) {
	// Each worker has its own span starter, so that the correlation IDs of
	// messages without one come from a generator no other worker contends
	// for.
	w := &worker{spans: c.pipe.NewSpans()}
	for {
		select {
		case <-work.Done():
			return
		case d, ok := <-s.deliveries:
			if !ok {
				return
			}
			if work.Err() != nil {
				// Shutting down: leave it unacked; closing the channel
				// returns it to the queue.
				return
			}
			c.handle(work, hctx, s, w, &d)
		}
	}
}

func (c *Component) batchWorker(work, hctx context.Context, s *session) {
	batch := make([]amqp.Delivery, 0, c.cfg.batchSize)
	timer := time.NewTimer(c.cfg.batchWait)
	timer.Stop()
	defer timer.Stop()
	flush := func() {
		timer.Stop()
		c.handleBatch(work, hctx, s, batch)
		batch = batch[:0]
	}
	for {
		var expired <-chan time.Time
		if len(batch) > 0 {
			expired = timer.C
		}
		select {
		case <-work.Done():
			// A batch not started is not in flight: it goes back to the
			// queue with the channel.
			return
		case d, ok := <-s.deliveries:
			if !ok || work.Err() != nil {
				return
			}
			batch = append(batch, d)
			if len(batch) == 1 {
				timer.Reset(c.cfg.batchWait)
			}
			if len(batch) >= c.cfg.batchSize {
				flush()
			}
		case <-expired:
			flush()
		}
	}
}

// worker is the state one worker keeps between messages.
type worker struct {
	spans *observability.ConsumerSpans
	// msgs is a chunk of Messages handed out one by one: one allocation
	// per chunk instead of one per message. A Message the handler kept
	// (against the contract) only keeps its chunk alive; it is never
	// reused.
	msgs []Message
}

// messageChunk is how many Messages a worker allocates at once.
const messageChunk = 32

func (w *worker) message(d *amqp.Delivery, queue string) *Message {
	if len(w.msgs) == 0 {
		w.msgs = make([]Message, messageChunk)
	}
	m := &w.msgs[0]
	w.msgs = w.msgs[1:]
	m.init(d, queue)
	return m
}

func (c *Component) deliveryAttrs(d *amqp.Delivery) []attribute.KeyValue {
	attrs := make([]attribute.KeyValue, 0, 4)
	attrs = append(attrs,
		semconv.MessagingRabbitMQMessageDeliveryTag(int(d.DeliveryTag)),
		semconv.MessagingMessageBodySize(len(d.Body)))
	if d.RoutingKey != "" {
		attrs = append(attrs, semconv.MessagingRabbitMQDestinationRoutingKey(d.RoutingKey))
	}
	if d.MessageId != "" {
		attrs = append(attrs, semconv.MessagingMessageID(d.MessageId))
	}
	return attrs
}

func (c *Component) handle(work, hctx context.Context, s *session, w *worker, d *amqp.Delivery) {
	start := time.Now()
	msg := w.message(d, c.queue)
	ctx, span := w.spans.Start(hctx, HeaderCarrier(d.Headers))
	defer span.End()
	if span.IsRecording() {
		// Built only for a span that keeps them: an unsampled message
		// pays for no attributes.
		span.SetAttributes(c.deliveryAttrs(d)...)
	}
	c.pipe.Received(ctx, 1, d.Timestamp, start)
	err := c.pipe.Call(ctx, span, 1, msg.attempt, start, func() error { return c.handler(ctx, msg) })
	if err == nil {
		c.ack(ctx, s, d)
		return
	}
	observability.RecordError(span, err)
	c.fail(work, ctx, s, msg, err)
}

func (c *Component) handleBatch(work, hctx context.Context, s *session, batch []amqp.Delivery) {
	start := time.Now()
	msgs := make([]*Message, len(batch))
	carriers := make([]propagation.TextMapCarrier, len(batch))
	for i := range batch {
		msgs[i] = newMessage(batch[i], c.queue)
		carriers[i] = HeaderCarrier(batch[i].Headers)
	}
	ctx, span := c.pipe.StartBatch(hctx, carriers)
	defer span.End()
	for i := range batch {
		c.pipe.Received(ctx, 1, batch[i].Timestamp, start)
	}
	attempt := 1
	for _, m := range msgs {
		attempt = max(attempt, m.attempt)
	}
	err := c.pipe.Call(ctx, span, len(msgs), attempt, start, func() error { return c.cfg.batch(ctx, msgs) })
	if err != nil {
		observability.RecordError(span, err)
	}
	for i := range batch {
		if err == nil {
			c.ack(ctx, s, &batch[i])
		} else {
			c.fail(work, ctx, s, msgs[i], err)
		}
	}
}

func (c *Component) ack(ctx context.Context, s *session, d *amqp.Delivery) {
	if err := d.Ack(false); err != nil {
		// The channel died after the handler succeeded: the broker
		// redelivers the message (at-least-once), a new channel's tags are
		// unrelated, so there is nothing else to do.
		s.logger.WarnContext(ctx, "amqp ack failed, the message will be redelivered",
			slog.String("message_id", d.MessageId), slog.Any("error", err))
	}
	c.pipe.Processed(ctx, 1)
}

// fail retries msg, whose handler failed with herr, or applies the failure
// strategy once the pipeline says retrying is over.
func (c *Component) fail(work, ctx context.Context, s *session, msg *Message, herr error) {
	d := &msg.d
	where := []any{slog.String("message_id", d.MessageId), slog.Int("delivery", msg.attempt)}
	logger := s.logger.With(append(where, slog.Any("error", herr))...)
	switch c.pipe.Next(msg.attempt, herr) {
	case consume.ActionStop:
		if err := d.Nack(false, true); err != nil {
			logger.WarnContext(ctx, "amqp nack failed, the message will be redelivered", slog.Any("nack_error", err))
		}
		c.pipe.Requeued(ctx, 1)
		s.fail(fmt.Errorf("amqp: handler failed on queue %s, stopping: %w", c.queue, herr))
	case consume.ActionDeadLetter:
		// Rejected without requeueing: the queue's dead-letter exchange
		// takes it (a queue without one drops it, logged here).
		if err := d.Reject(false); err != nil {
			logger.WarnContext(ctx, "amqp reject failed, the message will be redelivered", slog.Any("reject_error", err))
			return
		}
		c.pipe.DeadLettered(ctx, 1, herr, append(where, slog.String("queue", c.queue))...)
	case consume.ActionSkip:
		if err := d.Ack(false); err != nil {
			logger.WarnContext(ctx, "amqp ack failed, the message will be redelivered", slog.Any("ack_error", err))
			return
		}
		c.pipe.Skipped(ctx, 1, herr, append(where, slog.String("queue", c.queue))...)
	default:
		logger.WarnContext(ctx, "amqp handler failed, requeueing the message")
		// Wait before requeueing so a failing dependency gets time to
		// recover; shutdown cuts the wait short.
		_ = c.cfg.delivery.Backoff.Sleep(work, msg.attempt-1)
		if err := c.requeue(ctx, s, msg); err != nil {
			logger.WarnContext(ctx, "amqp requeue failed, the message will be redelivered", slog.Any("requeue_error", err))
			return
		}
		c.pipe.Requeued(ctx, 1)
	}
}

func (c *Component) requeue(ctx context.Context, s *session, msg *Message) error {
	d := &msg.d
	// A redelivery without x-delivery-count, or a copy we republished,
	// shows a queue that does not count deliveries: nacking there could
	// loop forever, so such messages are republished with our count.
	_, counted := d.Headers[QuorumDeliveryCountHeader]
	_, republished := d.Headers[DeliveryCountHeader]
	if c.cfg.retryMode == RetryNack && (counted || (!d.Redelivered && !republished)) {
		return d.Nack(false, true)
	}
	headers := make(amqp.Table, len(d.Headers)+3)
	maps.Copy(headers, d.Headers)
	// The copy counts every failed delivery so far; a quorum queue starts
	// its own count afresh for the copy, so its header moves into ours.
	delete(headers, QuorumDeliveryCountHeader)
	headers[DeliveryCountHeader] = int32(msg.attempt)
	if _, ok := headers[OriginalExchangeHeader]; !ok {
		headers[OriginalExchangeHeader] = d.Exchange
		headers[OriginalRoutingKeyHeader] = d.RoutingKey
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// UserId is left out: the broker refuses a user-id that is not the
	// publishing connection's, which would close the channel.
	dc, err := s.pub.PublishWithDeferredConfirmWithContext(pctx, "", c.queue, false, false, amqp.Publishing{
		Headers:         headers,
		ContentType:     d.ContentType,
		ContentEncoding: d.ContentEncoding,
		DeliveryMode:    d.DeliveryMode,
		Priority:        d.Priority,
		CorrelationId:   d.CorrelationId,
		ReplyTo:         d.ReplyTo,
		Expiration:      d.Expiration,
		MessageId:       d.MessageId,
		Timestamp:       d.Timestamp,
		Type:            d.Type,
		AppId:           d.AppId,
		Body:            d.Body,
	})
	if err != nil {
		_ = d.Nack(false, true)
		return fmt.Errorf("republishing: %w", err)
	}
	if ok, err := dc.WaitContext(pctx); err != nil || !ok {
		// Unconfirmed: keep the original, which the broker still holds.
		_ = d.Nack(false, true)
		return fmt.Errorf("republish not confirmed: %w", errors.Join(err, errors.New("nacked or channel closed")))
	}
	return d.Ack(false)
}
