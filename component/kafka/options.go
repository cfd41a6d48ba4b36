package kafka

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/patron-go/patron/reliability"
)

// Defaults of the options.
const (
	DefaultRetries        = 3
	DefaultDrainTimeout   = 20 * time.Second
	DefaultQueueSize      = 1000
	DefaultCommitInterval = time.Second
)

type failureAction int

const (
	actionSkip failureAction = iota
	actionDeadLetter
	actionStop
)

// FailureStrategy says what happens to a message whose handler still fails
// after the retries: Skip, DeadLetter or Stop.
type FailureStrategy struct {
	action failureAction
	topic  string
}

// Skip logs the message's coordinates and error at error level, counts it in
// patron.messaging.consumer.skipped, commits past it and moves on. It is the
// default, because a poison message must not stop a partition forever or
// crash-loop the service; use DeadLetter to keep such messages.
func Skip() FailureStrategy { return FailureStrategy{action: actionSkip} }

// DeadLetter publishes the message to topic, with its original key, value
// and headers plus the DeadLetter* headers that say why and where from, then
// commits past it. Publishing is retried until it succeeds or the partition
// is revoked or the component stops (the message is then not committed and
// will be redelivered), so nothing is lost.
func DeadLetter(topic string) FailureStrategy {
	return FailureStrategy{action: actionDeadLetter, topic: topic}
}

// Stop makes Run return the handler's error (the service then shuts down);
// the failed message is not committed, so the next run sees it again.
func Stop() FailureStrategy { return FailureStrategy{action: actionStop} }

type config struct {
	tp           trace.TracerProvider
	mp           metric.MeterProvider
	prop         propagation.TextMapPropagator
	logger       *slog.Logger
	batch        BatchHandler
	batchSize    int
	batchTimeout time.Duration
	concurrency  int
	retries      int
	backoff      reliability.Backoff
	failure      FailureStrategy
	drainTimeout time.Duration
	queueSize    int
	commitEvery  time.Duration
	clientOpts   []kgo.Opt
}

// Option configures a Component.
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

// WithPropagator sets the propagator that reads trace context from record
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

// WithLogger sets the logger (default: the logger in Run's context, else
// slog.Default()). Handlers find it with log.FromContext.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("kafka: logger is nil")
		}
		c.logger = l
		return nil
	}
}

// WithBatchHandler handles messages in batches of up to size messages of one
// partition (so order and commits stay per partition); a partial batch is
// handled timeout after its first message arrived, so an idle topic does not
// hold messages back. The Handler given to New must then be nil. A failing
// batch follows the retries and failure strategy as a whole.
func WithBatchHandler(h BatchHandler, size int, timeout time.Duration) Option {
	return func(c *config) error {
		if h == nil {
			return errors.New("kafka: batch handler is nil")
		}
		if size < 1 {
			return fmt.Errorf("kafka: batch size %d, want at least 1", size)
		}
		if timeout <= 0 {
			return fmt.Errorf("kafka: batch timeout %s, want more than 0", timeout)
		}
		c.batch, c.batchSize, c.batchTimeout = h, size, timeout
		return nil
	}
}

// WithConcurrency bounds how many handlers run at once across partitions;
// the default 0 runs one per assigned partition. Records of one partition
// are always handled one at a time, in order.
func WithConcurrency(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return fmt.Errorf("kafka: concurrency %d, want 0 or more", n)
		}
		c.concurrency = n
		return nil
	}
}

// WithRetries retries a failing handler in place up to n times (0 turns
// retries off), waiting b's exponential, jittered delays in between; the
// default is DefaultRetries with reliability.DefaultBackoff.
func WithRetries(n int, b reliability.Backoff) Option {
	return func(c *config) error {
		if n < 0 {
			return fmt.Errorf("kafka: %d retries, want 0 or more", n)
		}
		c.retries, c.backoff = n, b
		return nil
	}
}

// WithFailureStrategy sets what happens after the retries (default Skip).
func WithFailureStrategy(s FailureStrategy) Option {
	return func(c *config) error {
		if s.action == actionDeadLetter && strings.TrimSpace(s.topic) == "" {
			return errors.New("kafka: dead-letter topic is empty")
		}
		c.failure = s
		return nil
	}
}

// WithDrainTimeout bounds how long in-flight handlers may run after a
// shutdown or a revocation began before their context is cancelled
// (default DefaultDrainTimeout, under the service's default shutdown timeout).
func WithDrainTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("kafka: drain timeout %s, want more than 0", d)
		}
		c.drainTimeout = d
		return nil
	}
}

// WithQueueSize sets how many fetched records may wait per partition; while
// one partition's queue is full the consumer stops polling (default
// DefaultQueueSize). It bounds memory and what a revocation hands back.
func WithQueueSize(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("kafka: queue size %d, want at least 1", n)
		}
		c.queueSize = n
		return nil
	}
}

// WithCommitInterval sets how often processed offsets are committed in the
// background (default DefaultCommitInterval); revocations and shutdown
// always commit synchronously.
func WithCommitInterval(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("kafka: commit interval %s, want more than 0", d)
		}
		c.commitEvery = d
		return nil
	}
}

// WithClientOptions passes franz-go options to the underlying client, for
// what Patron does not wrap: TLS, SASL, start offset, session timeout,
// balancers. They are applied after Patron's, so they win; do not override
// the commit and rebalance options, on which the delivery guarantee rests.
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
