// Package grpc benchmarks the cost Patron's gRPC server component and
// client add to a unary call over loopback TCP, against bare grpc-go with
// the same service, side by side in one run:
//
//	go test -run '^$' -bench . -benchmem -count 3 ./bench/grpc/
package grpc

import (
	"context"
	"io"
	"log/slog"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"

	clientgrpc "github.com/patron-go/patron/client/grpc"
	patrongrpc "github.com/patron-go/patron/component/grpc"
	"github.com/patron-go/patron/correlation"
	"github.com/patron-go/patron/internal/grpctest"
	"github.com/patron-go/patron/observability/log"
)

// discard is a span exporter that drops everything, so the benchmark
// measures span creation and processing, not an exporter's I/O.
type discard struct{}

func (discard) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discard) Shutdown(context.Context) error                             { return nil }

type telemetry struct {
	tp *sdktrace.TracerProvider
	mp *sdkmetric.MeterProvider
}

func newTelemetry(b *testing.B, sampler sdktrace.Sampler) telemetry {
	t := telemetry{
		tp: sdktrace.NewTracerProvider(sdktrace.WithSampler(sampler), sdktrace.WithBatcher(discard{})),
		mp: sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader())),
	}
	b.Cleanup(func() {
		_ = t.tp.Shutdown(context.Background())
		_ = t.mp.Shutdown(context.Background())
	})
	return t
}

func bareServer(b *testing.B) string {
	return grpctest.Serve(b, &grpctest.Service{})
}

func patronServer(b *testing.B, tel telemetry) string {
	comp, err := patrongrpc.New("127.0.0.1:0",
		patrongrpc.WithTracerProvider(tel.tp),
		patrongrpc.WithMeterProvider(tel.mp),
		// The access log is on, as in production, written as JSON.
		patrongrpc.WithLogger(log.New(io.Discard, log.FormatJSON, slog.LevelInfo)))
	if err != nil {
		b.Fatal(err)
	}
	(&grpctest.Service{}).Register(comp.Server())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- comp.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	})
	return comp.Addr().String()
}

// otelServer is the same bare service with otelgrpc's stats handler: what
// a grpc-go user instruments with instead of Patron.
func otelServer(b *testing.B, tel telemetry) string {
	return grpctest.Serve(b, &grpctest.Service{}, grpc.StatsHandler(otelgrpc.NewServerHandler(
		otelgrpc.WithTracerProvider(tel.tp), otelgrpc.WithMeterProvider(tel.mp))))
}

func otelClient(b *testing.B, addr string, tel telemetry) testgrpc.TestServiceClient {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler(otelgrpc.WithTracerProvider(tel.tp), otelgrpc.WithMeterProvider(tel.mp))))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close() })
	return testgrpc.NewTestServiceClient(conn)
}

func bareClient(b *testing.B, addr string) testgrpc.TestServiceClient {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close() })
	return testgrpc.NewTestServiceClient(conn)
}

func patronClient(b *testing.B, addr string, tel telemetry) testgrpc.TestServiceClient {
	conn, err := clientgrpc.NewClient(addr, clientgrpc.WithInsecure(),
		clientgrpc.WithTracerProvider(tel.tp), clientgrpc.WithMeterProvider(tel.mp))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close() })
	return testgrpc.NewTestServiceClient(conn)
}

func run(b *testing.B, ctx context.Context, client testgrpc.TestServiceClient) {
	req := &testgrpc.SimpleRequest{Payload: &testgrpc.Payload{Body: make([]byte, 64)}}
	// Warm the connection up outside the measurement.
	if _, err := client.UnaryCall(ctx, req); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0, n := cpuTime(), 0
	for b.Loop() {
		if _, err := client.UnaryCall(ctx, req); err != nil {
			b.Fatal(err)
		}
		n++
	}
	// Client and server share the process: this is the CPU of both (and of
	// the span processors), steadier than wall time on a shared machine.
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(n), "cpu-ns/op")
}

