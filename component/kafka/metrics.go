package kafka

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/patron-go/patron/observability"
)

// MetricLag is the consumer lag gauge, per partition. The other consumer
// instruments are the ones every Patron consumer shares (see
// observability.ConsumerMetrics): messaging.process.duration,
// messaging.client.consumed.messages, observability.MetricConsumerMessages by
// outcome (processed, failed, retried, dead_lettered, skipped) and
// observability.MetricMessageAge.
const MetricLag = "patron.messaging.kafka.consumer.lag"

type metrics struct {
	*observability.ConsumerMetrics
	lag metric.Int64ObservableGauge
}

func newMetrics(m metric.Meter, c *Component) (*metrics, error) {
	cm, err := observability.NewConsumerMetrics(m, semconv.MessagingSystemKafka)
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	ms := metrics{ConsumerMetrics: cm}
	ms.lag, err = m.Int64ObservableGauge(MetricLag, metric.WithUnit("{message}"),
		metric.WithDescription("Messages between the last processed offset and the high watermark of the last fetch, per partition."))
	if err != nil {
		return nil, fmt.Errorf("kafka: creating metrics: %w", err)
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
