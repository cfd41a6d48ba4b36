package grpc_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	clientgrpc "github.com/patron-go/patron/client/grpc"
	"github.com/patron-go/patron/correlation"
	"github.com/patron-go/patron/internal/grpctest"
	"github.com/patron-go/patron/observability/log"
	"github.com/patron-go/patron/observability/observabilitytest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	unaryName  = "grpc.testing.TestService/UnaryCall"
	duplexName = "grpc.testing.TestService/FullDuplexCall"
	waitFor    = 10 * time.Second
)

// captured records the metadata of the calls a server received.
type captured struct {
	mu  sync.Mutex
	mds []metadata.MD
}

func (c *captured) add(ctx context.Context) {
	md, _ := metadata.FromIncomingContext(ctx)
	c.mu.Lock()
	c.mds = append(c.mds, md)
	c.mu.Unlock()
}

func (c *captured) last(t *testing.T) metadata.MD {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.mds) == 0 {
		t.Fatal("server received no call")
	}
	return c.mds[len(c.mds)-1]
}

func newClient(t *testing.T, kit *observabilitytest.Kit, addr string, opts ...clientgrpc.Option) testgrpc.TestServiceClient {
	t.Helper()
	base := []clientgrpc.Option{
		clientgrpc.WithInsecure(),
		clientgrpc.WithTracerProvider(kit.TracerProvider),
		clientgrpc.WithMeterProvider(kit.MeterProvider),
		clientgrpc.WithPropagator(kit.Propagator),
	}
	conn, err := clientgrpc.NewClient(addr, append(base, opts...)...)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return testgrpc.NewTestServiceClient(conn)
}

func fastRetries(codes ...codes.Code) clientgrpc.Option {
	p := clientgrpc.DefaultRetryPolicy()
	p.InitialBackoff, p.MaxBackoff = time.Millisecond, 5*time.Millisecond
	if len(codes) > 0 {
		p.RetryableCodes = codes
	}
	return clientgrpc.WithRetryPolicy(p)
}

func TestUnaryPropagatesTraceAndCorrelationID(t *testing.T) {
	kit := observabilitytest.New(t)
	var got captured
	addr := grpctest.Serve(t, &grpctest.Service{Unary: func(ctx context.Context, req *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
		got.add(ctx)
		return &testgrpc.SimpleResponse{}, nil
	}})
	client := newClient(t, kit, addr)

	const id = "client-corr-1"
	ctx, parent := kit.TracerProvider.Tracer("test").Start(correlation.ContextWithID(t.Context(), id), "caller")
	if _, err := client.UnaryCall(ctx, &testgrpc.SimpleRequest{}); err != nil {
		t.Fatalf("UnaryCall: %v", err)
	}
	parent.End()

	md := got.last(t)
	if v := md.Get(correlation.MetadataKey); len(v) != 1 || v[0] != id {
		t.Errorf("x-correlation-id = %v, want [%s]", v, id)
	}
	spans := kit.WaitForSpanCount(t, waitFor, unaryName, 1)
	observabilitytest.AssertTree(t, spans, observabilitytest.Want{
		Name: "caller",
		Children: []observabilitytest.Want{{
			Name: unaryName, Kind: trace.SpanKindClient,
			Attrs: []attribute.KeyValue{semconv.RPCSystemNameGRPC, semconv.RPCMethod(unaryName), semconv.RPCResponseStatusCode("OK")},
		}},
	})
	client0 := kit.Span(t, unaryName).SpanContext()
	tp := md.Get("traceparent")
	want := "00-" + client0.TraceID().String() + "-" + client0.SpanID().String() + "-01"
	if len(tp) != 1 || tp[0] != want {
		t.Errorf("traceparent = %v, want %s (the CLIENT span)", tp, want)
	}
	if n := kit.Sum(t, "rpc.client.call.duration", semconv.RPCMethod(unaryName)); n != 1 {
		t.Errorf("rpc.client.call.duration count = %v, want 1", n)
	}
}

func TestNoCorrelationIDIsInvented(t *testing.T) {
	kit := observabilitytest.New(t)
	var got captured
	addr := grpctest.Serve(t, &grpctest.Service{Unary: func(ctx context.Context, _ *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
		got.add(ctx)
		return &testgrpc.SimpleResponse{}, nil
	}})
	if _, err := newClient(t, kit, addr).UnaryCall(t.Context(), &testgrpc.SimpleRequest{}); err != nil {
		t.Fatalf("UnaryCall: %v", err)
	}
	// The server generates one; the client has none to pass on.
	if v := got.last(t).Get(correlation.MetadataKey); len(v) != 0 {
		t.Errorf("x-correlation-id = %v, want none", v)
	}
}

