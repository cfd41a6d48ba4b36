package amqp_test

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	patronamqp "github.com/patron-go/patron/component/amqp"
	"github.com/patron-go/patron/internal/amqptest"
	"github.com/patron-go/patron/observability"
	"github.com/patron-go/patron/observability/observabilitytest"
	"github.com/patron-go/patron/reliability"
)

// Skip acks a message that cannot succeed after one try (a Permanent
// error is not retried), logs it at error level and counts it with its
// error.type.
func TestSkipStrategyAcksLoudly(t *testing.T) {
	amqptest.Require(t)
	kit := observabilitytest.New(t)
	queue := amqptest.Name(t, "skip")
	amqptest.DeclareQueue(t, queue, nil)
	amqptest.DeleteQueuesOnCleanup(t, queue)
	var logs observabilitytest.LogBuffer
	var calls atomic.Int32
	c, err := patronamqp.New(amqptest.URL, queue, func(context.Context, *patronamqp.Message) error {
		calls.Add(1)
		return reliability.Permanent(observability.WithType(errors.New("unknown order"), "unknown_order"))
	}, append(kitOptions(kit),
		patronamqp.WithFailureStrategy(patronamqp.Skip),
		patronamqp.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))...)
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, c)
	waitFor(t, "readiness", func() bool { return c.Ready(t.Context()) == nil })
	amqptest.Publish(t, amqptest.ConfirmChannel(t), queue, amqp.Publishing{Body: []byte("x"), MessageId: "poison"})
	logs.WaitRecord(t, 30*time.Second, func(rec map[string]any) bool {
		return rec["level"] == "ERROR" && rec["message_id"] == "poison"
	})
	amqptest.WaitDepth(t, queue, 0, 30*time.Second)
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 1 {
		t.Errorf("handler called %d times, want 1 (no retry of a Permanent error)", calls.Load())
	}
	if got := kit.Sum(t, observability.MetricConsumerMessages, observability.OutcomeKey.String("skipped"),
		semconv.ErrorTypeKey.String("unknown_order")); got != 1 {
		t.Errorf("skipped with error.type = %v, want 1", got)
	}
}

// A handler still running when the drain timeout of a shutdown ran out has
// its context cancelled, and Run returns.
func TestDrainTimeoutCancelsHandlers(t *testing.T) {
	amqptest.Require(t)
	kit := observabilitytest.New(t)
	queue := amqptest.Name(t, "drain")
	amqptest.DeclareQueue(t, queue, nil)
	amqptest.DeleteQueuesOnCleanup(t, queue)
	started := make(chan struct{})
	var cancelled atomic.Bool
	c, err := patronamqp.New(amqptest.URL, queue, func(ctx context.Context, _ *patronamqp.Message) error {
		close(started)
		<-ctx.Done() // only the drain timeout ends this handler
		cancelled.Store(true)
		return ctx.Err()
	}, append(kitOptions(kit), patronamqp.WithDrainTimeout(50*time.Millisecond))...)
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, c)
	waitFor(t, "readiness", func() bool { return c.Ready(t.Context()) == nil })
	amqptest.Publish(t, amqptest.ConfirmChannel(t), queue, amqp.Publishing{Body: []byte("slow")})
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("handler did not start")
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if !cancelled.Load() {
		t.Error("the handler's context was not cancelled")
	}
}
