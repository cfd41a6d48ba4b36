package amqp

import (
	"errors"
	"log/slog"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/patron-go/patron/internal/amqpconn"
	"github.com/patron-go/patron/internal/consume"
	"github.com/patron-go/patron/reliability"
)

// Option configures a Component.
type Option func(*config) error

// FailureStrategy says what becomes of a message whose handler still fails
// after its retries (see WithRetry), or fails with a reliability.Permanent
// error or a body that does not decode, which are never retried. It is the
// type every Patron consumer shares.
type FailureStrategy = consume.FailureStrategy

// The failure strategies; DeadLetter is the default.
const (
	// DeadLetter rejects the message without requeueing, so that the
	// queue's dead-letter exchange (see WithDeadLetter) takes it; a queue
	// without one drops it, which is logged and counted.
	DeadLetter = consume.DeadLetter
	// Skip acks the message, logs it at error level and counts it with
	// outcome skipped and its error.type.
	Skip = consume.Skip
	// Stop returns the message to the queue and stops the component with
	// the handler's error, which stops the service.
	Stop = consume.Stop
	// Requeue is DeadLetter: the requeueing is WithRetry's part now.
	//
	// Deprecated: use DeadLetter.
	Requeue = consume.DeadLetter
)

// DefaultRetries is how many times a failed message is delivered again
// after its first delivery.
const DefaultRetries = consume.DefaultRetries

// RetryMode is how a failed message goes back to the queue and how its
// deliveries are counted, so that a poison message cannot loop forever.
type RetryMode int

const (
	// RetryRepublish (the default) works with every queue type: a copy of
	// the message with the Patron header DeliveryCountHeader incremented is
	// published to the queue (through the default exchange) and confirmed
	// before the original is acked. The original exchange and routing key
	// travel in headers and Message reports them. A crash between the two
	// steps leaves both copies: at-least-once, never lost.
	RetryRepublish RetryMode = iota
	// RetryNack nacks the message with requeue and counts deliveries with
	// the x-delivery-count header that quorum queues maintain. A redelivered
	// message without that header is from a queue that does not count
	// (classic), and falls back to RetryRepublish from then on, so a poison
	// message on a classic queue gets at most one extra delivery.
	RetryNack
)

// QueueSpec declares the consumed queue.
type QueueSpec struct {
	Durable    bool
	AutoDelete bool
	Exclusive  bool
	// Quorum declares a quorum queue (x-queue-type=quorum), which must be
	// durable and counts deliveries in x-delivery-count.
	Quorum bool
	Args   amqp.Table
}

// ExchangeSpec declares an exchange.
type ExchangeSpec struct {
	Name       string
	Kind       string // direct, fanout, topic, headers
	Durable    bool
	AutoDelete bool
	Args       amqp.Table
}

// DeadLetterSpec configures where rejected messages go. It sets the queue's
// x-dead-letter-exchange (and x-dead-letter-routing-key) arguments, so it
// needs WithDeclareQueue.
type DeadLetterSpec struct {
	// Exchange is the dead-letter exchange, declared durable of Kind
	// (default fanout, which routes whatever the routing key).
	Exchange string
	Kind     string
	// RoutingKey replaces the message's routing key when dead-lettered;
	// empty keeps the original.
	RoutingKey string
	// Queue, when set, is declared durable and bound to Exchange with
	// RoutingKey, so the dead letters are kept.
	Queue string
}

type binding struct {
	exchange, key string
	args          amqp.Table
}

type config struct {
	tp          trace.TracerProvider
	mp          metric.MeterProvider
	prop        propagation.TextMapPropagator
	logger      *slog.Logger
	conn        amqpconn.Settings
	tag         string
	prefetch    int
	workers     int
	queueSpec   *QueueSpec
	exchanges   []ExchangeSpec
	bindings    []binding
	deadLetter  *DeadLetterSpec
	batch       BatchHandler
	batchSize   int
	batchWait   time.Duration
	delivery    consume.Config
	retryMode   RetryMode
	reconnects  int
	reconnectBO reliability.Backoff
}

// WithTracerProvider sets the tracer provider (default: the OTel global).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) error {
		if tp == nil {
			return errors.New("amqp: tracer provider is nil")
		}
		c.tp = tp
		return nil
	}
}

// WithMeterProvider sets the meter provider (default: the OTel global).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) error {
		if mp == nil {
			return errors.New("amqp: meter provider is nil")
		}
		c.mp = mp
		return nil
	}
}

// WithPropagator sets the propagator that reads trace context from headers
// (default: the OTel global).
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(c *config) error {
		if p == nil {
			return errors.New("amqp: propagator is nil")
		}
		c.prop = p
		return nil
	}
}

// WithLogger sets the logger (default: the logger in Run's context, or
// slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("amqp: logger is nil")
		}
		c.logger = l
		return nil
	}
}

// WithConfig uses cfg (TLS, SASL, vhost, heartbeat, ...) to dial; the
// connection name is added to its Properties.
func WithConfig(cfg amqp.Config) Option {
	return func(c *config) error {
		c.conn.SetConfig(cfg)
		return nil
	}
}

