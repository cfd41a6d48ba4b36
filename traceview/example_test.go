package traceview_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"

	"github.com/patron-go/patron/traceview"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// Run the viewer on free ports, feed it a span in-process and ask the query
// API for the services it knows. In a service, pass the viewer to
// patron.Service.Run as a component and point OTLP exporters at
// Addrs().OTLPGRPC or Addrs().OTLPHTTP.
func Example() {
	v, err := traceview.New(
		traceview.WithUIAddr("127.0.0.1:0"),
		traceview.WithOTLPHTTPAddr("127.0.0.1:0"),
		traceview.WithOTLPGRPCAddr("127.0.0.1:0"),
		traceview.WithMaxSpans(10_000),
		traceview.WithLogger(slog.New(slog.DiscardHandler)),
	)
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx) }()
	if err := v.Ready(ctx); err != nil {
		log.Fatal(err)
	}

	v.Store().Ingest([]*tracepb.ResourceSpans{{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{{
			Key: "service.name", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "checkout"}},
		}}},
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{
			TraceId: []byte{1: 1, 15: 1}, SpanId: []byte{7: 1}, Name: "GET /cart",
			StartTimeUnixNano: 1_700_000_000_000_000_000, EndTimeUnixNano: 1_700_000_000_250_000_000,
		}}}},
	}})

	resp, err := http.Get("http://" + v.Addrs().UI + "/api/services")
	if err != nil {
		log.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(body))

	cancel()
	if err := <-done; err != nil {
		log.Fatal(err)
	}
	// Output:
	// {"data":["checkout"],"total":1,"limit":0,"offset":0,"errors":null}
}
