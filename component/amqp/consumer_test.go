package amqp_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	clientamqp "github.com/patron-go/patron/client/amqp"
	patronamqp "github.com/patron-go/patron/component/amqp"
	"github.com/patron-go/patron/correlation"
	"github.com/patron-go/patron/internal/amqptest"
	"github.com/patron-go/patron/observability"
	"github.com/patron-go/patron/observability/observabilitytest"
	"github.com/patron-go/patron/patrontest/testenv"
	"github.com/patron-go/patron/reliability"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var fastRetry = reliability.Backoff{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond}

func kitOptions(kit *observabilitytest.Kit) []patronamqp.Option {
	return []patronamqp.Option{
		patronamqp.WithTracerProvider(kit.TracerProvider),
		patronamqp.WithMeterProvider(kit.MeterProvider),
		patronamqp.WithPropagator(kit.Propagator),
	}
}

// running is a component's Run in the background.
type running struct {
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, c *patronamqp.Component) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- c.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok {
			close(r.done)
		}
		return err
	case <-time.After(60 * time.Second):
		t.Fatal("Run did not return after cancellation")
		return nil
	}
}

func (r *running) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.done:
		close(r.done)
		return err
	case <-time.After(60 * time.Second):
		t.Fatal("Run did not return")
		return nil
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, 60*time.Second, what, cond)
}

func TestNewRejectsBadConfiguration(t *testing.T) {
	h := func(context.Context, *patronamqp.Message) error { return nil }
	bh := func(context.Context, []*patronamqp.Message) error { return nil }
	for name, tc := range map[string]struct {
		url, queue string
		h          patronamqp.Handler
		opts       []patronamqp.Option
	}{
		"bad url":          {url: "http://x", queue: "q", h: h},
		"empty queue":      {url: amqptest.URL, h: h},
		"nil handler":      {url: amqptest.URL, queue: "q"},
		"both handlers":    {url: amqptest.URL, queue: "q", h: h, opts: []patronamqp.Option{patronamqp.WithBatch(bh, 10, time.Second)}},
		"zero prefetch":    {url: amqptest.URL, queue: "q", h: h, opts: []patronamqp.Option{patronamqp.WithPrefetch(0)}},
		"zero workers":     {url: amqptest.URL, queue: "q", h: h, opts: []patronamqp.Option{patronamqp.WithWorkers(0)}},
		"dlx no declare":   {url: amqptest.URL, queue: "q", h: h, opts: []patronamqp.Option{patronamqp.WithDeadLetter(patronamqp.DeadLetterSpec{Exchange: "dlx"})}},
		"bad quorum":       {url: amqptest.URL, queue: "q", h: h, opts: []patronamqp.Option{patronamqp.WithDeclareQueue(patronamqp.QueueSpec{Quorum: true})}},
		"negative retries": {url: amqptest.URL, queue: "q", h: h, opts: []patronamqp.Option{patronamqp.WithRetry(-1, fastRetry)}},
		"bad strategy":     {url: amqptest.URL, queue: "q", h: h, opts: []patronamqp.Option{patronamqp.WithFailureStrategy(7)}},
		"nil meter":        {url: amqptest.URL, queue: "q", h: h, opts: []patronamqp.Option{patronamqp.WithMeterProvider(nil)}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := patronamqp.New(tc.url, tc.queue, tc.h, tc.opts...); err == nil {
				t.Fatal("want an error")
			}
		})
	}
}

