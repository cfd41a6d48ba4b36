package observability_test

import (
	"context"
	"testing"
	"time"

	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/patron-go/patron/observability"
	"github.com/patron-go/patron/observability/observabilitytest"
)

// TestConsumerMetrics proves the instrument names, units and attributes that
// every consumer shares, and that one counter carries every outcome.
func TestConsumerMetrics(t *testing.T) {
	kit := observabilitytest.New(t)
	cm, err := observability.NewConsumerMetrics(observability.Meter(kit.MeterProvider, "test"), semconv.MessagingSystemKafka)
	if err != nil {
		t.Fatal(err)
	}
	d := cm.Destination("orders", semconv.MessagingConsumerGroupName("g"))
	ctx := t.Context()
	now := time.Now()
	d.Consumed(ctx, 3)
	d.Age(ctx, now.Add(-2*time.Second), now)
	d.Age(ctx, time.Time{}, now) // no timestamp: not recorded
	d.Duration(ctx, time.Millisecond, "")
	d.Duration(ctx, time.Millisecond, "_OTHER")
	d.Count(ctx, observability.OutcomeProcessed, 2)
	d.Count(ctx, observability.OutcomeRetried, 1)
	d.Count(ctx, observability.OutcomeRequeued, 1)
	d.Count(ctx, observability.OutcomeDeadLettered, 1)
	d.Count(ctx, observability.OutcomeSkipped, 1)
	d.Failed(ctx, 2, "_OTHER")

	dest := semconv.MessagingDestinationName("orders")
	if got := kit.Sum(t, "messaging.client.consumed.messages", dest, semconv.MessagingSystemKafka); got != 3 {
		t.Errorf("consumed = %v, want 3", got)
	}
	if got := kit.Sum(t, observability.MetricMessageAge, dest); got != 1 {
		t.Errorf("age count = %v, want 1", got)
	}
	if m := kit.Metric(t, observability.MetricMessageAge); m.Unit != "s" {
		t.Errorf("age unit = %q", m.Unit)
	}
	if m := kit.Metric(t, "messaging.process.duration"); m.Unit != "s" {
		t.Errorf("duration unit = %q", m.Unit)
	}
	if got := kit.Sum(t, "messaging.process.duration", semconv.ErrorTypeKey.String("_OTHER")); got != 1 {
		t.Errorf("failed durations = %v, want 1", got)
	}
	for o, want := range map[observability.Outcome]float64{
		observability.OutcomeProcessed: 2, observability.OutcomeFailed: 2, observability.OutcomeRetried: 1,
		observability.OutcomeRequeued: 1, observability.OutcomeDeadLettered: 1, observability.OutcomeSkipped: 1,
	} {
		got := kit.Sum(t, observability.MetricConsumerMessages, dest, semconv.MessagingConsumerGroupName("g"),
			observability.OutcomeKey.String(o.String()))
		if got != want {
			t.Errorf("%s = %v, want %v", o, got, want)
		}
	}
	if got := kit.Sum(t, observability.MetricConsumerMessages, semconv.ErrorTypeKey.String("_OTHER")); got != 2 {
		t.Errorf("failed with error.type = %v, want 2", got)
	}
}

func TestProducerMetrics(t *testing.T) {
	kit := observabilitytest.New(t)
	pm, err := observability.NewProducerMetrics(observability.Meter(kit.MeterProvider, "test"), semconv.MessagingSystemRabbitMQ)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	pm.Sent(ctx, "ex", 2, "")
	pm.Sent(ctx, "ex", 1, "unroutable")
	pm.Duration(ctx, "ex", time.Millisecond, "")
	if got := kit.Sum(t, "messaging.client.sent.messages", semconv.MessagingDestinationName("ex"), semconv.MessagingOperationTypeSend); got != 3 {
		t.Errorf("sent = %v, want 3", got)
	}
	if got := kit.Sum(t, "messaging.client.sent.messages", semconv.ErrorTypeKey.String("unroutable")); got != 1 {
		t.Errorf("failed = %v, want 1", got)
	}
	if m := kit.Metric(t, "messaging.client.operation.duration"); m.Unit != "s" {
		t.Errorf("duration unit = %q", m.Unit)
	}
}

