package traceview

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// synthLogs builds n log records as the otelslog bridge sends them: a
// message, a severity, a few attributes, and the trace and span of the
// request that logged them (traces numbered from firstTrace, 8 records
// each).
func synthLogs(firstTrace, n int, services []string, t0 time.Time) []*logspb.ResourceLogs {
	out := make([]*logspb.ResourceLogs, len(services))
	for i, svc := range services {
		out[i] = &logspb.ResourceLogs{
			Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
				kv("service.name", svc), kv("service.version", "1.2.3"), kv("host.name", "test-host"),
				kv("telemetry.sdk.language", "go"), kv("telemetry.sdk.name", "opentelemetry"),
			}},
			ScopeLogs: []*logspb.ScopeLogs{{Scope: &commonpb.InstrumentationScope{Name: "github.com/patron-go/patron"}}},
		}
	}
	msgs := []string{"request handled", "cache miss", "calling downstream", "message published", "retrying"}
	for i := range n {
		tr := firstTrace + i/8
		sl := out[i%len(services)].ScopeLogs[0]
		sl.LogRecords = append(sl.LogRecords, &logspb.LogRecord{
			TimeUnixNano:         uint64(t0.Add(time.Duration(firstTrace*8+i) * time.Millisecond).UnixNano()),
			ObservedTimeUnixNano: uint64(t0.Add(time.Duration(firstTrace*8+i) * time.Millisecond).UnixNano()),
			SeverityNumber:       logspb.SeverityNumber_SEVERITY_NUMBER_INFO,
			SeverityText:         "INFO",
			Body:                 &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: msgs[i%len(msgs)]}},
			Attributes: []*commonpb.KeyValue{
				kv("correlation_id", fmt.Sprintf("c-%d", tr)), kv("http.route", "/items/{id}"),
				kvInt("http.response.status_code", 200), kv("user.id", fmt.Sprintf("u%d", tr%1000)),
			},
			TraceId: tid(uint64(tr)),
			SpanId:  sid(uint64(i)),
			Flags:   1,
		})
	}
	return out
}

// BenchmarkIngestLogs measures the OTLP/HTTP logs path end to end, with
// batches of 512 records as the SDK's batch processor sends them, into a
// log store at its default capacity (evicting), from as many goroutines as
// there are cores. records/cpu-s is the figure to compare (see
// BENCHMARKS.md).
func BenchmarkIngestLogs(b *testing.B) {
	const perBatch, batches = 512, 450
	t0 := time.Unix(1_700_000_000, 0)
	bodies := make([][]byte, batches)
	for i := range bodies {
		var err error
		req := &collogspb.ExportLogsServiceRequest{ResourceLogs: synthLogs(i*perBatch/8, perBatch, []string{"web", "api", "db", "cache"}, t0)}
		if bodies[i], err = proto.Marshal(req); err != nil {
			b.Fatal(err)
		}
	}
	logs, err := NewLogStore(DefaultMaxLogRecords)
	if err != nil {
		b.Fatal(err)
	}
	spans, err := NewStore(DefaultMaxSpans)
	if err != nil {
		b.Fatal(err)
	}
	h := &otlpHTTP{store: spans, logs: logs, log: slog.New(slog.DiscardHandler), maxBody: DefaultMaxBodyBytes}
	b.ReportAllocs()
	runtime.GC()
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime(b)
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			req := httptest.NewRequest(http.MethodPost, "/v1/logs", bytes.NewReader(bodies[i%batches]))
			req.Header.Set("Content-Type", contentProtobuf)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Errorf("status %d: %s", rec.Code, rec.Body)
				return
			}
			i += 7
		}
	})
	n := float64(b.N * perBatch)
	b.ReportMetric(n/time.Since(start).Seconds(), "records/s")
	b.ReportMetric(n/(cpuTime(b)-cpu0).Seconds(), "records/cpu-s")
	b.ReportMetric(0, "ns/op")
	if logs.Len() > DefaultMaxLogRecords {
		b.Errorf("log store over capacity: %d", logs.Len())
	}
}

// redSpansOverHour returns n SERVER spans of four services and five
// operations each, spread evenly over the hour before end, 8 per trace.
func redSpansOverHour(first, n int, end time.Time) []*tracepb.ResourceSpans {
	services := []string{"web", "api", "db", "cache"}
	rss := make([]*tracepb.ResourceSpans, len(services))
	for i, svc := range services {
		rss[i] = &tracepb.ResourceSpans{
			Resource:   &resourcepb.Resource{Attributes: []*commonpb.KeyValue{kv("service.name", svc)}},
			ScopeSpans: []*tracepb.ScopeSpans{{}},
		}
	}
	step := time.Hour / 1_000_000
	for i := first; i < first+n; i++ {
		st := end.Add(-time.Hour + time.Duration(i)*step)
		sp := &tracepb.Span{TraceId: tid(uint64(i / 8)), SpanId: sid(uint64(i)), Name: fmt.Sprintf("op-%d", i%5),
			Kind: tracepb.Span_SPAN_KIND_SERVER, StartTimeUnixNano: uint64(st.UnixNano()),
			EndTimeUnixNano: uint64(st.Add(time.Duration(1+i%200) * time.Millisecond).UnixNano()),
			Attributes:      []*commonpb.KeyValue{kv("http.route", "/items/{id}"), kvInt("http.response.status_code", 200)}}
		if i%50 == 0 {
			sp.Status = &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR}
		}
		ss := rss[i%len(services)].ScopeSpans[0]
		ss.Spans = append(ss.Spans, sp)
	}
	return rss
}

