// Package amqp is a RabbitMQ (AMQP 0.9.1) consumer component built on
// github.com/rabbitmq/amqp091-go.
//
// A message is acked only after its handler returned nil. A failed message
// follows the failure strategy: Requeue puts it back on the queue with
// backoff until it has been delivered WithRetry's number of times, counted
// with headers (see RetryMode), then rejects it without requeueing so that the
// queue's dead-letter exchange takes it; Stop returns it to the queue and
// stops the component.
//
// When the connection or channel closes, the component reconnects with
// backoff and is not ready meanwhile; messages that were unacked on the dead
// channel are redelivered by the broker (acks are per channel, so nothing is
// acked twice or on the wrong channel). Run fails only when reconnecting
// fails WithReconnect's number of times in a row.
//
// On shutdown it stops taking messages, lets the in-flight handlers finish
// and acks them, and closes the channel, which returns every prefetched but
// unprocessed message to the queue.
package amqp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/patron-go/patron/observability"
	"github.com/patron-go/patron/observability/log"
	"github.com/patron-go/patron/reliability"
)

const scope = observability.ModulePath + "/component/amqp"

// ErrNotReady is returned by Ready while the component is not connected.
var ErrNotReady = errors.New("amqp: consumer not connected")

// Component consumes one queue.
type Component struct {
	url     string
	queue   string
	handler Handler
	cfg     config
	amqpCfg amqp.Config

	tracer trace.Tracer
	prop   propagation.TextMapPropagator
	// metrics are the instruments every Patron consumer shares, with the
	// queue's attribute sets precomputed.
	metrics *observability.DestinationMetrics

	ready atomic.Bool
}

// New returns a component consuming queue on the broker at url with h. h
// may be nil only when WithBatch gives a batch handler.
func New(url, queue string, h Handler, opts ...Option) (*Component, error) {
	if _, err := amqp.ParseURI(url); err != nil {
		return nil, fmt.Errorf("amqp: invalid URL: %w", err)
	}
	if queue == "" {
		return nil, errors.New("amqp: queue name is empty")
	}
	c := config{
		connName:    "patron-consumer " + queue,
		workers:     1,
		maxDeliver:  5,
		retryWait:   reliability.Backoff{Initial: 100 * time.Millisecond, Max: 5 * time.Second, Multiplier: 2},
		reconnects:  20,
		reconnectBO: reliability.DefaultBackoff(),
		dialTO:      10 * time.Second,
	}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	switch {
	case h == nil && c.batch == nil:
		return nil, errors.New("amqp: handler is nil")
	case h != nil && c.batch != nil:
		return nil, errors.New("amqp: give either a handler or WithBatch, not both")
	case c.deadLetter != nil && c.queueSpec == nil:
		return nil, errors.New("amqp: dead-letter settings are queue arguments and need WithDeclareQueue")
	}
	if c.prefetch == 0 {
		c.prefetch = max(32, c.batchSize*c.workers)
	}
	comp := &Component{
		url:     url,
		queue:   queue,
		handler: h,
		cfg:     c,
		amqpCfg: connectionConfig(c.amqpConfig, c.connName, c.dialTO),
		tracer:  observability.Tracer(c.tp, scope),
		prop:    observability.Propagator(c.prop),
	}
	cm, err := observability.NewConsumerMetrics(observability.Meter(c.mp, scope), semconv.MessagingSystemRabbitMQ)
	if err != nil {
		return nil, fmt.Errorf("amqp: %w", err)
	}
	comp.metrics = cm.Destination(queue)
	return comp, nil
}

func connectionConfig(base *amqp.Config, name string, dialTimeout time.Duration) amqp.Config {
	var cfg amqp.Config
	if base != nil {
		cfg = *base
	}
	props := amqp.NewConnectionProperties()
	maps.Copy(props, cfg.Properties)
	props.SetClientConnectionName(name)
	cfg.Properties = props
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = 10 * time.Second
	}
	if cfg.Dial == nil {
		cfg.Dial = amqp.DefaultDial(dialTimeout)
	}
	return cfg
}

// Name identifies the component in logs.
func (c *Component) Name() string { return "amqp " + c.queue }

// Ready reports whether the component is connected and consuming.
func (c *Component) Ready(context.Context) error {
	if c.ready.Load() {
		return nil
	}
	return ErrNotReady
}

// session is one connection generation: its channels, and the deliveries
// whose tags only mean something on its consume channel.
type session struct {
	conn       *amqp.Connection
	ch         *amqp.Channel // consuming
	pub        *amqp.Channel // republishing, in confirm mode
	deliveries <-chan amqp.Delivery
	logger     *slog.Logger

	stopOnce sync.Once
	stopErr  error
	stop     context.CancelFunc
}

func (s *session) fail(err error) {
	s.stopOnce.Do(func() {
		s.stopErr = err
		s.stop()
	})
}