// WithClusterURLs adds the URLs of the other brokers of a cluster without a
// load balancer, after New's URL: they are tried in order, and a reconnect
// starts from the broker after the one that was lost.
func WithClusterURLs(urls ...string) Option {
	return func(c *config) error { return c.conn.AddClusterURLs("amqp", urls) }
}

// WithConnectionName sets the connection_name client property shown by the
// broker (default "patron-consumer <queue>").
func WithConnectionName(name string) Option {
	return func(c *config) error { return c.conn.SetName("amqp", name) }
}

// WithConsumerTag sets the consumer tag (default: generated by the library).
func WithConsumerTag(tag string) Option {
	return func(c *config) error {
		c.tag = tag
		return nil
	}
}

// WithPrefetch sets the channel's QoS prefetch count: how many unacked
// messages the broker hands over at once (default 32, or enough for every
// worker's batch).
func WithPrefetch(n int) Option {
	return func(c *config) error {
		if n < 1 || n > 65535 {
			return errors.New("amqp: prefetch must be between 1 and 65535")
		}
		c.prefetch = n
		return nil
	}
}

// WithWorkers sets how many messages (or batches) are handled concurrently
// (default 1, which keeps the queue's order).
func WithWorkers(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return errors.New("amqp: workers must be at least 1")
		}
		c.workers = n
		return nil
	}
}

// WithDeclareQueue declares the queue on every (re)connection.
func WithDeclareQueue(spec QueueSpec) Option {
	return func(c *config) error {
		if spec.Quorum && (!spec.Durable || spec.AutoDelete || spec.Exclusive) {
			return errors.New("amqp: a quorum queue must be durable, not auto-delete and not exclusive")
		}
		c.queueSpec = &spec
		return nil
	}
}

// WithExchange declares an exchange on every (re)connection.
func WithExchange(spec ExchangeSpec) Option {
	return func(c *config) error {
		if spec.Name == "" || spec.Kind == "" {
			return errors.New("amqp: exchange needs a name and a kind")
		}
		c.exchanges = append(c.exchanges, spec)
		return nil
	}
}

// WithBinding binds the queue to exchange with routingKey on every
// (re)connection.
func WithBinding(exchange, routingKey string, args amqp.Table) Option {
	return func(c *config) error {
		if exchange == "" {
			return errors.New("amqp: binding needs an exchange (the default exchange cannot be bound)")
		}
		c.bindings = append(c.bindings, binding{exchange: exchange, key: routingKey, args: args})
		return nil
	}
}

// WithDeadLetter sets the queue's dead-letter exchange, where messages go
// after their last failed delivery.
func WithDeadLetter(dl DeadLetterSpec) Option {
	return func(c *config) error {
		if dl.Exchange == "" {
			return errors.New("amqp: dead-letter exchange name is empty")
		}
		if dl.Kind == "" {
			dl.Kind = amqp.ExchangeFanout
		}
		c.deadLetter = &dl
		return nil
	}
}

// WithBatch hands messages to h in batches of up to size, or whatever
// arrived within maxWait of a batch's first message. New's handler must then
// be nil. A nil return acks the batch; an error applies the retries and the
// failure strategy to every message of it.
func WithBatch(h BatchHandler, size int, maxWait time.Duration) Option {
	return func(c *config) error {
		if err := consume.CheckBatch("amqp", h == nil, size, maxWait); err != nil {
			return err
		}
		c.batch, c.batchSize, c.batchWait = h, size, maxWait
		return nil
	}
}

// WithFailureStrategy sets what happens after the retries (default
// DeadLetter).
func WithFailureStrategy(s FailureStrategy) Option {
	return func(c *config) error { return c.delivery.SetStrategy("amqp", s) }
}

// WithRetry sets how many times a failed message is put back on the queue
// and delivered again after its first delivery (default DefaultRetries; 0
// turns retries off), and the backoff waited before each requeue. Then the
// failure strategy applies.
func WithRetry(n int, b reliability.Backoff) Option {
	return func(c *config) error { return c.delivery.SetRetry("amqp", n, b) }
}

// WithDrainTimeout bounds how long in-flight handlers may run after a
// shutdown began before their context is cancelled (default
// consume.DefaultDrainTimeout, 20s, under the service's default shutdown
// timeout).
func WithDrainTimeout(d time.Duration) Option {
	return func(c *config) error { return c.delivery.SetDrainTimeout("amqp", d) }
}

// WithRetryMode sets how failed messages are requeued and counted (default
// RetryRepublish).
func WithRetryMode(m RetryMode) Option {
	return func(c *config) error {
		if m != RetryRepublish && m != RetryNack {
			return errors.New("amqp: unknown retry mode")
		}
		c.retryMode = m
		return nil
	}
}

// WithReconnect sets how many consecutive connection attempts may fail
// before Run gives up and returns the last error (default 20), and the
// backoff between them.
func WithReconnect(attempts int, b reliability.Backoff) Option {
	return func(c *config) error {
		if attempts < 1 {
			return errors.New("amqp: reconnect attempts must be at least 1")
		}
		c.reconnects, c.reconnectBO = attempts, b
		return nil
	}
}

// WithDialTimeout bounds establishing a TCP connection (default 10s).
func WithDialTimeout(d time.Duration) Option {
	return func(c *config) error { return c.conn.SetDialTimeout("amqp", d) }
}