func TestTraceContinuesFromPublisherToConsumer(t *testing.T) {
	amqptest.Require(t)
	kit := observabilitytest.New(t)
	exchange, queue := amqptest.Name(t, "ex"), amqptest.Name(t, "q")
	amqptest.DeleteQueuesOnCleanup(t, queue)
	amqptest.DeleteExchangesOnCleanup(t, exchange)

	type seen struct {
		corr, key, exchange, id, body string
		count                         int
		decoded                       map[string]string
	}
	got := make(chan seen, 1)
	c, err := patronamqp.New(amqptest.URL, queue, func(ctx context.Context, m *patronamqp.Message) error {
		s := seen{key: m.RoutingKey(), exchange: m.Exchange(), id: m.MessageID(), body: string(m.Body()), count: m.DeliveryCount()}
		s.corr, _ = correlation.FromContext(ctx)
		if err := m.Decode(&s.decoded); err != nil {
			return err
		}
		got <- s
		return nil
	}, append(kitOptions(kit),
		patronamqp.WithExchange(patronamqp.ExchangeSpec{Name: exchange, Kind: amqp.ExchangeTopic, AutoDelete: true}),
		patronamqp.WithDeclareQueue(patronamqp.QueueSpec{Durable: true}),
		patronamqp.WithBinding(exchange, "orders.*", nil),
	)...)
	if err != nil {
		t.Fatal(err)
	}
	if c.Ready(t.Context()) == nil {
		t.Error("ready before Run")
	}
	start(t, c)
	waitFor(t, "readiness", func() bool { return c.Ready(t.Context()) == nil })

	pub, err := clientamqp.New(amqptest.URL, clientamqp.WithTracerProvider(kit.TracerProvider),
		clientamqp.WithPropagator(kit.Propagator), clientamqp.WithMeterProvider(kit.MeterProvider))
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	msg, err := clientamqp.NewPublishing("application/json", map[string]string{"id": "42"})
	if err != nil {
		t.Fatal(err)
	}
	msg.MessageId = "msg-42"
	ctx := correlation.ContextWithID(t.Context(), "corr-42")
	if err := pub.Publish(ctx, exchange, "orders.created", msg); err != nil {
		t.Fatal(err)
	}
	var s seen
	select {
	case s = <-got:
	case <-time.After(30 * time.Second):
		t.Fatal("message not handled")
	}
	if s.corr != "corr-42" || s.key != "orders.created" || s.exchange != exchange || s.id != "msg-42" || s.count != 1 || s.decoded["id"] != "42" {
		t.Errorf("handler saw %+v", s)
	}
	spans := kit.WaitForSpanCount(t, 10*time.Second, "process "+queue, 1)
	observabilitytest.AssertTree(t, spans, observabilitytest.Want{
		Name: "publish " + exchange, Kind: trace.SpanKindProducer,
		Children: []observabilitytest.Want{{
			Name: "process " + queue, Kind: trace.SpanKindConsumer,
			LinksTo: []string{"publish " + exchange},
			Attrs: []attribute.KeyValue{
				semconv.MessagingSystemRabbitMQ,
				semconv.MessagingDestinationName(queue),
				semconv.MessagingRabbitMQDestinationRoutingKey("orders.created"),
				semconv.MessagingMessageID("msg-42"),
			},
		}},
	})
	consumer := observabilitytest.Named(spans, "process "+queue)[0]
	if _, ok := observabilitytest.Attr(consumer, semconv.MessagingRabbitMQMessageDeliveryTagKey); !ok {
		t.Error("no delivery tag attribute")
	}
	waitFor(t, "processed count", func() bool {
		return kit.Recorded(t, observability.MetricConsumerMessages) &&
			kit.Sum(t, observability.MetricConsumerMessages, observability.OutcomeKey.String(observability.OutcomeProcessed.String())) == 1
	})
	if m := kit.Metric(t, "messaging.process.duration"); m.Unit != "s" {
		t.Errorf("duration unit %q", m.Unit)
	}
	if kit.Sum(t, observability.MetricMessageAge) != 1 {
		t.Error("message age not recorded")
	}
	amqptest.WaitDepth(t, queue, 0, 10*time.Second)
}

func TestMalformedTraceparentStartsNewTraceAndIsProcessed(t *testing.T) {
	amqptest.Require(t)
	kit := observabilitytest.New(t)
	queue := amqptest.Name(t, "q")
	amqptest.DeclareQueue(t, queue, nil)
	var handled atomic.Int32
	var corr atomic.Value
	c, err := patronamqp.New(amqptest.URL, queue, func(ctx context.Context, m *patronamqp.Message) error {
		id, _ := correlation.FromContext(ctx)
		corr.Store(id)
		handled.Add(1)
		return nil
	}, kitOptions(kit)...)
	if err != nil {
		t.Fatal(err)
	}
	ch := amqptest.ConfirmChannel(t)
	amqptest.Publish(t, ch, queue, amqp.Publishing{Body: []byte("x"), Headers: amqp.Table{
		"traceparent":             "00-not-a-trace-01",
		correlation.HeaderKey:     amqp.Table{"x": "y"}, // not text: ignored, a new ID is made
		"x-patron-delivery-count": amqp.Table{"a": 1},   // nonsense count: treated as 0
		"nested":                  []any{"a", int64(1)},
	}})
	start(t, c)
	kit.WaitForSpanCount(t, 30*time.Second, "process "+queue, 1)
	span := kit.Span(t, "process "+queue)
	if span.Parent().IsValid() || len(span.Links()) != 0 {
		t.Errorf("span has parent %v and %d links, want a new trace", span.Parent(), len(span.Links()))
	}
	if handled.Load() != 1 || !correlation.Valid(corr.Load().(string)) {
		t.Errorf("handled %d, correlation %v", handled.Load(), corr.Load())
	}
	amqptest.WaitDepth(t, queue, 0, 10*time.Second)
}

