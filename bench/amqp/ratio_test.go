package amqpbench

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/propagation"

	clientamqp "github.com/patron-go/patron/client/amqp"
	patronamqp "github.com/patron-go/patron/component/amqp"
	"github.com/patron-go/patron/internal/amqptest"
)

// The machine and broker are shared, so back-to-back benchmarks see different
// load. These interleave bare and Patron work in one loop and report the
// throughput ratio (patron/bare, 1.0 = same speed), which load affects alike.

func BenchmarkPublishRatio(b *testing.B) {
	amqptest.Require(b)
	queue := amqptest.Name(b, "bench")
	amqptest.DeclareQueue(b, queue, nil)
	ch := amqptest.ConfirmChannel(b)
	p, err := clientamqp.New(amqptest.URL, clientamqp.WithPropagator(propagation.TraceContext{}), clientamqp.WithChannels(1))
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	if err := p.Publish(b.Context(), "", queue, amqp.Publishing{Body: body}); err != nil {
		b.Fatal(err)
	}
	var bare, patron time.Duration
	ratios := make([]float64, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		bareFirst := i%2 == 0
		bare0, patron0 := bare, patron
		for turn := range 2 {
			start := time.Now()
			if (turn == 0) == bareFirst {
				dc, err := ch.PublishWithDeferredConfirmWithContext(b.Context(), "", queue, true, false, amqp.Publishing{Body: body})
				if err != nil {
					b.Fatal(err)
				}
				if ok, err := dc.WaitContext(b.Context()); err != nil || !ok {
					b.Fatal("not confirmed", err)
				}
				bare += time.Since(start)
			} else {
				if err := p.Publish(b.Context(), "", queue, amqp.Publishing{Body: body}); err != nil {
					b.Fatal(err)
				}
				patron += time.Since(start)
			}
		}
		ratios = append(ratios, float64(bare-bare0)/float64(patron-patron0))
	}
	b.StopTimer()
	report(b, bare, patron, b.N, ratios)
	purge(b, queue)
}

func BenchmarkConsumeRatio(b *testing.B) {
	amqptest.Require(b)
	const round = 500
	rounds := max(b.N/round, 1)
	var bare, patron time.Duration
	ratios := make([]float64, 0, rounds)
	conn := amqptest.Dial(b)
	for r := range rounds {
		bq, pq := fill(b, round), fill(b, round)
		runBare := func() {
			ch, err := conn.Channel()
			if err != nil {
				b.Fatal(err)
			}
			if err := ch.Qos(32, 0, false); err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			deliveries, err := ch.Consume(bq, "", false, false, false, false, nil)
			if err != nil {
				b.Fatal(err)
			}
			for range round {
				d := <-deliveries
				if err := d.Ack(false); err != nil {
					b.Fatal(err)
				}
			}
			bare += time.Since(start)
			_ = ch.Close()
		}
		runPatron := func() {
			var handled atomic.Int64
			finished, gate := make(chan struct{}), make(chan struct{})
			c, err := patronamqp.New(amqptest.URL, pq, func(context.Context, *patronamqp.Message) error {
				<-gate
				if handled.Add(1) == round {
					close(finished)
				}
				return nil
			}, patronamqp.WithPropagator(propagation.TraceContext{}), patronamqp.WithPrefetch(32))
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(b.Context())
			runErr := make(chan error, 1)
			go func() { runErr <- c.Run(ctx) }()
			for c.Ready(ctx) != nil {
				time.Sleep(time.Millisecond)
			}
			start := time.Now()
			close(gate)
			<-finished
			patron += time.Since(start)
			cancel()
			if err := <-runErr; err != nil {
				b.Fatal(err)
			}
		}
		bare0, patron0 := bare, patron
		if r%2 == 0 {
			runBare()
			runPatron()
		} else {
			runPatron()
			runBare()
		}
		ratios = append(ratios, float64(bare-bare0)/float64(patron-patron0))
	}
	report(b, bare, patron, rounds*round, ratios)
}

// report gives the mean times per message, the ratio of the totals and the
// median of the ratios of each interleaved pair (a message, or a round):
// a load spike during a few pairs moves the totals' ratio, not the median.
func report(b *testing.B, bare, patron time.Duration, n int, ratios []float64) {
	b.ReportMetric(float64(bare.Nanoseconds())/float64(n), "bare-ns/msg")
	b.ReportMetric(float64(patron.Nanoseconds())/float64(n), "patron-ns/msg")
	b.ReportMetric(float64(bare)/float64(patron), "patron/bare-throughput")
	slices.Sort(ratios)
	if len(ratios) > 0 {
		b.ReportMetric(ratios[len(ratios)/2], "median-patron/bare")
	}
}
