// Command grpc is grpc-svc, the last hop of the demo chain: a gRPC Greeter.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/patron-go/patron"
	patrongrpc "github.com/patron-go/patron/component/grpc"
	"github.com/patron-go/patron/examples/internal/demopb"
	"github.com/patron-go/patron/examples/internal/env"
	patronlog "github.com/patron-go/patron/observability/log"
)

type greeter struct {
	demopb.UnimplementedGreeterServer
}

func (greeter) SayHello(ctx context.Context, req *demopb.HelloRequest) (*demopb.HelloReply, error) {
	patronlog.FromContext(ctx).InfoContext(ctx, "greeting", "firstname", req.GetFirstname())
	return &demopb.HelloReply{Message: fmt.Sprintf("Hello, %s %s!", req.GetFirstname(), req.GetLastname())}, nil
}

func main() {
	if err := run(); err != nil {
		slog.Error("grpc-svc failed", "error", err)
		os.Exit(1)
	}
}

func run() error {
	svc, err := patron.New("grpc-svc", "1.0.0")
	if err != nil {
		return err
	}
	// Components and clients use the service's tracer, meter and
	// propagator, which patron.New installed as the OpenTelemetry globals.
	srv, err := patrongrpc.New(env.Get("GRPC_ADDR", "127.0.0.1:50006"), patrongrpc.WithReflection())
	if err != nil {
		return err
	}
	demopb.RegisterGreeterServer(srv.Server(), greeter{})
	return svc.Run(context.Background(), srv)
}
