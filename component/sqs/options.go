package sqs

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/patron-go/patron/internal/consume"
	"github.com/patron-go/patron/reliability"
)

// FailureStrategy says what becomes of a message whose handler still fails
// after its retries (see WithRetry), or fails with a reliability.Permanent
// error or a body that does not decode, which are never retried. It is the
// type every Patron consumer shares.
type FailureStrategy = consume.FailureStrategy

// The failure strategies. The default is DeadLetter when the queue has a
// RedrivePolicy (read with GetQueueAttributes when Run starts), else Skip.
const (
	// DeadLetter leaves the message alone (no more extensions, no delete),
	// so that the queue's redrive policy moves it to the dead-letter queue
	// once its receive count passes maxReceiveCount.
	DeadLetter = consume.DeadLetter
	// Skip logs the message at error level, counts it with outcome skipped
	// and its error.type, and deletes it.
	Skip = consume.Skip
	// Stop makes the message visible again at once and stops the component:
	// Run finishes the messages in flight and returns the handler's error,
	// which stops the service. A receive in flight is let finish (at most
	// the wait time, usually at once since the failed message is visible
	// again) and what it brought is made visible again at once: cancelling
	// it could lose those messages until their visibility timeout.
	Stop = consume.Stop
	// Retry is DeadLetter: retrying is WithRetry's part now.
	//
	// Deprecated: use DeadLetter.
	Retry = consume.DeadLetter
)

// DefaultRetries is how many times a failed message is received again after
// its first receive.
const DefaultRetries = consume.DefaultRetries

// Option configures a Component.
type Option func(*config) error

type config struct {
	client        API
	tp            trace.TracerProvider
	mp            metric.MeterProvider
	prop          propagation.TextMapPropagator
	logger        *slog.Logger
	workers       int
	maxMessages   int
	wait          time.Duration
	visibility    time.Duration
	delivery      consume.Config
	batch         BatchHandler
	batchSize     int
	batchWait     time.Duration
	errBackoff    reliability.Backoff
	depthInterval time.Duration
}

func defaultConfig() config {
	return config{
		workers:       10,
		maxMessages:   10,
		wait:          20 * time.Second,
		visibility:    30 * time.Second,
		delivery:      consume.DefaultConfig(reliability.Backoff{Initial: time.Second, Max: 15 * time.Minute, Multiplier: 2}),
		errBackoff:    reliability.Backoff{Initial: 100 * time.Millisecond, Max: 30 * time.Second, Multiplier: 2},
		depthInterval: 30 * time.Second,
	}
}

// WithClient sets the SQS client, usually an *sqs.Client built from
// config.LoadDefaultConfig. Without it, New builds one from the default
// AWS configuration (AWS_REGION, AWS_ENDPOINT_URL or AWS_ENDPOINT_URL_SQS,
// the credentials chain).
func WithClient(c API) Option {
	return func(cfg *config) error {
		if c == nil {
			return errors.New("sqs: client is nil")
		}
		cfg.client = c
		return nil
	}
}

// WithWorkers bounds the number of messages processed at once (default 10).
// The consumer only receives as many messages as it has free workers, so
// it never holds a message it is not working on.
func WithWorkers(n int) Option {
	return func(cfg *config) error {
		if n < 1 {
			return fmt.Errorf("sqs: workers must be at least 1, got %d", n)
		}
		cfg.workers = n
		return nil
	}
}

// WithMaxMessages sets the most messages one ReceiveMessage asks for, 1 to
// 10 (default 10).
func WithMaxMessages(n int) Option {
	return func(cfg *config) error {
		if n < 1 || n > 10 {
			return fmt.Errorf("sqs: max messages must be 1 to 10, got %d", n)
		}
		cfg.maxMessages = n
		return nil
	}
}

// WithWaitTime sets the long-poll wait of ReceiveMessage, whole seconds from
// 0 to 20 (default 20s). With 0 (short polling) the consumer still backs off
// between empty receives.
func WithWaitTime(d time.Duration) Option {
	return func(cfg *config) error {
		if d < 0 || d > 20*time.Second || d%time.Second != 0 {
			return fmt.Errorf("sqs: wait time must be whole seconds from 0 to 20, got %s", d)
		}
		cfg.wait = d
		return nil
	}
}

// WithVisibilityTimeout sets the visibility timeout the consumer asks for on
// receive, whole seconds from 1s to 12h (default 30s). A heartbeat extends
// it for messages still being processed, so it bounds how long a crashed
// consumer keeps messages hidden rather than how long a handler may run.
func WithVisibilityTimeout(d time.Duration) Option {
	return func(cfg *config) error {
		if d < time.Second || d > 12*time.Hour || d%time.Second != 0 {
			return fmt.Errorf("sqs: visibility timeout must be whole seconds from 1s to 12h, got %s", d)
		}
		cfg.visibility = d
		return nil
	}
}

