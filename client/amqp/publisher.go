// Package amqp is a traced RabbitMQ (AMQP 0.9.1) publisher with publisher
// confirms, mandatory-return handling and reconnection, built on
// github.com/rabbitmq/amqp091-go.
//
// Publish returns nil only once the broker confirmed the message. A message
// no queue receives (with the default mandatory flag) fails with
// ErrUnroutable. When the connection or channel fails, Publish reconnects
// with backoff and tries again, so a message whose confirm was lost may be
// stored twice: delivery is at-least-once.
package amqp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/patron-go/patron/encoding"
	"github.com/patron-go/patron/internal/amqpconn"
	"github.com/patron-go/patron/internal/option"
	"github.com/patron-go/patron/observability"
	"github.com/patron-go/patron/reliability"
)

const scope = observability.ModulePath + "/client/amqp"

// DefaultExchangeDestination names the destination of a message published to
// the default exchange with an empty routing key, as the semantic
// conventions ask.
const DefaultExchangeDestination = "amq.default"

// ErrClosed is returned by Publish after Close.
var ErrClosed = errors.New("amqp: publisher closed")

// ErrUnroutable is returned (wrapped in a *ReturnError) when the broker
// returned a mandatory message that no queue received.
var ErrUnroutable = errors.New("amqp: message unroutable")

// ErrNacked is returned when the broker refused to take responsibility for a
// message (a negative publisher confirm) on every attempt.
var ErrNacked = errors.New("amqp: message nacked by broker")

// ReturnError describes a message the broker returned.
type ReturnError struct {
	Exchange   string
	RoutingKey string
	ReplyCode  uint16
	ReplyText  string
}

// Error implements error.
func (e *ReturnError) Error() string {
	return fmt.Sprintf("amqp: message to exchange %q with routing key %q returned: %d %s",
		e.Exchange, e.RoutingKey, e.ReplyCode, e.ReplyText)
}

// Unwrap makes errors.Is(err, ErrUnroutable) hold.
func (e *ReturnError) Unwrap() error { return ErrUnroutable }

// Publisher publishes messages with confirms. It is safe for concurrent use:
// it keeps a small pool of channels on one connection, and each publish holds
// a channel from the pool until its confirm arrives.
type Publisher struct {
	dialer    *amqpconn.Dialer
	attempts  int
	backoff   reliability.Backoff
	mandatory bool
	logger    *slog.Logger

	tracer  trace.Tracer
	prop    propagation.TextMapPropagator
	metrics *observability.ProducerMetrics

	slots chan *pubChannel // idle channels; holding one is the right to publish on it

	spansMu     sync.RWMutex
	spansByDest map[string]*observability.ProducerSpans

	mu     sync.Mutex // guards conn and closed
	conn   *amqp.Connection
	closed bool
}

type pubChannel struct {
	ch      *amqp.Channel
	returns chan amqp.Return
}

// New returns a Publisher for url (amqp://user:pass@host:port/vhost). It
// connects lazily, on the first Publish, so a service can start before the
// broker is reachable.
func New(url string, opts ...Option) (*Publisher, error) {
	c := config{
		conn:      amqpconn.NewSettings("patron-publisher"),
		channels:  4,
		attempts:  5,
		backoff:   reliability.Backoff{Initial: 100 * time.Millisecond, Max: 2 * time.Second, Multiplier: 2},
		mandatory: true,
	}
	if err := option.Apply("amqp", &c, opts); err != nil {
		return nil, err
	}
	dialer, err := c.conn.Dialer("amqp", url)
	if err != nil {
		return nil, err
	}
	p := &Publisher{
		dialer:    dialer,
		attempts:  c.attempts,
		backoff:   c.backoff,
		mandatory: c.mandatory,
		logger:    c.logger,
		tracer:    observability.Tracer(c.tp, scope),
		prop:      observability.Propagator(c.prop),
		slots:     make(chan *pubChannel, c.channels),

		spansByDest: make(map[string]*observability.ProducerSpans),
	}
	if p.logger == nil {
		p.logger = slog.Default()
	}
	if p.metrics, err = observability.NewProducerMetrics(observability.Meter(c.mp, scope), semconv.MessagingSystemRabbitMQ); err != nil {
		return nil, fmt.Errorf("amqp: %w", err)
	}
	for range c.channels {
		p.slots <- &pubChannel{}
	}
	return p, nil
}

