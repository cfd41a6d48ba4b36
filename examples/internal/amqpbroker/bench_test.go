package amqpbroker

import (
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/patron-go/patron/patrontest/testenv"
)

// The benchmarks run the same client work against this broker and, side by
// side, against the real RabbitMQ when one answers on loopback, so the
// ratio shows what the demo gives up (or gains) by running in-process.

type benchTarget struct {
	name string
	url  func(b *testing.B) string
}

func benchTargets() []benchTarget {
	return []benchTarget{
		{"amqpbroker", func(b *testing.B) string { return startBroker(b).URL() }},
		{"rabbitmq", func(b *testing.B) string {
			testenv.RequireTCP(b, "rabbitmq", testenv.RabbitMQAddr)
			return "amqp://guest:guest@" + testenv.RabbitMQAddr + "/"
		}},
	}
}

func benchChannel(b *testing.B, url string) (*amqp.Channel, string) {
	b.Helper()
	conn, err := amqp.Dial(url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		b.Fatal(err)
	}
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		b.Fatal(err)
	}
	return ch, q.Name
}

// BenchmarkConfirmedRoundTrip: publish one message with a confirm and wait
// for its delivery, one at a time (latency).
func BenchmarkConfirmedRoundTrip(b *testing.B) {
	for _, target := range benchTargets() {
		b.Run(target.name, func(b *testing.B) {
			ch, q := benchChannel(b, target.url(b))
			if err := ch.Confirm(false); err != nil {
				b.Fatal(err)
			}
			ds, err := ch.Consume(q, "", true, false, false, false, nil)
			if err != nil {
				b.Fatal(err)
			}
			msg := amqp.Publishing{Headers: amqp.Table{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}, Body: make([]byte, 256)}
			b.ReportAllocs()
			for b.Loop() {
				dc, err := ch.PublishWithDeferredConfirmWithContext(b.Context(), "", q, true, false, msg)
				if err != nil {
					b.Fatal(err)
				}
				if ok, err := dc.WaitContext(b.Context()); !ok || err != nil {
					b.Fatal("not confirmed", err)
				}
				select {
				case <-ds:
				case <-time.After(waitTimeout):
					b.Fatal("no delivery")
				}
			}
		})
	}
}

// BenchmarkThroughput: publish without confirms as fast as the client
// goes, with a manual-ack consumer (prefetch 100) draining concurrently.
func BenchmarkThroughput(b *testing.B) {
	for _, target := range benchTargets() {
		b.Run(target.name, func(b *testing.B) {
			url := target.url(b)
			ch, q := benchChannel(b, url)
			if err := ch.Qos(100, 0, false); err != nil {
				b.Fatal(err)
			}
			ds, err := ch.Consume(q, "", false, false, false, false, nil)
			if err != nil {
				b.Fatal(err)
			}
			pconn, err := amqp.Dial(url)
			if err != nil {
				b.Fatal(err)
			}
			defer pconn.Close()
			pch, err := pconn.Channel()
			if err != nil {
				b.Fatal(err)
			}
			msg := amqp.Publishing{Body: make([]byte, 256)}
			done := make(chan struct{})
			n := b.N
			go func() {
				defer close(done)
				for i := range n {
					d := <-ds
					if i%50 == 49 || i == n-1 {
						_ = d.Ack(true)
					}
				}
			}()
			b.ReportAllocs()
			b.ResetTimer()
			for range n {
				if err := pch.PublishWithContext(b.Context(), "", q, false, false, msg); err != nil {
					b.Fatal(err)
				}
			}
			select {
			case <-done:
			case <-time.After(time.Minute):
				b.Fatal("not all delivered")
			}
		})
	}
}
