package traceview

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otellog "go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/metric"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
)

// exporters are one service's three SDK exporters to the viewer.
type exporters struct {
	spans   sdktrace.SpanExporter
	logs    sdklog.Exporter
	metrics sdkmetric.Exporter
}

func sdkExporters(t *testing.T, transport string, addrs Addrs) exporters {
	t.Helper()
	ctx := t.Context()
	var (
		e    exporters
		err  error
		errs [3]error
	)
	switch transport {
	case "grpc":
		e.spans, errs[0] = otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(addrs.OTLPGRPC), otlptracegrpc.WithInsecure(), otlptracegrpc.WithCompressor("gzip"))
		e.logs, errs[1] = otlploggrpc.New(ctx, otlploggrpc.WithEndpoint(addrs.OTLPGRPC), otlploggrpc.WithInsecure(), otlploggrpc.WithCompressor("gzip"))
		e.metrics, errs[2] = otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithEndpoint(addrs.OTLPGRPC), otlpmetricgrpc.WithInsecure(), otlpmetricgrpc.WithCompressor("gzip"))
	case "http":
		e.spans, errs[0] = otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(addrs.OTLPHTTP), otlptracehttp.WithInsecure())
		e.logs, errs[1] = otlploghttp.New(ctx, otlploghttp.WithEndpoint(addrs.OTLPHTTP), otlploghttp.WithInsecure(), otlploghttp.WithCompression(otlploghttp.GzipCompression))
		e.metrics, errs[2] = otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpoint(addrs.OTLPHTTP), otlpmetrichttp.WithInsecure())
	}
	if err = errors.Join(errs[:]...); err != nil {
		t.Fatal(err)
	}
	return e
}

// telemetry is one service's SDK providers.
type telemetry struct {
	tp *sdktrace.TracerProvider
	lp *sdklog.LoggerProvider
	mp *sdkmetric.MeterProvider
}

func newTelemetry(t *testing.T, service string, e exporters) telemetry {
	t.Helper()
	res := resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName(service))
	tel := telemetry{
		tp: sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithSyncer(e.spans)),
		lp: sdklog.NewLoggerProvider(sdklog.WithResource(res), sdklog.WithProcessor(sdklog.NewSimpleProcessor(e.logs))),
		mp: sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(sdkmetric.NewPeriodicReader(e.metrics, sdkmetric.WithInterval(time.Hour)))),
	}
	t.Cleanup(func() { _ = tel.shutdown(context.Background()) })
	return tel
}

// flush sends whatever is buffered and returns the exporters' errors.
func (tel telemetry) flush(ctx context.Context) error {
	return errors.Join(tel.tp.ForceFlush(ctx), tel.lp.ForceFlush(ctx), tel.mp.ForceFlush(ctx))
}

func (tel telemetry) shutdown(ctx context.Context) error {
	return errors.Join(tel.tp.Shutdown(ctx), tel.lp.Shutdown(ctx), tel.mp.Shutdown(ctx))
}

// getJSON fetches path and decodes the body (no envelope) into a T.
func getJSON[T any](t *testing.T, base, path string) (T, int) {
	t.Helper()
	var v T
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("GET %s: decoding %q: %v", path, body, err)
	}
	return v, resp.StatusCode
}

// emitShop records one checkout in service "shop": a SERVER span that
// fails, a WARN log record inside it, a log record outside any span, a
// counter and a histogram with the span's exemplar. It returns the span.
func emitShop(t *testing.T, tel telemetry) trace.SpanContext {
	t.Helper()
	ctx := t.Context()
	tracer := tel.tp.Tracer("shop")
	logger := tel.lp.Logger("shop")
	meter := tel.mp.Meter("shop")
	orders, err := meter.Int64Counter("shop.orders", metric.WithDescription("orders placed"), metric.WithUnit("{order}"))
	if err != nil {
		t.Fatal(err)
	}
	dur, err := meter.Float64Histogram("shop.checkout.duration", metric.WithUnit("s"))
	if err != nil {
		t.Fatal(err)
	}

	sctx, span := tracer.Start(ctx, "GET /checkout", trace.WithSpanKind(trace.SpanKindServer))
	var rec otellog.Record
	rec.SetTimestamp(time.Now())
	rec.SetSeverity(otellog.SeverityWarn)
	rec.SetSeverityText("WARN")
	rec.SetBody(attribute.StringValue("card declined"))
	rec.AddAttributes(attribute.String("reason", "insufficient funds"), attribute.Int("attempt", 2))
	logger.Emit(sctx, rec)
	orders.Add(sctx, 1, metric.WithAttributes(attribute.String("payment", "card")))
	dur.Record(sctx, 0.25, metric.WithAttributes(attribute.String("payment", "card")))
	span.SetStatus(codes.Error, "declined")
	span.End()

	var outside otellog.Record
	outside.SetTimestamp(time.Now())
	outside.SetSeverity(otellog.SeverityInfo)
	outside.SetBody(attribute.StringValue("shop started"))
	logger.Emit(ctx, outside)
	if err := tel.flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	return span.SpanContext()
}

