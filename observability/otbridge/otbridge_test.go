package otbridge_test

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	ot "github.com/opentracing/opentracing-go"
	"github.com/opentracing/opentracing-go/ext"
	"github.com/opentracing/opentracing-go/mocktracer"
	"go.opentelemetry.io/contrib/propagators/b3"
	"go.opentelemetry.io/contrib/propagators/jaeger"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/patron-go/patron/observability/observabilitytest"
	"github.com/patron-go/patron/observability/otbridge"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newBridge returns a kit and the bridge of its provider and propagator.
func newBridge(t *testing.T) (*observabilitytest.Kit, ot.Tracer, trace.TracerProvider) {
	t.Helper()
	kit := observabilitytest.New(t)
	tracer, tp, err := otbridge.New(kit.TracerProvider, kit.Propagator)
	if err != nil {
		t.Fatal(err)
	}
	return kit, tracer, tp
}

// spanIDs returns the OpenTelemetry IDs of an OpenTracing span context of
// the bridge (its context embeds trace.SpanContext).
func spanIDs(t *testing.T, sc ot.SpanContext) (trace.TraceID, trace.SpanID) {
	t.Helper()
	ids, ok := sc.(interface {
		TraceID() trace.TraceID
		SpanID() trace.SpanID
	})
	if !ok {
		t.Fatalf("span context %T is not the bridge's", sc)
	}
	return ids.TraceID(), ids.SpanID()
}

func TestNew(t *testing.T) {
	if _, _, err := otbridge.New(nil, nil, nil); err == nil || !strings.HasPrefix(err.Error(), "otbridge: ") {
		t.Errorf("nil option: %v", err)
	}
	if _, _, err := otbridge.New(nil, nil, otbridge.WithLogger(nil)); err == nil || !strings.HasPrefix(err.Error(), "otbridge: ") {
		t.Errorf("nil logger: %v", err)
	}
	tracer, tp, err := otbridge.New(nil, nil)
	if err != nil || tracer == nil || tp == nil {
		t.Fatalf("New(nil, nil) = %v, %v, %v", tracer, tp, err)
	}
}

// The two APIs nest both ways in one process: an OpenTelemetry span of the
// wrapper is the active OpenTracing span, an OpenTracing span started from
// its context is its child, and an OpenTelemetry span under that one is the
// OpenTracing span's child.
func TestNesting(t *testing.T) {
	kit, tracer, tp := newBridge(t)
	ctx, server := tp.Tracer("test").Start(t.Context(), "server", trace.WithSpanKind(trace.SpanKindServer))

	active := ot.SpanFromContext(ctx)
	if active == nil {
		t.Fatal("no OpenTracing span in the context of a wrapper span")
	}
	if tid, sid := spanIDs(t, active.Context()); tid != server.SpanContext().TraceID() || sid != server.SpanContext().SpanID() {
		t.Fatalf("active OpenTracing span %s/%s, want the server span %s", tid, sid, server.SpanContext().SpanID())
	}

	span, ctx := ot.StartSpanFromContextWithTracer(ctx, tracer, "handle", ext.SpanKindRPCClient)
	if got := trace.SpanContextFromContext(ctx); got.SpanID() == server.SpanContext().SpanID() {
		t.Fatal("the OpenTracing span is not the context's OpenTelemetry span")
	}
	_, client := tp.Tracer("test").Start(ctx, "client", trace.WithSpanKind(trace.SpanKindClient))
	client.End()
	span.Finish()
	server.End()

	observabilitytest.AssertTree(t, kit.Spans(), observabilitytest.Want{
		Name: "server", Kind: trace.SpanKindServer,
		Children: []observabilitytest.Want{{
			Name: "handle", Kind: trace.SpanKindClient, // the span.kind tag
			Children: []observabilitytest.Want{{Name: "client", Kind: trace.SpanKindClient}},
		}},
	})
	if got := kit.Span(t, "handle").InstrumentationScope().Name; got != otbridge.Scope {
		t.Errorf("OpenTracing span's scope %q, want %q", got, otbridge.Scope)
	}
}

// W3C baggage that arrived with a request is the OpenTracing baggage of the
// spans below, and goes out with an OpenTracing Inject; OpenTracing baggage
// goes out with the propagators of Patron's clients.
func TestBaggageCrossesTheAPIs(t *testing.T) {
	kit, tracer, tp := newBridge(t)
	in := propagation.MapCarrier{"baggage": "user=alice"}
	ctx := kit.Propagator.Extract(t.Context(), in)
	ctx, server := tp.Tracer("test").Start(ctx, "server")
	defer server.End()

	span, ctx := ot.StartSpanFromContextWithTracer(ctx, tracer, "handle")
	defer span.Finish()
	if got := span.BaggageItem("user"); got != "alice" {
		t.Errorf("OpenTracing BaggageItem(user) = %q, want the W3C baggage alice", got)
	}
	out := propagation.MapCarrier{}
	if err := tracer.Inject(span.Context(), ot.TextMap, out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out["baggage"], "user=alice") {
		t.Errorf("OpenTracing Inject wrote baggage %q, want user=alice", out["baggage"])
	}

	span.SetBaggageItem("tenant", "t1")
	cctx, client := tp.Tracer("test").Start(ctx, "client")
	defer client.End()
	if got := baggage.FromContext(cctx).Member("tenant").Value(); got != "t1" {
		t.Errorf("W3C baggage under the OpenTracing span: tenant=%q, want t1", got)
	}
	sent := propagation.MapCarrier{}
	kit.Propagator.Inject(cctx, sent)
	if !strings.Contains(sent["baggage"], "tenant=t1") || !strings.Contains(sent["baggage"], "user=alice") {
		t.Errorf("a Patron client would send baggage %q, want tenant=t1 and user=alice", sent["baggage"])
	}
}

