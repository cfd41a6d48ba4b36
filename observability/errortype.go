package observability

import (
	"context"
	"errors"
	"net"
	"reflect"
)

// ErrorType names err for the error.type attribute, the one way every
// transport's spans and metrics name a failure, so that a span and its
// metric always agree. In order of precedence:
//
//   - "" for a nil err (success: error.type is then left out);
//   - the value of an ErrorType() string method found in err's chain: a
//     sentinel that names its own type (see NewError and WithType);
//   - "canceled" for context.Canceled, "timeout" for
//     context.DeadlineExceeded and for a net.Error that timed out;
//   - the value of an ErrorCode() string method in err's chain: the code an
//     AWS service (smithy.APIError) or a similar API answered with;
//   - the Go type name of err for a named error type ("*net.OpError");
//   - "_OTHER" for anonymous errors (errors.New, fmt.Errorf, errors.Join),
//     whose type says nothing.
func ErrorType(err error) string {
	if err == nil {
		return ""
	}
	var typed interface{ ErrorType() string }
	if errors.As(err, &typed) {
		if s := typed.ErrorType(); s != "" {
			return s
		}
	}
	switch {
	case errors.Is(err, context.Canceled):
		return ErrorTypeCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return ErrorTypeTimeout
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return ErrorTypeTimeout
	}
	var coded interface{ ErrorCode() string }
	if errors.As(err, &coded) {
		if s := coded.ErrorCode(); s != "" {
			return s
		}
	}
	switch t := reflect.TypeOf(err).String(); t {
	case "*errors.errorString", "*fmt.wrapError", "*fmt.wrapErrors", "*errors.joinError":
		return ErrorTypeOther
	default:
		return t
	}
}

// The error.type values that ErrorType gives without an error naming its own.
const (
	ErrorTypeCanceled = "canceled"
	ErrorTypeTimeout  = "timeout"
	// ErrorTypeOther is semconv's fallback for an error with nothing better
	// to name it by.
	ErrorTypeOther = "_OTHER"
)

// typedError is an error that names its own error.type.
type typedError struct {
	typ string
	msg string
	err error // wrapped cause, or nil
}

func (e *typedError) Error() string {
	if e.err == nil {
		return e.msg
	}
	if e.msg == "" {
		return e.err.Error()
	}
	return e.msg + ": " + e.err.Error()
}

func (e *typedError) Unwrap() error     { return e.err }
func (e *typedError) ErrorType() string { return e.typ }

// NewError returns a sentinel error with message msg whose error.type is typ,
// for a package's exported errors (ErrUnroutable, ErrClosed):
//
//	var ErrUnroutable = observability.NewError("unroutable", "amqp: message unroutable")
//
// Errors that wrap it keep the type, so errors.Is and ErrorType both see it.
func NewError(typ, msg string) error {
	return &typedError{typ: typ, msg: msg}
}

// WithType wraps err so that ErrorType names it typ; the message and the
// chain (errors.Is, errors.As) are err's. It returns nil for a nil err.
func WithType(err error, typ string) error {
	if err == nil {
		return nil
	}
	return &typedError{typ: typ, err: err}
}