// BenchmarkQuerySignals measures, with 1M spans and 1M log records stored,
// a trace's logs (by the trace index) and 1-hour RED queries (over the
// time buckets), in-process and through the HTTP API.
func BenchmarkQuerySignals(b *testing.B) {
	const n = 1_000_000
	end := time.Unix(1_700_003_600, 0)
	spans, err := NewStore(n, WithStoreMaxBytes(4<<30))
	if err != nil {
		b.Fatal(err)
	}
	logs, err := NewLogStore(n, WithLogStoreMaxBytes(4<<30))
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < n; i += 10_000 {
		spans.Ingest(redSpansOverHour(i, 10_000, end))
		logs.Ingest(synthLogs(i/8, 10_000, []string{"web", "api", "db", "cache"}, end.Add(-time.Hour)))
	}
	if spans.SpanCount() != n || logs.Len() != n {
		b.Fatalf("stored %d spans and %d records", spans.SpanCount(), logs.Len())
	}
	ui, err := newUIHandler(stores{spans: spans, logs: logs}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	trace := hexTID(uint64(n / 16)) // in the middle
	report := func(b *testing.B, f func()) {
		b.ReportAllocs()
		cpu0 := cpuTime(b)
		for b.Loop() {
			f()
		}
		b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N)/1000, "cpu-ms/op")
	}
	b.Run("trace logs", func(b *testing.B) {
		report(b, func() {
			if got := logs.TraceLogs(trace); len(got) != 8 {
				b.Fatalf("trace has %d records", len(got))
			}
		})
	})
	b.Run("log search/service+text", func(b *testing.B) {
		report(b, func() {
			if _, err := logs.FindLogs(LogQuery{Service: "api", Text: "RETRYING", Limit: 100}); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("log search/no match (full scan)", func(b *testing.B) {
		report(b, func() {
			if got, _ := logs.FindLogs(LogQuery{Text: "no such text"}); len(got) != 0 {
				b.Fatal("matched")
			}
		})
	})
	hour := REDQuery{End: end, Lookback: time.Hour, Step: time.Minute, RatePer: 5 * time.Minute}
	for _, metric := range []string{REDCalls, REDErrors, REDLatencies} {
		b.Run("RED 1h/"+metric+"/by operation", func(b *testing.B) {
			q := hour
			q.GroupByOperation = true
			report(b, func() {
				if fam, err := spans.RED(metric, q); err != nil || len(fam.Metrics) != 20 {
					b.Fatalf("%d series, %v", len(fam.Metrics), err)
				}
			})
		})
	}
	b.Run("RED 1h/latencies/service, Jaeger defaults (step 5s, ratePer 10m)", func(b *testing.B) {
		report(b, func() {
			if _, err := spans.RED(REDLatencies, REDQuery{Services: []string{"api"}, End: end}); err != nil {
				b.Fatal(err)
			}
		})
	})
	for name, path := range map[string]string{
		"http/api/traces/{id}/logs": "/api/traces/" + trace + "/logs",
		"http/api/metrics/latencies": fmt.Sprintf("/api/metrics/latencies?service=api&groupByOperation=true&quantile=0.95&endTs=%d&lookback=3600000&step=60000&ratePer=600000",
			end.UnixMilli()),
	} {
		b.Run(name, func(b *testing.B) {
			report(b, func() {
				rec := httptest.NewRecorder()
				ui.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
				if rec.Code != http.StatusOK {
					b.Fatal(rec.Code, rec.Body)
				}
			})
		})
	}
}

// BenchmarkStoreMemory fills each store to its default bound with typical
// data and reports the live heap it takes (after a GC) beside the store's
// own estimate.
func BenchmarkStoreMemory(b *testing.B) {
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	end := time.Unix(1_700_003_600, 0)
	b.Run("spans", func(b *testing.B) {
		for b.Loop() {
			h0 := heap()
			s, _ := NewStore(DefaultMaxSpans)
			for i := 0; i < DefaultMaxSpans; i += 512 {
				s.Ingest(synthRequest(i/8, 64, 8, []string{"web", "api", "db", "cache"}))
			}
			b.ReportMetric(float64(heap()-h0)/(1<<20), "heap-MiB")
			b.ReportMetric(float64(s.Bytes())/(1<<20), "estimate-MiB")
			b.ReportMetric(float64(s.SpanCount()), "spans")
			runtime.KeepAlive(s)
		}
	})
	b.Run("logs", func(b *testing.B) {
		for b.Loop() {
			h0 := heap()
			s, _ := NewLogStore(DefaultMaxLogRecords)
			for i := 0; i < DefaultMaxLogRecords; i += 512 {
				s.Ingest(synthLogs(i/8, 512, []string{"web", "api", "db", "cache"}, end))
			}
			b.ReportMetric(float64(heap()-h0)/(1<<20), "heap-MiB")
			b.ReportMetric(float64(s.Bytes())/(1<<20), "estimate-MiB")
			b.ReportMetric(float64(s.Len()), "records")
			runtime.KeepAlive(s)
		}
	})
	b.Run("metrics", func(b *testing.B) {
		for b.Loop() {
			h0 := heap()
			s, _ := NewMetricStore(DefaultMaxMetricPoints)
			for s.Len() < DefaultMaxMetricPoints {
				s.Ingest(sampleMetrics().GetResourceMetrics())
			}
			b.ReportMetric(float64(heap()-h0)/(1<<20), "heap-MiB")
			b.ReportMetric(float64(s.Bytes())/(1<<20), "estimate-MiB")
			runtime.KeepAlive(s)
		}
	})
}