func TestStreamPropagatesCorrelationID(t *testing.T) {
	kit := observabilitytest.New(t)
	var got captured
	addr := grpctest.Serve(t, &grpctest.Service{Stream: func(ctx context.Context, _ *testgrpc.StreamingOutputCallRequest) error {
		got.add(ctx)
		return nil
	}})
	client := newClient(t, kit, addr)

	stream, err := client.FullDuplexCall(correlation.ContextWithID(t.Context(), "stream-1"))
	if err != nil {
		t.Fatalf("FullDuplexCall: %v", err)
	}
	if err := stream.Send(&testgrpc.StreamingOutputCallRequest{}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatalf("Recv: %v", err)
	}
	_ = stream.CloseSend()
	if _, err := stream.Recv(); err == nil {
		t.Fatal("stream did not end")
	}
	if v := got.last(t).Get(correlation.MetadataKey); len(v) != 1 || v[0] != "stream-1" {
		t.Errorf("x-correlation-id = %v", v)
	}
	kit.WaitForSpanCount(t, waitFor, duplexName, 1)
}

// flaky fails the first n calls with code, then answers.
func flaky(n int32, code codes.Code) (*grpctest.Service, *atomic.Int32) {
	var calls atomic.Int32
	return &grpctest.Service{Unary: func(context.Context, *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
		if calls.Add(1) <= n {
			return nil, status.Error(code, "try again")
		}
		return &testgrpc.SimpleResponse{}, nil
	}}, &calls
}

func TestRetriesUnavailable(t *testing.T) {
	kit := observabilitytest.New(t)
	svc, calls := flaky(2, codes.Unavailable)
	client := newClient(t, kit, grpctest.Serve(t, svc), fastRetries())

	if _, err := client.UnaryCall(t.Context(), &testgrpc.SimpleRequest{}); err != nil {
		t.Fatalf("UnaryCall with retries: %v", err)
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("server saw %d attempts, want 3", n)
	}
	// One CLIENT span per attempt: two failed, one OK.
	spans := kit.WaitForSpanCount(t, waitFor, unaryName, 3)
	var failed int
	for _, s := range observabilitytest.Named(spans, unaryName) {
		if s.Status().Code.String() == "Error" {
			failed++
		}
	}
	if failed != 2 {
		t.Errorf("failed attempt spans = %d, want 2\n%s", failed, observabilitytest.Describe(spans))
	}
}

func TestRetryGivesUpAfterMaxAttempts(t *testing.T) {
	kit := observabilitytest.New(t)
	svc, calls := flaky(100, codes.Unavailable)
	client := newClient(t, kit, grpctest.Serve(t, svc), fastRetries())
	if _, err := client.UnaryCall(t.Context(), &testgrpc.SimpleRequest{}); status.Code(err) != codes.Unavailable {
		t.Fatalf("UnaryCall = %v, want Unavailable", err)
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("server saw %d attempts, want 3 (MaxAttempts)", n)
	}
}

