package correlation_test

import (
	"context"
	"fmt"

	"github.com/patron-go/patron/correlation"
)

func Example() {
	// An entry point reads the header; an invalid or missing value is replaced.
	ctx, id := correlation.Ensure(context.Background(), "order-42")
	got, _ := correlation.FromContext(ctx)
	fmt.Println(id, got)
	// Output: order-42 order-42
}
