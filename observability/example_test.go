package observability_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/patron-go/patron/correlation"
	"github.com/patron-go/patron/observability"
)

// A message carries its trace across a broker: the producer writes its
// span's context and the correlation ID into the message's headers, and the
// consumer's span continues the same trace, with the producer's span as
// parent and link. Any header map works as the carrier (Kafka and AMQP
// headers, SQS attributes).
func ExampleStartProducerSpan() {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	tracer := observability.Tracer(tp, "example")
	prop := propagation.TraceContext{}

	headers := propagation.MapCarrier{}
	ctx := correlation.ContextWithID(context.Background(), "order-42")
	_, producer := observability.StartProducerSpan(ctx, tracer, prop, headers, semconv.MessagingSystemKafka, "orders")
	producer.End()
	keys := headers.Keys()
	slices.Sort(keys)
	fmt.Println("headers:", keys)

	// The consumer side, in another process.
	ctx, consumer := observability.StartConsumerSpan(context.Background(), tracer, prop, headers, semconv.MessagingSystemKafka, "orders")
	id, _ := correlation.FromContext(ctx)
	consumer.End()

	spans := rec.Ended()
	p, c := spans[0], spans[1]
	fmt.Println(p.Name(), p.SpanKind())
	fmt.Println(c.Name(), c.SpanKind())
	fmt.Println("same trace:", c.SpanContext().TraceID() == p.SpanContext().TraceID())
	fmt.Println("parent is the producer:", c.Parent().SpanID() == p.SpanContext().SpanID())
	fmt.Println("links to the producer:", len(c.Links()) == 1 && c.Links()[0].SpanContext.SpanID() == p.SpanContext().SpanID())
	fmt.Println("correlation ID:", id)
	// Output:
	// headers: [X-Correlation-Id traceparent]
	// publish orders producer
	// process orders consumer
	// same trace: true
	// parent is the producer: true
	// links to the producer: true
	// correlation ID: order-42
}

// A consumer never fails a message for a missing or malformed trace
// context: its span starts a new trace, and a new correlation ID is made.
func ExampleStartConsumerSpan_withoutContext() {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(context.Background()) }()

	headers := propagation.MapCarrier{"traceparent": "00-not-a-trace-context-01"}
	ctx, span := observability.StartConsumerSpan(context.Background(), observability.Tracer(tp, "example"),
		propagation.TraceContext{}, headers, semconv.MessagingSystemRabbitMQ, "payments")
	span.End()
	id, ok := correlation.FromContext(ctx)

	s := rec.Ended()[0]
	fmt.Println(s.Name(), "root:", !s.Parent().IsValid(), "links:", len(s.Links()))
	fmt.Println("new correlation ID:", ok && correlation.Valid(id))
	// Output:
	// process payments root: true links: 0
	// new correlation ID: true
}

// WithType names any error for error.type, the one name of a failure that
// spans and metrics share; NewError makes a sentinel that names itself.
// Wrapping keeps the type, and errors without one are named by ErrorType's
// rules.
func ExampleWithType() {
	errUnroutable := observability.NewError("unroutable", "amqp: message unroutable")
	wrapped := fmt.Errorf("publishing order 42: %w", errUnroutable)
	dialErr := &net.OpError{Op: "dial", Err: errors.New("refused")}

	for _, err := range []error{
		nil,
		wrapped,
		observability.WithType(errors.New("card declined"), "payment_declined"),
		context.DeadlineExceeded,
		dialErr,
		errors.New("anything else"),
	} {
		fmt.Printf("%q\n", observability.ErrorType(err))
	}
	fmt.Println(errors.Is(wrapped, errUnroutable))
	// Output:
	// ""
	// "unroutable"
	// "payment_declined"
	// "timeout"
	// "*net.OpError"
	// "_OTHER"
	// true
}

// RecordError marks a span as failed the way every Patron transport does:
// an error status, the exception event and the error.type attribute.
func ExampleRecordError() {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(context.Background()) }()

	_, span := observability.Tracer(tp, "example").Start(context.Background(), "charge", trace.WithSpanKind(trace.SpanKindClient))
	observability.RecordError(span, observability.WithType(errors.New("card declined"), "payment_declined"))
	span.End()

	s := rec.Ended()[0]
	fmt.Println(s.Status().Code, s.Status().Description)
	for _, a := range s.Attributes() {
		if a.Key == "error.type" {
			fmt.Println(a.Key, a.Value.AsString())
		}
	}
	// Output:
	// Error card declined
	// error.type payment_declined
}
