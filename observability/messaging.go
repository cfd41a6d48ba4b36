package observability

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/patron-go/patron/correlation"
)

// Operation names used in messaging span names, so that every transport
// reads "publish <destination>" and "process <destination>".
const (
	OperationPublish = "publish"
	OperationProcess = "process"
)

// StartProducerSpan starts a PRODUCER span "publish <destination>" and writes
// its trace context (with every configured propagator) and the correlation ID
// of ctx into carrier, which is the message's headers or attributes. system is
// a semconv messaging.system attribute such as semconv.MessagingSystemKafka.
func StartProducerSpan(ctx context.Context, tracer trace.Tracer, prop propagation.TextMapPropagator,
	carrier propagation.TextMapCarrier, system attribute.KeyValue, destination string, attrs ...attribute.KeyValue,
) (context.Context, trace.Span) {
	ctx, span := tracer.Start(ctx, OperationPublish+" "+destination,
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(system,
			semconv.MessagingDestinationName(destination),
			semconv.MessagingOperationTypeSend,
			semconv.MessagingOperationName(OperationPublish)),
		trace.WithAttributes(attrs...),
	)
	prop.Inject(ctx, carrier)
	if id, ok := correlation.FromContext(ctx); ok {
		carrier.Set(correlation.HeaderKey, id)
	}
	return ctx, span
}

// StartConsumerSpan starts a CONSUMER span "process <destination>" for one
// message. The producer's context, read from carrier, is both its parent and
// its link (the link survives tools that drop remote parents). A missing or
// malformed context starts a new trace and is not an error. The returned
// context also carries the message's correlation ID, or a new one.
func StartConsumerSpan(ctx context.Context, tracer trace.Tracer, prop propagation.TextMapPropagator,
	carrier propagation.TextMapCarrier, system attribute.KeyValue, destination string, attrs ...attribute.KeyValue,
) (context.Context, trace.Span) {
	ctx = prop.Extract(ctx, carrier)
	opts := make([]trace.SpanStartOption, 0, 4)
	opts = append(opts,
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(system,
			semconv.MessagingDestinationName(destination),
			semconv.MessagingOperationTypeProcess,
			semconv.MessagingOperationName(OperationProcess)),
		trace.WithAttributes(attrs...),
	)
	if remote := trace.SpanContextFromContext(ctx); remote.IsValid() {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: remote}))
	}
	ctx, span := tracer.Start(ctx, OperationProcess+" "+destination, opts...)
	ctx, _ = correlation.Ensure(ctx, carrier.Get(correlation.HeaderKey))
	return ctx, span
}

// StartBatchConsumerSpan starts one CONSUMER span "process <destination>" for
// a batch. A batch has no single parent, so the span is a new root (or a child
// of ctx's span) with a link to each message's context; messages without a
// valid context are simply not linked.
func StartBatchConsumerSpan(ctx context.Context, tracer trace.Tracer, prop propagation.TextMapPropagator,
	carriers []propagation.TextMapCarrier, system attribute.KeyValue, destination string, attrs ...attribute.KeyValue,
) (context.Context, trace.Span) {
	links := make([]trace.Link, 0, len(carriers))
	for _, c := range carriers {
		if sc := trace.SpanContextFromContext(prop.Extract(context.Background(), c)); sc.IsValid() {
			links = append(links, trace.Link{SpanContext: sc})
		}
	}
	ctx, span := tracer.Start(ctx, OperationProcess+" "+destination,
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithLinks(links...),
		trace.WithAttributes(system,
			semconv.MessagingDestinationName(destination),
			semconv.MessagingOperationTypeProcess,
			semconv.MessagingOperationName(OperationProcess),
			semconv.MessagingBatchMessageCount(len(carriers))),
		trace.WithAttributes(attrs...),
	)
	if _, ok := correlation.FromContext(ctx); !ok {
		ctx, _ = correlation.Ensure(ctx, "")
	}
	return ctx, span
}
