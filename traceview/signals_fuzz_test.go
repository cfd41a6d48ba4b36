package traceview

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
)

func sampleLogs() *collogspb.ExportLogsServiceRequest {
	return &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{kv("service.name", "fuzz")}},
		ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{
			{TimeUnixNano: 1_700_000_000_000_000_000, SeverityNumber: logspb.SeverityNumber_SEVERITY_NUMBER_ERROR, SeverityText: "ERROR",
				Body: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "boom"}}, TraceId: tid(1), SpanId: sid(1),
				Attributes: []*commonpb.KeyValue{kv("k", "v"), kvInt("n", 3)}},
			{ObservedTimeUnixNano: 5, Body: &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{
				Values: []*commonpb.KeyValue{kv("a", "b")}}}}, TraceId: []byte{1}},
		}}},
	}}}
}

func sampleMetrics() *colmetricspb.ExportMetricsServiceRequest {
	dp := func(v float64) *metricspb.NumberDataPoint {
		return &metricspb.NumberDataPoint{TimeUnixNano: 10, Value: &metricspb.NumberDataPoint_AsDouble{AsDouble: v},
			Attributes: []*commonpb.KeyValue{kv("a", "b")},
			Exemplars:  []*metricspb.Exemplar{{TraceId: tid(1), SpanId: sid(1), Value: &metricspb.Exemplar_AsInt{AsInt: 4}}}}
	}
	mn, mx := 0.5, 9.0
	return &colmetricspb.ExportMetricsServiceRequest{ResourceMetrics: []*metricspb.ResourceMetrics{{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{kv("service.name", "fuzz")}},
		ScopeMetrics: []*metricspb.ScopeMetrics{{Metrics: []*metricspb.Metric{
			{Name: "c", Data: &metricspb.Metric_Sum{Sum: &metricspb.Sum{IsMonotonic: true, DataPoints: []*metricspb.NumberDataPoint{dp(1)},
				AggregationTemporality: metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE}}},
			{Name: "g", Data: &metricspb.Metric_Gauge{Gauge: &metricspb.Gauge{DataPoints: []*metricspb.NumberDataPoint{dp(2)}}}},
			{Name: "h", Data: &metricspb.Metric_Histogram{Histogram: &metricspb.Histogram{DataPoints: []*metricspb.HistogramDataPoint{{
				Count: 3, Sum: proto.Float64(4), Min: &mn, Max: &mx, BucketCounts: []uint64{1, 2}, ExplicitBounds: []float64{1}}}}}},
			{Name: "e", Data: &metricspb.Metric_ExponentialHistogram{ExponentialHistogram: &metricspb.ExponentialHistogram{
				DataPoints: []*metricspb.ExponentialHistogramDataPoint{{Count: 3, Scale: 1, ZeroCount: 1,
					Positive: &metricspb.ExponentialHistogramDataPoint_Buckets{Offset: -2, BucketCounts: []uint64{1, 1}},
					Negative: &metricspb.ExponentialHistogramDataPoint_Buckets{Offset: 1 << 30, BucketCounts: []uint64{1}}}}}}},
			{Name: "s", Data: &metricspb.Metric_Summary{Summary: &metricspb.Summary{DataPoints: []*metricspb.SummaryDataPoint{{
				Count: 2, Sum: 3, QuantileValues: []*metricspb.SummaryDataPoint_ValueAtQuantile{{Quantile: 0.5, Value: 1}}}}}}},
		}}},
	}}}
}

