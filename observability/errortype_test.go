package observability_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"testing"

	"github.com/patron-go/patron/observability"
)

type namedErr struct{}

func (namedErr) Error() string { return "named" }

type selfTypedErr struct{}

func (selfTypedErr) Error() string     { return "self" }
func (selfTypedErr) ErrorType() string { return "throttled" }

// apiErr is shaped like smithy.APIError: it carries the code the service
// answered with.
type apiErr struct{ code string }

func (e apiErr) Error() string     { return "api: " + e.code }
func (e apiErr) ErrorCode() string { return e.code }

func TestErrorType(t *testing.T) {
	errUnroutable := observability.NewError("unroutable", "amqp: message unroutable")
	timeoutErr := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{errors.New("x"), "_OTHER"},
		{fmt.Errorf("w: %w", errors.New("x")), "_OTHER"},
		{errors.Join(errors.New("a"), nil), "_OTHER"},
		{context.Canceled, "canceled"},
		{fmt.Errorf("w: %w", context.Canceled), "canceled"},
		{fmt.Errorf("w: %w", context.DeadlineExceeded), "timeout"},
		{timeoutErr, "timeout"},
		{namedErr{}, "observability_test.namedErr"},
		{fmt.Errorf("w: %w", selfTypedErr{}), "throttled"},
		{fmt.Errorf("send: %w", apiErr{"QueueDoesNotExist"}), "QueueDoesNotExist"},
		{apiErr{}, "observability_test.apiErr"},
		{errUnroutable, "unroutable"},
		{fmt.Errorf("publish: %w", errUnroutable), "unroutable"},
		// A type given on purpose wins over the context error it wraps.
		{observability.WithType(context.Canceled, "client_closed"), "client_closed"},
	} {
		if got := observability.ErrorType(tc.err); got != tc.want {
			t.Errorf("ErrorType(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestWithType(t *testing.T) {
	if observability.WithType(nil, "x") != nil {
		t.Fatal("WithType(nil) is not nil")
	}
	cause := errors.New("boom")
	err := observability.WithType(cause, "broker_down")
	if !errors.Is(err, cause) || err.Error() != "boom" {
		t.Fatalf("WithType lost the cause: %v", err)
	}
	sentinel := observability.NewError("closed", "kafka: producer closed")
	if sentinel.Error() != "kafka: producer closed" || !errors.Is(fmt.Errorf("x: %w", sentinel), sentinel) {
		t.Fatalf("NewError: %v", sentinel)
	}
}

func ExampleErrorType() {
	errUnroutable := observability.NewError("unroutable", "amqp: message unroutable")
	fmt.Println(observability.ErrorType(fmt.Errorf("publishing: %w", errUnroutable)))
	fmt.Println(observability.ErrorType(context.DeadlineExceeded))
	fmt.Println(observability.ErrorType(errors.New("anonymous")))
	// Output:
	// unroutable
	// timeout
	// _OTHER
}
