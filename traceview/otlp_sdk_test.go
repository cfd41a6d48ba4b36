package traceview

import (
	"context"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
)

// provider returns a tracer provider for one service that exports through
// exp, and shuts it down (flushing) at the end of the test.
func provider(t *testing.T, service string, exp sdktrace.SpanExporter) *sdktrace.TracerProvider {
	t.Helper()
	res := resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName(service), semconv.ServiceVersion("1.0.0"),
		attribute.String("deployment.environment.name", "test"))
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithSyncer(exp))
	t.Cleanup(func() {
		if err := tp.Shutdown(context.Background()); err != nil {
			t.Errorf("shutdown %s provider: %v", service, err)
		}
	})
	return tp
}

// TestSDKExporters sends spans with the real OpenTelemetry SDK exporters,
// gRPC for one service and HTTP (protobuf and JSON) for the others, and
// checks everything through the query API.
func TestSDKExporters(t *testing.T) {
	ctx := t.Context()
	_, addrs := startViewer(t)

	grpcExp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(addrs.OTLPGRPC), otlptracegrpc.WithInsecure(),
		otlptracegrpc.WithCompressor("gzip"))
	if err != nil {
		t.Fatal(err)
	}
	httpExp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(addrs.OTLPHTTP), otlptracehttp.WithInsecure(),
		otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
	if err != nil {
		t.Fatal(err)
	}
	jsonExp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(addrs.OTLPHTTP), otlptracehttp.WithInsecure(),
		otlptracehttp.WithEncoding(otlptracehttp.EncodingJSON))
	if err != nil {
		t.Fatal(err)
	}
	frontend := provider(t, "frontend", grpcExp).Tracer("test")
	backend := provider(t, "backend", httpExp).Tracer("test")
	worker := provider(t, "worker", jsonExp).Tracer("test")

	t0 := time.Now().Add(-time.Minute)
	at := func(d time.Duration) trace.SpanStartEventOption { return trace.WithTimestamp(t0.Add(d)) }
	end := func(d time.Duration) trace.SpanEndOption { return trace.WithTimestamp(t0.Add(d)) }

	// Trace 1: frontend server -> frontend client -> backend server (error),
	// and a message to a worker, which links back to the producer.
	rootCtx, root := frontend.Start(ctx, "GET /checkout", trace.WithSpanKind(trace.SpanKindServer), at(0),
		trace.WithAttributes(attribute.String("http.request.method", "GET"), attribute.Int("http.response.status_code", 500)))
	_, client := frontend.Start(rootCtx, "POST /pay", trace.WithSpanKind(trace.SpanKindClient), at(10*time.Millisecond))
	// The backend receives the context over the wire in real life.
	remote := trace.ContextWithRemoteSpanContext(ctx, client.SpanContext())
	_, server := backend.Start(remote, "POST /pay", trace.WithSpanKind(trace.SpanKindServer), at(20*time.Millisecond),
		trace.WithAttributes(attribute.String("payment.method", "card"), attribute.Bool("retry", false)))
	server.AddEvent("card declined", trace.WithTimestamp(t0.Add(1200*time.Millisecond)), trace.WithAttributes(attribute.String("reason", "insufficient funds")))
	server.SetStatus(codes.Error, "payment declined")
	_, producer := frontend.Start(rootCtx, "orders publish", trace.WithSpanKind(trace.SpanKindProducer), at(1400*time.Millisecond))
	producer.End(end(1410 * time.Millisecond))

	// The worker consumes in a batch: a new trace that links to the producer.
	_, consumer := worker.Start(ctx, "orders process", trace.WithSpanKind(trace.SpanKindConsumer), at(1500*time.Millisecond),
		trace.WithNewRoot(), trace.WithLinks(trace.Link{SpanContext: producer.SpanContext(), Attributes: []attribute.KeyValue{attribute.String("messaging.message.id", "m1")}}))
	consumer.End(end(1600 * time.Millisecond))

	// Out of order on purpose: children before parents, several services.
	server.End(end(1300 * time.Millisecond))
	client.End(end(1350 * time.Millisecond))
	root.End(end(1500 * time.Millisecond))

	// A short, unrelated trace for filters to exclude.
	_, quick := backend.Start(ctx, "GET /health", trace.WithSpanKind(trace.SpanKindServer), at(0))
	quick.End(end(2 * time.Millisecond))

	traceID := root.SpanContext().TraceID().String()
	base := addrs.UI

	services, _ := getAPI[[]string](t, ctx, base, "/api/services")
	if want := []string{"backend", "frontend", "worker"}; !slices.Equal(services, want) {
		t.Fatalf("services = %v, want %v", services, want)
	}
	opNames, _ := getAPI[[]string](t, ctx, base, "/api/services/frontend/operations")
	if want := []string{"GET /checkout", "POST /pay", "orders publish"}; !slices.Equal(opNames, want) {
		t.Errorf("frontend operations = %v, want %v", opNames, want)
	}
	ops, _ := getAPI[[]Operation](t, ctx, base, "/api/operations?service=backend&spanKind=server")
	if want := []Operation{{"GET /health", "server"}, {"POST /pay", "server"}}; !slices.Equal(ops, want) {
		t.Errorf("backend server operations = %v, want %v", ops, want)
	}

	// Trace assembly across services.
	traces, code := getAPI[[]Trace](t, ctx, base, "/api/traces/"+traceID)
	if code != 200 || len(traces) != 1 {
		t.Fatalf("GET trace: code %d, %d traces", code, len(traces))
	}
	tr := traces[0]
	if len(tr.Spans) != 4 || len(tr.Processes) != 2 {
		t.Fatalf("trace has %d spans and %d processes, want 4 and 2", len(tr.Spans), len(tr.Processes))
	}
	byName := map[string]Span{}
	for _, sp := range tr.Spans {
		byName[tr.Processes[sp.ProcessID].ServiceName+" "+sp.OperationName] = sp
	}
	srv, cl := byName["backend POST /pay"], byName["frontend POST /pay"]
	if len(srv.References) != 1 || srv.References[0] != (Reference{RefChildOf, traceID, cl.SpanID}) {
		t.Errorf("backend span references = %+v, want CHILD_OF %s", srv.References, cl.SpanID)
	}
	if srv.Duration != 1_280_000 {
		t.Errorf("backend span duration = %dµs, want 1280000", srv.Duration)
	}
	wantTags := map[string]any{"span.kind": "server", "error": true, "otel.status_code": "ERROR",
		"otel.status_description": "payment declined", "payment.method": "card", "retry": false}
	for k, want := range wantTags {
		if got := tagOf(srv.Tags, k); got != want {
			t.Errorf("backend span tag %s = %v, want %v", k, got, want)
		}
	}
	if len(srv.Logs) != 1 || srv.Logs[0].Fields[0].Value != "card declined" {
		t.Errorf("backend span logs = %+v, want the card declined event", srv.Logs)
	}
	proc := tr.Processes[srv.ProcessID]
	if proc.ServiceName != "backend" || tagOf(proc.Tags, "deployment.environment.name") != "test" {
		t.Errorf("backend process = %+v", proc)
	}

	// Tag, service, operation and duration filters.
	find := func(q url.Values) []Trace {
		t.Helper()
		got, code := getAPI[[]Trace](t, ctx, base, "/api/traces?"+q.Encode())
		if code != 200 {
			t.Fatalf("search %v: status %d", q, code)
		}
		return got
	}
	if got := find(url.Values{"service": {"backend"}, "tags": {`{"payment.method":"card"}`}}); len(got) != 1 || got[0].TraceID != traceID {
		t.Errorf("tag search found %d traces", len(got))
	}
	if got := find(url.Values{"service": {"backend"}, "tags": {`{"payment.method":"cash"}`}}); len(got) != 0 {
		t.Errorf("tag search for a missing value found %d traces", len(got))
	}
	if got := find(url.Values{"service": {"frontend"}, "tags": {`{"http.response.status_code":500}`}}); len(got) != 1 {
		t.Errorf("int tag search found %d traces", len(got))
	}
	if got := find(url.Values{"service": {"backend"}, "tags": {`{"error":"true"}`}}); len(got) != 1 {
		t.Errorf("error tag search found %d traces", len(got))
	}
	if got := find(url.Values{"service": {"backend"}}); len(got) != 2 {
		t.Errorf("service search found %d traces, want 2", len(got))
	}
	if got := find(url.Values{"service": {"backend"}, "minDuration": {"1.2s"}}); len(got) != 1 || got[0].TraceID != traceID {
		t.Errorf("minDuration search found %d traces, want the checkout", len(got))
	}
	if got := find(url.Values{"service": {"backend"}, "maxDuration": {"100ms"}}); len(got) != 1 || got[0].TraceID == traceID {
		t.Errorf("maxDuration search found %d traces, want the health check", len(got))
	}
	if got := find(url.Values{"service": {"backend"}, "operation": {"GET /health"}, "lookback": {"1h"}}); len(got) != 1 {
		t.Errorf("operation search found %d traces", len(got))
	}
	if got := find(url.Values{"service": {"backend"}, "lookback": {"1s"}}); len(got) != 0 {
		t.Errorf("lookback 1s found %d traces of a minute ago", len(got))
	}

	// Dependencies: parent/child pairs across services only.
	deps, _ := getAPI[[]Dependency](t, ctx, base, "/api/dependencies?endTs="+strconv.FormatInt(time.Now().UnixMilli(), 10)+"&lookback=3600000")
	if want := []Dependency{{Parent: "frontend", Child: "backend", CallCount: 1}}; !slices.Equal(deps, want) {
		t.Errorf("dependencies = %+v, want %+v", deps, want)
	}

	// Links: the worker's trace points at the producer span in the other trace.
	wt := find(url.Values{"service": {"worker"}})
	if len(wt) != 1 || len(wt[0].Spans) != 1 {
		t.Fatalf("worker search: %+v", wt)
	}
	refs := wt[0].Spans[0].References
	wantRef := Reference{RefFollowsFrom, traceID, producer.SpanContext().SpanID().String()}
	if len(refs) != 1 || refs[0] != wantRef {
		t.Errorf("worker span references = %+v, want %+v", refs, wantRef)
	}
	if tagOf(wt[0].Spans[0].Tags, "span.kind") != "consumer" {
		t.Errorf("worker span kind tag missing: %+v", wt[0].Spans[0].Tags)
	}
}

func tagOf(tags []KeyValue, key string) any {
	for _, t := range tags {
		if t.Key == key {
			return t.Value
		}
	}
	return nil
}
