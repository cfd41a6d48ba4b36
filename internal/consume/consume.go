// Package consume is the delivery pipeline that the Kafka, RabbitMQ and SQS
// consumer components share: the CONSUMER span (one per message, or one per
// batch with a link to each message), the consumer metrics, a handler's panic
// turned into an error, the rule that a reliability.Permanent or
// encoding.ErrMalformed error is never retried, and the failure strategy
// applied once the retries are spent.
//
// A component keeps only what its broker makes different: its source loop
// and how it acks, redelivers and dead-letters a message. It asks the
// Pipeline what to do with a failed message (Next) and reports what it did
// (Processed, Retried, Requeued, DeadLettered, Skipped), so that the three
// count, log and trace the same way.
package consume

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/patron-go/patron/encoding"
	"github.com/patron-go/patron/observability"
	patronlog "github.com/patron-go/patron/observability/log"
	"github.com/patron-go/patron/reliability"
)

// FailureStrategy says what becomes of a message whose handler still fails
// after its retries (or failed with an error that retrying cannot fix). The
// zero value means "the component's default".
type FailureStrategy int

const (
	// DeadLetter hands the message to the component's dead-letter
	// destination (a Kafka topic, the queue's dead-letter exchange, the SQS
	// queue's redrive policy) and moves on.
	DeadLetter FailureStrategy = iota + 1
	// Skip logs the message at error level, counts it with outcome skipped
	// and its error.type, acknowledges it and moves on.
	Skip
	// Stop hands the message back to the broker unacknowledged and makes
	// the component's Run return the handler's error, which stops the
	// service.
	Stop
)

// String returns the strategy's name.
func (s FailureStrategy) String() string {
	switch s {
	case DeadLetter:
		return "dead_letter"
	case Skip:
		return "skip"
	case Stop:
		return "stop"
	default:
		return fmt.Sprintf("FailureStrategy(%d)", int(s))
	}
}

// Defaults every consumer shares.
const (
	// DefaultRetries is how many times a failed message is tried again
	// after its first try.
	DefaultRetries = 3
	// DefaultDrainTimeout bounds how long in-flight handlers may run after
	// a shutdown began before their context is cancelled; it is under the
	// service's default shutdown timeout.
	DefaultDrainTimeout = 20 * time.Second
)

// Config is the delivery configuration every consumer's options set.
type Config struct {
	// Retries counts the tries after the first one.
	Retries int
	// Backoff spaces the retries.
	Backoff reliability.Backoff
	// Strategy is applied after the retries; 0 lets the component pick.
	Strategy FailureStrategy
	// DrainTimeout bounds in-flight handlers at shutdown.
	DrainTimeout time.Duration
}

// DefaultConfig returns the shared defaults with b as the retry backoff.
func DefaultConfig(b reliability.Backoff) Config {
	return Config{Retries: DefaultRetries, Backoff: b, DrainTimeout: DefaultDrainTimeout}
}

// SetRetry validates and sets WithRetry's arguments; pkg prefixes errors.
func (c *Config) SetRetry(pkg string, n int, b reliability.Backoff) error {
	if n < 0 {
		return fmt.Errorf("%s: %d retries, want 0 or more", pkg, n)
	}
	if b.Initial < 0 || b.Max < 0 {
		return fmt.Errorf("%s: invalid retry backoff %+v", pkg, b)
	}
	c.Retries, c.Backoff = n, b
	return nil
}

// SetStrategy validates and sets WithFailureStrategy's argument.
func (c *Config) SetStrategy(pkg string, s FailureStrategy) error {
	if s != DeadLetter && s != Skip && s != Stop {
		return fmt.Errorf("%s: unknown failure strategy %d", pkg, int(s))
	}
	c.Strategy = s
	return nil
}

// SetDrainTimeout validates and sets WithDrainTimeout's argument.
func (c *Config) SetDrainTimeout(pkg string, d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("%s: drain timeout %s, want more than 0", pkg, d)
	}
	c.DrainTimeout = d
	return nil
}