func (s *session) close() {
	// Closing the channel returns the prefetched, unacked messages to the
	// queue; the acks written before it reach the broker first.
	_ = s.ch.Close()
	_ = s.pub.Close()
	_ = s.conn.Close()
}

// Run consumes until ctx is cancelled (then returns nil after handing back
// what it did not process), a handler fails under the Stop strategy, or
// reconnecting fails past the budget.
func (c *Component) Run(ctx context.Context) error {
	logger := c.cfg.logger
	if logger == nil {
		logger = log.FromContext(ctx)
	}
	logger = logger.With(slog.String("component", c.Name()))
	failures := 0
	for {
		s, err := c.connect(logger)
		if err != nil {
			failures++
			if failures >= c.cfg.reconnects {
				return fmt.Errorf("amqp: consuming %s: giving up after %d connection attempts: %w", c.queue, failures, err)
			}
			logger.WarnContext(ctx, "amqp consumer cannot connect, retrying", slog.Int("attempt", failures), slog.Any("error", err))
			if c.cfg.reconnectBO.Sleep(ctx, failures-1) != nil {
				return nil
			}
			continue
		}
		if failures > 0 {
			logger.InfoContext(ctx, "amqp consumer reconnected", slog.Int("attempts", failures))
		}
		failures = 0
		c.ready.Store(true)
		err = c.consume(ctx, s)
		c.ready.Store(false)
		s.close()
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		logger.WarnContext(ctx, "amqp consumer lost its channel, reconnecting")
	}
}

func (c *Component) connect(logger *slog.Logger) (*session, error) {
	conn, err := amqp.DialConfig(c.url, c.amqpCfg)
	if err != nil {
		return nil, fmt.Errorf("connecting: %w", err)
	}
	s := &session{conn: conn, logger: logger}
	fail := func(format string, err error) (*session, error) {
		_ = conn.Close()
		return nil, fmt.Errorf(format, err)
	}
	if s.ch, err = conn.Channel(); err != nil {
		return fail("opening channel: %w", err)
	}
	if err := c.declare(s.ch); err != nil {
		return fail("declaring topology: %w", err)
	}
	if err := s.ch.Qos(c.cfg.prefetch, 0, false); err != nil {
		return fail("setting prefetch: %w", err)
	}
	if s.pub, err = conn.Channel(); err != nil {
		return fail("opening republish channel: %w", err)
	}
	if err := s.pub.Confirm(false); err != nil {
		return fail("enabling confirms: %w", err)
	}
	if s.deliveries, err = s.ch.Consume(c.queue, c.cfg.tag, false, false, false, false, nil); err != nil {
		return fail("consuming: %w", err)
	}
	return s, nil
}

func (c *Component) declare(ch *amqp.Channel) error {
	for _, e := range c.cfg.exchanges {
		if err := ch.ExchangeDeclare(e.Name, e.Kind, e.Durable, e.AutoDelete, false, false, e.Args); err != nil {
			return fmt.Errorf("exchange %s: %w", e.Name, err)
		}
	}
	if dl := c.cfg.deadLetter; dl != nil {
		if err := ch.ExchangeDeclare(dl.Exchange, dl.Kind, true, false, false, false, nil); err != nil {
			return fmt.Errorf("dead-letter exchange %s: %w", dl.Exchange, err)
		}
		if dl.Queue != "" {
			if _, err := ch.QueueDeclare(dl.Queue, true, false, false, false, nil); err != nil {
				return fmt.Errorf("dead-letter queue %s: %w", dl.Queue, err)
			}
			key := dl.RoutingKey
			if key == "" {
				key = c.queue
			}
			if err := ch.QueueBind(dl.Queue, key, dl.Exchange, false, nil); err != nil {
				return fmt.Errorf("binding dead-letter queue %s: %w", dl.Queue, err)
			}
		}
	}
	if q := c.cfg.queueSpec; q != nil {
		args := amqp.Table{}
		maps.Copy(args, q.Args)
		if q.Quorum {
			args[amqp.QueueTypeArg] = amqp.QueueTypeQuorum
		}
		if dl := c.cfg.deadLetter; dl != nil {
			args["x-dead-letter-exchange"] = dl.Exchange
			if dl.RoutingKey != "" {
				args["x-dead-letter-routing-key"] = dl.RoutingKey
			}
		}
		if _, err := ch.QueueDeclare(c.queue, q.Durable, q.AutoDelete, q.Exclusive, false, args); err != nil {
			return fmt.Errorf("queue %s: %w", c.queue, err)
		}
	}
	for _, b := range c.cfg.bindings {
		if err := ch.QueueBind(c.queue, b.key, b.exchange, false, b.args); err != nil {
			return fmt.Errorf("binding %s to %s: %w", c.queue, b.exchange, err)
		}
	}
	return nil
}

