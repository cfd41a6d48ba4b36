package telemetry

import (
	"context"
	"encoding/hex"
	"log/slog"
	"strings"
	"testing"

	"github.com/patron-go/patron/internal/otlptest"
	patronlog "github.com/patron-go/patron/observability/log"
	"github.com/patron-go/patron/observability/observabilitytest"
)

func otlpTo(t *testing.T, rcv *otlptest.Receiver) {
	t.Helper()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
}

// With an OTLP endpoint, logs are exported by default (the metrics rule),
// keep going to the local output, and carry their span's context.
func TestLogsExportedWithTraceContextAndKeptLocally(t *testing.T) {
	rcv := otlptest.New(t)
	otlpTo(t, rcv)
	t.Setenv("OTEL_METRICS_EXPORTER", "none")
	p, err := Setup(t.Context(), "logs-test", "1", WithoutGlobals(), WithoutRuntimeMetrics())
	if err != nil {
		t.Fatal(err)
	}
	if !p.LogsExported() {
		t.Fatal("an OTLP endpoint did not turn log export on")
	}
	var local observabilitytest.LogBuffer
	logger := slog.New(patronlog.NewTee(patronlog.New(&local, patronlog.FormatJSON, slog.LevelInfo).Handler(), p.LogHandler()))

	ctx, span := p.TracerProvider().Tracer("t").Start(t.Context(), "op")
	logger.InfoContext(ctx, "inside the span", "order", 42)
	logger.DebugContext(ctx, "below the level")
	span.End()
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	recs := rcv.Records()
	if len(recs) != 1 {
		t.Fatalf("receiver got %d records, want 1 (debug is below the level): %v", len(recs), recs)
	}
	r := recs[0]
	if r.GetBody().GetStringValue() != "inside the span" || r.GetSeverityText() != "INFO" {
		t.Fatalf("record %v", r)
	}
	if hex.EncodeToString(r.GetTraceId()) != span.SpanContext().TraceID().String() ||
		hex.EncodeToString(r.GetSpanId()) != span.SpanContext().SpanID().String() {
		t.Fatalf("record %x/%x, span %s", r.GetTraceId(), r.GetSpanId(), span.SpanContext().SpanID())
	}
	if len(r.GetAttributes()) != 1 || r.GetAttributes()[0].GetKey() != "order" || r.GetAttributes()[0].GetValue().GetIntValue() != 42 {
		t.Fatalf("attributes %v", r.GetAttributes())
	}
	lines := local.Records(t)
	if len(lines) != 1 || lines[0]["msg"] != "inside the span" || lines[0]["trace_id"] != span.SpanContext().TraceID().String() {
		t.Fatalf("local output %v", lines)
	}
}

func TestLogsExporterEnv(t *testing.T) {
	for _, tc := range []struct {
		env      map[string]string
		exported bool
		err      string
	}{
		{map[string]string{}, false, ""},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"}, true, ""},
		{map[string]string{"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "http://127.0.0.1:1/v1/logs"}, true, ""},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_LOGS_EXPORTER": "none"}, false, ""},
		{map[string]string{"OTEL_LOGS_EXPORTER": "console"}, true, ""},
		{map[string]string{"OTEL_LOGS_EXPORTER": "syslog"}, false, "OTEL_LOGS_EXPORTER"},
		{map[string]string{"OTEL_LOGS_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL": "http/json"}, false, "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL"},
	} {
		getenv := func(k string) string { return tc.env[k] }
		c, err := readEnv(getenv)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v: error %v, want one naming %s", tc.env, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%v: %v", tc.env, err)
		}
		if got := c.logs.kind != kindNone; got != tc.exported {
			t.Errorf("%v: logs exported %v, want %v", tc.env, got, tc.exported)
		}
	}
}

