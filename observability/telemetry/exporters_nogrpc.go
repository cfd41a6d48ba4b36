//go:build patron_nogrpcexport

package telemetry

import (
	"context"

	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// With patron_nogrpcexport the OTLP gRPC exporters, and gRPC with them, are
// not linked: choosing the grpc protocol fails Setup with errGRPCLeftOut.

// grpcExporters says whether the OTLP gRPC exporters are linked.
const grpcExporters = false

func newGRPCSpanExporter(context.Context) (sdktrace.SpanExporter, error) { return nil, errGRPCLeftOut }

func newGRPCMetricExporter(context.Context) (sdkmetric.Exporter, error) { return nil, errGRPCLeftOut }

func newGRPCLogExporter(context.Context) (sdklog.Exporter, error) { return nil, errGRPCLeftOut }

func grpcUnimplemented(error) bool { return false }
