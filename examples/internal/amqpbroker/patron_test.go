package amqpbroker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/trace"

	clientamqp "github.com/patron-go/patron/client/amqp"
	patronamqp "github.com/patron-go/patron/component/amqp"
	"github.com/patron-go/patron/correlation"
	"github.com/patron-go/patron/observability/observabilitytest"
	"github.com/patron-go/patron/patrontest/testenv"
	"github.com/patron-go/patron/reliability"
)

// The acceptance tests: Patron's own RabbitMQ publisher and consumer
// against the broker, as the demo runs them.

// quiet keeps the consumers' expected warnings (failing handlers) out of
// the test output.
var quiet = patronamqp.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))

var fastRetry = reliability.Backoff{Initial: 5 * time.Millisecond, Max: 20 * time.Millisecond, NoJitter: true}

func runComponent(t *testing.T, c *patronamqp.Component) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(waitTimeout):
			t.Error("Run did not return after cancellation")
		}
	})
	waitUntil(t, "the consumer is ready", func() bool { return c.Ready(t.Context()) == nil })
}

// waitUntil polls a condition (bounded), never sleeping as synchronisation.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, waitTimeout, what, cond)
}

func TestPatronPublisherToConsumerWithTraceAndDeadLetter(t *testing.T) {
	b := startBroker(t)
	kit := observabilitytest.New(t)
	const exchange, queue, dlx, dlq = "orders", "orders-q", "orders-dlx", "orders-dlq"

	type seen struct {
		traceparent, corr, key, exchange string
		count                            int
	}
	got := make(chan seen, 1)
	var mu sync.Mutex
	var poisonCounts []int
	c, err := patronamqp.New(b.URL(), queue, func(ctx context.Context, m *patronamqp.Message) error {
		if string(m.Body()) == "poison" {
			mu.Lock()
			poisonCounts = append(poisonCounts, m.DeliveryCount())
			mu.Unlock()
			return errors.New("cannot handle")
		}
		s := seen{key: m.RoutingKey(), exchange: m.Exchange(), count: m.DeliveryCount()}
		s.traceparent, _ = m.Headers()["traceparent"].(string)
		s.corr, _ = correlation.FromContext(ctx)
		got <- s
		return nil
	},
		patronamqp.WithTracerProvider(kit.TracerProvider),
		patronamqp.WithMeterProvider(kit.MeterProvider),
		patronamqp.WithPropagator(kit.Propagator),
		patronamqp.WithExchange(patronamqp.ExchangeSpec{Name: exchange, Kind: amqp.ExchangeTopic, Durable: true}),
		patronamqp.WithDeclareQueue(patronamqp.QueueSpec{Durable: true}),
		patronamqp.WithBinding(exchange, "orders.*", nil),
		patronamqp.WithDeadLetter(patronamqp.DeadLetterSpec{Exchange: dlx, Queue: dlq}),
		patronamqp.WithRetry(2, fastRetry), // 3 deliveries
		quiet,
	)
	if err != nil {
		t.Fatal(err)
	}
	runComponent(t, c)

	pub, err := clientamqp.New(b.URL(),
		clientamqp.WithTracerProvider(kit.TracerProvider),
		clientamqp.WithMeterProvider(kit.MeterProvider),
		clientamqp.WithPropagator(kit.Propagator))
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()

	msg, err := clientamqp.NewPublishing("application/json", map[string]string{"id": "42"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := correlation.ContextWithID(t.Context(), "corr-42")
	if err := pub.Publish(ctx, exchange, "orders.created", msg); err != nil {
		t.Fatal(err)
	}
	var s seen
	select {
	case s = <-got:
	case <-time.After(waitTimeout):
		t.Fatal("message not handled")
	}
	if s.traceparent == "" || s.corr != "corr-42" || s.key != "orders.created" || s.exchange != exchange || s.count != 1 {
		t.Errorf("handler saw %+v", s)
	}
	spans := kit.WaitForSpanCount(t, waitTimeout, "process "+queue, 1)
	observabilitytest.AssertTree(t, spans, observabilitytest.Want{
		Name: "publish " + exchange, Kind: trace.SpanKindProducer,
		Children: []observabilitytest.Want{{
			Name: "process " + queue, Kind: trace.SpanKindConsumer, LinksTo: []string{"publish " + exchange},
		}},
	})

	// Mandatory: a routing key nothing is bound to comes back.
	err = pub.Publish(t.Context(), exchange, "invoices.created", msg)
	var re *clientamqp.ReturnError
	if !errors.As(err, &re) || !errors.Is(err, clientamqp.ErrUnroutable) || re.ReplyCode != 312 {
		t.Errorf("unroutable publish: %v", err)
	}

	// A message the handler always fails is retried, then dead-lettered.
	if err := pub.Publish(t.Context(), exchange, "orders.poison", amqp.Publishing{Body: []byte("poison"), MessageId: "p"}); err != nil {
		t.Fatal(err)
	}
	admin := openChannel(t, dial(t, b))
	waitUntil(t, "the poison message is dead-lettered", func() bool { return depth(t, admin, dlq) == 1 })
	d, ok, err := admin.Get(dlq, true)
	if err != nil || !ok {
		t.Fatalf("get from the dead-letter queue: ok=%v err=%v", ok, err)
	}
	deaths, _ := d.Headers["x-death"].([]any)
	if string(d.Body) != "poison" || d.MessageId != "p" || len(deaths) != 1 || d.Headers["traceparent"] == nil {
		t.Errorf("dead letter %q id %q headers %v", d.Body, d.MessageId, d.Headers)
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(poisonCounts) != "[1 2 3]" {
		t.Errorf("poison deliveries %v, want [1 2 3]", poisonCounts)
	}
	if n := depth(t, admin, queue); n != 0 {
		t.Errorf("queue holds %d", n)
	}
}

func TestPatronConsumerOnQuorumQueueCountsWithNack(t *testing.T) {
	b := startBroker(t)
	const queue, dlx, dlq = "quorum-q", "quorum-dlx", "quorum-dlq"
	var mu sync.Mutex
	var counts []int
	c, err := patronamqp.New(b.URL(), queue, func(_ context.Context, m *patronamqp.Message) error {
		mu.Lock()
		counts = append(counts, m.DeliveryCount())
		mu.Unlock()
		return errors.New("cannot handle")
	},
		patronamqp.WithDeclareQueue(patronamqp.QueueSpec{Durable: true, Quorum: true}),
		patronamqp.WithDeadLetter(patronamqp.DeadLetterSpec{Exchange: dlx, Queue: dlq}),
		patronamqp.WithRetry(2, fastRetry), // 3 deliveries
		patronamqp.WithRetryMode(patronamqp.RetryNack),
		quiet,
	)
	if err != nil {
		t.Fatal(err)
	}
	runComponent(t, c)
	pub, err := clientamqp.New(b.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if err := pub.Publish(t.Context(), "", queue, amqp.Publishing{Body: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	admin := openChannel(t, dial(t, b))
	waitUntil(t, "the message is dead-lettered", func() bool { return depth(t, admin, dlq) == 1 })
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(counts) != "[1 2 3]" {
		t.Errorf("deliveries %v, want [1 2 3]", counts)
	}
}

func TestPatronConsumerShutdownHandsBackPrefetched(t *testing.T) {
	b := startBroker(t)
	const queue = "shutdown-q"
	admin := openChannel(t, dial(t, b))
	declare(t, admin, queue, nil)
	for i := range 20 {
		publish(t, admin, "", queue, amqp.Publishing{Body: fmt.Appendf(nil, "%d", i)})
	}
	release := make(chan struct{})
	handled := make(chan struct{}, 20)
	c, err := patronamqp.New(b.URL(), queue, func(context.Context, *patronamqp.Message) error {
		handled <- struct{}{}
		<-release
		return nil
	}, patronamqp.WithPrefetch(5))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	<-handled // one in flight, four more prefetched
	cancel()
	close(release)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Run did not return")
	}
	// The in-flight message was acked, the prefetched ones went back.
	if n := depth(t, admin, queue); n != 19 {
		t.Errorf("queue holds %d, want 19", n)
	}
}

func TestPatronClientsRecoverFromKilledConnections(t *testing.T) {
	b := startBroker(t)
	const queue = "killed-q"
	var mu sync.Mutex
	seen := make(map[string]bool)
	c, err := patronamqp.New(b.URL(), queue, func(_ context.Context, m *patronamqp.Message) error {
		mu.Lock()
		seen[string(m.Body())] = true
		mu.Unlock()
		return nil
	},
		patronamqp.WithDeclareQueue(patronamqp.QueueSpec{Durable: true}),
		patronamqp.WithConnectionName("victim-consumer"),
		patronamqp.WithReconnect(20, fastRetry),
		quiet,
	)
	if err != nil {
		t.Fatal(err)
	}
	runComponent(t, c)
	pub, err := clientamqp.New(b.URL(), clientamqp.WithConnectionName("victim-publisher"), clientamqp.WithRetry(10, fastRetry))
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	const n = 40
	for i := range n {
		if i == n/2 {
			if killed := b.CloseConnections("victim-"); killed != 2 {
				t.Fatalf("closed %d connections, want the consumer's and the publisher's", killed)
			}
		}
		if err := pub.Publish(t.Context(), "", queue, amqp.Publishing{Body: fmt.Appendf(nil, "%d", i)}); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	waitUntil(t, "every message is handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == n
	})
}
