package grpc

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/patron-go/patron/correlation"
	"github.com/patron-go/patron/observability"
	"github.com/patron-go/patron/observability/log"
)

// Log record keys; the RPC ones are the semantic-convention attribute names
// so that logs and spans can be joined on them.
const (
	keyMethod = string(semconv.RPCMethodKey)
	keyStatus = string(semconv.RPCResponseStatusCodeKey)
	keyPeer   = string(semconv.ClientAddressKey)
)

// begin puts the correlation ID (the caller's when valid, a new one
// otherwise) and the component's logger in ctx.
func (c *Component) begin(ctx context.Context) (context.Context, *slog.Logger) {
	var candidate string
	if vs := metadata.ValueFromIncomingContext(ctx, correlation.MetadataKey); len(vs) > 0 {
		candidate = vs[0]
	}
	ctx, _ = correlation.Ensure(ctx, candidate)
	logger := c.logger.Load()
	if logger == nil {
		logger = slog.Default()
	}
	return log.WithContext(ctx, logger), logger
}

func (c *Component) observeUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	ctx, logger := c.begin(ctx)
	resp, err := handler(ctx, req)
	accessLog(ctx, logger, info.FullMethod, "unary", start, err)
	return resp, err
}

func (c *Component) observeStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	start := time.Now()
	ctx, logger := c.begin(ss.Context())
	err := handler(srv, &contextStream{ServerStream: ss, ctx: ctx})
	accessLog(ctx, logger, info.FullMethod, streamType(info), start, err)
	return err
}

// contextStream replaces the context of a server stream, the only way to
// hand a stream handler a derived context.
type contextStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *contextStream) Context() context.Context { return s.ctx }

func streamType(info *grpc.StreamServerInfo) string {
	switch {
	case info.IsClientStream && info.IsServerStream:
		return "bidi_stream"
	case info.IsClientStream:
		return "client_stream"
	default:
		return "server_stream"
	}
}

// accessLog writes the one record per RPC. Health checks and reflection
// are logged at debug level: probes would otherwise drown the real traffic.
func accessLog(ctx context.Context, logger *slog.Logger, method, kind string, start time.Time, err error) {
	code := status.Code(err)
	level := slog.LevelInfo
	switch {
	case serverError(code):
		level = slog.LevelError
	case strings.HasPrefix(method, "/grpc.health.v1.") || strings.HasPrefix(method, "/grpc.reflection."):
		level = slog.LevelDebug
	}
	h := logger.Handler()
	if !h.Enabled(ctx, level) {
		return
	}
	// Straight to the handler with no caller PC: Logger.LogAttrs would walk
	// the stack (runtime.Callers) for a source location that points here
	// anyway, and the record holds five attributes without allocating.
	rec := slog.NewRecord(time.Now(), level, "grpc request", 0)
	rec.AddAttrs(
		slog.String(keyMethod, strings.TrimPrefix(method, "/")),
		slog.String("rpc.type", kind),
		slog.String(keyStatus, codeName(code)),
		// A Duration, not seconds as a float: slog's JSON handler formats
		// floats through encoding/json, which costs more than the rest.
		slog.Duration("duration", time.Since(start)),
	)
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		rec.AddAttrs(slog.String(keyPeer, p.Addr.String()))
	}
	if err != nil {
		rec.AddAttrs(slog.String("error", status.Convert(err).Message()))
	}
	_ = h.Handle(ctx, rec) // a failing log sink has nowhere to be reported
}

// serverError reports whether code is a server-side failure, the classes
// the RPC semantic conventions mark as errors on server spans.
func serverError(code codes.Code) bool {
	switch code {
	case codes.Unknown, codes.DeadlineExceeded, codes.Unimplemented, codes.Internal, codes.Unavailable, codes.DataLoss:
		return true
	}
	return false
}

// codeName returns the canonical status name, as rpc.response.status_code
// carries it on spans and metrics.
func codeName(code codes.Code) string {
	switch code {
	case codes.OK:
		return "OK"
	case codes.Canceled:
		return "CANCELLED"
	case codes.Unknown:
		return "UNKNOWN"
	case codes.InvalidArgument:
		return "INVALID_ARGUMENT"
	case codes.DeadlineExceeded:
		return "DEADLINE_EXCEEDED"
	case codes.NotFound:
		return "NOT_FOUND"
	case codes.AlreadyExists:
		return "ALREADY_EXISTS"
	case codes.PermissionDenied:
		return "PERMISSION_DENIED"
	case codes.ResourceExhausted:
		return "RESOURCE_EXHAUSTED"
	case codes.FailedPrecondition:
		return "FAILED_PRECONDITION"
	case codes.Aborted:
		return "ABORTED"
	case codes.OutOfRange:
		return "OUT_OF_RANGE"
	case codes.Unimplemented:
		return "UNIMPLEMENTED"
	case codes.Internal:
		return "INTERNAL"
	case codes.Unavailable:
		return "UNAVAILABLE"
	case codes.DataLoss:
		return "DATA_LOSS"
	case codes.Unauthenticated:
		return "UNAUTHENTICATED"
	}
	return fmt.Sprintf("CODE(%d)", uint32(code))
}

func (c *Component) recoverUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if r := recover(); r != nil {
			resp, err = nil, recovered(ctx, info.FullMethod, r)
		}
	}()
	return handler(ctx, req)
}

func (c *Component) recoverStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = recovered(ss.Context(), info.FullMethod, r)
		}
	}()
	return handler(srv, ss)
}

// recovered turns a handler's panic into codes.Internal: the caller learns
// nothing of the cause, the span and the log get it with the stack.
func recovered(ctx context.Context, method string, r any) error {
	perr := fmt.Errorf("panic in %s: %v", method, r)
	observability.RecordError(trace.SpanFromContext(ctx), perr)
	log.FromContext(ctx).ErrorContext(ctx, "grpc handler panicked",
		slog.String(keyMethod, strings.TrimPrefix(method, "/")),
		slog.String("panic", fmt.Sprint(r)),
		slog.String("stack", string(debug.Stack())))
	return status.Error(codes.Internal, "internal error")
}
