package grpc_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	clientgrpc "github.com/patron-go/patron/client/grpc"
	patrongrpc "github.com/patron-go/patron/component/grpc"
)

// A gRPC server with a service registered, called by a Patron client. In a
// service, pass the component to patron's Service.Run instead of calling
// Run, and the service's providers with WithTracerProvider and friends.
func Example() {
	comp, err := patrongrpc.New("127.0.0.1:0",
		patrongrpc.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, nil))),
		patrongrpc.WithReflection())
	if err != nil {
		fmt.Println(err)
		return
	}
	// Register services before Run, e.g.
	// orderspb.RegisterOrdersServer(comp.Server(), &orders{}).

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- comp.Run(ctx) }()

	conn, err := clientgrpc.NewClient(comp.Addr().String(), clientgrpc.WithInsecure())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.GetStatus())

	cancel() // graceful stop
	fmt.Println(<-done)
	// Output:
	// SERVING
	// <nil>
}
