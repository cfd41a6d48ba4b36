package telemetry

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

func BenchmarkTmpEmit(b *testing.B) {
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("b").Start(context.Background(), "op")
	defer span.End()
	for _, bc := range []struct {
		name string
		opts []sdklog.LoggerProviderOption
	}{
		{"default", nil},
		{"allowdup", []sdklog.LoggerProviderOption{sdklog.WithAllowKeyDuplication()}},
		{"allowdup-nolimit", []sdklog.LoggerProviderOption{sdklog.WithAllowKeyDuplication(), sdklog.WithAttributeCountLimit(-1)}},
	} {
		lp := sdklog.NewLoggerProvider(append(bc.opts, sdklog.WithProcessor(sdklog.NewBatchProcessor(discardLogs{})))...)
		l := lp.Logger("x")
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var r otellog.Record
				r.SetTimestamp(time.Now())
				r.SetBody(attribute.StringValue("request"))
				r.SetSeverity(otellog.SeverityInfo)
				r.SetSeverityText("INFO")
				r.AddAttributes(attribute.Int64("status", 200), attribute.String("path", "/hello"), attribute.Int64("duration", 1234), attribute.String("correlation_id", "abc"))
				l.Emit(ctx, r)
			}
		})
		lp.Shutdown(context.Background())
	}
}
