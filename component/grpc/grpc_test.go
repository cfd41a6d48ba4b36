package grpc_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	clientgrpc "github.com/patron-go/patron/client/grpc"
	patrongrpc "github.com/patron-go/patron/component/grpc"
	"github.com/patron-go/patron/correlation"
	"github.com/patron-go/patron/internal/grpctest"
	"github.com/patron-go/patron/observability/log"
	"github.com/patron-go/patron/observability/observabilitytest"
	"github.com/patron-go/patron/patrontest/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	unaryName  = "grpc.testing.TestService/UnaryCall"
	duplexName = "grpc.testing.TestService/FullDuplexCall"
	outputName = "grpc.testing.TestService/StreamingOutputCall"
	waitFor    = 10 * time.Second
)

// waitRecord waits for the first log record that match accepts.
func waitRecord(t testing.TB, logs *observabilitytest.LogBuffer, match func(map[string]any) bool) map[string]any {
	t.Helper()
	return logs.WaitRecord(t, waitFor, match)
}

func accessRecord(method string) func(map[string]any) bool {
	return func(r map[string]any) bool { return r["msg"] == "grpc request" && r["rpc.method"] == method }
}

type fixture struct {
	kit    *observabilitytest.Kit
	comp   *patrongrpc.Component
	logs   *observabilitytest.LogBuffer
	conn   *grpc.ClientConn
	client testgrpc.TestServiceClient
	cancel context.CancelFunc
	done   chan error
}

