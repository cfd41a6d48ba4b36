package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/patron-go/patron/internal/option"
	"github.com/patron-go/patron/observability"
)

// NewHooks returns a franz-go option (kgo.WithHooks) that traces and measures
// every record a kgo.Client produces the way the Producer does: a PRODUCER
// span "publish <topic>" started when the record is buffered, whose context
// and the correlation ID of the record's Context are written into its
// headers, ended with the outcome, and the messaging client metrics. It is
// for services that produce with their own kgo.Client:
//
//	hooks, err := kafka.NewHooks(kafka.WithTracerProvider(tp))
//	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), hooks)
//	cl.Produce(ctx, &kgo.Record{Topic: "orders", Value: v, Context: ctx}, promise)
//
// A record without a Context is parented on Produce's context (franz-go
// fills it in before the hook runs); the promise's record carries the
// span's context in Record.Context. WithLogger and WithClientOptions do not
// apply.
//
// The Producer is instrumented by these same hooks.
func NewHooks(opts ...Option) (kgo.Opt, error) {
	cfg := config{}
	if err := option.Apply("kafka", &cfg, opts); err != nil {
		return nil, err
	}
	pm, err := observability.NewProducerMetrics(observability.Meter(cfg.mp, scope), semconv.MessagingSystemKafka)
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	return kgo.WithHooks(&hooks{
		topics: newTopicCache(observability.Tracer(cfg.tp, scope), observability.Propagator(cfg.prop), pm),
	}), nil
}

type hooks struct {
	topics *topicCache
	attrs  []attribute.KeyValue // the unbuffered hook's, which franz-go calls serially
}

var (
	_ kgo.HookProduceRecordBuffered   = (*hooks)(nil)
	_ kgo.HookProduceRecordUnbuffered = (*hooks)(nil)
)

// spanState is what the hooks keep per record between buffering and the
// outcome: the span, its topic's telemetry, its start (zero when the
// duration is not measured) and whether it is sampled.
type spanState struct {
	span    trace.Span
	tel     *topicTelemetry
	start   time.Time
	sampled bool
}

// hookRecord is the context of a record of a plain kgo.Client: the span's
// context, with the span's state, so that the unbuffered hook finds them
// without a lookup. The Producer's records keep theirs in their inflight,
// which is already their context: no second allocation.
type hookRecord struct {
	context.Context
	spanState
}

// OnProduceRecordBuffered starts the record's span and writes its context
// into the headers.
func (h *hooks) OnProduceRecordBuffered(r *kgo.Record) {
	if f, ok := r.Context.(*inflight); ok {
		f.Context = h.start(f.Context, r, &f.spanState)
		return
	}
	ctx := r.Context
	if ctx == nil {
		ctx = context.Background()
	}
	hr := &hookRecord{}
	hr.Context = h.start(ctx, r, &hr.spanState)
	r.Context = hr
}

// start starts r's span under ctx and returns the span's context. The
// carrier points into r, which is on the heap anyway.
func (h *hooks) start(ctx context.Context, r *kgo.Record, st *spanState) context.Context {
	st.tel = h.topics.get(r.Topic)
	ctx, st.span = st.tel.spans.Start(ctx, HeaderCarrier{Headers: &r.Headers})
	st.sampled = st.span.SpanContext().IsSampled()
	if st.tel.metrics.Timed(ctx) {
		st.start = observability.SpanStartTime(st.span)
	}
	return ctx
}

// OnProduceRecordUnbuffered ends the span with the outcome and records the
// metrics; franz-go calls it serially, just before the record's promise.
func (h *hooks) OnProduceRecordUnbuffered(r *kgo.Record, err error) {
	var st *spanState
	switch c := r.Context.(type) {
	case *inflight:
		st = &c.spanState
	case *hookRecord:
		st = &c.spanState
	default:
		return
	}
	if st.span == nil {
		return // failed before the buffered hook ran
	}
	err = closedError(err)
	var elapsed time.Duration
	if !st.start.IsZero() {
		elapsed = time.Since(st.start)
	}
	if st.span.IsRecording() {
		h.attrs = setRecordAttrs(st.span, h.attrs, r, err == nil)
		if err != nil {
			observability.RecordError(st.span, err)
		}
	}
	// Metrics read the span from their context for exemplars, which the
	// SDK keeps for sampled spans only: an unsampled record spares the
	// promise goroutine that lookup into memory the producing goroutine
	// wrote on another core.
	mctx := r.Context
	if !st.sampled {
		mctx = context.Background()
	}
	st.tel.metrics.Record(mctx, 1, elapsed, observability.ErrorType(err))
	st.span.End()
}

// closedError names a record failed by the client's closing with ErrClosed
// (error.type client_closed), keeping kgo.ErrClientClosed in the chain.
func closedError(err error) error {
	if errors.Is(err, kgo.ErrClientClosed) && !errors.Is(err, ErrClosed) {
		return fmt.Errorf("%w: the record was still buffered: %w", ErrClosed, err)
	}
	return err
}