// failAlways runs a component whose handler always fails under the Requeue
// strategy and checks that the message is delivered exactly maxDeliveries
// times and then lands in the dead-letter queue.
func failAlways(t *testing.T, quorum bool, mode patronamqp.RetryMode, panics bool, wantCounts string) {
	amqptest.Require(t)
	kit := observabilitytest.New(t)
	queue, dlx, dlq := amqptest.Name(t, "q"), amqptest.Name(t, "dlx"), amqptest.Name(t, "dlq")
	amqptest.DeleteQueuesOnCleanup(t, queue, dlq)
	amqptest.DeleteExchangesOnCleanup(t, dlx)
	const maxDeliveries = 3
	var mu sync.Mutex
	var counts []int
	c, err := patronamqp.New(amqptest.URL, queue, func(_ context.Context, m *patronamqp.Message) error {
		mu.Lock()
		counts = append(counts, m.DeliveryCount())
		mu.Unlock()
		if m.RoutingKey() != queue || m.MessageID() != "poison" {
			t.Errorf("routing key %q, message id %q", m.RoutingKey(), m.MessageID())
		}
		if panics {
			panic("poison")
		}
		return errors.New("cannot handle")
	}, append(kitOptions(kit),
		patronamqp.WithDeclareQueue(patronamqp.QueueSpec{Durable: true, Quorum: quorum}),
		patronamqp.WithDeadLetter(patronamqp.DeadLetterSpec{Exchange: dlx, Queue: dlq}),
		patronamqp.WithRetry(maxDeliveries-1, fastRetry), // retries after the first delivery
		patronamqp.WithRetryMode(mode),
	)...)
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, c)
	waitFor(t, "readiness", func() bool { return c.Ready(t.Context()) == nil })
	ch := amqptest.ConfirmChannel(t)
	amqptest.Publish(t, ch, queue, amqp.Publishing{Body: []byte("poison"), MessageId: "poison"})

	amqptest.WaitDepth(t, dlq, 1, 30*time.Second)
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(counts) != wantCounts {
		t.Errorf("deliveries seen %v, want %s", counts, wantCounts)
	}
	dead := amqptest.Drain(t, dlq)
	if len(dead) != 1 || string(dead[0].Body) != "poison" {
		t.Fatalf("dead letters %v", dead)
	}
	if n := amqptest.Depth(t, queue); n != 0 {
		t.Errorf("queue still holds %d", n)
	}
	deliveries := float64(len(counts))
	for outcome, want := range map[observability.Outcome]float64{
		observability.OutcomeFailed: deliveries, observability.OutcomeRequeued: deliveries - 1, observability.OutcomeDeadLettered: 1,
	} {
		if got := kit.Sum(t, observability.MetricConsumerMessages, observability.OutcomeKey.String(outcome.String())); got != want {
			t.Errorf("%s = %v, want %v", outcome, got, want)
		}
	}
	spans := kit.WaitForSpanCount(t, 10*time.Second, "process "+queue, len(counts))
	for _, s := range observabilitytest.Named(spans, "process "+queue) {
		if s.Status().Code.String() != "Error" {
			t.Errorf("span status %v", s.Status())
		}
	}
}

func TestHandlerErrorsRequeueThenDeadLetterClassic(t *testing.T) {
	failAlways(t, false, patronamqp.RetryRepublish, false, "[1 2 3]")
}

