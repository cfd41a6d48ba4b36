package observability

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/patron-go/patron/correlation"
)

// ConsumerSpans starts the CONSUMER spans of one destination, like
// StartConsumerSpan, for consumers on a hot path: the span name and the
// constant options are built once, correlation IDs come from a batched
// correlation.Generator, and a message whose span is not sampled pays for
// nothing it would not record. Per-message attributes are the caller's to
// add with SetAttributes when span.IsRecording(). It is safe for concurrent
// use.
type ConsumerSpans struct {
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
	name   string
	attrs  []attribute.KeyValue
	opts   []trace.SpanStartOption
	ids    correlation.Generator
}

// NewConsumerSpans returns the span starter for destination; system is the
// semconv messaging.system attribute and attrs are put on every span (e.g.
// the consumer group).
func NewConsumerSpans(tracer trace.Tracer, prop propagation.TextMapPropagator, system attribute.KeyValue,
	destination string, attrs ...attribute.KeyValue,
) *ConsumerSpans {
	base := destinationAttrs(system, destination, semconv.MessagingOperationTypeProcess, OperationProcess, attrs)
	return &ConsumerSpans{
		tracer: tracer, prop: prop,
		name:  OperationProcess + " " + destination,
		attrs: base,
		opts:  []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(base...)},
	}
}

// destinationAttrs are the attributes every span of one destination and
// operation carries, followed by the caller's.
func destinationAttrs(system attribute.KeyValue, destination string, opType attribute.KeyValue, op string, attrs []attribute.KeyValue) []attribute.KeyValue {
	base := make([]attribute.KeyValue, 0, 4+len(attrs))
	base = append(base, system, semconv.MessagingDestinationName(destination), opType, semconv.MessagingOperationName(op))
	return append(base, attrs...)
}

// Attributes returns a copy of the attributes every span of s carries, for
// a caller that builds its own start options (see StartWithOptions).
func (s *ConsumerSpans) Attributes() []attribute.KeyValue {
	return append([]attribute.KeyValue(nil), s.attrs...)
}

// Start starts the CONSUMER span of one message whose headers or attributes
// are carrier, as StartConsumerSpan does: the producer's context is its
// parent and its link (a missing or malformed one starts a new trace), and
// the returned context carries the message's correlation ID or a new one.
// The link is added once the span is known to record, so it is invisible to
// a head sampler (parent-based sampling, the default, does not look at
// links).
func (s *ConsumerSpans) Start(ctx context.Context, carrier propagation.TextMapCarrier) (context.Context, trace.Span) {
	return s.StartWithOptions(ctx, carrier, s.opts)
}

// StartWithOptions is Start with opts in place of the constant start
// options, which opts must repeat: the SpanKindConsumer kind and
// Attributes. It lets a caller give per-message attributes at the start,
// where a sampler sees them and the SDK sizes the span's attributes once,
// from option values it reuses rather than allocates per message (the
// SDK copies the attributes before Start returns).
func (s *ConsumerSpans) StartWithOptions(ctx context.Context, carrier propagation.TextMapCarrier, opts []trace.SpanStartOption) (context.Context, trace.Span) {
	ctx = s.prop.Extract(ctx, carrier)
	remote := trace.SpanContextFromContext(ctx)
	ctx, span := s.tracer.Start(ctx, s.name, opts...)
	if remote.IsValid() && span.IsRecording() {
		span.AddLink(trace.Link{SpanContext: remote})
	}
	ctx, _ = s.ids.Ensure(ctx, carrier.Get(correlation.HeaderKey))
	return ctx, span
}

// Name returns the span name, "process <destination>".
func (s *ConsumerSpans) Name() string { return s.name }

// ProducerSpans starts the PRODUCER spans of one destination, like
// StartProducerSpan, with the span name and the constant options built
// once. Per-message attributes are the caller's to add with SetAttributes
// when span.IsRecording(). It is safe for concurrent use.
type ProducerSpans struct {
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
	name   string
	opts   []trace.SpanStartOption
}

// NewProducerSpans returns the span starter for destination; system is the
// semconv messaging.system attribute and attrs are put on every span.
func NewProducerSpans(tracer trace.Tracer, prop propagation.TextMapPropagator, system attribute.KeyValue,
	destination string, attrs ...attribute.KeyValue,
) *ProducerSpans {
	base := destinationAttrs(system, destination, semconv.MessagingOperationTypeSend, OperationPublish, attrs)
	return &ProducerSpans{
		tracer: tracer, prop: prop,
		name: OperationPublish + " " + destination,
		opts: []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(base...)},
	}
}

// Start starts a PRODUCER span and writes its trace context (with every
// configured propagator) and ctx's correlation ID into carrier, as
// StartProducerSpan does.
func (s *ProducerSpans) Start(ctx context.Context, carrier propagation.TextMapCarrier) (context.Context, trace.Span) {
	ctx, span := s.tracer.Start(ctx, s.name, s.opts...)
	s.prop.Inject(ctx, carrier)
	if id, ok := correlation.FromContext(ctx); ok {
		carrier.Set(correlation.HeaderKey, id)
	}
	return ctx, span
}