// NewPublishing encodes v as contentType (see package encoding) into a
// persistent message.
func NewPublishing(contentType string, v any) (amqp.Publishing, error) {
	ct, err := encoding.Normalize(contentType)
	if err != nil {
		return amqp.Publishing{}, err
	}
	body, err := encoding.Encode(ct, v)
	if err != nil {
		return amqp.Publishing{}, err
	}
	return amqp.Publishing{ContentType: ct, Body: body, DeliveryMode: amqp.Persistent, Timestamp: time.Now()}, nil
}

// Destination returns the semantic-conventions destination name of a publish:
// the exchange, or for the default exchange the routing key (the queue it
// addresses), or DefaultExchangeDestination when both are empty.
func Destination(exchange, routingKey string) string {
	switch {
	case exchange != "":
		return exchange
	case routingKey != "":
		return routingKey
	default:
		return DefaultExchangeDestination
	}
}

// Publish sends msg to exchange with routingKey and waits for the broker's
// confirm. It writes the trace context and correlation ID of ctx into a copy
// of msg.Headers. It returns nil only when the broker confirmed the message;
// an unroutable mandatory message gives a *ReturnError (ErrUnroutable).
func (p *Publisher) Publish(ctx context.Context, exchange, routingKey string, msg amqp.Publishing) error {
	dest := Destination(exchange, routingKey)
	headers := make(amqp.Table, len(msg.Headers)+3)
	maps.Copy(headers, msg.Headers)
	msg.Headers = headers
	ctx, span := p.spans(dest).Start(ctx, HeaderCarrier(headers))
	defer span.End()
	if span.IsRecording() {
		// Built only for a span that keeps them.
		attrs := make([]attribute.KeyValue, 0, 3)
		attrs = append(attrs, semconv.MessagingMessageBodySize(len(msg.Body)))
		if routingKey != "" {
			attrs = append(attrs, semconv.MessagingRabbitMQDestinationRoutingKey(routingKey))
		}
		if msg.MessageId != "" {
			attrs = append(attrs, semconv.MessagingMessageID(msg.MessageId))
		}
		span.SetAttributes(attrs...)
	}
	if msg.Timestamp.IsZero() {
		// Consumers measure message age from it.
		msg.Timestamp = time.Now()
	}

	start := time.Now()
	err := reliability.Retry(ctx, p.attempts, p.backoff, func(ctx context.Context) error {
		return p.publishOnce(ctx, exchange, routingKey, msg)
	})
	var et string
	if err != nil {
		err = unwrapPermanent(err)
		observability.RecordError(span, err)
		et = errorType(err)
	}
	// Failures count too, with error.type, as the semantic conventions
	// define messaging.client.sent.messages.
	p.metrics.Sent(ctx, dest, 1, et)
	p.metrics.Duration(ctx, dest, time.Since(start), et)
	return err
}

// maxCachedSpans bounds the destinations whose span starter is cached: a
// service publishing to many distinct routing keys on the default exchange
// (reply queues, say) must not grow memory forever.
const maxCachedSpans = 256

// spans returns the span starter of dest, cached while there are few
// destinations.
func (p *Publisher) spans(dest string) *observability.ProducerSpans {
	p.spansMu.RLock()
	s := p.spansByDest[dest]
	p.spansMu.RUnlock()
	if s != nil {
		return s
	}
	s = observability.NewProducerSpans(p.tracer, p.prop, semconv.MessagingSystemRabbitMQ, dest)
	p.spansMu.Lock()
	defer p.spansMu.Unlock()
	if cached := p.spansByDest[dest]; cached != nil {
		return cached
	}
	if len(p.spansByDest) < maxCachedSpans {
		p.spansByDest[dest] = s
	}
	return s
}

func errorType(err error) string {
	switch {
	case errors.Is(err, ErrUnroutable):
		return "unroutable"
	case errors.Is(err, ErrNacked):
		return "nacked"
	case errors.Is(err, ErrClosed):
		return "closed"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	default:
		return "_OTHER"
	}
}