// WithRetry sets how many times a failed message is received again after
// its first receive (ApproximateReceiveCount up to n+1; default
// DefaultRetries) and the backoff that hides it in between (default 1s
// doubling up to 15m, with jitter; rounded up to whole seconds, at least
// 1s, at most 12h). Set n+1 to the maxReceiveCount of the queue's
// RedrivePolicy. Then the failure strategy applies.
func WithRetry(n int, b reliability.Backoff) Option {
	return func(cfg *config) error {
		if b.Max > 12*time.Hour {
			return fmt.Errorf("sqs: invalid backoff %+v (delays from 0 to 12h)", b)
		}
		return cfg.delivery.SetRetry("sqs", n, b)
	}
}

// WithBackoff sets the redelivery delays of failed messages.
//
// Deprecated: use WithRetry, which every Patron consumer shares.
func WithBackoff(b reliability.Backoff) Option {
	return func(cfg *config) error {
		if b.Initial < 0 || b.Max < 0 || b.Max > 12*time.Hour {
			return fmt.Errorf("sqs: invalid backoff %+v (delays from 0 to 12h)", b)
		}
		cfg.delivery.Backoff = b
		return nil
	}
}

// WithBatch hands messages to h in batches of up to size, or whatever
// arrived within maxWait of a batch's first message, under one CONSUMER
// span linked to each message's context. New's handler must then be nil.
// A nil return deletes the batch; an error applies the retries and the
// failure strategy to every message of it. The workers (WithWorkers) bound
// the messages held, batched or not, so they are raised to size when
// fewer.
func WithBatch(h BatchHandler, size int, maxWait time.Duration) Option {
	return func(cfg *config) error {
		if err := consume.CheckBatch("sqs", h == nil, size, maxWait); err != nil {
			return err
		}
		cfg.batch, cfg.batchSize, cfg.batchWait = h, size, maxWait
		return nil
	}
}

// WithDrainTimeout bounds how long in-flight handlers may run after a
// shutdown began before their context is cancelled (default
// consume.DefaultDrainTimeout, 20s, under the service's default shutdown
// timeout).
func WithDrainTimeout(d time.Duration) Option {
	return func(cfg *config) error { return cfg.delivery.SetDrainTimeout("sqs", d) }
}

// WithReceiveErrorBackoff sets the delays between failed ReceiveMessage
// calls (default 100ms doubling up to 30s, with jitter).
func WithReceiveErrorBackoff(b reliability.Backoff) Option {
	return func(cfg *config) error {
		if b.Initial < 0 || b.Max < 0 {
			return fmt.Errorf("sqs: invalid receive error backoff %+v", b)
		}
		cfg.errBackoff = b
		return nil
	}
}

// WithFailureStrategy sets what happens after the retries (default
// DeadLetter when the queue has a RedrivePolicy, else Skip).
func WithFailureStrategy(s FailureStrategy) Option {
	return func(cfg *config) error { return cfg.delivery.SetStrategy("sqs", s) }
}

// WithMaxReceives sets the retry limit: a message that failed on its n-th
// receive goes to the failure strategy; 0 means no limit.
//
// Deprecated: use WithRetry(n-1, backoff).
func WithMaxReceives(n int) Option {
	return func(cfg *config) error {
		if n < 0 {
			return fmt.Errorf("sqs: max receives must not be negative, got %d", n)
		}
		cfg.delivery.Retries = n - 1
		if n == 0 {
			cfg.delivery.Retries = math.MaxInt32
		}
		return nil
	}
}

// WithQueueDepthInterval sets how often the queue's depth gauges are read
// with GetQueueAttributes (default 30s); 0 turns them off.
func WithQueueDepthInterval(d time.Duration) Option {
	return func(cfg *config) error {
		if d < 0 {
			return fmt.Errorf("sqs: queue depth interval must not be negative, got %s", d)
		}
		cfg.depthInterval = d
		return nil
	}
}

// WithTracerProvider sets the tracer provider (default: the OTel global).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(cfg *config) error {
		if tp == nil {
			return errors.New("sqs: tracer provider is nil")
		}
		cfg.tp = tp
		return nil
	}
}

// WithMeterProvider sets the meter provider (default: the OTel global).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(cfg *config) error {
		if mp == nil {
			return errors.New("sqs: meter provider is nil")
		}
		cfg.mp = mp
		return nil
	}
}

// WithPropagator sets the propagator that reads the trace context from
// message attributes (default: the OTel global).
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(cfg *config) error {
		if p == nil {
			return errors.New("sqs: propagator is nil")
		}
		cfg.prop = p
		return nil
	}
}

// WithLogger sets the logger (default: the logger in Run's context, else
// slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(cfg *config) error {
		if l == nil {
			return errors.New("sqs: logger is nil")
		}
		cfg.logger = l
		return nil
	}
}
