package patron

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/opentracing/opentracing-go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"

	httpclient "github.com/patron-go/patron/client/http"
	patronhttp "github.com/patron-go/patron/component/http"
	"github.com/patron-go/patron/observability/observabilitytest"
	"github.com/patron-go/patron/observability/telemetry"
)

// keepGlobals restores the OpenTelemetry and OpenTracing globals that a
// service with WithOpenTracing replaces.
func keepGlobals(t *testing.T) {
	t.Helper()
	tp, ott := otel.GetTracerProvider(), opentracing.GlobalTracer()
	t.Cleanup(func() {
		otel.SetTracerProvider(tp)
		opentracing.SetGlobalTracer(ott)
	})
}

// With WithOpenTracing, OpenTracing code in a route's handler, written
// against the global tracer, joins the service's trace both ways: SERVER >
// OpenTracing span > CLIENT > the next SERVER > OpenTracing span.
func TestWithOpenTracingNestsBothWays(t *testing.T) {
	keepGlobals(t)
	kit := observabilitytest.New(t)
	var (
		client *httpclient.Client
		base   string
	)
	activeIsServer := make(chan error, 2)
	handler := func(next bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			active, server := opentracing.SpanFromContext(r.Context()), trace.SpanContextFromContext(r.Context())
			if id, ok := active.Context().(interface{ SpanID() trace.SpanID }); !ok || id.SpanID() != server.SpanID() {
				activeIsServer <- fmt.Errorf("opentracing.SpanFromContext = %v, want the SERVER span %s", active, server.SpanID())
			} else {
				activeIsServer <- nil
			}
			span, ctx := opentracing.StartSpanFromContext(r.Context(), "ot "+r.URL.Path)
			defer span.Finish()
			if next {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/b", nil)
				resp, err := client.Do(req)
				if err != nil {
					http.Error(w, err.Error(), http.StatusBadGateway)
					return
				}
				_ = resp.Body.Close()
			}
			_, _ = io.WriteString(w, "ok")
		}
	}
	a, err := patronhttp.NewRoute("GET /a", handler(true))
	if err != nil {
		t.Fatal(err)
	}
	b, err := patronhttp.NewRoute("GET /b", handler(false))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	r := start(t, ctx, []Option{
		WithOpenTracing(),
		WithRoutes(a, b),
		WithTracerProvider(kit.TracerProvider),
		WithMeterProvider(kit.MeterProvider),
		WithPropagator(kit.Propagator),
	})
	if otel.GetTracerProvider() != r.svc.TracerProvider() || r.svc.TracerProvider() == trace.TracerProvider(kit.TracerProvider) {
		t.Fatal("the OpenTelemetry global is not the bridge's wrapper of the service's provider")
	}
	base = r.base
	client, err = httpclient.New(httpclient.WithTracerProvider(r.svc.TracerProvider()),
		httpclient.WithMeterProvider(kit.MeterProvider), httpclient.WithPropagator(r.svc.Propagator()))
	if err != nil {
		t.Fatal(err)
	}
	defer client.CloseIdleConnections()

	if code, body := get(t, r.base+"/a"); code != http.StatusOK {
		t.Fatalf("GET /a: %d %s", code, body)
	}
	for range 2 {
		if err := <-activeIsServer; err != nil {
			t.Error(err)
		}
	}
	spans := kit.WaitForSpanCount(t, 5*time.Second, "GET /a", 1)
	observabilitytest.AssertTree(t, spans, observabilitytest.Want{
		Name: "GET /a", Kind: trace.SpanKindServer,
		Children: []observabilitytest.Want{{
			Name: "ot /a",
			Children: []observabilitytest.Want{{
				Name: "GET", Kind: trace.SpanKindClient,
				Children: []observabilitytest.Want{{
					Name: "GET /b", Kind: trace.SpanKindServer,
					Children: []observabilitytest.Want{{Name: "ot /b"}},
				}},
			}},
		}},
	})
	cancel()
	if err := r.wait(t); err != nil {
		t.Fatal(err)
	}
}

// The OpenTracing global speaks the service's propagators
// (OTEL_PROPAGATORS), and the OpenTelemetry global is left alone when the
// service does not own it.
func TestWithOpenTracingUsesServicePropagators(t *testing.T) {
	keepGlobals(t)
	t.Setenv("OTEL_PROPAGATORS", "jaeger")
	kit := observabilitytest.New(t)
	before := otel.GetTracerProvider()
	svc, err := New("ot-svc", "1.0.0", WithLogger(quietLogger()), WithOpenTracing(),
		WithTracerProvider(kit.TracerProvider), WithMeterProvider(kit.MeterProvider),
		WithObservability(telemetry.WithoutGlobals(), telemetry.WithoutRuntimeMetrics()))
	if err != nil {
		t.Fatal(err)
	}
	if otel.GetTracerProvider() != before {
		t.Error("WithoutGlobals: the OpenTelemetry global was replaced")
	}
	span := opentracing.GlobalTracer().StartSpan("call")
	defer span.Finish()
	h := http.Header{}
	if err := opentracing.GlobalTracer().Inject(span.Context(), opentracing.HTTPHeaders, opentracing.HTTPHeadersCarrier(h)); err != nil {
		t.Fatal(err)
	}
	if h.Get("Uber-Trace-Id") == "" || h.Get("Traceparent") != "" {
		t.Errorf("Inject with OTEL_PROPAGATORS=jaeger wrote %v", h)
	}
	_, otelSpan := svc.TracerProvider().Tracer("t").Start(t.Context(), "otel")
	otelSpan.End()
	if len(observabilitytest.Named(kit.Spans(), "otel")) != 1 {
		t.Error("the service's wrapper provider does not record on the service's provider")
	}
}