func TestHandlerErrorsRequeueThenDeadLetterQuorumNack(t *testing.T) {
	failAlways(t, true, patronamqp.RetryNack, false, "[1 2 3]")
}

// RetryNack on a classic queue cannot count with x-delivery-count; the
// uncounted redelivery switches it to republishing, so it still stops after
// the budget (with one extra delivery) instead of looping.
func TestRetryNackOnClassicQueueStillTerminates(t *testing.T) {
	failAlways(t, false, patronamqp.RetryNack, false, "[1 1 2 3]")
}

func TestHandlerPanicIsAFailure(t *testing.T) {
	failAlways(t, false, patronamqp.RetryRepublish, true, "[1 2 3]")
}

func TestStopStrategyReturnsErrorAndKeepsMessage(t *testing.T) {
	amqptest.Require(t)
	kit := observabilitytest.New(t)
	queue := amqptest.Name(t, "q")
	amqptest.DeclareQueue(t, queue, nil)
	boom := errors.New("boom")
	c, err := patronamqp.New(amqptest.URL, queue, func(context.Context, *patronamqp.Message) error { return boom },
		append(kitOptions(kit), patronamqp.WithFailureStrategy(patronamqp.Stop), patronamqp.WithRetry(0, fastRetry))...)
	if err != nil {
		t.Fatal(err)
	}
	ch := amqptest.ConfirmChannel(t)
	amqptest.Publish(t, ch, queue, amqp.Publishing{Body: []byte("x")})
	r := start(t, c)
	if err := r.wait(t); !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want the handler's error", err)
	}
	if c.Ready(t.Context()) == nil {
		t.Error("ready after stopping")
	}
	amqptest.WaitDepth(t, queue, 1, 10*time.Second)
}

