// Package http holds the benchmarks of the HTTP server component against
// bare net/http, and the stacks they share with the loopback server that
// wrk measures (benchserver).
package http

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	patronhttp "github.com/patron-go/patron/component/http"
	"github.com/patron-go/patron/correlation"
	patronlog "github.com/patron-go/patron/observability/log"
)

// Body is the small JSON body every benchmark handler answers with, under
// the compression threshold like most API responses.
const Body = `{"id":"42","name":"patron","kind":"framework"}`

// Hello is the handler measured: the same function runs bare and behind
// the full chain.
func Hello(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, Body)
	_ = r.PathValue("id")
}

// Bare is the baseline: net/http's ServeMux and nothing else.
func Bare() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", Hello)
	return mux
}

// Stack is the full default chain with real SDK providers: every span
// sampled (or none, when sampled is false) and exported through a batch
// processor, metrics aggregated, the access log formatted as JSON at info.
type Stack struct {
	Handler http.Handler
	tp      *sdktrace.TracerProvider
	mp      *sdkmetric.MeterProvider
}

// Full builds the full chain around Hello.
func Full(sampled bool, logOut io.Writer, opts ...patronhttp.Option) (*Stack, error) {
	sampler := sdktrace.AlwaysSample()
	if !sampled {
		sampler = sdktrace.NeverSample()
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sampler),
		sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	route, err := patronhttp.NewRoute("GET /items/{id}", Hello)
	if err != nil {
		return nil, err
	}
	h, err := patronhttp.NewHandler(append([]patronhttp.Option{
		patronhttp.WithRoutes(route),
		patronhttp.WithTracerProvider(tp),
		patronhttp.WithMeterProvider(mp),
		patronhttp.WithPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})),
		patronhttp.WithLogger(patronlog.New(logOut, patronlog.FormatJSON, slog.LevelInfo)),
	}, opts...)...)
	if err != nil {
		return nil, err
	}
	return &Stack{Handler: h, tp: tp, mp: mp}, nil
}

// OwnMux is the same chain as a middleware (NewMiddleware) around a
// ServeMux of the user's, where the route comes from r.Pattern instead of
// Patron's own route entries.
func OwnMux(logOut io.Writer) (*Stack, error) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()),
		sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	mw, err := patronhttp.NewMiddleware(
		patronhttp.WithTracerProvider(tp),
		patronhttp.WithMeterProvider(mp),
		patronhttp.WithPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})),
		patronhttp.WithLogger(patronlog.New(logOut, patronlog.FormatJSON, slog.LevelInfo)))
	if err != nil {
		return nil, err
	}
	return &Stack{Handler: mw(Bare()), tp: tp, mp: mp}, nil
}

// Close flushes and stops the providers.
func (s *Stack) Close() {
	_ = s.tp.Shutdown(context.Background())
	_ = s.mp.Shutdown(context.Background())
}

// Reference is the usual hand-rolled stack, for comparison: otelhttp for
// spans and metrics, a correlation ID middleware and a slog access log
// middleware with a status-capturing writer, on the same SDK providers.
func Reference(sampled bool, logOut io.Writer) (*Stack, error) {
	sampler := sdktrace.AlwaysSample()
	if !sampled {
		sampler = sdktrace.NeverSample()
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sampler),
		sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	// slog's own JSON handler, as a hand-rolled stack has it (patronlog.New
	// formats JSON itself, faster); patronlog.NewHandler adds the IDs.
	logger := slog.New(patronlog.NewHandler(slog.NewJSONHandler(logOut, &slog.HandlerOptions{Level: slog.LevelInfo})))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", Hello)
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		mux.ServeHTTP(sw, r)
		logger.LogAttrs(r.Context(), slog.LevelInfo, "http request",
			slog.String("method", r.Method), slog.String("route", r.Pattern), slog.Int("status", sw.status),
			slog.Duration("duration", time.Since(start)), slog.Int64("size", sw.n))
	})
	h = otelhttp.NewHandler(h, "server",
		otelhttp.WithTracerProvider(tp), otelhttp.WithMeterProvider(mp),
		otelhttp.WithPropagators(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})))
	inner := h
	h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, id := correlation.Ensure(r.Context(), r.Header.Get(correlation.HeaderKey))
		w.Header().Set(correlation.HeaderKey, id)
		inner.ServeHTTP(w, r.WithContext(ctx))
	})
	return &Stack{Handler: h, tp: tp, mp: mp}, nil
}

type statusWriter struct {
	http.ResponseWriter
	status int
	n      int64
}

func (w *statusWriter) WriteHeader(s int) { w.status = s; w.ResponseWriter.WriteHeader(s) }
func (w *statusWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}
