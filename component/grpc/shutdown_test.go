package grpc_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	patrongrpc "github.com/patron-go/patron/component/grpc"
	"github.com/patron-go/patron/internal/grpctest"
)

// blocking returns a service whose unary calls signal entered and wait for
// release (or their context).
func blocking() (svc *grpctest.Service, entered <-chan struct{}, release chan<- struct{}) {
	in := make(chan struct{})
	out := make(chan struct{})
	var once sync.Once
	svc = &grpctest.Service{Unary: func(ctx context.Context, req *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
		once.Do(func() { close(in) })
		select {
		case <-out:
			return &testgrpc.SimpleResponse{Payload: req.GetPayload()}, nil
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}}
	return svc, in, out
}

func TestHealthReflectsReadiness(t *testing.T) {
	f := start(t, &grpctest.Service{})
	health := healthpb.NewHealthClient(f.conn)
	for _, service := range []string{"", "grpc.testing.TestService"} {
		resp, err := health.Check(t.Context(), &healthpb.HealthCheckRequest{Service: service})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("Check(%q) = %v, %v; want SERVING", service, resp, err)
		}
	}
	if _, err := health.Check(t.Context(), &healthpb.HealthCheckRequest{Service: "no.Such"}); status.Code(err) != codes.NotFound {
		t.Errorf("Check(unknown) = %v, want NotFound", err)
	}
	if err := f.comp.Ready(t.Context()); err != nil {
		t.Errorf("Ready = %v", err)
	}
	// Probes are logged at debug level, not drowning the traffic.
	r := waitRecord(t, f.logs, accessRecord("grpc.health.v1.Health/Check"))
	if r["level"] != "DEBUG" {
		t.Errorf("health access record level = %v, want DEBUG", r["level"])
	}
}

func TestShutdownFlipsHealthAndDrainsInFlight(t *testing.T) {
	svc, entered, release := blocking()
	f := start(t, svc)

	watch, err := healthpb.NewHealthClient(f.conn).Watch(t.Context(), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	if resp, err := watch.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("first health status = %v, %v; want SERVING", resp, err)
	}

	type result struct {
		resp *testgrpc.SimpleResponse
		err  error
	}
	inflight := make(chan result, 1)
	go func() {
		resp, err := f.client.UnaryCall(context.Background(), &testgrpc.SimpleRequest{Payload: payload("in flight")})
		inflight <- result{resp, err}
	}()
	<-entered

	f.cancel() // shutdown starts

	if resp, err := watch.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health status after shutdown started = %v, %v; want NOT_SERVING", resp, err)
	}
	// The watch ends so that it does not hold the graceful stop.
	if _, err := watch.Recv(); err == nil {
		t.Fatal("health watch still open after NOT_SERVING")
	}
	if err := f.comp.Ready(t.Context()); err == nil {
		t.Error("Ready = nil during shutdown")
	}
	select {
	case err := <-f.done:
		t.Fatalf("Run returned %v with an RPC in flight", err)
	default:
	}

	close(release)
	r := <-inflight
	if r.err != nil || string(r.resp.GetPayload().GetBody()) != "in flight" {
		t.Fatalf("in-flight RPC = %v, %v; want it to finish OK", r.resp, r.err)
	}
	if err := <-f.done; err != nil {
		t.Fatalf("Run after graceful stop = %v, want nil", err)
	}
	f.done <- nil // for the cleanup
}

func TestDrainTimeoutStopsHard(t *testing.T) {
	svc, entered, _ := blocking()
	f := start(t, svc, patrongrpc.WithDrainTimeout(100*time.Millisecond))

	inflight := make(chan error, 1)
	go func() {
		_, err := f.client.UnaryCall(context.Background(), &testgrpc.SimpleRequest{})
		inflight <- err
	}()
	<-entered
	f.cancel()

	if err := <-f.done; !errors.Is(err, patrongrpc.ErrDrainTimeout) {
		t.Fatalf("Run = %v, want ErrDrainTimeout", err)
	}
	if err := <-inflight; err == nil {
		t.Fatal("RPC cut by the hard stop succeeded")
	}
	waitRecord(t, f.logs, func(r map[string]any) bool { return r["level"] == "WARN" && r["timeout"] != nil })
	f.done <- nil
}

func TestCloseBeforeRun(t *testing.T) {
	comp, err := patrongrpc.New("127.0.0.1:0")
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	addr := comp.Addr().String()
	if err := comp.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// The port is free again.
	again, err := patrongrpc.New(addr)
	if err != nil {
		t.Fatalf("New on the closed port: %v", err)
	}
	if err := again.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := comp.Run(t.Context()); !errors.Is(err, patrongrpc.ErrClosed) {
		t.Fatalf("Run after Close = %v, want ErrClosed", err)
	}
	if err := comp.Run(t.Context()); err == nil {
		t.Fatal("second Run succeeded")
	}
}

// Issue 15.3: health follows the readiness of the service the component
// runs in, as the service reports it (patron.ReadinessListener).
func TestHealthFollowsServiceReadiness(t *testing.T) {
	f := start(t, &grpctest.Service{})
	health := healthpb.NewHealthClient(f.conn)
	watch, err := health.Watch(t.Context(), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	next := func(want healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		if resp, err := watch.Recv(); err != nil || resp.GetStatus() != want {
			t.Fatalf("health status = %v, %v; want %s", resp, err, want)
		}
		resp, err := health.Check(t.Context(), &healthpb.HealthCheckRequest{Service: "grpc.testing.TestService"})
		if err != nil || resp.GetStatus() != want {
			t.Fatalf("Check(TestService) = %v, %v; want %s", resp, err, want)
		}
	}
	next(healthpb.HealthCheckResponse_SERVING) // not told yet: its own state
	f.comp.SetServiceReady(false)
	next(healthpb.HealthCheckResponse_NOT_SERVING)
	f.comp.SetServiceReady(true)
	next(healthpb.HealthCheckResponse_SERVING)
	f.comp.SetServiceReady(false)
	next(healthpb.HealthCheckResponse_NOT_SERVING)

	// Once shutdown started, the service's word no longer brings it back.
	f.cancel()
	if err := <-f.done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	f.done <- nil
	f.comp.SetServiceReady(true)
}