// TestSDKSignals sends all three signals with the SDK exporters, over
// OTLP/gRPC and OTLP/HTTP, and reads each API back.
func TestSDKSignals(t *testing.T) {
	for _, transport := range []string{"grpc", "http"} {
		t.Run(transport, func(t *testing.T) {
			_, addrs := startViewer(t)
			tel := newTelemetry(t, "shop", sdkExporters(t, transport, addrs))
			sc := emitShop(t, tel)
			base := addrs.UI
			traceID, spanID := sc.TraceID().String(), sc.SpanID().String()

			// The trace's logs: the record inside the span only.
			logs, code := getAPI[[]LogRecord](t, t.Context(), base, "/api/traces/"+traceID+"/logs")
			if code != 200 || len(logs) != 1 {
				t.Fatalf("trace logs: status %d, %+v", code, logs)
			}
			l := logs[0]
			if l.Body != "card declined" || l.Severity != "WARN" || l.Service != "shop" || l.TraceID != traceID || l.SpanID != spanID {
				t.Errorf("trace log = %+v", l)
			}
			if tagOf(l.Attributes, "reason") != "insufficient funds" || tagOf(l.Attributes, "attempt") != float64(2) {
				t.Errorf("log attributes = %+v", l.Attributes)
			}
			if since := time.Since(time.UnixMicro(l.Timestamp)); since < 0 || since > time.Minute {
				t.Errorf("log timestamp %d is %v ago", l.Timestamp, since)
			}

			// Search.
			search := func(q url.Values) []LogRecord {
				t.Helper()
				got, code := getAPI[[]LogRecord](t, t.Context(), base, "/api/logs?"+q.Encode())
				if code != 200 {
					t.Fatalf("log search %v: status %d", q, code)
				}
				return got
			}
			if got := search(url.Values{"service": {"shop"}}); len(got) != 2 || got[0].Body != "shop started" {
				t.Errorf("service search, newest first: %+v", got)
			}
			if got := search(url.Values{"service": {"shop"}, "severity": {"warn"}, "q": {"DECLINED"}}); len(got) != 1 || got[0].SpanID != spanID {
				t.Errorf("severity and text search: %+v", got)
			}
			if got := search(url.Values{"severity": {"error"}}); len(got) != 0 {
				t.Errorf("severity error found %+v", got)
			}
			if got := search(url.Values{"q": {"insufficient"}}); len(got) != 1 {
				t.Errorf("text in an attribute value: %+v", got)
			}
			if got := search(url.Values{"traceID": {traceID}}); len(got) != 1 {
				t.Errorf("trace ID search: %+v", got)
			}
			if got := search(url.Values{"tag": {"reason:insufficient funds"}}); len(got) != 1 {
				t.Errorf("tag search: %+v", got)
			}
			now := time.Now()
			if got := search(url.Values{"start": {strconv.FormatInt(now.Add(time.Minute).UnixMicro(), 10)}}); len(got) != 0 {
				t.Errorf("future start found %+v", got)
			}
			if _, code := getAPI[[]LogRecord](t, t.Context(), base, "/api/logs?severity=loud"); code != 400 {
				t.Errorf("bad severity: status %d", code)
			}

			// Received instruments, with the exemplar linking to the span.
			insts, _ := getAPI[[]Instrument](t, t.Context(), base, "/api/instruments?service=shop")
			byName := map[string]Instrument{}
			for _, in := range insts {
				byName[in.Name] = in
			}
			counter, hist := byName["shop.orders"], byName["shop.checkout.duration"]
			if counter.Type != InstrumentSum || !counter.Monotonic || counter.Temporality != "cumulative" || counter.Unit != "{order}" ||
				len(counter.Series) != 1 || counter.Series[0].Points[0].Value != 1 || tagOf(counter.Series[0].Attributes, "payment") != "card" {
				t.Errorf("counter = %+v", counter)
			}
			if hist.Type != InstrumentHistogram || len(hist.Series) != 1 {
				t.Fatalf("histogram = %+v", hist)
			}
			p := hist.Series[0].Points[0]
			if p.Count != 1 || p.Value != 0.25 || len(p.Counts) != len(p.Bounds)+1 {
				t.Errorf("histogram point = %+v", p)
			}
			if len(p.Exemplars) != 1 || p.Exemplars[0].TraceID != traceID || p.Exemplars[0].SpanID != spanID {
				t.Errorf("histogram exemplars = %+v, want one in %s/%s", p.Exemplars, traceID, spanID)
			}

			// RED from the stored SERVER span, in Jaeger's shape.
			endTs := strconv.FormatInt(time.Now().Add(time.Second).UnixMilli(), 10)
			q := "?service=shop&groupByOperation=true&endTs=" + endTs + "&lookback=60000&step=5000&ratePer=60000"
			calls, code := getJSON[MetricFamily](t, base, "/api/metrics/calls"+q)
			if code != 200 || calls.Name != "service_operation_call_rate" || calls.Type != "GAUGE" || len(calls.Metrics) != 1 {
				t.Fatalf("calls: status %d, %+v", code, calls)
			}
			m := calls.Metrics[0]
			if !slices.Equal(m.Labels, []Label{{"service_name", "shop"}, {"operation", "GET /checkout"}}) {
				t.Errorf("labels = %+v", m.Labels)
			}
			last := m.MetricPoints[len(m.MetricPoints)-1]
			if len(m.MetricPoints) != 13 || last.GaugeValue.DoubleValue != 1.0/60 {
				t.Errorf("call points = %+v", m.MetricPoints)
			}
			if _, err := time.Parse(time.RFC3339Nano, last.Timestamp); err != nil {
				t.Errorf("timestamp %q: %v", last.Timestamp, err)
			}
			errs, _ := getJSON[MetricFamily](t, base, "/api/metrics/errors"+q)
			if len(errs.Metrics) != 1 || errs.Metrics[0].MetricPoints[len(errs.Metrics[0].MetricPoints)-1].GaugeValue.DoubleValue != 1 {
				t.Errorf("errors = %+v", errs)
			}
			lat, _ := getJSON[MetricFamily](t, base, "/api/metrics/latencies"+q+"&quantile=0.99")
			if lat.Name != "service_operation_latencies" || len(lat.Metrics) != 1 || len(lat.Metrics[0].MetricPoints) == 0 {
				t.Errorf("latencies = %+v", lat)
			}
			bySvc, _ := getJSON[MetricFamily](t, base, "/api/metrics/calls?service=shop&endTs="+endTs+"&spanKind=client")
			if bySvc.Name != "service_call_rate" || len(bySvc.Metrics) != 0 {
				t.Errorf("client spans: %+v", bySvc)
			}
			if step, _ := getAPI[int64](t, t.Context(), base, "/api/metrics/minstep"); step != 5000 {
				t.Errorf("minstep = %d ms, want 5000", step)
			}
			if _, code := getJSON[response](t, base, "/api/metrics/latencies?quantile=2"); code != 400 {
				t.Errorf("quantile 2: status %d", code)
			}
		})
	}
}

