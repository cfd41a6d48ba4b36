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

	patronamqp "github.com/patron-go/patron/client/amqp"
	"github.com/patron-go/patron/correlation"
	"github.com/patron-go/patron/internal/amqptest"
	"github.com/patron-go/patron/observability/observabilitytest"
	"github.com/patron-go/patron/patrontest/testenv"
	"github.com/patron-go/patron/reliability"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newPublisher(t *testing.T, kit *observabilitytest.Kit, opts ...patronamqp.Option) *patronamqp.Publisher {
	t.Helper()
	opts = append([]patronamqp.Option{
		patronamqp.WithTracerProvider(kit.TracerProvider),
		patronamqp.WithMeterProvider(kit.MeterProvider),
		patronamqp.WithPropagator(kit.Propagator),
	}, opts...)
	p, err := patronamqp.New(amqptest.URL, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func TestNewRejectsBadConfiguration(t *testing.T) {
	for name, tc := range map[string]struct {
		url  string
		opts []patronamqp.Option
	}{
		"bad url":       {url: "http://x", opts: nil},
		"zero channels": {url: amqptest.URL, opts: []patronamqp.Option{patronamqp.WithChannels(0)}},
		"zero attempts": {url: amqptest.URL, opts: []patronamqp.Option{patronamqp.WithRetry(0, reliability.Backoff{})}},
		"nil tracer":    {url: amqptest.URL, opts: []patronamqp.Option{patronamqp.WithTracerProvider(nil)}},
		"empty name":    {url: amqptest.URL, opts: []patronamqp.Option{patronamqp.WithConnectionName("")}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := patronamqp.New(tc.url, tc.opts...); err == nil {
				t.Fatal("want an error")
			}
		})
	}
}

func TestHeaderCarrierToleratesAnyType(t *testing.T) {
	c := patronamqp.HeaderCarrier(amqp.Table{
		"traceparent": []byte("00-abc"),
		"n":           int32(7),
		"table":       amqp.Table{"a": 1},
		"nil":         nil,
		"Upper":       "v",
	})
	for key, want := range map[string]string{"traceparent": "00-abc", "n": "7", "table": "", "nil": "", "upper": "v", "absent": ""} {
		if got := c.Get(key); got != want {
			t.Errorf("Get(%q) = %q, want %q", key, got, want)
		}
	}
	c.Set("k", "v")
	if len(c.Keys()) != 6 {
		t.Errorf("keys %v", c.Keys())
	}
}

func TestPublishConfirmedWithTraceAndCorrelation(t *testing.T) {
	amqptest.Require(t)
	kit := observabilitytest.New(t)
	queue := amqptest.Name(t, "q")
	amqptest.DeclareQueue(t, queue, nil)
	p := newPublisher(t, kit)

	ctx := correlation.ContextWithID(t.Context(), "corr-123")
	msg, err := patronamqp.NewPublishing("application/json", map[string]string{"hello": "world"})
	if err != nil {
		t.Fatal(err)
	}
	msg.MessageId = "m-1"
	if err := p.Publish(ctx, "", queue, msg); err != nil {
		t.Fatal(err)
	}
	got := amqptest.Drain(t, queue)
	if len(got) != 1 {
		t.Fatalf("queue has %d messages, want 1", len(got))
	}
	d := got[0]
	if string(d.Body) != `{"hello":"world"}` || d.ContentType != "application/json" {
		t.Errorf("body %q content type %q", d.Body, d.ContentType)
	}
	if d.Headers[correlation.HeaderKey] != "corr-123" {
		t.Errorf("correlation header = %v", d.Headers[correlation.HeaderKey])
	}
	span := kit.Span(t, "publish "+queue)
	if span.SpanKind() != trace.SpanKindProducer {
		t.Errorf("kind %v", span.SpanKind())
	}
	if tp, _ := d.Headers["traceparent"].(string); tp == "" || tp[3:35] != span.SpanContext().TraceID().String() {
		t.Errorf("traceparent %q does not carry trace %s", tp, span.SpanContext().TraceID())
	}
	for _, a := range []struct {
		key  attribute.Key
		want string
	}{
		{semconv.MessagingSystemKey, "rabbitmq"},
		{semconv.MessagingDestinationNameKey, queue},
		{semconv.MessagingRabbitMQDestinationRoutingKeyKey, queue},
		{semconv.MessagingMessageIDKey, "m-1"},
	} {
		if v, ok := observabilitytest.Attr(span, a.key); !ok || v.String() != a.want {
			t.Errorf("attribute %s = %q, want %q", a.key, v.String(), a.want)
		}
	}
	if n := kit.Sum(t, "messaging.client.sent.messages"); n != 1 {
		t.Errorf("sent = %v", n)
	}
	if m := kit.Metric(t, "messaging.client.operation.duration"); m.Unit != "s" {
		t.Errorf("duration unit %q", m.Unit)
	}
}

func TestPublishUnroutableFails(t *testing.T) {
	amqptest.Require(t)
	kit := observabilitytest.New(t)
	p := newPublisher(t, kit)
	missing := amqptest.Name(t, "nowhere")
	err := p.Publish(t.Context(), "", missing, amqp.Publishing{Body: []byte("x")})
	var re *patronamqp.ReturnError
	if !errors.Is(err, patronamqp.ErrUnroutable) || !errors.As(err, &re) || re.RoutingKey != missing {
		t.Fatalf("err = %v, want ErrUnroutable for %s", err, missing)
	}
	span := kit.Span(t, "publish "+missing)
	if span.Status().Code.String() != "Error" {
		t.Errorf("span status %v", span.Status())
	}
	// The channel stays usable: the next, routable publish is confirmed and
	// not mistaken for the returned one.
	queue := amqptest.Name(t, "q")
	amqptest.DeclareQueue(t, queue, nil)
	for range 3 {
		if err := p.Publish(t.Context(), "", queue, amqp.Publishing{Body: []byte("y")}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPublishConcurrent(t *testing.T) {
	amqptest.Require(t)
	kit := observabilitytest.New(t)
	queue := amqptest.Name(t, "q")
	amqptest.DeclareQueue(t, queue, nil)
	p := newPublisher(t, kit, patronamqp.WithChannels(3))
	const goroutines, each = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*each)
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				msg := amqp.Publishing{Body: []byte("x"), MessageId: fmt.Sprintf("%d-%d", g, i),
					Headers: amqp.Table{"shared": "map is copied, not mutated"}}
				if err := p.Publish(t.Context(), "", queue, msg); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	amqptest.WaitDepth(t, queue, goroutines*each, 10*time.Second)
}

// A publish that returned nil is in the queue even when the connection was
// killed around it; the others report an error or succeed after reconnecting.
func TestConfirmedPublishSurvivesConnectionDrop(t *testing.T) {
	amqptest.Require(t)
	kit := observabilitytest.New(t)
	queue := amqptest.Name(t, "q")
	amqptest.DeclareQueue(t, queue, nil)
	connName := amqptest.Name(t, "pub")
	p := newPublisher(t, kit, patronamqp.WithConnectionName(connName),
		patronamqp.WithRetry(10, reliability.Backoff{Initial: 50 * time.Millisecond, Max: 500 * time.Millisecond}))

	var confirmed sync.Map
	var sent atomic.Int64
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				id := strconv.Itoa(g) + "-" + strconv.Itoa(i)
				msg := amqp.Publishing{Body: []byte(id), MessageId: id, DeliveryMode: amqp.Persistent}
				if err := p.Publish(ctx, "", queue, msg); err == nil {
					confirmed.Store(id, true)
					sent.Add(1)
				}
			}
		})
	}
	waitFor(t, func() bool { return sent.Load() >= 100 })
	killed := 0
	for range 2 {
		killed += amqptest.CloseConnections(t.Context(), t, connName)
		before := sent.Load()
		waitFor(t, func() bool { return sent.Load() >= before+100 })
	}
	cancel()
	wg.Wait()
	if killed == 0 {
		t.Fatal("no publisher connection was found to kill")
	}

	inQueue := map[string]bool{}
	for _, d := range amqptest.Drain(t, queue) {
		inQueue[d.MessageId] = true
	}
	missing := 0
	confirmed.Range(func(k, _ any) bool {
		if !inQueue[k.(string)] {
			missing++
		}
		return true
	})
	if missing > 0 {
		t.Fatalf("%d confirmed messages are not in the queue (confirmed %d, queued %d)", missing, sent.Load(), len(inQueue))
	}
	t.Logf("confirmed %d, queued %d, killed %d connections", sent.Load(), len(inQueue), killed)
}

func TestPublishAfterClose(t *testing.T) {
	amqptest.Require(t)
	kit := observabilitytest.New(t)
	p := newPublisher(t, kit)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Publish(t.Context(), "", "x", amqp.Publishing{}); !errors.Is(err, patronamqp.ErrClosed) {
		t.Fatalf("err = %v, want ErrClosed", err)
	}
}

func TestDestination(t *testing.T) {
	for _, tc := range []struct{ exchange, key, want string }{
		{"orders", "created", "orders"},
		{"", "q1", "q1"},
		{"", "", "amq.default"},
	} {
		if got := patronamqp.Destination(tc.exchange, tc.key); got != tc.want {
			t.Errorf("Destination(%q, %q) = %q, want %q", tc.exchange, tc.key, got, tc.want)
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, 60*time.Second, "the condition", cond)
}
