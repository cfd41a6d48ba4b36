package otbridge_test

import (
	"context"
	"fmt"

	"github.com/opentracing/opentracing-go"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/patron-go/patron/observability/otbridge"
)

// A service on an explicit tracer provider (one of several in a process)
// takes its own pair: the OpenTracing tracer for its OpenTracing code, the
// wrapper provider for Patron's components and clients (WithTracerProvider).
func ExampleNew() {
	rec := tracetest.NewSpanRecorder()
	sdk := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = sdk.Shutdown(context.Background()) }()

	tracer, tp, err := otbridge.New(sdk, propagation.TraceContext{})
	if err != nil {
		fmt.Println(err)
		return
	}
	// What component/http does for a request, on tp.
	ctx, server := tp.Tracer("component/http").Start(context.Background(), "GET /orders/{id}",
		trace.WithSpanKind(trace.SpanKindServer))
	// The handler's OpenTracing code.
	span, ctx := opentracing.StartSpanFromContextWithTracer(ctx, tracer, "load order")
	// What a Patron client does under it, on tp.
	_, query := tp.Tracer("client/sql").Start(ctx, "SELECT orders", trace.WithSpanKind(trace.SpanKindClient))
	query.End()
	span.Finish()
	server.End()

	names := map[trace.SpanID]string{}
	for _, s := range rec.Ended() {
		names[s.SpanContext().SpanID()] = s.Name()
	}
	for _, s := range rec.Ended() {
		fmt.Printf("%s <- %s\n", s.Name(), names[s.Parent().SpanID()])
	}
	// Output:
	// SELECT orders <- load order
	// load order <- GET /orders/{id}
	// GET /orders/{id} <-
}
