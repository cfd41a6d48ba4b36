//go:build !patron_nogrpcexport

package telemetry

import (
	"log/slog"
	"net"
	"testing"

	"github.com/patron-go/patron/observability/observabilitytest"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
)

// Over gRPC a traces-only receiver answers Unimplemented for the metrics
// and logs services: the same single warning as a 404 over HTTP.
func TestRefusedSignalOverGRPCWarnsOnce(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	collectortrace.RegisterTraceServiceServer(srv, &receiver{got: make(chan struct{}, 1)})
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+ln.Addr().String())
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
	t.Setenv("OTEL_LOGS_EXPORTER", "none")
	var warnings observabilitytest.LogBuffer
	p, err := Setup(t.Context(), "refused-grpc", "1", WithoutGlobals(),
		WithErrorLogger(slog.New(slog.NewJSONHandler(&warnings, nil))))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := p.MeterProvider().Meter("m").Int64Counter("c")
	for i := range 3 {
		c.Add(t.Context(), 1)
		if err := p.ForceFlush(t.Context()); err != nil {
			t.Fatalf("flush %d: %v", i, err)
		}
	}
	if err := p.Shutdown(t.Context()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	recs := warnings.Records(t)
	if len(recs) != 1 || recs[0]["signal"] != "metrics" || recs[0]["endpoint"] != "http://"+ln.Addr().String() {
		t.Fatalf("warnings: %s", warnings.String())
	}
}
