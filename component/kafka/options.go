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

	"github.com/patron-go/patron/internal/consume"
	"github.com/patron-go/patron/reliability"
)

// Defaults of the options.
const (
	// DefaultRetries is how many times a failed message is tried again
	// after its first try.
	DefaultRetries = consume.DefaultRetries
	// DefaultDrainTimeout bounds in-flight handlers at shutdown and on a
	// revocation.
	DefaultDrainTimeout   = consume.DefaultDrainTimeout
	DefaultQueueSize      = 1000
	DefaultCommitInterval = time.Second
)

// FailureStrategy says what happens to a message whose handler still fails
// after the retries (or fails with a reliability.Permanent error or a body
// that does not decode, which are never retried). It is the type every
// Patron consumer shares.
type FailureStrategy = consume.FailureStrategy

// The failure strategies. The default is DeadLetter when
// WithDeadLetterTopic is set, else Skip.
const (
	// DeadLetter publishes the message to the WithDeadLetterTopic topic,
	// with its original key, value and headers plus the DeadLetter*
	// headers that say why and where from, then commits past it.
	// Publishing is retried until it succeeds or the partition is revoked
	// or the component stops (the message is then not committed and will
	// be redelivered), so nothing is lost.
	DeadLetter = consume.DeadLetter
	// Skip logs the message's coordinates and error at error level,
	// counts it in observability.MetricConsumerMessages with outcome
	// skipped and its error.type, commits past it and moves on: a poison
	// message must not stop a partition forever or crash-loop the service.
	Skip = consume.Skip
	// Stop makes Run return the handler's error (the service then shuts
	// down); the failed message is not committed, so the next run sees it
	// again.
	Stop = consume.Stop
)

type config struct {
	tp           trace.TracerProvider
	mp           metric.MeterProvider
	prop         propagation.TextMapPropagator
	logger       *slog.Logger
	batch        BatchHandler
	batchSize    int
	batchTimeout time.Duration
	concurrency  int
	delivery     consume.Config
	dlTopic      string
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

// WithBatch handles messages in batches of up to size messages of one
// partition (so order and commits stay per partition); a partial batch is
// handled maxWait after its first message arrived, so an idle topic does not
// hold messages back. The Handler given to New must then be nil. A failing
// batch follows the retries and failure strategy as a whole.
func WithBatch(h BatchHandler, size int, maxWait time.Duration) Option {
	return func(c *config) error {
		if err := consume.CheckBatch("kafka", h == nil, size, maxWait); err != nil {
			return err
		}
		c.batch, c.batchSize, c.batchTimeout = h, size, maxWait
		return nil
	}
}

// WithBatchHandler is WithBatch.
//
// Deprecated: use WithBatch, which every Patron consumer shares.
func WithBatchHandler(h BatchHandler, size int, timeout time.Duration) Option {
	return WithBatch(h, size, timeout)
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

// WithRetry retries a failing handler in place up to n times after its
// first try (0 turns retries off), waiting b's exponential, jittered delays
// in between; the default is DefaultRetries with reliability.DefaultBackoff.
// A reliability.Permanent error or a body that does not decode is not
// retried.
func WithRetry(n int, b reliability.Backoff) Option {
	return func(c *config) error { return c.delivery.SetRetry("kafka", n, b) }
}

// WithRetries is WithRetry.
//
// Deprecated: use WithRetry, which every Patron consumer shares.
func WithRetries(n int, b reliability.Backoff) Option { return WithRetry(n, b) }

// WithFailureStrategy sets what happens after the retries (default
// DeadLetter with WithDeadLetterTopic, else Skip). DeadLetter needs
// WithDeadLetterTopic.
func WithFailureStrategy(s FailureStrategy) Option {
	return func(c *config) error { return c.delivery.SetStrategy("kafka", s) }
}

// WithDeadLetterTopic sets the topic that the DeadLetter strategy publishes
// to, and makes DeadLetter the default strategy.
func WithDeadLetterTopic(topic string) Option {
	return func(c *config) error {
		if strings.TrimSpace(topic) == "" {
			return errors.New("kafka: dead-letter topic is empty")
		}
		c.dlTopic = topic
		return nil
	}
}

// WithDrainTimeout bounds how long in-flight handlers may run after a
// shutdown or a revocation began before their context is cancelled
// (default DefaultDrainTimeout, under the service's default shutdown timeout).
func WithDrainTimeout(d time.Duration) Option {
	return func(c *config) error { return c.delivery.SetDrainTimeout("kafka", d) }
}

// WithQueueSize sets how many fetched records may wait per partition; while
// one partition's queue is full the consumer stops polling (default
// DefaultQueueSize). A poll hands every partition what the client fetched
// for it, so a queue may pass n by up to one fetch of its partition
// (kgo.FetchMaxPartitionBytes). It bounds memory and what a revocation
// hands back.
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