func TestReconnectBudgetExhaustedReturnsError(t *testing.T) {
	c, err := patronamqp.New("amqp://guest:guest@127.0.0.1:1/", "q",
		func(context.Context, *patronamqp.Message) error { return nil },
		patronamqp.WithReconnect(3, reliability.Backoff{Initial: time.Millisecond, Max: time.Millisecond}),
		patronamqp.WithDialTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	err = c.Run(t.Context())
	if err == nil {
		t.Fatal("Run returned nil after the reconnect budget")
	}
	if c.Ready(t.Context()) == nil {
		t.Error("ready without a connection")
	}
}

// Killing every connection of the test (consumer and publisher) while 5,000
// messages flow loses none: the consumer reconnects by itself and the broker
// redelivers what was unacked on the dead channels.
func TestConnectionKilledMidStreamLosesNothing(t *testing.T) {
	amqptest.Require(t)
	kit := observabilitytest.New(t)
	queue := amqptest.Name(t, "q")
	amqptest.DeleteQueuesOnCleanup(t, queue)
	prefix := amqptest.Name(t, "conn")
	const total = 5000

	var mu sync.Mutex
	seen := make(map[string]int, total)
	var handled atomic.Int64
	c, err := patronamqp.New(amqptest.URL, queue, func(_ context.Context, m *patronamqp.Message) error {
		mu.Lock()
		seen[m.MessageID()]++
		mu.Unlock()
		handled.Add(1)
		return nil
	}, append(kitOptions(kit),
		patronamqp.WithDeclareQueue(patronamqp.QueueSpec{Durable: true}),
		patronamqp.WithWorkers(4),
		patronamqp.WithConnectionName(prefix+"-consumer"),
		patronamqp.WithReconnect(50, reliability.Backoff{Initial: 50 * time.Millisecond, Max: time.Second}),
	)...)
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, c)
	waitFor(t, "readiness", func() bool { return c.Ready(t.Context()) == nil })

	pub, err := clientamqp.New(amqptest.URL, clientamqp.WithConnectionName(prefix+"-publisher"),
		clientamqp.WithTracerProvider(kit.TracerProvider), clientamqp.WithMeterProvider(kit.MeterProvider),
		clientamqp.WithRetry(50, reliability.Backoff{Initial: 50 * time.Millisecond, Max: time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	pubErr := make(chan error, 1)
	go func() {
		defer close(pubErr)
		for i := range total {
			id := strconv.Itoa(i)
			if err := pub.Publish(t.Context(), "", queue, amqp.Publishing{Body: []byte(id), MessageId: id, DeliveryMode: amqp.Persistent}); err != nil {
				pubErr <- fmt.Errorf("publishing %s: %w", id, err)
				return
			}
		}
	}()

	killed := 0
	for _, at := range []int64{1000, 2500} {
		waitFor(t, "messages to flow", func() bool { return handled.Load() >= at })
		killed += amqptest.CloseConnections(t.Context(), t, prefix)
	}
	if killed < 2 {
		t.Fatalf("killed %d connections, want the consumer's and the publisher's", killed)
	}
	if err := <-pubErr; err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every message to be handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == total
	})
	waitFor(t, "readiness after reconnecting", func() bool { return c.Ready(t.Context()) == nil })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n := amqptest.Depth(t, queue); n != 0 {
		t.Errorf("queue still holds %d messages after all were handled", n)
	}
	t.Logf("handled %d deliveries of %d messages (redelivered after kills: %d), killed %d connections",
		handled.Load(), total, handled.Load()-total, killed)
}

// On shutdown the in-flight message finishes and is acked; the prefetched
// rest goes back to the queue, neither acked nor lost.
func TestShutdownLeavesUnprocessedMessagesInQueue(t *testing.T) {
	amqptest.Require(t)
	kit := observabilitytest.New(t)
	queue := amqptest.Name(t, "q")
	amqptest.DeclareQueue(t, queue, nil)
	const total = 50
	ch := amqptest.ConfirmChannel(t)
	for i := range total {
		amqptest.Publish(t, ch, queue, amqp.Publishing{Body: []byte(strconv.Itoa(i))})
	}
	inHandler := make(chan struct{})
	release := make(chan struct{})
	var handled atomic.Int32
	c, err := patronamqp.New(amqptest.URL, queue, func(ctx context.Context, _ *patronamqp.Message) error {
		if handled.Add(1) == 1 {
			close(inHandler)
			<-release
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return nil
	}, append(kitOptions(kit), patronamqp.WithPrefetch(20))...)
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, c)
	<-inHandler
	amqptest.WaitDepth(t, queue, total-20, 10*time.Second) // 20 prefetched
	r.cancel()
	close(release)
	if err := r.wait(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if handled.Load() != 1 {
		t.Fatalf("handled %d messages after shutdown began, want only the in-flight one", handled.Load())
	}
	amqptest.WaitDepth(t, queue, total-1, 10*time.Second)
	if got := kit.Sum(t, observability.MetricConsumerMessages, observability.OutcomeKey.String(observability.OutcomeProcessed.String())); got != 1 {
		t.Errorf("processed = %v, want 1", got)
	}
}

func TestBatchHandler(t *testing.T) {
	amqptest.Require(t)
	kit := observabilitytest.New(t)
	queue := amqptest.Name(t, "q")
	amqptest.DeclareQueue(t, queue, nil)
	const total = 25
	ch := amqptest.ConfirmChannel(t)
	for i := range total {
		amqptest.Publish(t, ch, queue, amqp.Publishing{Body: []byte(strconv.Itoa(i))})
	}
	var mu sync.Mutex
	var sizes []int
	var handled atomic.Int32
	c, err := patronamqp.New(amqptest.URL, queue, nil, append(kitOptions(kit),
		patronamqp.WithBatch(func(_ context.Context, msgs []*patronamqp.Message) error {
			mu.Lock()
			sizes = append(sizes, len(msgs))
			mu.Unlock()
			handled.Add(int32(len(msgs)))
			return nil
		}, 10, 200*time.Millisecond))...)
	if err != nil {
		t.Fatal(err)
	}
	start(t, c)
	waitFor(t, "all messages", func() bool { return handled.Load() == total })
	amqptest.WaitDepth(t, queue, 0, 10*time.Second)
	mu.Lock()
	defer mu.Unlock()
	for _, n := range sizes {
		if n > 10 || n < 1 {
			t.Errorf("batch of %d", n)
		}
	}
	spans := kit.WaitForSpanCount(t, 10*time.Second, "process "+queue, len(sizes))
	if v, ok := observabilitytest.Attr(observabilitytest.Named(spans, "process "+queue)[0], semconv.MessagingBatchMessageCountKey); !ok || v.AsInt64() < 1 {
		t.Errorf("batch count attribute %v", v)
	}
}
