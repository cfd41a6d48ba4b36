package consume_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/patron-go/patron/encoding"
	"github.com/patron-go/patron/internal/consume"
	"github.com/patron-go/patron/observability"
	"github.com/patron-go/patron/observability/observabilitytest"
	"github.com/patron-go/patron/reliability"
)

func pipeline(t *testing.T, strategy consume.FailureStrategy, retries int) (*consume.Pipeline, *observabilitytest.Kit) {
	t.Helper()
	kit := observabilitytest.New(t)
	cm, err := observability.NewConsumerMetrics(kit.MeterProvider.Meter("test"), semconv.MessagingSystemKafka)
	if err != nil {
		t.Fatal(err)
	}
	cfg := consume.DefaultConfig(reliability.Backoff{})
	cfg.Retries, cfg.Strategy = retries, strategy
	return consume.New(consume.Spec{
		Pkg: "test", System: semconv.MessagingSystemKafka, Destination: "d",
		Tracer: kit.TracerProvider.Tracer("test"), Prop: kit.Propagator,
		Metrics: cm.Destination("d"), Config: cfg,
	}), kit
}

// Retries count the tries after the first; an error that retrying cannot
// fix goes to the strategy at once.
func TestNext(t *testing.T) {
	p, _ := pipeline(t, consume.DeadLetter, 2)
	boom := errors.New("boom")
	cases := []struct {
		attempt int
		err     error
		want    consume.Action
	}{
		{1, boom, consume.ActionRetry},
		{2, boom, consume.ActionRetry},
		{3, boom, consume.ActionDeadLetter},
		{1, reliability.Permanent(boom), consume.ActionDeadLetter},
		{1, fmt.Errorf("decoding: %w", encoding.ErrMalformed), consume.ActionDeadLetter},
	}
	for _, c := range cases {
		if got := p.Next(c.attempt, c.err); got != c.want {
			t.Errorf("Next(%d, %v) = %v, want %v", c.attempt, c.err, got, c.want)
		}
	}
	for s, want := range map[consume.FailureStrategy]consume.Action{
		consume.Skip: consume.ActionSkip, consume.Stop: consume.ActionStop, consume.DeadLetter: consume.ActionDeadLetter,
	} {
		p, _ := pipeline(t, s, 0)
		if got := p.Next(1, boom); got != want {
			t.Errorf("%v: Next = %v, want %v", s, got, want)
		}
	}
}

// A panicking handler becomes an error named after the package, counted as
// a failed attempt with its error.type.
func TestCallRecoversPanic(t *testing.T) {
	p, kit := pipeline(t, consume.Skip, 0)
	err := p.Call(t.Context(), noop.Span{}, 1, 1, time.Now(), func() error { panic("bad message") })
	if err == nil || !strings.HasPrefix(err.Error(), "test: handler panicked: bad message") {
		t.Fatalf("err = %v", err)
	}
	if got := kit.Sum(t, observability.MetricConsumerMessages, observability.OutcomeKey.String("failed")); got != 1 {
		t.Errorf("failed = %v, want 1", got)
	}
	p.Skipped(t.Context(), 1, observability.WithType(errors.New("x"), "poison"))
	if got := kit.Sum(t, observability.MetricConsumerMessages, observability.OutcomeKey.String("skipped"),
		semconv.ErrorTypeKey.String("poison")); got != 1 {
		t.Errorf("skipped with error.type = %v, want 1", got)
	}
}

func TestConfigValidation(t *testing.T) {
	var c consume.Config
	if err := c.SetRetry("pkg", -1, reliability.Backoff{}); err == nil || !strings.HasPrefix(err.Error(), "pkg: ") {
		t.Errorf("SetRetry(-1) = %v", err)
	}
	if err := c.SetStrategy("pkg", 0); err == nil {
		t.Error("SetStrategy(0) accepted")
	}
	if err := c.SetDrainTimeout("pkg", 0); err == nil {
		t.Error("SetDrainTimeout(0) accepted")
	}
	if err := consume.CheckBatch("pkg", false, 0, time.Second); err == nil {
		t.Error("CheckBatch(size 0) accepted")
	}
	if err := consume.CheckBatch("pkg", true, 1, time.Second); err == nil {
		t.Error("CheckBatch(nil handler) accepted")
	}
}

// The handlers' context outlives the cancellation of its parent by the
// drain timeout, then ends.
func TestHandlerContext(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	hctx, stop := consume.HandlerContext(parent, time.Millisecond)
	defer stop()
	cancel()
	select {
	case <-hctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("handler context not cancelled after the drain timeout")
	}

	parent, cancel = context.WithCancel(context.Background())
	defer cancel()
	hctx, stop = consume.HandlerContext(parent, time.Hour)
	stop()
	if hctx.Err() == nil {
		t.Error("stop did not cancel the handler context")
	}
}