// CheckBatch validates WithBatch's arguments, the same in every consumer.
func CheckBatch(pkg string, handlerIsNil bool, size int, maxWait time.Duration) error {
	if handlerIsNil {
		return fmt.Errorf("%s: batch handler is nil", pkg)
	}
	if size < 1 {
		return fmt.Errorf("%s: batch size %d, want at least 1", pkg, size)
	}
	if maxWait <= 0 {
		return fmt.Errorf("%s: batch max wait %s, want more than 0", pkg, maxWait)
	}
	return nil
}

// Retryable reports whether trying err's message again may help: not for a
// reliability.Permanent error nor a body that does not decode.
func Retryable(err error) bool {
	return !reliability.IsPermanent(err) && !errors.Is(err, encoding.ErrMalformed)
}

// Action is what a component does with a message whose handler failed.
type Action int

// The actions Next returns.
const (
	ActionRetry Action = iota
	ActionDeadLetter
	ActionSkip
	ActionStop
)

// Spec describes one destination's pipeline.
type Spec struct {
	// Pkg names the component in errors ("kafka").
	Pkg string
	// System is the semconv messaging.system attribute.
	System attribute.KeyValue
	// Destination is the topic or queue.
	Destination string
	// Attrs go on every span (the consumer group, the partition).
	Attrs   []attribute.KeyValue
	Tracer  trace.Tracer
	Prop    propagation.TextMapPropagator
	Metrics *observability.DestinationMetrics
	Config  Config
}

// Pipeline is one destination's delivery pipeline. It is safe for
// concurrent use except for the span starter, which a component may want
// per goroutine (see Spans).
type Pipeline struct {
	spec  Spec
	spans *observability.ConsumerSpans
}

// New returns the pipeline of s. Config.Strategy must be set.
func New(s Spec) *Pipeline {
	return &Pipeline{spec: s, spans: observability.NewConsumerSpans(s.Tracer, s.Prop, s.System, s.Destination, s.Attrs...)}
}

// Metrics returns the destination's metrics.
func (p *Pipeline) Metrics() *observability.DestinationMetrics { return p.spec.Metrics }

// Config returns the delivery configuration.
func (p *Pipeline) Config() Config { return p.spec.Config }

// Spans returns the CONSUMER span starter of one message; use it for
// per-message start options (observability.ConsumerSpans.StartWithOptions).
func (p *Pipeline) Spans() *observability.ConsumerSpans { return p.spans }

// NewSpans returns a further span starter for the destination, for a
// goroutine that should not share the correlation ID generator.
func (p *Pipeline) NewSpans() *observability.ConsumerSpans {
	s := p.spec
	return observability.NewConsumerSpans(s.Tracer, s.Prop, s.System, s.Destination, s.Attrs...)
}

// Start starts the CONSUMER span of one message received at now, whose
// headers or attributes are carrier, and counts it as consumed.
func (p *Pipeline) Start(ctx context.Context, carrier propagation.TextMapCarrier, sent, now time.Time) (context.Context, trace.Span) {
	ctx, span := p.spans.Start(ctx, carrier)
	p.Received(ctx, 1, sent, now)
	return ctx, span
}

// StartBatch starts the one CONSUMER span of a batch, linked to each
// message's context in carriers.
func (p *Pipeline) StartBatch(ctx context.Context, carriers []propagation.TextMapCarrier) (context.Context, trace.Span) {
	s := p.spec
	return observability.StartBatchConsumerSpan(ctx, s.Tracer, s.Prop, carriers, s.System, s.Destination, s.Attrs...)
}

// Received records the age of a message sent at sent and received at now;
// n > 0 also counts n messages consumed.
func (p *Pipeline) Received(ctx context.Context, n int, sent, now time.Time) {
	if n > 0 {
		p.spec.Metrics.Consumed(ctx, n)
	}
	p.spec.Metrics.Age(ctx, sent, now)
}

