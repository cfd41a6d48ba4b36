// Package amqp is a RabbitMQ (AMQP 0.9.1) consumer component built on
// github.com/rabbitmq/amqp091-go.
//
// A message is acked only after its handler returned nil. A failed message
// goes back on the queue with backoff for WithRetry's number of retries,
// its deliveries counted with headers (see RetryMode); then the failure
// strategy applies: DeadLetter (the default) rejects it without requeueing
// so that the queue's dead-letter exchange takes it, Skip acks it (logged
// and counted), Stop returns it to the queue and stops the component. A
// reliability.Permanent error or a body that does not decode is never
// retried.
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
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/patron-go/patron/internal/amqpconn"
	"github.com/patron-go/patron/internal/consume"
	"github.com/patron-go/patron/internal/option"
	"github.com/patron-go/patron/observability"
	"github.com/patron-go/patron/observability/log"
	"github.com/patron-go/patron/reliability"
)

const scope = observability.ModulePath + "/component/amqp"

// ErrNotReady is returned by Ready while the component is not connected.
var ErrNotReady = errors.New("amqp: consumer not connected")

// Component consumes one queue.
type Component struct {
	dialer  *amqpconn.Dialer
	queue   string
	handler Handler
	cfg     config

	tracer trace.Tracer
	prop   propagation.TextMapPropagator
	// pipe is the delivery pipeline every Patron consumer shares: spans,
	// metrics, retries and the failure strategy.
	pipe *consume.Pipeline

	ready atomic.Bool
}

// New returns a component consuming queue on the broker at url with h
// (WithClusterURLs adds the other brokers of a cluster). h may be nil only
// when WithBatch gives a batch handler.
func New(url, queue string, h Handler, opts ...Option) (*Component, error) {
	if queue == "" {
		return nil, errors.New("amqp: queue name is empty")
	}
	c := config{
		conn:        amqpconn.NewSettings("patron-consumer " + queue),
		workers:     1,
		delivery:    consume.DefaultConfig(reliability.Backoff{Initial: 100 * time.Millisecond, Max: 5 * time.Second, Multiplier: 2}),
		reconnects:  20,
		reconnectBO: reliability.DefaultBackoff(),
	}
	if err := option.Apply("amqp", &c, opts); err != nil {
		return nil, err
	}
	if c.delivery.Strategy == 0 {
		c.delivery.Strategy = DeadLetter
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
	dialer, err := c.conn.Dialer("amqp", url)
	if err != nil {
		return nil, err
	}
	comp := &Component{
		dialer:  dialer,
		queue:   queue,
		handler: h,
		cfg:     c,
		tracer:  observability.Tracer(c.tp, scope),
		prop:    observability.Propagator(c.prop),
	}
	cm, err := observability.NewConsumerMetrics(observability.Meter(c.mp, scope), semconv.MessagingSystemRabbitMQ)
	if err != nil {
		return nil, fmt.Errorf("amqp: %w", err)
	}
	comp.pipe = consume.New(consume.Spec{
		Pkg: "amqp", System: semconv.MessagingSystemRabbitMQ, Destination: queue,
		Tracer: comp.tracer, Prop: comp.prop, Metrics: cm.Destination(queue), Config: c.delivery,
	})
	return comp, nil
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
	conn, where, err := c.dialer.Dial()
	if err != nil {
		return nil, fmt.Errorf("connecting: %w", err)
	}
	logger.Info("amqp consumer connected", slog.String("url", where))
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
	// Handlers and acks outlive ctx so that in-flight work finishes, for
	// the drain timeout at most. The logger goes into the context once per
	// session, not per message.
	hctx, cancelH := consume.HandlerContext(log.WithContext(ctx, s.logger), c.cfg.delivery.DrainTimeout)
	defer cancelH()
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
