package patron

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	patronhttp "github.com/patron-go/patron/component/http"
	"github.com/patron-go/patron/internal/otlptest"
	patronlog "github.com/patron-go/patron/observability/log"
	"github.com/patron-go/patron/observability/observabilitytest"
	"github.com/patron-go/patron/observability/telemetry"
)

// A request with a path or a User-Agent that is not UTF-8 must not take its
// export batch with it: before the exporter sanitised strings, the OTLP
// marshal refused the whole batch, and 20 clean requests plus one /hello/%ff
// exported 0 spans.
func TestNonUTF8RequestsDoNotLoseSpans(t *testing.T) {
	rcv := otlptest.New(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	t.Setenv("OTEL_METRICS_EXPORTER", "none")
	t.Setenv("OTEL_LOGS_EXPORTER", "none")

	route, err := patronhttp.NewRoute("GET /hello/{name}", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hello")
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	r := start(t, ctx, []Option{WithRoutes(route), WithObservability(telemetry.WithoutGlobals(), telemetry.WithoutRuntimeMetrics())})

	for range 20 {
		if code, _ := get(t, r.base+"/hello/ada"); code != http.StatusOK {
			t.Fatalf("clean request: %d", code)
		}
	}
	raw := func(line string) {
		t.Helper()
		c, err := net.Dial("tcp", strings.TrimPrefix(r.base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(waitTimeout))
		if _, err := io.WriteString(c, line); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 12)
		if _, err := io.ReadFull(c, b); err != nil || !strings.HasPrefix(string(b), "HTTP/1.1 ") {
			t.Fatalf("raw request %q: %q %v", line, b, err)
		}
	}
	// Go's client refuses to send these, so they go on a raw connection.
	raw("GET /hello/%ff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	raw("GET /hello/ada HTTP/1.1\r\nHost: x\r\nUser-Agent: bad-\xff\xfe-agent\r\nConnection: close\r\n\r\n")
	raw("GET /no/such/\xc3\x28route HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	raw("GET /no/such/%c3%28route HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")

	cancel() // Run flushes telemetry before it returns
	if err := r.wait(t); err != nil {
		t.Fatal(err)
	}
	if n := rcv.Rejected(); n != 0 {
		t.Fatalf("receiver rejected %d export requests", n)
	}
	var server int
	for _, s := range rcv.Spans() {
		if s.GetKind() == 2 { // SPAN_KIND_SERVER
			server++
		}
	}
	if server != 24 {
		t.Fatalf("receiver got %d server spans, want 24 (20 clean, 4 hostile)", server)
	}
}

// With an OTLP endpoint a service's records go out as OTLP logs, under the
// span that logged them, and still to its own log output.
func TestServiceExportsLogsUnderTheirSpans(t *testing.T) {
	rcv := otlptest.New(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	t.Setenv("OTEL_METRICS_EXPORTER", "none")

	var local observabilitytest.LogBuffer
	route, err := patronhttp.NewRoute("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		patronlog.FromContext(r.Context()).InfoContext(r.Context(), "handled hello")
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	r := start(t, ctx, []Option{WithRoutes(route), WithLogger(slog.New(slog.NewJSONHandler(&local, nil))),
		WithObservability(telemetry.WithoutGlobals(), telemetry.WithoutRuntimeMetrics())})
	if code, _ := get(t, r.base+"/hello"); code != http.StatusOK {
		t.Fatalf("GET /hello: %d", code)
	}
	cancel()
	if err := r.wait(t); err != nil {
		t.Fatal(err)
	}
	var traceID []byte
	for _, s := range rcv.Spans() {
		if s.GetName() == "GET /hello" {
			traceID = s.GetTraceId()
		}
	}
	var found bool
	for _, rec := range rcv.Records() {
		if rec.GetBody().GetStringValue() == "handled hello" {
			found = true
			if traceID == nil || string(rec.GetTraceId()) != string(traceID) || len(rec.GetSpanId()) != 8 {
				t.Fatalf("record %x/%x, server span's trace %x", rec.GetTraceId(), rec.GetSpanId(), traceID)
			}
		}
	}
	if !found {
		t.Fatalf("the record did not arrive; got %v", rcv.Records())
	}
	if !strings.Contains(local.String(), "handled hello") {
		t.Fatalf("the record left the local output: %s", local.String())
	}
}

func TestSDKDisabledServiceExportsNothing(t *testing.T) {
	rcv := otlptest.New(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.URL)
	t.Setenv("OTEL_SDK_DISABLED", "true")
	ctx, cancel := context.WithCancel(t.Context())
	r := start(t, ctx, []Option{WithObservability(telemetry.WithoutGlobals())})
	if code, _ := get(t, r.base+"/alive"); code != http.StatusOK {
		t.Fatalf("/alive: %d", code)
	}
	if code, _ := get(t, r.base+"/metrics"); code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	cancel()
	if err := r.wait(t); err != nil {
		t.Fatal(err)
	}
	if n := len(rcv.Spans()) + len(rcv.Records()) + rcv.MetricExports(); n != 0 {
		t.Fatalf("the receiver got %d exports", n)
	}
}