// cpuTime is the user and system CPU time of the process, in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkUnary compares one unary call, sequentially, with:
//   - bare: grpc-go server and client, nothing else;
//   - patron-server: Patron's component, bare client;
//   - patron: Patron's component and client, every call sampled;
//   - patron-unsampled: the same, with a sampler that records nothing (the
//     access log and metrics still run).
func BenchmarkUnary(b *testing.B) {
	ctx := correlation.ContextWithID(context.Background(), "bench-correlation-id")
	b.Run("bare", func(b *testing.B) {
		run(b, ctx, bareClient(b, bareServer(b)))
	})
	b.Run("otelgrpc", func(b *testing.B) {
		tel := newTelemetry(b, sdktrace.AlwaysSample())
		run(b, ctx, otelClient(b, otelServer(b, tel), tel))
	})
	b.Run("patron-server", func(b *testing.B) {
		tel := newTelemetry(b, sdktrace.AlwaysSample())
		run(b, ctx, bareClient(b, patronServer(b, tel)))
	})
	b.Run("patron", func(b *testing.B) {
		tel := newTelemetry(b, sdktrace.AlwaysSample())
		run(b, ctx, patronClient(b, patronServer(b, tel), tel))
	})
	b.Run("patron-unsampled", func(b *testing.B) {
		tel := newTelemetry(b, sdktrace.NeverSample())
		run(b, ctx, patronClient(b, patronServer(b, tel), tel))
	})
}

// BenchmarkUnaryInterleaved alternates calls to a bare server/client pair,
// to otelgrpc's server and client handlers on the same bare service
// (sampled), and to Patron's server and client (sampled and unsampled) in
// one loop and times each call, so that the load of a shared machine hits
// all of them alike; it reports the mean per call of each, the ratios to
// bare, and Patron's throughput relative to otelgrpc's (otelgrpc time over
// Patron's: 0.9 means Patron serves 90% of otelgrpc's calls per second).
// The ns/op of this benchmark is the sum of the four calls.
func BenchmarkUnaryInterleaved(b *testing.B) {
	ctx := correlation.ContextWithID(context.Background(), "bench-correlation-id")
	sampled := newTelemetry(b, sdktrace.AlwaysSample())
	unsampled := newTelemetry(b, sdktrace.NeverSample())
	otel := newTelemetry(b, sdktrace.AlwaysSample())
	clients := []testgrpc.TestServiceClient{
		bareClient(b, bareServer(b)),
		patronClient(b, patronServer(b, sampled), sampled),
		patronClient(b, patronServer(b, unsampled), unsampled),
		otelClient(b, otelServer(b, otel), otel),
	}
	req := &testgrpc.SimpleRequest{Payload: &testgrpc.Payload{Body: make([]byte, 64)}}
	for _, c := range clients {
		if _, err := c.UnaryCall(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
	var total [4]time.Duration
	n := 0
	b.ResetTimer()
	for b.Loop() {
		// Rotate the order so that none always runs first (or last).
		for k := range clients {
			i := (n + k) % len(clients)
			start := time.Now()
			if _, err := clients[i].UnaryCall(ctx, req); err != nil {
				b.Fatal(err)
			}
			total[i] += time.Since(start)
		}
		n++
	}
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(n) }
	b.ReportMetric(per(total[0]), "bare-ns/call")
	b.ReportMetric(per(total[1]), "patron-ns/call")
	b.ReportMetric(per(total[2]), "unsampled-ns/call")
	b.ReportMetric(per(total[1])/per(total[0]), "patron/bare")
	b.ReportMetric(per(total[2])/per(total[0]), "unsampled/bare")
	b.ReportMetric(per(total[3]), "otelgrpc-ns/call")
	b.ReportMetric(per(total[3])/per(total[0]), "otelgrpc/bare")
	b.ReportMetric(per(total[3])/per(total[1]), "patron-throughput/otelgrpc")
}
