package http

import (
	"context"
	"io"
	nethttp "net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/patron-go/patron/correlation"
)

// benchClients returns a bare http.Client and Patron clients (every request
// sampled and exported to a no-op exporter through the batch processor, or
// none sampled) against the same loopback server.
func benchClients(b *testing.B) (srvURL string, bare *nethttp.Client, sampled, unsampled *Client) {
	srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	}))
	b.Cleanup(srv.Close)
	bare = &nethttp.Client{Transport: nethttp.DefaultTransport.(*nethttp.Transport).Clone()}
	b.Cleanup(bare.CloseIdleConnections)
	mk := func(s sdktrace.Sampler) *Client {
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(s), sdktrace.WithBatcher(tracetest.NewNoopExporter()))
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		b.Cleanup(func() { _ = tp.Shutdown(context.Background()); _ = mp.Shutdown(context.Background()) })
		c, err := New(WithTracerProvider(tp), WithMeterProvider(mp),
			WithPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(c.CloseIdleConnections)
		return c
	}
	return srv.URL, bare, mk(sdktrace.AlwaysSample()), mk(sdktrace.NeverSample())
}

func get(b *testing.B, ctx context.Context, do func(*nethttp.Request) (*nethttp.Response, error), u string) {
	req, _ := nethttp.NewRequestWithContext(ctx, nethttp.MethodGet, u, nil)
	resp, err := do(req)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
}

// BenchmarkClient reports time and allocations per loopback GET.
func BenchmarkClient(b *testing.B) {
	u, bare, sampled, unsampled := benchClients(b)
	ctx := correlation.ContextWithID(context.Background(), "bench-correlation-id")
	for _, bc := range []struct {
		name string
		do   func(*nethttp.Request) (*nethttp.Response, error)
	}{{"bare", bare.Do}, {"patron-sampled", sampled.Do}, {"patron-unsampled", unsampled.Do}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				get(b, ctx, bc.do, u)
			}
		})
	}
}

// BenchmarkClientRatio interleaves bare and Patron requests in one loop, so
// that both see the same machine load, and reports Patron's time as a
// multiple of bare's.
func BenchmarkClientRatio(b *testing.B) {
	u, bare, sampled, unsampled := benchClients(b)
	ctx := correlation.ContextWithID(context.Background(), "bench-correlation-id")
	var tBare, tSampled, tUnsampled time.Duration
	for b.Loop() {
		s := time.Now()
		get(b, ctx, bare.Do, u)
		tBare += time.Since(s)
		s = time.Now()
		get(b, ctx, sampled.Do, u)
		tSampled += time.Since(s)
		s = time.Now()
		get(b, ctx, unsampled.Do, u)
		tUnsampled += time.Since(s)
	}
	n := float64(b.N)
	b.ReportMetric(float64(tBare.Nanoseconds())/n, "bare-ns/req")
	b.ReportMetric(float64(tSampled.Nanoseconds())/n, "sampled-ns/req")
	b.ReportMetric(float64(tUnsampled.Nanoseconds())/n, "unsampled-ns/req")
	b.ReportMetric(float64(tSampled)/float64(tBare), "sampled/bare")
	b.ReportMetric(float64(tUnsampled)/float64(tBare), "unsampled/bare")
}
