package kafka_test

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/patron-go/patron/component/kafka"
	"github.com/patron-go/patron/observability"
)

// A handler in flight when Run's context is cancelled finishes with a live
// context, its offset is committed, and Run returns nil.
func TestShutdownFinishesInFlightAndCommits(t *testing.T) {
	e := newEnv(t, 1)
	started, release := make(chan struct{}), make(chan struct{})
	handlerErr := make(chan error, 1)
	c := e.consumer(t, func(ctx context.Context, _ *kafka.Message) error {
		close(started)
		<-release
		handlerErr <- ctx.Err()
		return nil
	})
	e.produce(t, keyed("inflight", 1)...)
	r := run(t, c)
	<-started
	stopped := make(chan error, 1)
	go func() { stopped <- r.stop() }()
	// Run must wait for the handler: it cannot have returned yet.
	select {
	case err := <-stopped:
		t.Fatalf("Run returned (%v) while a handler was in flight", err)
	default:
	}
	close(release)
	if err := <-stopped; err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if err := <-handlerErr; err != nil {
		t.Fatalf("handler context was cancelled during the drain: %v", err)
	}
	got, err := e.cluster.CommittedOffset(t.Context(), e.group, e.topic, 0)
	if err != nil || got != 1 {
		t.Fatalf("committed %d (%v), want 1", got, err)
	}
}

// A handler that outlives the drain timeout sees its context cancelled, and
// its message is not committed (the next owner gets it again).
func TestDrainTimeoutCancelsAndDoesNotCommit(t *testing.T) {
	e := newEnv(t, 1)
	started := make(chan struct{})
	c := e.consumer(t, func(ctx context.Context, _ *kafka.Message) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	}, kafka.WithDrainTimeout(50*time.Millisecond))
	e.produce(t, keyed("stuck", 1)...)
	r := run(t, c)
	<-started
	if err := r.stop(); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	got, err := e.cluster.CommittedOffset(t.Context(), e.group, e.topic, 0)
	if err != nil || got > 0 {
		t.Fatalf("committed %d (%v), want nothing: the message was not processed", got, err)
	}
	for _, sm := range e.kit.Collect(t).ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != observability.MetricConsumerMessages {
				continue
			}
			for _, p := range m.Data.(metricdata.Sum[int64]).DataPoints {
				o, _ := p.Attributes.Value(observability.OutcomeKey)
				if o.AsString() == observability.OutcomeSkipped.String() || o.AsString() == observability.OutcomeProcessed.String() {
					t.Fatalf("a cancelled message was counted as %s", o.AsString())
				}
			}
		}
	}
}

// The lag gauge reports, per partition, the messages fetched but not yet
// processed.
func TestLagGauge(t *testing.T) {
	e := newEnv(t, 1)
	started, release := make(chan struct{}, 1), make(chan struct{})
	c := e.consumer(t, func(ctx context.Context, m *kafka.Message) error {
		if m.Offset == 0 {
			started <- struct{}{}
			<-release
		}
		return nil
	})
	e.produce(t, keyed("lag", 10)...)
	r := run(t, c)
	<-started
	waitFor(t, "lag of 10", func() bool { return e.kit.Recorded(t, kafka.MetricLag) && e.kit.Sum(t, kafka.MetricLag) == 10 })
	close(release)
	waitFor(t, "lag of 0", func() bool { return e.kit.Sum(t, kafka.MetricLag) == 0 })
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
}
