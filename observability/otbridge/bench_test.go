package otbridge_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	ot "github.com/opentracing/opentracing-go"
	noopmetric "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	patronhttp "github.com/patron-go/patron/component/http"
	"github.com/patron-go/patron/observability/otbridge"
)

// discard is a ResponseWriter that keeps nothing, so that the benchmark
// measures the server's chain and not a recorder.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}

// BenchmarkBridge measures the bridge on versus off, side by side in one
// run, sampled and unsampled:
//
//   - span/*: a handler's own span under a request span: an OpenTelemetry
//     span on the plain provider (bridge off), an OpenTelemetry span on the
//     wrapper provider, and an OpenTracing span through the bridge;
//   - request/*: component/http's whole request path (the SERVER span,
//     metrics, correlation ID) with an empty handler, on the plain provider
//     and on the bridge's wrapper of it.
//
// Run: go test -run '^$' -bench Bridge -benchmem -count 6 ./observability/otbridge/
func BenchmarkBridge(b *testing.B) {
	prop := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	for _, sampled := range []bool{true, false} {
		sampler, name := sdktrace.NeverSample(), "unsampled"
		if sampled {
			sampler, name = sdktrace.AlwaysSample(), "sampled"
		}
		plain := sdktrace.NewTracerProvider(sdktrace.WithSampler(sampler))
		otTracer, wrapped, err := otbridge.New(plain, prop)
		if err != nil {
			b.Fatal(err)
		}

		for _, v := range []struct {
			name string
			tp   trace.TracerProvider
			ot   bool
		}{{"otel-plain", plain, false}, {"otel-wrapper", wrapped, false}, {"opentracing", wrapped, true}} {
			b.Run(name+"/span/"+v.name, func(b *testing.B) {
				tracer := v.tp.Tracer("bench")
				parent, server := tracer.Start(context.Background(), "GET /orders", trace.WithSpanKind(trace.SpanKindServer))
				defer server.End()
				b.ReportAllocs()
				for b.Loop() {
					if v.ot {
						span, _ := ot.StartSpanFromContextWithTracer(parent, otTracer, "load order")
						span.Finish()
					} else {
						_, span := tracer.Start(parent, "load order")
						span.End()
					}
				}
			})
		}

		for _, v := range []struct {
			name string
			tp   trace.TracerProvider
		}{{"plain", plain}, {"wrapper", wrapped}} {
			b.Run(name+"/request/"+v.name, func(b *testing.B) {
				route, err := patronhttp.NewRoute("GET /orders/{id}", func(http.ResponseWriter, *http.Request) {})
				if err != nil {
					b.Fatal(err)
				}
				h, err := patronhttp.NewHandler(patronhttp.WithRoutes(route), patronhttp.WithTracerProvider(v.tp),
					patronhttp.WithMeterProvider(noopmetric.NewMeterProvider()), patronhttp.WithPropagator(prop),
					patronhttp.WithoutAccessLog(), patronhttp.WithoutCompression())
				if err != nil {
					b.Fatal(err)
				}
				req := httptest.NewRequest(http.MethodGet, "/orders/1", nil)
				w := &discard{h: http.Header{}}
				b.ReportAllocs()
				for b.Loop() {
					clear(w.h)
					h.ServeHTTP(w, req)
				}
			})
		}
		_ = plain.Shutdown(context.Background())
	}
}