// A service whose OTLP endpoint is the viewer exports all three signals
// without one export error, over either protocol, configured only by the
// OTEL_* variables as a Patron service is.
func TestServicePointedAtViewerLogsNoExportError(t *testing.T) {
	for _, protocol := range []string{"grpc", "http/protobuf"} {
		t.Run(protocol, func(t *testing.T) {
			v, addrs := startViewer(t)
			endpoint := addrs.OTLPHTTP
			if protocol == "grpc" {
				endpoint = addrs.OTLPGRPC
			}
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+endpoint)
			t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
			t.Setenv("OTEL_TRACES_EXPORTER", "otlp")
			t.Setenv("OTEL_METRICS_EXPORTER", "otlp")
			t.Setenv("OTEL_LOGS_EXPORTER", "otlp")

			var (
				mu      sync.Mutex
				handled []error
			)
			// The SDKs report export failures to the global error handler;
			// restore the previous one when done.
			prev := otel.GetErrorHandler()
			otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
				mu.Lock()
				handled = append(handled, err)
				mu.Unlock()
			}))
			t.Cleanup(func() { otel.SetErrorHandler(prev) })

			ctx := t.Context()
			se, err := autoexport.NewSpanExporter(ctx)
			if err != nil {
				t.Fatal(err)
			}
			le, err := autoexport.NewLogExporter(ctx)
			if err != nil {
				t.Fatal(err)
			}
			mr, err := autoexport.NewMetricReader(ctx)
			if err != nil {
				t.Fatal(err)
			}
			res := resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName("shop"))
			tel := telemetry{
				tp: sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithBatcher(se)),
				lp: sdklog.NewLoggerProvider(sdklog.WithResource(res), sdklog.WithProcessor(sdklog.NewBatchProcessor(le))),
				mp: sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(mr)),
			}
			emitShop(t, tel)
			if err := tel.shutdown(ctx); err != nil {
				t.Errorf("shutdown (the final export): %v", err)
			}
			// Cumulative metrics are exported at the flush and again at shutdown.
			if v.Store().SpanCount() != 1 || v.Logs().Len() != 2 || v.Metrics().Len() != 4 {
				t.Errorf("viewer holds %d spans, %d log records, %d points; want 1, 2, 4",
					v.Store().SpanCount(), v.Logs().Len(), v.Metrics().Len())
			}
			mu.Lock()
			defer mu.Unlock()
			for _, err := range handled {
				t.Errorf("export error: %v", err)
			}
		})
	}
}
