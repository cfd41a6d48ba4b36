package redis

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"
)

// ReadyCheck returns a readiness check that PINGs rdb, for
// patron.WithReadyCheck:
//
//	svc, err := patron.New("svc", "1.0", patron.WithReadyCheck("redis", redis.ReadyCheck(rdb)))
//
// The check fails with the client's error while the server does not answer;
// the service's ready check timeout bounds it. Its PINGs are not traced
// when rdb was built by New or NewUniversal: a check polled every second
// would otherwise add a trace a second.
func ReadyCheck(rdb redis.UniversalClient) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		if rdb == nil {
			return errors.New("redis: ready check of a nil client")
		}
		if err := rdb.Ping(untraced(ctx)).Err(); err != nil {
			return fmt.Errorf("redis: PING: %w", err)
		}
		return nil
	}
}

// untracedKey marks a context whose commands start no span.
type untracedKey struct{}

func untraced(ctx context.Context) context.Context {
	return context.WithValue(ctx, untracedKey{}, true)
}

// quietTracer starts no span for a context marked untraced: redisotel
// offers no per-call filter that sees the context.
type quietTracer struct{ trace.Tracer }

func (t quietTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if ctx.Value(untracedKey{}) != nil {
		// The span of an empty context is a no-op one: redisotel ends it
		// and sets its attributes without touching the caller's span.
		return ctx, trace.SpanFromContext(context.Background())
	}
	return t.Tracer.Start(ctx, name, opts...)
}