// Call runs fn as one handler attempt (attempt 1 is the first try) for n
// messages, started at start: a panic becomes an error, the duration is
// recorded with the error's type, and a failure is counted and recorded
// on span.
func (p *Pipeline) Call(ctx context.Context, span trace.Span, n, attempt int, start time.Time, fn func() error) error {
	err := p.call(fn)
	m := p.spec.Metrics
	if err == nil {
		m.Duration(ctx, time.Since(start), "")
		return nil
	}
	typ := observability.ErrorType(err)
	m.Duration(ctx, time.Since(start), typ)
	m.Failed(ctx, n, typ)
	if span.IsRecording() {
		span.RecordError(err, trace.WithAttributes(attribute.Int("patron.attempt", attempt)))
	}
	return err
}

// call turns a handler's panic into an error, so that one poison message
// follows the failure strategy instead of taking the service down.
func (p *Pipeline) call(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: handler panicked: %v", p.spec.Pkg, r)
		}
	}()
	return fn()
}

// Next says what to do with a message whose attempt-th try (1 for the
// first) failed with err: retry it while retries are left and the error
// can be fixed by retrying, else apply the failure strategy.
func (p *Pipeline) Next(attempt int, err error) Action {
	if attempt <= p.spec.Config.Retries && Retryable(err) {
		return ActionRetry
	}
	switch p.spec.Config.Strategy {
	case Stop:
		return ActionStop
	case DeadLetter:
		return ActionDeadLetter
	default:
		return ActionSkip
	}
}

// Processed counts n messages whose handler succeeded.
func (p *Pipeline) Processed(ctx context.Context, n int) {
	p.spec.Metrics.Count(ctx, observability.OutcomeProcessed, n)
}

// Retried counts n messages about to be tried again in place.
func (p *Pipeline) Retried(ctx context.Context, n int) {
	p.spec.Metrics.Count(ctx, observability.OutcomeRetried, n)
}

// Requeued counts n messages handed back to the broker for redelivery.
func (p *Pipeline) Requeued(ctx context.Context, n int) {
	p.spec.Metrics.Count(ctx, observability.OutcomeRequeued, n)
}

// DeadLettered counts n messages that went to the dead-letter destination
// because of err, and logs it at warn level with args.
func (p *Pipeline) DeadLettered(ctx context.Context, n int, err error, args ...any) {
	p.spec.Metrics.CountError(ctx, observability.OutcomeDeadLettered, n, observability.ErrorType(err))
	patronlog.FromContext(ctx).WarnContext(ctx, p.spec.Pkg+" message sent to the dead-letter destination",
		append(args, slog.Any("error", err))...)
}

// Skipped counts n messages dropped because of err, with its error.type, and
// logs it at error level with args: a skip loses the message, so it must
// never be silent.
func (p *Pipeline) Skipped(ctx context.Context, n int, err error, args ...any) {
	p.spec.Metrics.CountError(ctx, observability.OutcomeSkipped, n, observability.ErrorType(err))
	patronlog.FromContext(ctx).ErrorContext(ctx, p.spec.Pkg+" message skipped after its handler failed",
		append(args, slog.Any("error", err))...)
}

// HandlerContext returns the context handlers run in: ctx's values without
// its cancellation, so that in-flight work finishes after a shutdown began,
// but cancelled drain after ctx is done, so that a handler stuck past the
// drain timeout is told to give up. Call cancel when the handlers are done.
func HandlerContext(ctx context.Context, drain time.Duration) (hctx context.Context, cancel context.CancelFunc) {
	hctx, cancelH := context.WithCancel(context.WithoutCancel(ctx))
	var (
		mu    sync.Mutex
		timer *time.Timer
		done  bool
	)
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if !done {
			timer = time.AfterFunc(drain, cancelH)
		}
	})
	return hctx, func() {
		stop()
		mu.Lock()
		done = true
		if timer != nil {
			timer.Stop()
		}
		mu.Unlock()
		cancelH()
	}
}
