package kafka

import (
	"errors"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

type config struct {
	tp         trace.TracerProvider
	mp         metric.MeterProvider
	prop       propagation.TextMapPropagator
	logger     *slog.Logger
	clientOpts []kgo.Opt
}

// Option configures a Producer.
type Option func(*config) error

// WithTracerProvider sets the tracer provider (default: the OTel global).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) error {
		if tp == nil {
			return errors.New("kafka: tracer provider is nil")
		}
		c.tp = tp
		return nil
	}
}

// WithMeterProvider sets the meter provider (default: the OTel global).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) error {
		if mp == nil {
			return errors.New("kafka: meter provider is nil")
		}
		c.mp = mp
		return nil
	}
}

// WithPropagator sets the propagator that writes trace context into record
// headers (default: the OTel global).
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(c *config) error {
		if p == nil {
			return errors.New("kafka: propagator is nil")
		}
		c.prop = p
		return nil
	}
}

// WithLogger sets the logger of asynchronous failures that have no callback
// (default: slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("kafka: logger is nil")
		}
		c.logger = l
		return nil
	}
}

// WithClientOptions passes franz-go options to the underlying client, for
// what Patron does not wrap: TLS, SASL, linger, compression, acks,
// partitioner. They are applied after Patron's defaults, so they win;
// kgo.DisableIdempotentWrite turns off the idempotent default.
func WithClientOptions(opts ...kgo.Opt) Option {
	return func(c *config) error {
		for _, o := range opts {
			if o == nil {
				return errors.New("kafka: nil client option")
			}
		}
		c.clientOpts = append(c.clientOpts, opts...)
		return nil
	}
}
