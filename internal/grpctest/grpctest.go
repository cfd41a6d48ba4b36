// Package grpctest holds a gRPC service for Patron's own tests and
// benchmarks: the grpc.testing.TestService that the grpc module ships with
// generated code, so nothing has to be generated here. Hooks let a test make
// a call block, fail or panic.
package grpctest

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"
)

// Service implements grpc.testing.TestService. Its zero value echoes: a
// unary call answers with the request's payload, StreamingOutputCall sends one
// response per ResponseParameters entry, FullDuplexCall answers each request
// as it arrives. A request's ResponseStatus, when set, is returned as the
// call's status.
type Service struct {
	testgrpc.UnimplementedTestServiceServer

	// Unary, when set, replaces UnaryCall's behaviour.
	Unary func(ctx context.Context, req *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error)
	// Stream, when set, runs before each FullDuplexCall response is sent;
	// an error ends the stream with it.
	Stream func(ctx context.Context, req *testgrpc.StreamingOutputCallRequest) error
}

// Register registers s on r under grpc.testing.TestService.
func (s *Service) Register(r grpc.ServiceRegistrar) { testgrpc.RegisterTestServiceServer(r, s) }

// EmptyCall answers at once.
func (s *Service) EmptyCall(context.Context, *testgrpc.Empty) (*testgrpc.Empty, error) {
	return &testgrpc.Empty{}, nil
}

// UnaryCall echoes req's payload, or runs the Unary hook.
func (s *Service) UnaryCall(ctx context.Context, req *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	if s.Unary != nil {
		return s.Unary(ctx, req)
	}
	if err := echoStatus(req.GetResponseStatus()); err != nil {
		return nil, err
	}
	return &testgrpc.SimpleResponse{Payload: req.GetPayload()}, nil
}

// StreamingOutputCall sends one response per requested size.
func (s *Service) StreamingOutputCall(req *testgrpc.StreamingOutputCallRequest, stream grpc.ServerStreamingServer[testgrpc.StreamingOutputCallResponse]) error {
	for _, p := range req.GetResponseParameters() {
		resp := &testgrpc.StreamingOutputCallResponse{Payload: &testgrpc.Payload{Body: make([]byte, p.GetSize())}}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
	return echoStatus(req.GetResponseStatus())
}

// FullDuplexCall answers every request with its payload until the client
// closes its side.
func (s *Service) FullDuplexCall(stream grpc.BidiStreamingServer[testgrpc.StreamingOutputCallRequest, testgrpc.StreamingOutputCallResponse]) error {
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if s.Stream != nil {
			if err := s.Stream(stream.Context(), req); err != nil {
				return err
			}
		}
		if err := echoStatus(req.GetResponseStatus()); err != nil {
			return err
		}
		if err := stream.Send(&testgrpc.StreamingOutputCallResponse{Payload: req.GetPayload()}); err != nil {
			return err
		}
	}
}

func echoStatus(st *testgrpc.EchoStatus) error {
	if st == nil || codes.Code(st.GetCode()) == codes.OK {
		return nil
	}
	return status.Error(codes.Code(st.GetCode()), st.GetMessage())
}

// Listen returns a TCP listener on a free loopback port, closed when t ends.
func Listen(t testing.TB) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listening on loopback: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// Serve runs a bare grpc-go server (no Patron instrumentation) with svc on a
// loopback port and returns its address; the server stops when t ends. It is
// the peer for client tests, which must not depend on the server component.
func Serve(t testing.TB, svc *Service, opts ...grpc.ServerOption) string {
	t.Helper()
	l := Listen(t)
	srv := grpc.NewServer(opts...)
	svc.Register(srv)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return l.Addr().String()
}