// start runs a component with svc on a loopback port and connects a Patron
// client to it; both report to one test kit.
func start(t *testing.T, svc *grpctest.Service, opts ...patrongrpc.Option) *fixture {
	t.Helper()
	f := &fixture{kit: observabilitytest.New(t), logs: &observabilitytest.LogBuffer{}, done: make(chan error, 1)}
	logger := log.New(f.logs, log.FormatJSON, slog.LevelDebug)
	base := []patrongrpc.Option{
		patrongrpc.WithTracerProvider(f.kit.TracerProvider),
		patrongrpc.WithMeterProvider(f.kit.MeterProvider),
		patrongrpc.WithPropagator(f.kit.Propagator),
		patrongrpc.WithLogger(logger),
	}
	comp, err := patrongrpc.New("127.0.0.1:0", append(base, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.comp = comp
	svc.Register(comp.Server())

	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	go func() { f.done <- comp.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-f.done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	waitReady(t, comp)

	f.conn = dial(t, f.kit, comp.Addr().String())
	f.client = testgrpc.NewTestServiceClient(f.conn)
	return f
}

func dial(t *testing.T, kit *observabilitytest.Kit, addr string, opts ...clientgrpc.Option) *grpc.ClientConn {
	t.Helper()
	base := []clientgrpc.Option{
		clientgrpc.WithTracerProvider(kit.TracerProvider),
		clientgrpc.WithMeterProvider(kit.MeterProvider),
		clientgrpc.WithPropagator(kit.Propagator),
	}
	if len(opts) == 0 {
		base = append(base, clientgrpc.WithInsecure())
	}
	conn, err := clientgrpc.NewClient(addr, append(base, opts...)...)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func waitReady(t *testing.T, comp *patrongrpc.Component) {
	t.Helper()
	testenv.WaitFor(t, waitFor, "the component to be ready", func() bool { return comp.Ready(t.Context()) == nil })
}

// serverCalls counts rpc.server.call.duration with attrs, once recorded:
// otelgrpc records it after it ended the server span that tests wait for.
func serverCalls(t *testing.T, f *fixture, attrs ...attribute.KeyValue) float64 {
	t.Helper()
	testenv.WaitFor(t, waitFor, "rpc.server.call.duration to be recorded", func() bool {
		return f.kit.Recorded(t, "rpc.server.call.duration")
	})
	return f.kit.Sum(t, "rpc.server.call.duration", attrs...)
}

func payload(s string) *testgrpc.Payload { return &testgrpc.Payload{Body: []byte(s)} }

func TestUnaryContinuesCallersTrace(t *testing.T) {
	f := start(t, &grpctest.Service{})

	ctx, parent := f.kit.TracerProvider.Tracer("test").Start(t.Context(), "caller")
	resp, err := f.client.UnaryCall(ctx, &testgrpc.SimpleRequest{Payload: payload("hello")})
	parent.End()
	if err != nil {
		t.Fatalf("UnaryCall: %v", err)
	}
	if string(resp.GetPayload().GetBody()) != "hello" {
		t.Fatalf("echo = %q", resp.GetPayload().GetBody())
	}

	spans := f.kit.WaitForSpanCount(t, waitFor, unaryName, 2)
	rpcAttrs := []attribute.KeyValue{
		semconv.RPCSystemNameGRPC,
		semconv.RPCMethod(unaryName),
		semconv.RPCResponseStatusCode("OK"),
	}
	observabilitytest.AssertTree(t, spans, observabilitytest.Want{
		Name: "caller",
		Children: []observabilitytest.Want{{
			Name: unaryName, Kind: trace.SpanKindClient, Attrs: rpcAttrs,
			Children: []observabilitytest.Want{{Name: unaryName, Kind: trace.SpanKindServer, Attrs: rpcAttrs}},
		}},
	})

	if n := serverCalls(t, f, semconv.RPCMethod(unaryName), semconv.RPCResponseStatusCode("OK")); n != 1 {
		t.Errorf("rpc.server.call.duration count = %v, want 1", n)
	}
	if n := f.kit.Sum(t, "rpc.client.call.duration", semconv.RPCMethod(unaryName)); n != 1 {
		t.Errorf("rpc.client.call.duration count = %v, want 1", n)
	}
}

func TestCorrelationIDReachesServerLogs(t *testing.T) {
	var seen string
	var mu sync.Mutex
	svc := &grpctest.Service{Unary: func(ctx context.Context, req *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
		id, _ := correlation.FromContext(ctx)
		mu.Lock()
		seen = id
		mu.Unlock()
		log.FromContext(ctx).InfoContext(ctx, "in handler")
		return &testgrpc.SimpleResponse{}, nil
	}}
	f := start(t, svc)

	const id = "corr-4711-abc"
	ctx, parent := f.kit.TracerProvider.Tracer("test").Start(correlation.ContextWithID(t.Context(), id), "caller")
	defer parent.End()
	if _, err := f.client.UnaryCall(ctx, &testgrpc.SimpleRequest{}); err != nil {
		t.Fatalf("UnaryCall: %v", err)
	}
	mu.Lock()
	if seen != id {
		t.Errorf("handler saw correlation ID %q, want %q", seen, id)
	}
	mu.Unlock()

	traceID := parent.SpanContext().TraceID().String()
	handler := waitRecord(t, f.logs, func(r map[string]any) bool { return r["msg"] == "in handler" })
	access := waitRecord(t, f.logs, accessRecord(unaryName))
	for name, r := range map[string]map[string]any{"handler": handler, "access": access} {
		if r[log.CorrelationIDKey] != id {
			t.Errorf("%s record correlation_id = %v, want %q", name, r[log.CorrelationIDKey], id)
		}
		if r[log.TraceIDKey] != traceID {
			t.Errorf("%s record trace_id = %v, want %s", name, r[log.TraceIDKey], traceID)
		}
	}
	if access["rpc.response.status_code"] != "OK" || access["rpc.type"] != "unary" || access["level"] != "INFO" {
		t.Errorf("access record = %v", access)
	}
	// slog writes a Duration as nanoseconds in JSON.
	if d, ok := access["duration"].(string); !ok || d == "" || d == "0s" {
		t.Errorf("access record duration = %v", access["duration"])
	}
	if _, ok := access["client.address"]; !ok {
		t.Errorf("access record has no client.address: %v", access)
	}
}

func TestCorrelationIDGeneratedWhenAbsent(t *testing.T) {
	f := start(t, &grpctest.Service{})
	if _, err := f.client.UnaryCall(t.Context(), &testgrpc.SimpleRequest{}); err != nil {
		t.Fatalf("UnaryCall: %v", err)
	}
	access := waitRecord(t, f.logs, accessRecord(unaryName))
	if id, _ := access[log.CorrelationIDKey].(string); !correlation.Valid(id) {
		t.Errorf("generated correlation_id %q is not valid", id)
	}
}

func TestPanicReturnsInternalAndServerKeepsServing(t *testing.T) {
	svc := &grpctest.Service{
		Unary: func(_ context.Context, req *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
			if string(req.GetPayload().GetBody()) == "boom" {
				panic("unary boom")
			}
			return &testgrpc.SimpleResponse{Payload: req.GetPayload()}, nil
		},
		Stream: func(_ context.Context, req *testgrpc.StreamingOutputCallRequest) error {
			if string(req.GetPayload().GetBody()) == "boom" {
				panic("stream boom")
			}
			return nil
		},
	}
	f := start(t, svc)

	_, err := f.client.UnaryCall(t.Context(), &testgrpc.SimpleRequest{Payload: payload("boom")})
	if st := status.Convert(err); st.Code() != codes.Internal || strings.Contains(st.Message(), "boom") {
		t.Fatalf("panicking unary call: %v, want Internal without the panic value", err)
	}

	stream, err := f.client.FullDuplexCall(t.Context())
	if err != nil {
		t.Fatalf("FullDuplexCall: %v", err)
	}
	if err := stream.Send(&testgrpc.StreamingOutputCallRequest{Payload: payload("boom")}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if _, err := stream.Recv(); status.Code(err) != codes.Internal {
		t.Fatalf("panicking stream: %v, want Internal", err)
	}

	// The server is still there.
	if _, err := f.client.UnaryCall(t.Context(), &testgrpc.SimpleRequest{Payload: payload("ok")}); err != nil {
		t.Fatalf("call after panic: %v", err)
	}

	spans := f.kit.WaitForSpanCount(t, waitFor, unaryName, 4)
	var failed int
	for _, s := range observabilitytest.Named(spans, unaryName) {
		if s.SpanKind() == trace.SpanKindServer && s.Status().Code.String() == "Error" {
			failed++
			if v, _ := observabilitytest.Attr(s, semconv.RPCResponseStatusCodeKey); v.AsString() != "INTERNAL" {
				t.Errorf("panicked span status code attribute = %v", v.String())
			}
		}
	}
	if failed != 1 {
		t.Errorf("failed SERVER spans for unary = %d, want 1\n%s", failed, observabilitytest.Describe(spans))
	}
	duplex := f.kit.WaitForSpanCount(t, waitFor, duplexName, 2)
	observabilitytest.AssertTree(t, duplex, observabilitytest.Want{
		Name: duplexName, Kind: trace.SpanKindClient, Error: true,
		Children: []observabilitytest.Want{{Name: duplexName, Kind: trace.SpanKindServer, Error: true}},
	})

	for _, value := range []string{"unary boom", "stream boom"} {
		r := waitRecord(t, f.logs, func(r map[string]any) bool { return r["msg"] == "grpc handler panicked" && r["panic"] == value })
		if stack, _ := r["stack"].(string); !strings.Contains(stack, "grpc_test") {
			t.Errorf("panic record has no useful stack: %v", r["stack"])
		}
		if _, ok := r[log.CorrelationIDKey]; !ok {
			t.Errorf("panic record has no correlation_id: %v", r)
		}
	}
	access := waitRecord(t, f.logs, func(r map[string]any) bool {
		return r["msg"] == "grpc request" && r["rpc.response.status_code"] == "INTERNAL" && r["rpc.method"] == unaryName
	})
	if access["level"] != "ERROR" {
		t.Errorf("access record of a panic has level %v, want ERROR", access["level"])
	}
}

func TestStreamingRPCsAreTraced(t *testing.T) {
	f := start(t, &grpctest.Service{})
	ctx, parent := f.kit.TracerProvider.Tracer("test").Start(correlation.ContextWithID(t.Context(), "stream-corr"), "caller")

	out, err := f.client.StreamingOutputCall(ctx, &testgrpc.StreamingOutputCallRequest{
		ResponseParameters: []*testgrpc.ResponseParameters{{Size: 1}, {Size: 2}, {Size: 3}},
	})
	if err != nil {
		t.Fatalf("StreamingOutputCall: %v", err)
	}
	var got int
	for {
		_, err := out.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Recv: %v", err)
		}
		got++
	}
	if got != 3 {
		t.Fatalf("received %d responses, want 3", got)
	}

	duplex, err := f.client.FullDuplexCall(ctx)
	if err != nil {
		t.Fatalf("FullDuplexCall: %v", err)
	}
	for _, body := range []string{"a", "b"} {
		if err := duplex.Send(&testgrpc.StreamingOutputCallRequest{Payload: payload(body)}); err != nil {
			t.Fatalf("Send: %v", err)
		}
		resp, err := duplex.Recv()
		if err != nil || string(resp.GetPayload().GetBody()) != body {
			t.Fatalf("Recv = %v, %v; want %q", resp, err, body)
		}
	}
	if err := duplex.CloseSend(); err != nil {
		t.Fatalf("CloseSend: %v", err)
	}
	if _, err := duplex.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("Recv after CloseSend: %v, want EOF", err)
	}
	parent.End()

	spans := f.kit.WaitForSpans(t, waitFor, func(ss []sdktrace.ReadOnlySpan) bool {
		return len(observabilitytest.Named(ss, outputName)) >= 2 && len(observabilitytest.Named(ss, duplexName)) >= 2
	})
	observabilitytest.AssertTree(t, spans, observabilitytest.Want{
		Name: "caller",
		Children: []observabilitytest.Want{
			{
				Name: outputName, Kind: trace.SpanKindClient,
				Children: []observabilitytest.Want{{
					Name: outputName, Kind: trace.SpanKindServer,
					Attrs: []attribute.KeyValue{semconv.RPCMethod(outputName), semconv.RPCResponseStatusCode("OK")},
				}},
			},
			{
				Name: duplexName, Kind: trace.SpanKindClient,
				Children: []observabilitytest.Want{{
					Name: duplexName, Kind: trace.SpanKindServer,
					Attrs: []attribute.KeyValue{semconv.RPCMethod(duplexName), semconv.RPCResponseStatusCode("OK")},
				}},
			},
		},
	})

	for method, kind := range map[string]string{outputName: "server_stream", duplexName: "bidi_stream"} {
		r := waitRecord(t, f.logs, accessRecord(method))
		if r["rpc.type"] != kind || r[log.CorrelationIDKey] != "stream-corr" || r[log.TraceIDKey] != parent.SpanContext().TraceID().String() {
			t.Errorf("access record of %s = %v", method, r)
		}
	}
}

func TestHandlerErrorIsRecorded(t *testing.T) {
	f := start(t, &grpctest.Service{})
	_, err := f.client.UnaryCall(t.Context(), &testgrpc.SimpleRequest{
		ResponseStatus: &testgrpc.EchoStatus{Code: int32(codes.NotFound), Message: "no such thing"},
	})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("UnaryCall: %v, want NotFound", err)
	}
	r := waitRecord(t, f.logs, accessRecord(unaryName))
	// A client error is not the server's failure: info level.
	if r["rpc.response.status_code"] != "NOT_FOUND" || r["level"] != "INFO" || r["error"] != "no such thing" {
		t.Errorf("access record = %v", r)
	}
	if n := serverCalls(t, f, semconv.RPCResponseStatusCode("NOT_FOUND")); n != 1 {
		t.Errorf("rpc.server.call.duration{NOT_FOUND} = %v, want 1", n)
	}
}