func TestNoRetryOnOtherCodesOrWhenDisabled(t *testing.T) {
	kit := observabilitytest.New(t)

	svc, calls := flaky(1, codes.Internal)
	client := newClient(t, kit, grpctest.Serve(t, svc), fastRetries())
	if _, err := client.UnaryCall(t.Context(), &testgrpc.SimpleRequest{}); status.Code(err) != codes.Internal {
		t.Fatalf("UnaryCall = %v, want Internal", err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("Internal was retried: %d attempts", n)
	}

	svc, calls = flaky(1, codes.Unavailable)
	client = newClient(t, kit, grpctest.Serve(t, svc), clientgrpc.WithoutRetries())
	if _, err := client.UnaryCall(t.Context(), &testgrpc.SimpleRequest{}); status.Code(err) != codes.Unavailable {
		t.Fatalf("UnaryCall without retries = %v, want Unavailable", err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("WithoutRetries made %d attempts", n)
	}

	// Custom retryable codes.
	svc, calls = flaky(1, codes.Aborted)
	client = newClient(t, kit, grpctest.Serve(t, svc), fastRetries(codes.Aborted))
	if _, err := client.UnaryCall(t.Context(), &testgrpc.SimpleRequest{}); err != nil {
		t.Fatalf("UnaryCall retrying Aborted: %v", err)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("Aborted retry made %d attempts, want 2", n)
	}
}

func TestServiceConfig(t *testing.T) {
	kit := observabilitytest.New(t)
	svc, calls := flaky(1, codes.ResourceExhausted)
	const sc = `{"methodConfig":[{"name":[{"service":"grpc.testing.TestService"}],
		"retryPolicy":{"maxAttempts":2,"initialBackoff":"0.001s","maxBackoff":"0.01s","backoffMultiplier":2,
		"retryableStatusCodes":["RESOURCE_EXHAUSTED"]}}]}`
	client := newClient(t, kit, grpctest.Serve(t, svc), clientgrpc.WithServiceConfig(sc))
	if _, err := client.UnaryCall(t.Context(), &testgrpc.SimpleRequest{}); err != nil {
		t.Fatalf("UnaryCall: %v", err)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("attempts = %d, want 2", n)
	}
}

func TestFailedCallsAreLoggedAtDebug(t *testing.T) {
	kit := observabilitytest.New(t)
	var buf observabilitytest.LogBuffer
	logger := log.New(&buf, log.FormatJSON, slog.LevelDebug)
	svc, _ := flaky(1, codes.NotFound)
	client := newClient(t, kit, grpctest.Serve(t, svc), clientgrpc.WithLogger(logger))
	ctx := correlation.ContextWithID(t.Context(), "failed-1")
	if _, err := client.UnaryCall(ctx, &testgrpc.SimpleRequest{}); status.Code(err) != codes.NotFound {
		t.Fatalf("UnaryCall = %v", err)
	}
	out := buf.String()
	for _, want := range []string{`"msg":"grpc call failed"`, `"rpc.method":"` + unaryName + `"`, `"correlation_id":"failed-1"`, `"rpc.grpc.status":"NotFound"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s: %s", want, out)
		}
	}
}

func TestNewClientRejectsBadConfiguration(t *testing.T) {
	bad := func(mut func(*clientgrpc.RetryPolicy)) clientgrpc.Option {
		p := clientgrpc.DefaultRetryPolicy()
		mut(&p)
		return clientgrpc.WithRetryPolicy(p)
	}
	cases := map[string][]clientgrpc.Option{
		"no transport security":  nil,
		"two securities":         {clientgrpc.WithInsecure(), clientgrpc.WithInsecure()},
		"nil option":             {clientgrpc.WithInsecure(), nil},
		"nil tracer":             {clientgrpc.WithInsecure(), clientgrpc.WithTracerProvider(nil)},
		"nil meter":              {clientgrpc.WithInsecure(), clientgrpc.WithMeterProvider(nil)},
		"nil propagator":         {clientgrpc.WithInsecure(), clientgrpc.WithPropagator(nil)},
		"nil logger":             {clientgrpc.WithInsecure(), clientgrpc.WithLogger(nil)},
		"nil TLS":                {clientgrpc.WithTLS(nil)},
		"nil credentials":        {clientgrpc.WithCredentials(nil)},
		"one attempt":            {clientgrpc.WithInsecure(), bad(func(p *clientgrpc.RetryPolicy) { p.MaxAttempts = 1 })},
		"six attempts":           {clientgrpc.WithInsecure(), bad(func(p *clientgrpc.RetryPolicy) { p.MaxAttempts = 6 })},
		"zero backoff":           {clientgrpc.WithInsecure(), bad(func(p *clientgrpc.RetryPolicy) { p.InitialBackoff = 0 })},
		"max below initial":      {clientgrpc.WithInsecure(), bad(func(p *clientgrpc.RetryPolicy) { p.MaxBackoff = time.Millisecond })},
		"multiplier below 1":     {clientgrpc.WithInsecure(), bad(func(p *clientgrpc.RetryPolicy) { p.BackoffMultiplier = 0.5 })},
		"no codes":               {clientgrpc.WithInsecure(), bad(func(p *clientgrpc.RetryPolicy) { p.RetryableCodes = nil })},
		"OK retryable":           {clientgrpc.WithInsecure(), bad(func(p *clientgrpc.RetryPolicy) { p.RetryableCodes = []codes.Code{codes.OK} })},
		"empty service config":   {clientgrpc.WithInsecure(), clientgrpc.WithServiceConfig("")},
		"invalid service config": {clientgrpc.WithInsecure(), clientgrpc.WithServiceConfig("{not json")},
		"config and policy":      {clientgrpc.WithInsecure(), clientgrpc.WithServiceConfig("{}"), fastRetries()},
		"nil dial option":        {clientgrpc.WithInsecure(), clientgrpc.WithDialOptions(nil)},
		"nil unary":              {clientgrpc.WithInsecure(), clientgrpc.WithUnaryInterceptors(nil)},
		"nil stream":             {clientgrpc.WithInsecure(), clientgrpc.WithStreamInterceptors(nil)},
	}
	for name, opts := range cases {
		t.Run(name, func(t *testing.T) {
			conn, err := clientgrpc.NewClient("127.0.0.1:1", opts...)
			if err == nil {
				_ = conn.Close()
				t.Fatal("NewClient accepted a bad configuration")
			}
			if !strings.HasPrefix(err.Error(), "grpc client: ") {
				t.Errorf("error %q does not say where it comes from", err)
			}
		})
	}
	if conn, err := clientgrpc.NewClient("", clientgrpc.WithInsecure()); err == nil {
		_ = conn.Close()
		t.Error("empty target accepted")
	}
}

func TestUserInterceptorsSeeCorrelationID(t *testing.T) {
	kit := observabilitytest.New(t)
	var seen atomic.Value
	icpt := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		md, _ := metadata.FromOutgoingContext(ctx)
		seen.Store(strings.Join(md.Get(correlation.MetadataKey), ","))
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	addr := grpctest.Serve(t, &grpctest.Service{})
	client := newClient(t, kit, addr, clientgrpc.WithUnaryInterceptors(icpt))
	if _, err := client.UnaryCall(correlation.ContextWithID(t.Context(), "icpt-1"), &testgrpc.SimpleRequest{}); err != nil {
		t.Fatalf("UnaryCall: %v", err)
	}
	if seen.Load() != "icpt-1" {
		t.Errorf("interceptor saw %v", seen.Load())
	}
}
