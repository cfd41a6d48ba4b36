// Package grpc builds traced gRPC client connections: a CLIENT span and RPC
// metrics per attempt (otelgrpc stats handler), the trace context and the
// correlation ID of the caller's context in the outgoing metadata, and
// retries through the gRPC service config.
package grpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/patron-go/patron/correlation"
	"github.com/patron-go/patron/internal/option"
)

// NewClient returns a connection to target (any grpc.NewClient target, e.g.
// "dns:///orders:50006" or "127.0.0.1:50006"). Transport security must be
// chosen: WithTLS, WithCredentials or WithInsecure. Like grpc.NewClient it
// does not connect until the first call; the caller closes the connection.
func NewClient(target string, opts ...Option) (*grpc.ClientConn, error) {
	cfg := config{retry: DefaultRetryPolicy()}
	if err := option.Apply("grpc client", &cfg, opts); err != nil {
		return nil, err
	}
	if target == "" {
		return nil, errors.New("grpc client: target is empty")
	}
	if cfg.creds == nil {
		return nil, errors.New("grpc client: no transport security chosen (use WithTLS, WithCredentials or WithInsecure)")
	}
	if cfg.serviceConfig != "" && cfg.retrySet {
		return nil, errors.New("grpc client: WithServiceConfig and WithRetryPolicy exclude each other (put the retry policy in the service config)")
	}

	var otelOpts []otelgrpc.Option
	if cfg.tp != nil {
		otelOpts = append(otelOpts, otelgrpc.WithTracerProvider(cfg.tp))
	}
	if cfg.mp != nil {
		otelOpts = append(otelOpts, otelgrpc.WithMeterProvider(cfg.mp))
	}
	if cfg.prop != nil {
		otelOpts = append(otelOpts, otelgrpc.WithPropagators(cfg.prop))
	}
	logger := cfg.logger
	if logger == nil {
		logger = slog.Default()
	}
	o := outgoing{logger: logger}
	dopts := []grpc.DialOption{
		grpc.WithTransportCredentials(cfg.creds),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler(otelOpts...)),
		grpc.WithChainUnaryInterceptor(append([]grpc.UnaryClientInterceptor{o.unary}, cfg.unary...)...),
		grpc.WithChainStreamInterceptor(append([]grpc.StreamClientInterceptor{o.stream}, cfg.stream...)...),
	}
	switch {
	case cfg.noRetry:
		dopts = append(dopts, grpc.WithDisableRetry())
		if cfg.serviceConfig != "" {
			dopts = append(dopts, grpc.WithDefaultServiceConfig(cfg.serviceConfig))
		}
	case cfg.serviceConfig != "":
		dopts = append(dopts, grpc.WithDefaultServiceConfig(cfg.serviceConfig))
	default:
		sc, err := retryServiceConfig(cfg.retry)
		if err != nil {
			return nil, err
		}
		dopts = append(dopts, grpc.WithDefaultServiceConfig(sc))
	}
	dopts = append(dopts, cfg.dialOpts...)

	conn, err := grpc.NewClient(target, dopts...)
	if err != nil {
		return nil, fmt.Errorf("grpc client: %s: %w", target, err)
	}
	return conn, nil
}

// retryServiceConfig renders p as a service config that applies to every
// method of the channel.
func retryServiceConfig(p RetryPolicy) (string, error) {
	seconds := func(d time.Duration) string {
		return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
	}
	codes := make([]uint32, len(p.RetryableCodes))
	for i, c := range p.RetryableCodes {
		codes[i] = uint32(c)
	}
	sc := map[string]any{
		"methodConfig": []any{map[string]any{
			"name": []any{map[string]any{}},
			"retryPolicy": map[string]any{
				"maxAttempts":          p.MaxAttempts,
				"initialBackoff":       seconds(p.InitialBackoff),
				"maxBackoff":           seconds(p.MaxBackoff),
				"backoffMultiplier":    p.BackoffMultiplier,
				"retryableStatusCodes": codes,
			},
		}},
	}
	b, err := json.Marshal(sc)
	if err != nil {
		return "", fmt.Errorf("grpc client: rendering retry policy: %w", err)
	}
	return string(b), nil
}

// outgoing holds the interceptors that write the caller's correlation ID
// into the request metadata (the trace context is the stats handler's job).
type outgoing struct {
	logger *slog.Logger
}

func withCorrelation(ctx context.Context) context.Context {
	if id, ok := correlation.FromContext(ctx); ok {
		return metadata.AppendToOutgoingContext(ctx, correlation.MetadataKey, id)
	}
	return ctx
}

func (o outgoing) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	ctx = withCorrelation(ctx)
	err := invoker(ctx, method, req, reply, cc, opts...)
	if err != nil {
		o.failed(ctx, method, err)
	}
	return err
}

func (o outgoing) stream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	ctx = withCorrelation(ctx)
	cs, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		o.failed(ctx, method, err)
	}
	return cs, err
}

func (o outgoing) failed(ctx context.Context, method string, err error) {
	if !o.logger.Enabled(ctx, slog.LevelDebug) {
		return
	}
	st := status.Convert(err)
	o.logger.DebugContext(ctx, "grpc call failed",
		slog.String(string(semconv.RPCMethodKey), strings.TrimPrefix(method, "/")),
		slog.String("rpc.grpc.status", st.Code().String()),
		slog.String("error", st.Message()))
}
