package kafka_test

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/patron-go/patron/client/kafka"
	"github.com/patron-go/patron/encoding"
	"github.com/patron-go/patron/patrontest/kafkatest"
)

// Send waits for the broker's acknowledgement; SendAsync reports through a
// callback. Both write the trace context and the correlation ID of ctx into
// the record headers.
func ExampleProducer() {
	cluster, err := kafkatest.Start(kafkatest.WithTopics("orders"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cluster.Close()

	ctx := context.Background()
	producer, err := kafka.NewProducer(cluster.Addrs())
	if err != nil {
		fmt.Println(err)
		return
	}
	msg, err := kafka.NewEncodedMessage("orders", encoding.JSON, map[string]any{"id": "o-1", "total": 42})
	if err != nil {
		fmt.Println(err)
		return
	}
	msg.Key = []byte("o-1")
	if err := producer.Send(ctx, msg); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("acknowledged at offset", msg.Offset)

	_ = producer.SendAsync(ctx, kafka.NewMessage("orders", []byte(`{"id":"o-2"}`)), func(m *kafka.Message, err error) {
		fmt.Println("async sent:", err == nil)
	})
	if err := producer.Close(ctx); err != nil { // flushes and runs pending callbacks
		fmt.Println(err)
	}
	// Output:
	// acknowledged at offset 0
	// async sent: true
}

// NewHooks instruments a franz-go client of your own the way the Producer
// is instrumented: a PRODUCER span per record, parented on the record's
// Context, whose context and correlation ID travel in the headers.
func ExampleNewHooks() {
	cluster, err := kafkatest.Start(kafkatest.WithTopics("orders"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cluster.Close()

	hooks, err := kafka.NewHooks()
	if err != nil {
		fmt.Println(err)
		return
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.Addrs()...), hooks)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cl.Close()
	ctx := context.Background()
	rec := &kgo.Record{Topic: "orders", Value: []byte(`{"id":"o-3"}`), Context: ctx}
	if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("produced at offset", rec.Offset)
	// Output: produced at offset 0
}