// A ProducerDestination records the same series as ProducerMetrics.
func TestProducerDestination(t *testing.T) {
	kit := observabilitytest.New(t)
	pm, err := observability.NewProducerMetrics(observability.Meter(kit.MeterProvider, "test"), semconv.MessagingSystemKafka)
	if err != nil {
		t.Fatal(err)
	}
	d := pm.Destination("orders")
	ctx := t.Context()
	d.Record(ctx, 2, time.Millisecond, "")
	d.Record(ctx, 1, time.Millisecond, "timeout")
	pm.Sent(ctx, "orders", 1, "")
	dest := semconv.MessagingDestinationName("orders")
	if got := kit.Sum(t, "messaging.client.sent.messages", dest, semconv.MessagingOperationTypeSend); got != 4 {
		t.Errorf("sent = %v, want 4", got)
	}
	if got := kit.Sum(t, "messaging.client.sent.messages", dest, semconv.ErrorTypeKey.String("timeout")); got != 1 {
		t.Errorf("failed = %v, want 1", got)
	}
	if got := kit.Sum(t, "messaging.client.operation.duration", dest, semconv.ErrorTypeKey.String("timeout")); got != 1 {
		t.Errorf("failed durations = %v, want 1", got)
	}
	if got := kit.Sum(t, "messaging.client.operation.duration", dest); got != 2 {
		t.Errorf("durations = %v, want 2", got)
	}
	if !d.Timed(ctx) {
		t.Error("Timed = false with an SDK meter")
	}
	noop, err := observability.NewProducerMetrics(metricnoop.NewMeterProvider().Meter("test"), semconv.MessagingSystemKafka)
	if err != nil {
		t.Fatal(err)
	}
	if noop.Destination("orders").Timed(ctx) {
		t.Error("Timed = true with a no-op meter")
	}
}

// TestMessagingMetricsNoAllocs proves that recording an existing series
// allocates nothing, not even the variadic option slice a plain
// counter.Add(ctx, 1, opt) puts on the heap.
func TestMessagingMetricsNoAllocs(t *testing.T) {
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	m := observability.Meter(mp, "test")
	cm, err := observability.NewConsumerMetrics(m, semconv.MessagingSystemKafka)
	if err != nil {
		t.Fatal(err)
	}
	pm, err := observability.NewProducerMetrics(m, semconv.MessagingSystemKafka)
	if err != nil {
		t.Fatal(err)
	}
	d := cm.Destination("orders")
	pd := pm.Destination("orders")
	ctx := context.Background()
	now := time.Now()
	record := func() {
		d.Consumed(ctx, 1)
		d.Age(ctx, now, now)
		d.Duration(ctx, time.Millisecond, "")
		d.Duration(ctx, time.Millisecond, "_OTHER")
		d.Count(ctx, observability.OutcomeProcessed, 1)
		d.Failed(ctx, 1, "_OTHER")
		pm.Sent(ctx, "orders", 1, "")
		pm.Duration(ctx, "orders", time.Millisecond, "")
		pd.Record(ctx, 1, time.Millisecond, "")
		pd.Record(ctx, 1, time.Millisecond, "timeout")
	}
	record()
	if n := testing.AllocsPerRun(100, record); n != 0 {
		t.Errorf("recording allocates %v times", n)
	}
}

// The outcome counter is observed at collection: a series appears with its
// first message, and a destination built again (a partition assigned
// again) goes on from the same total, as a cumulative counter must.
func TestConsumerOutcomesObserved(t *testing.T) {
	kit := observabilitytest.New(t)
	cm, err := observability.NewConsumerMetrics(observability.Meter(kit.MeterProvider, "test"), semconv.MessagingSystemKafka)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	processed := observability.OutcomeKey.String(observability.OutcomeProcessed.String())
	cm.Destination("orders").Count(ctx, observability.OutcomeProcessed, 2)
	cm.Destination("orders").Count(ctx, observability.OutcomeProcessed, 3)
	if got := kit.Sum(t, observability.MetricConsumerMessages, processed); got != 5 {
		t.Errorf("processed = %v, want 5 across both destinations", got)
	}
	for _, sm := range kit.Collect(t).ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != observability.MetricConsumerMessages {
				continue
			}
			if n := len(m.Data.(metricdata.Sum[int64]).DataPoints); n != 1 {
				t.Errorf("%d series, want only the processed one", n)
			}
		}
	}
}
