package telemetry

import (
	"context"
	"io"
	"log/slog"
	"testing"

	patronlog "github.com/patron-go/patron/observability/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
)

type discardLogs struct{}

func (discardLogs) Export(context.Context, []sdklog.Record) error { return nil }
func (discardLogs) Shutdown(context.Context) error                { return nil }
func (discardLogs) ForceFlush(context.Context) error              { return nil }

// BenchmarkLogRecord prices a request's log record with export off (the
// JSON handler alone) and on (the same, teed into the slog bridge and the
// SDK's batch processor, with an exporter that discards, so that only the
// service's side is measured). Run with -benchmem; the difference between
// the two rows is the added cost per record.
func BenchmarkLogRecord(b *testing.B) {
	b.Setenv("OTEL_LOGS_EXPORTER", "none")
	off := patronlog.New(io.Discard, patronlog.FormatJSON, slog.LevelInfo, slog.String("service", "bench"))
	p, err := Setup(context.Background(), "bench", "1", WithoutGlobals(), WithoutRuntimeMetrics(), WithLogExporter(discardLogs{}))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	on := slog.New(patronlog.NewTee(off.Handler(), p.LogHandler()))
	ctx, span := p.TracerProvider().Tracer("b").Start(context.Background(), "op")
	defer span.End()
	for _, bc := range []struct {
		name   string
		logger *slog.Logger
	}{{"stderr-only", off}, {"export-on", on}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bc.logger.InfoContext(ctx, "request", "status", 200, "path", "/hello", "duration", 1234)
			}
		})
	}
}
