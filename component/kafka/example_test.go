package kafka_test

import (
	"context"
	"fmt"
	"time"

	"github.com/patron-go/patron/component/kafka"
	"github.com/patron-go/patron/observability/log"
	"github.com/patron-go/patron/reliability"
)

// A consumer that decodes JSON orders, retries a failing handler three times
// with backoff and then dead-letters the message. Give it to the service:
// patron.New(...).Run(ctx, consumer).
func Example() {
	type order struct {
		ID    string `json:"id"`
		Total int    `json:"total"`
	}
	consumer, err := kafka.New("orders-consumer", "orders-service", []string{"127.0.0.1:9092"}, []string{"orders"},
		func(ctx context.Context, msg *kafka.Message) error {
			var o order
			if err := msg.Decode(&o); err != nil {
				return err // malformed: retried, then dead-lettered
			}
			log.FromContext(ctx).InfoContext(ctx, "order received", "id", o.ID, "partition", msg.Partition, "offset", msg.Offset)
			return nil
		},
		kafka.WithRetry(3, reliability.Backoff{Initial: 100 * time.Millisecond, Max: 2 * time.Second}),
		kafka.WithDeadLetterTopic("orders.dlt"),
		kafka.WithConcurrency(8),
	)
	if err != nil {
		fmt.Println("building consumer:", err)
		return
	}
	_ = consumer // patron.New("svc", "1.0").Run(ctx, consumer)
}