// fuzzSignal feeds arbitrary bodies, protobuf and JSON, to one OTLP/HTTP
// path: the receiver answers 200, 400 or 413 and never panics, and
// whatever it stored renders through the query API.
func fuzzSignal(f *testing.F, path string, seed proto.Message) {
	pb, err := proto.Marshal(seed)
	if err != nil {
		f.Fatal(err)
	}
	js, err := protojson.Marshal(seed)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(pb, false)
	f.Add(js, true)
	f.Add([]byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"5B8EFFF798038103D269B633813FC60C","body":{"arrayValue":{}}}]}]}]}`), true)
	f.Add([]byte(`{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"histogram":{"dataPoints":[{"bucketCounts":["1"],"explicitBounds":["NaN"]}]}}]}]}]}`), true)
	f.Add([]byte{0x0a, 0x02, 0x12, 0x00}, false)

	spans, err := NewStore(100)
	if err != nil {
		f.Fatal(err)
	}
	logs, err := NewLogStore(100)
	if err != nil {
		f.Fatal(err)
	}
	metrics, err := NewMetricStore(100)
	if err != nil {
		f.Fatal(err)
	}
	h := &otlpHTTP{store: spans, logs: logs, metrics: metrics, log: slog.New(slog.DiscardHandler), maxBody: 1 << 20,
		lim: limits{maxItems: 1000, maxCost: 1 << 20}}
	ui, err := newUIHandler(stores{spans: spans, logs: logs, metrics: metrics}, slog.New(slog.DiscardHandler))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, json bool) {
		ct := contentProtobuf
		if json {
			ct = contentJSON
		}
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", ct)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		for _, p := range []string{"/api/logs?limit=50", "/api/traces/" + hexTID(1) + "/logs", "/api/instruments?points=5"} {
			r := httptest.NewRecorder()
			ui.ServeHTTP(r, httptest.NewRequest(http.MethodGet, p, nil))
			if r.Code != http.StatusOK {
				t.Fatalf("GET %s after ingest: %d %s", p, r.Code, r.Body)
			}
		}
	})
}

func FuzzOTLPLogs(f *testing.F)    { fuzzSignal(f, "/v1/logs", sampleLogs()) }
func FuzzOTLPMetrics(f *testing.F) { fuzzSignal(f, "/v1/metrics", sampleMetrics()) }

// The limits' wire scan never panics and, for what protobuf decodes,
// never refuses a request within the caps by mistake: a request it passes
// decodes to no more items than the cap.
func FuzzLimitsCheck(f *testing.F) {
	for _, m := range []proto.Message{sampleLogs(), sampleMetrics()} {
		b, _ := proto.Marshal(m)
		f.Add(b)
	}
	f.Add(amplification(100, []byte{0xff}))
	f.Fuzz(func(t *testing.T, b []byte) {
		lim := limits{maxItems: 5, maxCost: 1 << 16}
		for _, k := range []msgKind{kTraceRequest, kLogsRequest, kMetricsRequest} {
			_ = lim.check(b, k)
		}
		req := &collogspb.ExportLogsServiceRequest{}
		if lim.check(b, kLogsRequest) == nil && proto.Unmarshal(b, req) == nil {
			n := 0
			for _, rl := range req.GetResourceLogs() {
				for _, sl := range rl.GetScopeLogs() {
					n += len(sl.GetLogRecords())
				}
			}
			if n > lim.maxItems {
				t.Fatalf("check passed %d log records, cap %d", n, lim.maxItems)
			}
		}
	})
}

// logsJSON renders stored records for comparison, resources and scopes
// included.
func logsJSON(t testing.TB, recs []*logRecord) string {
	t.Helper()
	type full struct {
		LogRecord
		Res   []KeyValue
		Scope *spanScope
	}
	out := make([]full, len(recs))
	for i, r := range recs {
		out[i] = full{LogRecord: r.toAPI(), Res: toKeyValues(r.res.attrs)}
		if r.scope != nil {
			out[i].Scope = r.scope
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%s|%+v", b, scopesOf(recs))
}

func scopesOf(recs []*logRecord) []spanScope {
	var out []spanScope
	for _, r := range recs {
		if r.scope != nil {
			out = append(out, *r.scope)
		} else {
			out = append(out, spanScope{})
		}
	}
	return out
}

// sameLogsAsReference reports whether the fast logs decoder stores what
// the reference path stores, or gives up; false only when they differ.
func sameLogsAsReference(t testing.TB, body []byte) bool {
	t.Helper()
	in := newInterner()
	fast, err := in.decodeLogs(body, limits{})
	if err != nil {
		return true // gave up (or over the limits): the reference decides
	}
	req := &collogspb.ExportLogsServiceRequest{}
	if err := proto.Unmarshal(body, req); err != nil {
		t.Errorf("fast path took %x, which protobuf refuses: %v", body, err)
		return false
	}
	ref := newInterner().convertLogs(req.GetResourceLogs())
	if a, b := logsJSON(t, fast), logsJSON(t, ref); a != b {
		t.Errorf("fast and reference differ for %x:\nfast %s\nref  %s", body, a, b)
		return false
	}
	return true
}

func logsCorpus(t testing.TB) [][]byte {
	var out [][]byte
	add := func(m proto.Message) {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	add(sampleLogs())
	add(&collogspb.ExportLogsServiceRequest{ResourceLogs: synthLogs(0, 64, []string{"a", "b"}, time.Unix(1_700_000_000, 0))})
	odd := sampleLogs()
	odd.ResourceLogs[0].ScopeLogs[0].LogRecords[0].Body = &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: 7}}
	odd.ResourceLogs[0].ScopeLogs[0].LogRecords[1].SeverityNumber = -3
	odd.ResourceLogs[0].Resource = nil
	add(odd)
	b := out[0]
	out = append(out, append(append([]byte{}, b...), b...)) // two requests' worth
	return out
}

func TestDecodeLogsMatchesReference(t *testing.T) {
	for _, b := range logsCorpus(t) {
		if _, err := newInterner().decodeLogs(b, limits{}); err != nil {
			t.Errorf("fast path gave up on an SDK-shaped request: %v", err)
		}
		sameLogsAsReference(t, b)
	}
}

func FuzzDecodeLogs(f *testing.F) {
	for _, b := range logsCorpus(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) { sameLogsAsReference(t, b) })
}

// OTLP/JSON logs and metrics, as the spec writes them (hex IDs), are stored.
func TestOTLPHTTPJSONLogsAndMetrics(t *testing.T) {
	spans := newTestStore(t, 10)
	logs, _ := NewLogStore(10)
	metrics, _ := NewMetricStore(100)
	h := &otlpHTTP{store: spans, logs: logs, metrics: metrics, log: testLogger(t), maxBody: 1 << 20}
	lj := `{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"js"}}]},
	  "scopeLogs":[{"logRecords":[{"timeUnixNano":"1700000000000000000","severityNumber":17,"body":{"stringValue":"failed"},
	  "traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174"}]}]}]}`
	lr := httptest.NewRequest(http.MethodPost, "/v1/logs", bytes.NewReader([]byte(lj)))
	lr.Header.Set("Content-Type", contentJSON)
	lw := httptest.NewRecorder()
	h.ServeHTTP(lw, lr)
	if lw.Code != http.StatusOK {
		t.Fatalf("logs: %d %s", lw.Code, lw.Body)
	}
	got := logs.TraceLogs("5b8efff798038103d269b633813fc60c")
	if len(got) != 1 || got[0].Severity != "ERROR" || got[0].SpanID != "eee19b7ec3c1b174" || got[0].Service != "js" {
		t.Errorf("JSON log = %+v", got)
	}
	mj, err := protojson.Marshal(sampleMetrics())
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRequest(http.MethodPost, "/v1/metrics", bytes.NewReader(mj))
	rec.Header.Set("Content-Type", contentJSON)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, rec)
	if w.Code != http.StatusOK || metrics.Len() != 5 {
		t.Errorf("metrics: %d %s; stored %d points, want 5", w.Code, w.Body, metrics.Len())
	}
}