// A span that only follows from another stays in its trace, with the
// reference as a link; with a ChildOf reference too, ChildOf is the parent.
func TestFollowsFrom(t *testing.T) {
	kit, tracer, tp := newBridge(t)
	_, producer := tp.Tracer("test").Start(t.Context(), "publish", trace.WithSpanKind(trace.SpanKindProducer))
	producer.End()
	headers := propagation.MapCarrier{}
	kit.Propagator.Inject(trace.ContextWithSpan(t.Context(), producer), headers)

	sc, err := tracer.Extract(ot.TextMap, headers)
	if err != nil {
		t.Fatal(err)
	}
	consumer := tracer.StartSpan("consume", ot.FollowsFrom(sc), ext.SpanKindConsumer)
	other := tracer.StartSpan("other")
	both := tracer.StartSpan("both", ot.FollowsFrom(sc), ot.ChildOf(other.Context()))
	both.Finish()
	other.Finish()
	consumer.Finish()

	observabilitytest.AssertTree(t, kit.Spans(), observabilitytest.Want{
		Name: "publish", Children: []observabilitytest.Want{{Name: "consume", Kind: trace.SpanKindConsumer, LinksTo: []string{"publish"}}},
	})
	observabilitytest.AssertTree(t, kit.Spans(), observabilitytest.Want{
		Name: "other", Children: []observabilitytest.Want{{Name: "both", LinksTo: []string{"publish"}}},
	})
	links := kit.Span(t, "consume").Links()
	if len(links) != 1 || !hasAttr(links[0].Attributes, attribute.String("ot-span-reference-type", "follows-from-ref")) {
		t.Errorf("consume links %+v, want one marked follows-from-ref", links)
	}
}

func hasAttr(attrs []attribute.KeyValue, want attribute.KeyValue) bool {
	for _, a := range attrs {
		if a.Key == want.Key && a.Value == want.Value {
			return true
		}
	}
	return false
}

// Inject and Extract speak the propagator the bridge was given, in both
// OpenTracing formats.
func TestPropagators(t *testing.T) {
	for _, tc := range []struct {
		name string
		prop propagation.TextMapPropagator
		key  string
	}{
		{"tracecontext", propagation.TraceContext{}, "Traceparent"},
		{"b3", b3.New(), "B3"},
		{"b3multi", b3.New(b3.WithInjectEncoding(b3.B3MultipleHeader)), "X-B3-Traceid"},
		{"jaeger", jaeger.Jaeger{}, "Uber-Trace-Id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kit := observabilitytest.New(t)
			tracer, _, err := otbridge.New(kit.TracerProvider, tc.prop)
			if err != nil {
				t.Fatal(err)
			}
			span := tracer.StartSpan("call")
			defer span.Finish()
			wantTrace, wantSpan := spanIDs(t, span.Context())

			h := http.Header{}
			if err := tracer.Inject(span.Context(), ot.HTTPHeaders, ot.HTTPHeadersCarrier(h)); err != nil {
				t.Fatal(err)
			}
			if h.Get(tc.key) == "" {
				t.Fatalf("HTTPHeaders: no %s header in %v", tc.key, h)
			}
			m := ot.TextMapCarrier{}
			if err := tracer.Inject(span.Context(), ot.TextMap, m); err != nil {
				t.Fatal(err)
			}
			for name, carrier := range map[string]any{"HTTPHeaders": ot.HTTPHeadersCarrier(h), "TextMap": m} {
				format := ot.HTTPHeaders
				if name == "TextMap" {
					format = ot.TextMap
				}
				sc, err := tracer.Extract(format, carrier)
				if err != nil {
					t.Fatalf("Extract %s: %v", name, err)
				}
				if tid, sid := spanIDs(t, sc); tid != wantTrace || sid != wantSpan {
					t.Errorf("Extract %s = %s/%s, want %s/%s", name, tid, sid, wantTrace, wantSpan)
				}
			}
		})
	}
}

// A warning of the bridge is logged once, however often it recurs.
func TestWarningsOnce(t *testing.T) {
	kit := observabilitytest.New(t)
	logs := &observabilitytest.LogBuffer{}
	tracer, _, err := otbridge.New(kit.TracerProvider, kit.Propagator, otbridge.WithLogger(slog.New(slog.NewJSONHandler(logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	foreign := mocktracer.New().StartSpan("foreign")
	for range 3 {
		tracer.ContextWithSpanHook(context.Background(), foreign)
	}
	if n := strings.Count(logs.String(), "foreign OpenTracing span"); n != 1 {
		t.Errorf("%d warnings, want 1:\n%s", n, logs.String())
	}
}

// Spans started in parallel under one span with baggage (a handler's
// fan-out) only read their parent: no data race.
func TestBaggageFanOut(t *testing.T) {
	kit, tracer, tp := newBridge(t)
	ctx := kit.Propagator.Extract(t.Context(), propagation.MapCarrier{"baggage": "user=alice"})
	ctx, server := tp.Tracer("test").Start(ctx, "server")
	defer server.End()
	span, ctx := ot.StartSpanFromContextWithTracer(ctx, tracer, "handle")
	span.SetBaggageItem("tenant", "t1")
	defer span.Finish()
	done := make(chan string, 8)
	for range cap(done) {
		go func() {
			cctx, client := tp.Tracer("test").Start(ctx, "client")
			defer client.End()
			done <- baggage.FromContext(cctx).String()
		}()
	}
	for range cap(done) {
		if got := <-done; !strings.Contains(got, "tenant=t1") || !strings.Contains(got, "user=alice") {
			t.Errorf("client baggage %q", got)
		}
	}
}
