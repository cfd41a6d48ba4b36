// Package amqpbench compares Patron's RabbitMQ publisher and consumer with
// bare amqp091-go doing the same work (confirmed publishes; consuming with
// prefetch 32 and one ack per message) on the same broker in one run.
//
//	go test -run '^$' -bench . -benchtime 3000x ./bench/amqp/
package amqpbench

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	clientamqp "github.com/patron-go/patron/client/amqp"
	patronamqp "github.com/patron-go/patron/component/amqp"
	"github.com/patron-go/patron/internal/amqptest"
)

var body = make([]byte, 256)

func providers(traced bool) (trace.TracerProvider, func()) {
	if !traced {
		return noop.NewTracerProvider(), func() {}
	}
	// Spans are sampled and processed but not exported: the cost measured
	// is Patron's, not an exporter's.
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
	return tp, func() { _ = tp.Shutdown(context.Background()) }
}

func BenchmarkPublish(b *testing.B) {
	amqptest.Require(b)
	queue := amqptest.Name(b, "bench")
	amqptest.DeclareQueue(b, queue, nil)

	b.Run("bare", func(b *testing.B) {
		ch := amqptest.ConfirmChannel(b)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			dc, err := ch.PublishWithDeferredConfirmWithContext(b.Context(), "", queue, true, false, amqp.Publishing{Body: body})
			if err != nil {
				b.Fatal(err)
			}
			if ok, err := dc.WaitContext(b.Context()); err != nil || !ok {
				b.Fatal("not confirmed", err)
			}
		}
		b.StopTimer()
		purge(b, queue)
	})
	for _, traced := range []bool{false, true} {
		name := "patron"
		if traced {
			name = "patron-traced"
		}
		b.Run(name, func(b *testing.B) {
			tp, done := providers(traced)
			defer done()
			p, err := clientamqp.New(amqptest.URL, clientamqp.WithTracerProvider(tp),
				clientamqp.WithPropagator(propagation.TraceContext{}), clientamqp.WithChannels(1))
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			// Connect outside the timed loop, as the bare case does.
			if err := p.Publish(b.Context(), "", queue, amqp.Publishing{Body: body}); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := p.Publish(b.Context(), "", queue, amqp.Publishing{Body: body}); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			purge(b, queue)
		})
	}
}

func BenchmarkConsume(b *testing.B) {
	amqptest.Require(b)

	b.Run("bare", func(b *testing.B) {
		queue := fill(b, b.N)
		conn := amqptest.Dial(b)
		ch, err := conn.Channel()
		if err != nil {
			b.Fatal(err)
		}
		if err := ch.Qos(32, 0, false); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		deliveries, err := ch.Consume(queue, "", false, false, false, false, nil)
		if err != nil {
			b.Fatal(err)
		}
		for range b.N {
			d := <-deliveries
			if err := d.Ack(false); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		_ = ch.Close()
	})
	for _, traced := range []bool{false, true} {
		name := "patron"
		if traced {
			name = "patron-traced"
		}
		b.Run(name, func(b *testing.B) {
			queue := fill(b, b.N)
			tp, done := providers(traced)
			defer done()
			var handled atomic.Int64
			finished := make(chan struct{})
			gate := make(chan struct{})
			n := int64(b.N)
			c, err := patronamqp.New(amqptest.URL, queue, func(context.Context, *patronamqp.Message) error {
				<-gate // connecting is outside the timed loop, as in the bare case
				if handled.Add(1) == n {
					close(finished)
				}
				return nil
			}, patronamqp.WithTracerProvider(tp), patronamqp.WithPropagator(propagation.TraceContext{}),
				patronamqp.WithPrefetch(32))
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(b.Context())
			runErr := make(chan error, 1)
			go func() { runErr <- c.Run(ctx) }()
			for c.Ready(ctx) != nil {
				time.Sleep(time.Millisecond)
			}
			b.ReportAllocs()
			b.ResetTimer()
			close(gate)
			<-finished
			b.StopTimer()
			cancel()
			if err := <-runErr; err != nil {
				b.Fatal(err)
			}
		})
	}
}

// fill declares a fresh queue holding n messages, each with a traceparent
// header as a Patron producer would write.
func fill(b *testing.B, n int) string {
	b.Helper()
	queue := amqptest.Name(b, "bench")
	amqptest.DeclareQueue(b, queue, nil)
	ch := amqptest.ConfirmChannel(b)
	headers := amqp.Table{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
	pending := make([]*amqp.DeferredConfirmation, 0, 500)
	wait := func() {
		for _, dc := range pending {
			if ok, err := dc.WaitContext(b.Context()); err != nil || !ok {
				b.Fatal("fill not confirmed", err)
			}
		}
		pending = pending[:0]
	}
	for range n {
		dc, err := ch.PublishWithDeferredConfirmWithContext(b.Context(), "", queue, false, false,
			amqp.Publishing{Body: body, Headers: headers})
		if err != nil {
			b.Fatal(err)
		}
		if pending = append(pending, dc); len(pending) == cap(pending) {
			wait()
		}
	}
	wait()
	return queue
}

func purge(b *testing.B, queue string) {
	b.Helper()
	if _, err := amqptest.Channel(b).QueuePurge(queue, false); err != nil {
		b.Fatal(err)
	}
}