// unwrapPermanent strips the reliability.Permanent marker, which is an
// implementation detail of the retry loop, keeping the cause.
func unwrapPermanent(err error) error {
	var re *ReturnError
	if errors.As(err, &re) {
		return re
	}
	if errors.Is(err, ErrClosed) {
		return ErrClosed
	}
	return err
}

func (p *Publisher) publishOnce(ctx context.Context, exchange, routingKey string, msg amqp.Publishing) error {
	var pc *pubChannel
	select {
	case pc = <-p.slots:
	case <-ctx.Done():
		return reliability.Permanent(ctx.Err())
	}
	defer func() { p.slots <- pc }()
	if err := p.ensureChannel(pc); err != nil {
		return err
	}
	dc, err := pc.ch.PublishWithDeferredConfirmWithContext(ctx, exchange, routingKey, p.mandatory, false, msg)
	if err != nil {
		pc.discard()
		return fmt.Errorf("amqp: publishing: %w", err)
	}
	select {
	case <-dc.Done():
	case <-ctx.Done():
		// A confirm or return may still arrive for this message and be taken
		// for the next publish's: the channel cannot be reused.
		pc.discard()
		return reliability.Permanent(fmt.Errorf("amqp: waiting for confirm: %w", ctx.Err()))
	}
	// The broker sends basic.return before the confirm of the same message
	// and the library hands both over in order, so a return for this
	// publish is already buffered when the confirm is done.
	select {
	case r, ok := <-pc.returns:
		if ok {
			return reliability.Permanent(&ReturnError{Exchange: r.Exchange, RoutingKey: r.RoutingKey, ReplyCode: r.ReplyCode, ReplyText: r.ReplyText})
		}
	default:
	}
	if !dc.Acked() {
		if pc.ch.IsClosed() {
			// Pending confirms are nacked when the channel dies: the broker
			// may or may not have the message, so try again.
			pc.discard()
			return errors.New("amqp: channel closed before the confirm arrived")
		}
		return ErrNacked
	}
	return nil
}

func (pc *pubChannel) discard() {
	if pc.ch != nil {
		_ = pc.ch.Close()
	}
	pc.ch, pc.returns = nil, nil
}

// ensureChannel opens pc's channel on a live connection when it has none.
func (p *Publisher) ensureChannel(pc *pubChannel) error {
	if pc.ch != nil && !pc.ch.IsClosed() {
		return nil
	}
	pc.discard()
	conn, err := p.connection()
	if err != nil {
		return err
	}
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("amqp: opening channel: %w", err)
	}
	if err := ch.Confirm(false); err != nil {
		_ = ch.Close()
		return fmt.Errorf("amqp: enabling confirms: %w", err)
	}
	// One unconfirmed publish per channel means at most one return is
	// pending; the spare room keeps the library's reader from ever blocking.
	pc.ch, pc.returns = ch, ch.NotifyReturn(make(chan amqp.Return, 4))
	return nil
}

func (p *Publisher) connection() (*amqp.Connection, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, reliability.Permanent(ErrClosed)
	}
	if p.conn != nil && !p.conn.IsClosed() {
		return p.conn, nil
	}
	conn, where, err := p.dialer.Dial()
	if err != nil {
		return nil, fmt.Errorf("amqp: connecting: %w", err)
	}
	if p.conn != nil {
		p.logger.Info("amqp publisher reconnected", slog.String("url", where))
	}
	p.conn = conn
	return conn, nil
}

// Close waits for in-flight publishes and closes the connection. Publish
// fails with ErrClosed afterwards.
func (p *Publisher) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	// Holding every slot means no publish is in flight; the slots go back
	// empty so that later publishes fail fast with ErrClosed.
	held := make([]*pubChannel, 0, cap(p.slots))
	for range cap(p.slots) {
		pc := <-p.slots
		pc.discard()
		held = append(held, pc)
	}
	for _, pc := range held {
		p.slots <- pc
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn != nil && !p.conn.IsClosed() {
		if err := p.conn.Close(); err != nil {
			return fmt.Errorf("amqp: closing connection: %w", err)
		}
	}
	return nil
}
