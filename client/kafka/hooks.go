package kafka

import (
	"context"
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
// The Producer keeps its own instrumentation instead of these hooks: see
// the comment on inflight for the measurement.
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

// hookRecord is a hooked record's context: the span's, with the span and
// its start, so that the unbuffered hook finds them without a lookup.
type hookRecord struct {
	context.Context
	span  trace.Span
	tel   *topicTelemetry
	start time.Time
}

// OnProduceRecordBuffered starts the record's span and writes its context
// into the headers.
func (h *hooks) OnProduceRecordBuffered(r *kgo.Record) {
	ctx := r.Context
	if ctx == nil {
		ctx = context.Background()
	}
	hr := &hookRecord{tel: h.topics.get(r.Topic)}
	hr.Context, hr.span = hr.tel.spans.Start(ctx, HeaderCarrier{Headers: &r.Headers})
	if hr.tel.metrics.Timed(ctx) {
		hr.start = observability.SpanStartTime(hr.span)
	}
	r.Context = hr
}

// OnProduceRecordUnbuffered ends the span with the outcome and records the
// metrics.
func (h *hooks) OnProduceRecordUnbuffered(r *kgo.Record, err error) {
	hr, ok := r.Context.(*hookRecord)
	if !ok {
		return
	}
	var elapsed time.Duration
	if !hr.start.IsZero() {
		elapsed = time.Since(hr.start)
	}
	if hr.span.IsRecording() {
		h.attrs = setRecordAttrs(hr.span, h.attrs, r, err == nil)
		if err != nil {
			observability.RecordError(hr.span, err)
		}
	}
	hr.tel.metrics.Record(hr, 1, elapsed, observability.ErrorType(err))
	hr.span.End()
}
