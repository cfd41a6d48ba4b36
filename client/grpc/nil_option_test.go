package grpc_test

import (
	"testing"

	clientgrpc "github.com/patron-go/patron/client/grpc"
)

// A nil option is refused with an error that names it, never a panic.
func TestNilOption(t *testing.T) {
	if _, err := clientgrpc.NewClient("127.0.0.1:1", clientgrpc.WithInsecure(), nil); err == nil || err.Error() != "grpc client: option 2 of 2 is nil" {
		t.Errorf("clientgrpc.NewClient with a nil option: %v, want %q", err, "grpc client: option 2 of 2 is nil")
	}
}
