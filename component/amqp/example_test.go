package amqp_test

import (
	"context"
	"log"

	amqp "github.com/rabbitmq/amqp091-go"

	patronamqp "github.com/patron-go/patron/component/amqp"
)

// A consumer of the "orders" queue, bound to the "orders" topic exchange,
// that retries a failing message up to 5 deliveries and then dead-letters it
// into "orders.dead". Pass it to patron's Service.Run; it needs a broker, so
// it has no Output.
func Example() {
	type order struct {
		ID string `json:"id"`
	}
	c, err := patronamqp.New("amqp://guest:guest@127.0.0.1:5672/", "orders",
		func(ctx context.Context, msg *patronamqp.Message) error {
			var o order
			if err := msg.Decode(&o); err != nil {
				return err // malformed: retried, then dead-lettered
			}
			log.Printf("order %s (delivery %d)", o.ID, msg.DeliveryCount())
			return nil
		},
		patronamqp.WithExchange(patronamqp.ExchangeSpec{Name: "orders", Kind: amqp.ExchangeTopic, Durable: true}),
		patronamqp.WithDeclareQueue(patronamqp.QueueSpec{Durable: true, Quorum: true}),
		patronamqp.WithBinding("orders", "orders.*", nil),
		patronamqp.WithDeadLetter(patronamqp.DeadLetterSpec{Exchange: "orders.dlx", Queue: "orders.dead"}),
		patronamqp.WithRetryMode(patronamqp.RetryNack),
		patronamqp.WithWorkers(4),
	)
	if err != nil {
		log.Fatal(err)
	}
	_ = c // patron.New(...).Run(ctx, c)
}
