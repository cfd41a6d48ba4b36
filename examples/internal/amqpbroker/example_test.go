package amqpbroker_test

import (
	"context"
	"fmt"
	"log"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/patron-go/patron/examples/internal/amqpbroker"
)

// A broker on a free loopback port, used with the ordinary RabbitMQ client.
func Example() {
	b, err := amqpbroker.Start("127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	conn, err := amqp.Dial(b.URL())
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		log.Fatal(err)
	}
	if _, err := ch.QueueDeclare("greetings", true, false, false, false, nil); err != nil {
		log.Fatal(err)
	}
	err = ch.PublishWithContext(context.Background(), "", "greetings", false, false,
		amqp.Publishing{Headers: amqp.Table{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}, Body: []byte("hello")})
	if err != nil {
		log.Fatal(err)
	}
	deliveries, err := ch.Consume("greetings", "", true, false, false, false, nil)
	if err != nil {
		log.Fatal(err)
	}
	d := <-deliveries
	fmt.Println(string(d.Body), d.Headers["traceparent"])
	// Output: hello 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01
}
