package telemetry

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/patron-go/patron/correlation"
	patronlog "github.com/patron-go/patron/observability/log"
)

type discardLogs struct{}

func (discardLogs) Export(context.Context, []sdklog.Record) error { return nil }
func (discardLogs) Shutdown(context.Context) error                { return nil }
func (discardLogs) ForceFlush(context.Context) error              { return nil }

// BenchmarkLogRecord prices a request's log record with export off (the
// JSON handler alone) and on (the same, teed into LogHandler and the SDK's
// batch processor, with an exporter that discards, so that only the
// service's side is measured). Run with -benchmem; the difference between
// the two rows is the added cost per record. The sdk-emit rows price the
// SDK alone (Logger.Emit and BatchProcessor.OnEmit, the export goroutine
// included in cpu-ns/op) for an equivalent record built beforehand: with
// the provider's default key deduplication and without it (what
// LogHandler's records use, their keys being unique already).
func BenchmarkLogRecord(b *testing.B) {
	b.Setenv("OTEL_LOGS_EXPORTER", "none")
	off := patronlog.New(io.Discard, patronlog.FormatJSON, slog.LevelInfo, slog.String("service", "bench"))
	p, err := Setup(context.Background(), "bench", "1", WithoutGlobals(), WithoutRuntimeMetrics(), WithLogExporter(discardLogs{}))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	on := slog.New(patronlog.NewTee(off.Handler(), p.LogHandler()))
	ctx, span := p.TracerProvider().Tracer("b").Start(correlation.ContextWithID(context.Background(), "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"), "op")
	defer span.End()
	for _, bc := range []struct {
		name   string
		logger *slog.Logger
	}{{"stderr-only", off}, {"export-on", on}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				bc.logger.InfoContext(ctx, "request", "status", 200, "path", "/hello", "duration", 1234)
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
	for _, bc := range []struct {
		name string
		opts []sdklog.LoggerProviderOption
	}{{"sdk-emit-dedup", nil}, {"sdk-emit-nodedup", []sdklog.LoggerProviderOption{sdklog.WithAllowKeyDuplication()}}} {
		lp := sdklog.NewLoggerProvider(append(bc.opts, sdklog.WithResource(p.Resource()), sdklog.WithProcessor(sdklog.NewBatchProcessor(discardLogs{})))...)
		b.Cleanup(func() { _ = lp.Shutdown(context.Background()) })
		l := lp.Logger(logScope)
		var rec otellog.Record
		rec.SetTimestamp(time.Now())
		rec.SetBody(attribute.StringValue("request"))
		rec.SetSeverity(otellog.SeverityInfo)
		rec.SetSeverityText("INFO")
		rec.AddAttributes(attribute.Int64("status", 200), attribute.String("path", "/hello"), attribute.Int64("duration", 1234),
			attribute.String("correlation_id", "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"))
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				l.Emit(ctx, rec)
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}
