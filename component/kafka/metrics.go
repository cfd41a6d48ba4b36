package kafka

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/semconv/v1.43.0/messagingconv"

	"github.com/patron-go/patron/observability"
)

// Names of the consumer's own counters; the semantic conventions have no
// instruments for the outcomes of a failure strategy.
const (
	MetricProcessed    = "patron.messaging.consumer.processed"
	MetricFailed       = "patron.messaging.consumer.failed"
	MetricRetried      = "patron.messaging.consumer.retried"
	MetricDeadLettered = "patron.messaging.consumer.dead_lettered"
	MetricSkipped      = "patron.messaging.consumer.skipped"
	MetricLag          = "patron.messaging.kafka.consumer.lag"
)

type metrics struct {
	consumed     metric.Int64Counter
	processed    metric.Int64Counter
	failed       metric.Int64Counter
	retried      metric.Int64Counter
	deadLettered metric.Int64Counter
	skipped      metric.Int64Counter
	duration     metric.Float64Histogram
	lag          metric.Int64ObservableGauge
}

func newMetrics(m metric.Meter, c *Component) (*metrics, error) {
	var (
		ms   metrics
		errs []error
	)
	counter := func(name, desc string) metric.Int64Counter {
		ctr, err := m.Int64Counter(name, metric.WithUnit("{message}"), metric.WithDescription(desc))
		errs = append(errs, err)
		return ctr
	}
	ms.consumed = counter(messagingconv.ClientConsumedMessages{}.Name(), "Messages fetched and handed to the partition workers.")
	ms.processed = counter(MetricProcessed, "Messages (or batched messages) whose handler succeeded.")
	ms.failed = counter(MetricFailed, "Handler attempts that returned an error, per message.")
	ms.retried = counter(MetricRetried, "Handler retries, per message.")
	ms.deadLettered = counter(MetricDeadLettered, "Messages sent to the dead-letter topic after the retries.")
	ms.skipped = counter(MetricSkipped, "Messages skipped (logged at error) after the retries.")
	var err error
	ms.duration, err = observability.DurationHistogram(m, messagingconv.ProcessDuration{}.Name(), "Duration of one handler attempt.")
	errs = append(errs, err)
	ms.lag, err = m.Int64ObservableGauge(MetricLag, metric.WithUnit("{message}"),
		metric.WithDescription("Messages between the last processed offset and the high watermark of the last fetch, per partition."))
	errs = append(errs, err)
	for _, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("kafka: creating metrics: %w", err)
		}
	}
	if _, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		c.lagSnapshot(func(w *worker) {
			hwm, next := w.hwm.Load(), w.next.Load()
			if hwm < 0 || next < 0 {
				return
			}
			o.ObserveInt64(ms.lag, max(hwm-next, 0), w.lagAttrs)
		})
		return nil
	}, ms.lag); err != nil {
		return nil, fmt.Errorf("kafka: registering lag gauge: %w", err)
	}
	return &ms, nil
}
