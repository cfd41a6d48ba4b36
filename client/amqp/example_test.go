package amqp_test

import (
	"context"
	"errors"
	"log"

	patronamqp "github.com/patron-go/patron/client/amqp"
)

// Publishing a JSON message and waiting for the broker's confirm. It needs a
// broker, so it has no Output.
func Example() {
	p, err := patronamqp.New("amqp://guest:guest@127.0.0.1:5672/",
		patronamqp.WithConnectionName("orders-service"))
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	msg, err := patronamqp.NewPublishing("application/json", map[string]string{"order": "42"})
	if err != nil {
		log.Fatal(err)
	}
	msg.MessageId = "order-42"
	err = p.Publish(context.Background(), "orders", "orders.created", msg)
	if errors.Is(err, patronamqp.ErrUnroutable) {
		log.Print("no queue is bound for orders.created")
	} else if err != nil {
		log.Print(err)
	}
}
