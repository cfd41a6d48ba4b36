package traceview

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testLogger sends the viewer's logs to the test log, so a failing test shows
// them and a passing one stays quiet.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tlogWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tlogWriter struct{ t testing.TB }

func (w tlogWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

// startViewer runs a viewer on free loopback ports until the test ends, and
// checks that Run then returns nil.
func startViewer(t testing.TB, opts ...Option) (*Viewer, Addrs) {
	t.Helper()
	opts = append([]Option{
		WithUIAddr("127.0.0.1:0"), WithOTLPHTTPAddr("127.0.0.1:0"), WithOTLPGRPCAddr("127.0.0.1:0"),
		WithLogger(testLogger(t)),
	}, opts...)
	v, err := New(opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v after cancel, want nil", err)
		}
	})
	rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer rcancel()
	if err := v.Ready(rctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	return v, v.Addrs()
}

// getAPI fetches a query API path and decodes the Jaeger envelope.
func getAPI[T any](t testing.TB, ctx context.Context, base, path string) (T, int) {
	t.Helper()
	var env struct {
		Data   T          `json:"data"`
		Total  int        `json:"total"`
		Errors []apiError `json:"errors"`
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatalf("GET %s: decoding %q: %v", path, body, err)
	}
	return env.Data, resp.StatusCode
}

func kv(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

func kvInt(k string, v int64) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: v}}}
}

func tid(n uint64) []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b[0:], 0xabc)
	binary.BigEndian.PutUint64(b[8:], n)
	return b
}

func sid(n uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, n+1)
	return b
}

// synthRequest builds OTLP resource spans: traces numbered from firstTrace,
// each with spansPerTrace spans in a chain across services, with realistic
// attributes. Span IDs are unique across calls with distinct firstTrace.
func synthRequest(firstTrace, traces, spansPerTrace int, services []string) []*tracepb.ResourceSpans {
	base := time.Unix(1_700_000_000, 0)
	byService := make(map[string]*tracepb.ScopeSpans)
	out := make([]*tracepb.ResourceSpans, 0, len(services))
	for _, svc := range services {
		ss := &tracepb.ScopeSpans{Scope: &commonpb.InstrumentationScope{Name: "patron/test", Version: "1.0"}}
		byService[svc] = ss
		out = append(out, &tracepb.ResourceSpans{
			Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
				kv("service.name", svc), kv("service.version", "1.2.3"), kv("host.name", "test-host"),
				kv("telemetry.sdk.language", "go"), kv("telemetry.sdk.name", "opentelemetry"),
			}},
			ScopeSpans: []*tracepb.ScopeSpans{ss},
		})
	}
	for tr := firstTrace; tr < firstTrace+traces; tr++ {
		start := base.Add(time.Duration(tr) * time.Millisecond)
		for i := range spansPerTrace {
			svc := services[i%len(services)]
			sp := &tracepb.Span{
				TraceId:           tid(uint64(tr)),
				SpanId:            sid(uint64(tr*spansPerTrace + i)),
				Name:              fmt.Sprintf("op-%d", i%7),
				Kind:              tracepb.Span_SPAN_KIND_SERVER,
				StartTimeUnixNano: uint64(start.Add(time.Duration(i) * time.Microsecond).UnixNano()),
				EndTimeUnixNano:   uint64(start.Add(time.Duration(i+1+tr%100) * time.Millisecond).UnixNano()),
				Attributes: []*commonpb.KeyValue{
					kv("http.request.method", "GET"), kv("url.path", fmt.Sprintf("/items/%d", tr)),
					kvInt("http.response.status_code", 200), kv("user.id", fmt.Sprintf("u%d", tr%1000)),
					kv("server.address", "example.internal"), kvInt("server.port", 8080),
				},
			}
			if i > 0 {
				sp.ParentSpanId = sid(uint64(tr*spansPerTrace + i - 1))
				sp.Kind = tracepb.Span_SPAN_KIND_CLIENT
			}
			if tr%50 == 0 {
				sp.Status = &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: "boom"}
			}
			byService[svc].Spans = append(byService[svc].Spans, sp)
		}
	}
	return out
}

// artifactDir is where tests leave files for people: PATRON_ARTIFACTS when
// set (CI keeps it), else a temporary directory.
func artifactDir(t testing.TB) string {
	if d := os.Getenv("PATRON_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatalf("artifact dir: %v", err)
		}
		return d
	}
	return t.TempDir()
}