// consume runs the workers of one session until the channel closes, ctx is
// cancelled or a handler stops the component (the returned error).
func (c *Component) consume(ctx context.Context, s *session) error {
	work, stop := context.WithCancel(ctx)
	defer stop()
	s.stop = stop
	// Handlers and acks outlive ctx so that in-flight work finishes. The
	// logger goes into the context once per session, not per message.
	hctx := log.WithContext(context.WithoutCancel(ctx), s.logger)
	var wg sync.WaitGroup
	for range c.cfg.workers {
		if c.cfg.batch != nil {
			wg.Go(func() { c.batchWorker(work, hctx, s) })
		} else {
			wg.Go(func() { c.worker(work, hctx, s) })
		}
	}
	wg.Wait()
	return s.stopErr
}

func (c *Component) worker(work, hctx context.Context, s *session) {
	// Each worker has its own span starter, so that the correlation IDs of
	// messages without one come from a generator no other worker contends
	// for.
	w := &worker{spans: c.consumerSpans()}
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

func (c *Component) consumerSpans() *observability.ConsumerSpans {
	return observability.NewConsumerSpans(c.tracer, c.prop, semconv.MessagingSystemRabbitMQ, c.queue)
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

func (c *Component) received(ctx context.Context, d *amqp.Delivery, start time.Time) {
	c.metrics.Consumed(ctx, 1)
	c.metrics.Age(ctx, d.Timestamp, start)
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
	c.received(ctx, d, start)
	err := callHandler(func() error { return c.handler(ctx, msg) })
	c.recordDuration(ctx, start, err)
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
	ctx, span := observability.StartBatchConsumerSpan(hctx, c.tracer, c.prop, carriers,
		semconv.MessagingSystemRabbitMQ, c.queue)
	defer span.End()
	for i := range batch {
		c.received(ctx, &batch[i], start)
	}
	err := callHandler(func() error { return c.cfg.batch(ctx, msgs) })
	c.recordDuration(ctx, start, err)
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

// callHandler turns a handler's panic into an error, so that a poison message
// follows the failure strategy instead of crashing the service in a loop.
func callHandler(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("amqp: handler panicked: %v", r)
		}
	}()
	return fn()
}

func (c *Component) recordDuration(ctx context.Context, start time.Time, err error) {
	c.metrics.Duration(ctx, time.Since(start), observability.ErrorType(err))
}

func (c *Component) ack(ctx context.Context, s *session, d *amqp.Delivery) {
	if err := d.Ack(false); err != nil {
		// The channel died after the handler succeeded: the broker
		// redelivers the message (at-least-once), a new channel's tags are
		// unrelated, so there is nothing else to do.
		s.logger.WarnContext(ctx, "amqp ack failed, the message will be redelivered",
			slog.String("message_id", d.MessageId), slog.Any("error", err))
	}
	c.metrics.Count(ctx, observability.OutcomeProcessed, 1)
}

func (c *Component) fail(work, ctx context.Context, s *session, msg *Message, herr error) {
	c.metrics.Failed(ctx, 1, observability.ErrorType(herr))
	d := &msg.d
	logger := s.logger.With(slog.String("message_id", d.MessageId), slog.Int("delivery", msg.attempt), slog.Any("error", herr))
	if c.cfg.strategy == Stop {
		if err := d.Nack(false, true); err != nil {
			logger.WarnContext(ctx, "amqp nack failed, the message will be redelivered", slog.Any("nack_error", err))
		}
		c.metrics.Count(ctx, observability.OutcomeRequeued, 1)
		s.fail(fmt.Errorf("amqp: handler failed on queue %s, stopping: %w", c.queue, herr))
		return
	}
	// Retrying cannot fix a malformed message or a Permanent error.
	if msg.attempt >= c.cfg.maxDeliver || reliability.IsPermanent(herr) {
		logger.ErrorContext(ctx, "amqp message failed on its last delivery or permanently, rejecting it to the dead-letter exchange")
		if err := d.Reject(false); err != nil {
			logger.WarnContext(ctx, "amqp reject failed, the message will be redelivered", slog.Any("reject_error", err))
			return
		}
		c.metrics.Count(ctx, observability.OutcomeDeadLettered, 1)
		return
	}
	logger.WarnContext(ctx, "amqp handler failed, requeueing the message")
	// Wait before requeueing so a failing dependency gets time to recover;
	// shutdown cuts the wait short.
	_ = c.cfg.retryWait.Sleep(work, msg.attempt-1)
	if err := c.requeue(ctx, s, msg); err != nil {
		logger.WarnContext(ctx, "amqp requeue failed, the message will be redelivered", slog.Any("requeue_error", err))
		return
	}
	c.metrics.Count(ctx, observability.OutcomeRequeued, 1)
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
