package grpc_test

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"

	clientgrpc "github.com/patron-go/patron/client/grpc"
	"github.com/patron-go/patron/correlation"
)

// A traced connection that retries UNAVAILABLE and ABORTED. Calls made
// with a context that carries a span and a correlation ID pass both on.
func Example() {
	policy := clientgrpc.DefaultRetryPolicy()
	policy.RetryableCodes = []codes.Code{codes.Unavailable, codes.Aborted}
	policy.MaxBackoff = 2 * time.Second

	conn, err := clientgrpc.NewClient("dns:///orders.internal:50006",
		clientgrpc.WithInsecure(), // or WithTLS(&tls.Config{...})
		clientgrpc.WithRetryPolicy(policy))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()

	ctx := correlation.ContextWithID(context.Background(), "order-42")
	_ = ctx // orderspb.NewOrdersClient(conn).Get(ctx, &orderspb.GetRequest{...})
	fmt.Println(conn.Target())
	// Output: dns:///orders.internal:50006
}