// OTEL_SDK_DISABLED=true makes every signal a no-op, even with an endpoint
// and exporters named.
func TestSDKDisabledTurnsEverySignalOff(t *testing.T) {
	rcv := otlptest.New(t)
	otlpTo(t, rcv)
	t.Setenv("OTEL_TRACES_EXPORTER", "otlp")
	t.Setenv("OTEL_METRICS_EXPORTER", "otlp")
	t.Setenv("OTEL_LOGS_EXPORTER", "otlp")
	t.Setenv("OTEL_SDK_DISABLED", "TRUE")
	p, err := Setup(t.Context(), "disabled", "1", WithoutGlobals())
	if err != nil {
		t.Fatal(err)
	}
	_, span := p.TracerProvider().Tracer("t").Start(t.Context(), "op")
	span.End()
	c, _ := p.MeterProvider().Meter("m").Int64Counter("c")
	c.Add(t.Context(), 1)
	if span.IsRecording() || span.SpanContext().IsValid() {
		t.Error("the tracer provider records spans")
	}
	if p.LogsExported() || p.LogHandler() != nil {
		t.Error("logs are exported")
	}
	if err := p.ForceFlush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := p.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := len(rcv.Spans()) + rcv.MetricExports() + len(rcv.Records()); n != 0 {
		t.Fatalf("the receiver got %d exports", n)
	}
}

// A traces-only receiver (Jaeger, Tempo, patron traces) answers 404 on
// /v1/metrics: one warning names the signal, the endpoint and the variable,
// however many intervals pass, and shutdown stays clean.
func TestRefusedSignalWarnsOnce(t *testing.T) {
	rcv := otlptest.New(t, otlptest.MetricsPath)
	otlpTo(t, rcv)
	var warnings observabilitytest.LogBuffer
	p, err := Setup(t.Context(), "refused", "1", WithoutGlobals(),
		WithErrorLogger(slog.New(slog.NewJSONHandler(&warnings, nil))))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := p.MeterProvider().Meter("m").Int64Counter("c")
	for i := range 4 {
		c.Add(t.Context(), 1)
		_, span := p.TracerProvider().Tracer("t").Start(t.Context(), "op")
		span.End()
		// Each flush is one export interval's worth of work.
		if err := p.ForceFlush(t.Context()); err != nil {
			t.Fatalf("flush %d: %v", i, err)
		}
	}
	if err := p.Shutdown(t.Context()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if n := rcv.Refused(otlptest.MetricsPath); n < 5 {
		t.Fatalf("receiver refused %d metric exports, want at least 5", n)
	}
	if n := len(rcv.Spans()); n != 4 {
		t.Fatalf("traces still go out: got %d spans", n)
	}
	recs := warnings.Records(t)
	if len(recs) != 1 {
		t.Fatalf("%d warnings, want 1: %s", len(recs), warnings.String())
	}
	w := recs[0]
	if w["signal"] != "metrics" || w["endpoint"] != rcv.URL+"/v1/metrics" || w["env"] != "OTEL_METRICS_EXPORTER=none" ||
		!strings.Contains(w["msg"].(string), "OTEL_METRICS_EXPORTER=none") {
		t.Fatalf("warning %v", w)
	}
}

func TestJaegerPropagatorWarnsOnce(t *testing.T) {
	t.Setenv("OTEL_PROPAGATORS", "tracecontext,jaeger")
	var warnings observabilitytest.LogBuffer
	p, err := Setup(t.Context(), "jaeger", "1", WithoutGlobals(), WithoutRuntimeMetrics(),
		WithErrorLogger(slog.New(slog.NewJSONHandler(&warnings, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	recs := warnings.Records(t)
	if len(recs) != 1 || !strings.Contains(recs[0]["msg"].(string), "deprecated") || recs[0]["env"] != "OTEL_PROPAGATORS" {
		t.Fatalf("warnings %v", recs)
	}
	if fields := p.Propagator().Fields(); !strings.Contains(strings.Join(fields, ","), "uber-trace-id") {
		t.Fatalf("jaeger not propagated: %v", fields)
	}
}
