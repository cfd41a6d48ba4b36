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
	"github.com/patron-go/patron/reliability"
)

// Option configures a Publisher.
type Option func(*config) error

type config struct {
	tp        trace.TracerProvider
	mp        metric.MeterProvider
	prop      propagation.TextMapPropagator
	logger    *slog.Logger
	conn      amqpconn.Settings
	channels  int
	attempts  int
	backoff   reliability.Backoff
	mandatory bool
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

// WithPropagator sets the propagator that writes trace context into headers
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

// WithLogger sets the logger for connection events (default: slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("amqp: logger is nil")
		}
		c.logger = l
		return nil
	}
}

// WithConfig uses cfg (TLS, SASL, vhost, heartbeat, ...) to dial. Its
// Properties get the connection name added.
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

// WithConnectionName sets the connection_name client property, which the
// broker shows in its management tools (default "patron-publisher").
func WithConnectionName(name string) Option {
	return func(c *config) error { return c.conn.SetName("amqp", name) }
}

// WithChannels sets how many channels publish in parallel (default 4). Each
// channel carries one unconfirmed publish at a time, which is what lets a
// broker's return be matched to the publish that caused it.
func WithChannels(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return errors.New("amqp: channels must be at least 1")
		}
		c.channels = n
		return nil
	}
}

// WithRetry sets how many times a publish is attempted when the connection
// or channel fails, or the broker nacks it (default 5), with backoff between
// attempts. A retried publish may be stored twice (at-least-once).
func WithRetry(attempts int, b reliability.Backoff) Option {
	return func(c *config) error {
		if attempts < 1 {
			return errors.New("amqp: retry attempts must be at least 1")
		}
		c.attempts = attempts
		c.backoff = b
		return nil
	}
}

// WithMandatory sets the mandatory flag (default true): a message that no
// queue receives makes Publish fail with ErrUnroutable instead of vanishing.
func WithMandatory(mandatory bool) Option {
	return func(c *config) error {
		c.mandatory = mandatory
		return nil
	}
}

// WithDialTimeout bounds establishing a TCP connection (default 10s).
func WithDialTimeout(d time.Duration) Option {
	return func(c *config) error { return c.conn.SetDialTimeout("amqp", d) }
}
