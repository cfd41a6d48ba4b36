//go:build !patron_nogrpcexport

package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// grpcExporters says whether the OTLP gRPC exporters are linked.
const grpcExporters = true

func newGRPCSpanExporter(ctx context.Context) (sdktrace.SpanExporter, error) {
	return otlptracegrpc.New(ctx)
}

func newGRPCMetricExporter(ctx context.Context) (sdkmetric.Exporter, error) {
	return otlpmetricgrpc.New(ctx)
}

func newGRPCLogExporter(ctx context.Context) (sdklog.Exporter, error) {
	return otlploggrpc.New(ctx)
}

// grpcUnimplemented reports a receiver without the signal's service.
func grpcUnimplemented(err error) bool {
	s, ok := status.FromError(err) // unwraps the exporter's wrapping
	return ok && s.Code() == codes.Unimplemented
}
