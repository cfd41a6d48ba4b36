// Package otlptest is a real OTLP/HTTP receiver for tests: it decodes the
// official protobuf requests on /v1/traces, /v1/metrics and /v1/logs, as a
// collector does, and keeps what arrived. A request the collector would
// reject (a body that does not unmarshal, invalid UTF-8 in a string field)
// is answered 400 and counted, so a test can assert that nothing was lost.
package otlptest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	collectorlogs "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	collectormetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// Signal paths of OTLP/HTTP.
const (
	TracesPath  = "/v1/traces"
	MetricsPath = "/v1/metrics"
	LogsPath    = "/v1/logs"
)

// Receiver is an OTLP/HTTP receiver on a loopback httptest server.
type Receiver struct {
	// URL is the base URL, for OTEL_EXPORTER_OTLP_ENDPOINT.
	URL string

	refuse map[string]bool

	mu       sync.Mutex
	spans    []*tracepb.Span
	records  []*logspb.LogRecord
	metrics  int // export requests on /v1/metrics
	rejected int // bodies that did not unmarshal
	refused  map[string]int
}

// New starts a receiver, closed when t ends. Requests on the paths in
// refuse (for example MetricsPath) are answered 404, as a traces-only
// backend such as Jaeger answers them.
func New(t testing.TB, refuse ...string) *Receiver {
	t.Helper()
	r := &Receiver{refuse: map[string]bool{}, refused: map[string]int{}}
	for _, p := range refuse {
		r.refuse[p] = true
	}
	srv := httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.refuse[req.URL.Path] {
		r.refused[req.URL.Path]++
		http.NotFound(w, req)
		return
	}
	var resp proto.Message
	switch req.URL.Path {
	case TracesPath:
		m := &collectortrace.ExportTraceServiceRequest{}
		if err = proto.Unmarshal(body, m); err == nil {
			for _, rs := range m.GetResourceSpans() {
				for _, ss := range rs.GetScopeSpans() {
					r.spans = append(r.spans, ss.GetSpans()...)
				}
			}
		}
		resp = &collectortrace.ExportTraceServiceResponse{}
	case MetricsPath:
		m := &collectormetrics.ExportMetricsServiceRequest{}
		if err = proto.Unmarshal(body, m); err == nil {
			r.metrics++
		}
		resp = &collectormetrics.ExportMetricsServiceResponse{}
	case LogsPath:
		m := &collectorlogs.ExportLogsServiceRequest{}
		if err = proto.Unmarshal(body, m); err == nil {
			for _, rl := range m.GetResourceLogs() {
				for _, sl := range rl.GetScopeLogs() {
					r.records = append(r.records, sl.GetLogRecords()...)
				}
			}
		}
		resp = &collectorlogs.ExportLogsServiceResponse{}
	default:
		http.NotFound(w, req)
		return
	}
	if err != nil {
		r.rejected++
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	out, _ := proto.Marshal(resp)
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

// Spans returns a copy of the spans received so far.
func (r *Receiver) Spans() []*tracepb.Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*tracepb.Span(nil), r.spans...)
}

// Records returns a copy of the log records received so far.
func (r *Receiver) Records() []*logspb.LogRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*logspb.LogRecord(nil), r.records...)
}

// MetricExports is the number of metric export requests accepted.
func (r *Receiver) MetricExports() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.metrics
}

// Rejected is the number of requests whose body did not unmarshal.
func (r *Receiver) Rejected() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rejected
}

// Refused is the number of requests answered 404 on path.
func (r *Receiver) Refused(path string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.refused[path]
}
