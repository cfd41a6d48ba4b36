package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"

	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutlog"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// The exporters are built here rather than by autoexport, which links every
// exporter it knows (and with them gRPC) into every service, and hides the
// metric exporter inside its reader, where a refusal cannot be caught. The
// OTLP gRPC exporters live in exporters_grpc.go, left out by the
// patron_nogrpcexport build tag. Each exporter reads its own OTEL_EXPORTER_*
// variables (endpoint, headers, TLS, timeout, compression).

func newSpanExporter(ctx context.Context, e export) (sdktrace.SpanExporter, error) {
	switch {
	case e.kind == kindConsole:
		return stdouttrace.New()
	case e.protocol == protoGRPC:
		return newGRPCSpanExporter(ctx)
	}
	return otlptracehttp.New(ctx)
}

func newMetricExporter(ctx context.Context, e export) (sdkmetric.Exporter, error) {
	switch {
	case e.kind == kindConsole:
		return stdoutmetric.New()
	case e.protocol == protoGRPC:
		return newGRPCMetricExporter(ctx)
	}
	return otlpmetrichttp.New(ctx)
}

func newLogExporter(ctx context.Context, e export) (sdklog.Exporter, error) {
	switch {
	case e.kind == kindConsole:
		return stdoutlog.New()
	case e.protocol == protoGRPC:
		return newGRPCLogExporter(ctx)
	}
	return otlploghttp.New(ctx)
}

// errGRPCLeftOut is what a binary built with patron_nogrpcexport answers
// when the gRPC protocol is chosen (wrapped in the error naming the signal).
var errGRPCLeftOut = errors.New("OTEL_EXPORTER_OTLP_PROTOCOL=grpc: this binary was built with the patron_nogrpcexport tag; use http/protobuf or build without the tag")

// refusals turns a receiver's refusal of a whole signal (Jaeger or Tempo
// answer 404 on /v1/metrics) into one warning that says what to do, instead
// of an SDK error every export interval: the first refusal is logged, and
// it and every later one are reported to the SDK as success, so that the
// periodic reader, the batch processors and the final flush at shutdown
// stay quiet (and a clean stop stays clean).
type refusals struct {
	sig      signal
	endpoint string
	logger   func() *slog.Logger
	warned   atomic.Bool
}

func (r *refusals) check(err error) error {
	if err == nil || !refusedSignal(err) {
		return err
	}
	if r.warned.CompareAndSwap(false, true) {
		r.logger().Warn(fmt.Sprintf("observability: the OTLP receiver does not take %s; they are dropped. Set %s=none to stop exporting them", r.sig.name, r.sig.exporter),
			"signal", r.sig.name, "endpoint", r.endpoint, "env", r.sig.exporter+"=none", "error", err)
	}
	return nil
}

// refusedSignal reports whether err says that the receiver has no such
// signal at all, as opposed to a failure worth retrying or reporting.
func refusedSignal(err error) bool {
	msg := err.Error()
	for _, s := range []string{" 404 Not Found", " 405 Method Not Allowed", " 415 Unsupported Media Type"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return grpcUnimplemented(err)
}

type refusingSpanExporter struct {
	sdktrace.SpanExporter
	r *refusals
}

func (e refusingSpanExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	return e.r.check(e.SpanExporter.ExportSpans(ctx, spans))
}

type refusingMetricExporter struct {
	sdkmetric.Exporter
	r *refusals
}

func (e refusingMetricExporter) Export(ctx context.Context, rm *metricdata.ResourceMetrics) error {
	return e.r.check(e.Exporter.Export(ctx, rm))
}

type refusingLogExporter struct {
	sdklog.Exporter
	r *refusals
}

func (e refusingLogExporter) Export(ctx context.Context, records []sdklog.Record) error {
	return e.r.check(e.Exporter.Export(ctx, records))
}
