package kafka_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/patron-go/patron/client/kafka"
	"github.com/patron-go/patron/correlation"
	"github.com/patron-go/patron/encoding"
	"github.com/patron-go/patron/observability/observabilitytest"
	"github.com/patron-go/patron/patrontest/kafkatest"
	"github.com/patron-go/patron/patrontest/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newProducer(t *testing.T, cluster *kafkatest.Cluster, kit *observabilitytest.Kit, opts ...kafka.Option) *kafka.Producer {
	t.Helper()
	p, err := kafka.NewProducer(cluster.Addrs(), append([]kafka.Option{
		kafka.WithTracerProvider(kit.TracerProvider),
		kafka.WithMeterProvider(kit.MeterProvider),
		kafka.WithPropagator(kit.Propagator),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	return p
}

func readAll(t *testing.T, cluster *kafkatest.Cluster, topic string, n int) []*kgo.Record {
	t.Helper()
	cl := cluster.Client(t, kgo.ConsumeTopics(topic))
	var out []*kgo.Record
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %d of %d records: %v", len(out), n, err)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

func headerMap(r *kgo.Record) map[string]string {
	m := map[string]string{}
	for _, h := range r.Headers {
		m[h.Key] = string(h.Value)
	}
	return m
}

// Send waits for the acknowledgement, traces the message with a PRODUCER
// span whose context and the correlation ID travel in the headers (W3C
// traceparent, readable by any OpenTelemetry client), and counts it.
func TestSendTracesAndWaitsForAck(t *testing.T) {
	cluster := kafkatest.New(t)
	kit := observabilitytest.New(t)
	topic := cluster.Topic(t, 2)
	p := newProducer(t, cluster, kit)

	ctx, parent := kit.TracerProvider.Tracer("test").Start(correlation.ContextWithID(t.Context(), "corr-7"), "parent")
	msg, err := kafka.NewEncodedMessage(topic, encoding.JSON, map[string]int{"n": 1})
	if err != nil {
		t.Fatal(err)
	}
	msg.Key = []byte("key-1")
	msg.SetHeader("custom", "x")
	if err := p.Send(ctx, msg); err != nil {
		t.Fatal(err)
	}
	parent.End()
	if msg.Offset != 0 {
		t.Fatalf("offset %d after ack, want 0", msg.Offset)
	}
	if len(msg.Headers) != 2 {
		t.Fatalf("Send changed the caller's headers: %v", msg.Headers)
	}

	span := kit.Span(t, "publish "+topic)
	observabilitytest.AssertTree(t, kit.Spans(), observabilitytest.Want{Name: "parent", Children: []observabilitytest.Want{{
		Name: "publish " + topic, Kind: trace.SpanKindProducer,
		Attrs: []attribute.KeyValue{
			semconv.MessagingSystemKafka, semconv.MessagingDestinationName(topic),
			semconv.MessagingKafkaMessageKey("key-1"), semconv.MessagingKafkaOffset(0),
			semconv.MessagingMessageBodySize(len(`{"n":1}`)),
		},
	}}})

	rec := readAll(t, cluster, topic, 1)[0]
	h := headerMap(rec)
	wantParent := "00-" + span.SpanContext().TraceID().String() + "-" + span.SpanContext().SpanID().String() + "-01"
	if h["traceparent"] != wantParent || h[correlation.HeaderKey] != "corr-7" || h["custom"] != "x" || h[kafka.ContentTypeHeader] != encoding.JSON {
		t.Fatalf("headers %v, want traceparent %s and the correlation ID", h, wantParent)
	}
	if got := kit.Sum(t, "messaging.client.sent.messages", semconv.MessagingDestinationName(topic)); got != 1 {
		t.Errorf("sent = %v, want 1", got)
	}
	if got := kit.Sum(t, "messaging.client.operation.duration"); got != 1 {
		t.Errorf("duration count = %v, want 1", got)
	}
}

// A failed send marks the span and the counter with the error.
func TestSendFailureIsRecorded(t *testing.T) {
	cluster := kafkatest.New(t)
	kit := observabilitytest.New(t)
	topic := cluster.Topic(t, 1)
	p := newProducer(t, cluster, kit)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := p.Send(ctx, kafka.NewMessage(topic, []byte("v")))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Send = %v, want context.Canceled", err)
	}
	// Send returns when ctx ends; franz-go fails the record, which ends
	// its span, on its own goroutine.
	testenv.WaitFor(t, 10*time.Second, "the failed record's span", func() bool { return len(kit.Spans()) == 1 })
	if s := kit.Span(t, "publish "+topic); s.Status().Code.String() != "Error" {
		t.Fatalf("span status %s, want Error", s.Status().Code)
	}
	if got := kit.Sum(t, "messaging.client.sent.messages", semconv.ErrorTypeKey.String("canceled")); got != 1 {
		t.Fatalf("failed sends = %v, want 1", got)
	}
	if err := p.Send(t.Context(), nil); err == nil {
		t.Fatal("Send(nil) succeeded")
	}
	if err := p.Send(t.Context(), &kafka.Message{}); err == nil {
		t.Fatal("Send without topic succeeded")
	}
}

// A callback that blocks holds back neither production nor Send: callbacks
// run on the producer's own goroutine, not franz-go's promise goroutine.
// Close flushes what SendAsync buffered and runs every callback.
func TestSendAsyncNeverBlocksOnCallbacksAndCloseFlushes(t *testing.T) {
	cluster := kafkatest.New(t)
	kit := observabilitytest.New(t)
	topic := cluster.Topic(t, 1)
	p := newProducer(t, cluster, kit)

	release := make(chan struct{})
	var (
		mu   sync.Mutex
		done int
		errs []error
	)
	first := make(chan struct{})
	if err := p.SendAsync(t.Context(), kafka.NewMessage(topic, []byte("first")), func(_ *kafka.Message, err error) {
		close(first)
		<-release // a slow callback
		mu.Lock()
		done++
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	<-first
	// While the first callback blocks, synchronous sends still complete.
	if err := p.Send(t.Context(), kafka.NewMessage(topic, []byte("sync"))); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	for range 100 {
		if err := p.SendAsync(ctx, kafka.NewMessage(topic, []byte("async")), func(m *kafka.Message, err error) {
			mu.Lock()
			done++
			if err != nil {
				errs = append(errs, err)
			}
			mu.Unlock()
		}); err != nil {
			t.Fatal(err)
		}
	}
	cancel() // must not abort messages already handed to SendAsync
	close(release)
	if err := p.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if done != 101 || len(errs) != 0 {
		t.Fatalf("%d callbacks ran with errors %v, want 101 without errors", done, errs)
	}
	if len(readAll(t, cluster, topic, 102)) != 102 {
		t.Fatal("not every message reached the topic")
	}
	if err := p.Send(t.Context(), kafka.NewMessage(topic, nil)); !errors.Is(err, kafka.ErrClosed) {
		t.Fatalf("Send after Close = %v, want ErrClosed", err)
	}
	if err := p.SendAsync(t.Context(), kafka.NewMessage(topic, nil), nil); !errors.Is(err, kafka.ErrClosed) {
		t.Fatalf("SendAsync after Close = %v, want ErrClosed", err)
	}
}

func TestHeaderCarrier(t *testing.T) {
	hs := []kgo.RecordHeader{{Key: "Traceparent", Value: []byte("old")}, {Key: "a", Value: []byte("1")}, {Key: "TRACEPARENT", Value: []byte("dup")}}
	c := kafka.HeaderCarrier{Headers: &hs}
	if got := c.Get("traceparent"); got != "old" {
		t.Fatalf("case-insensitive Get = %q", got)
	}
	c.Set("traceparent", "new")
	if len(hs) != 2 || c.Get("traceparent") != "new" || hs[0].Key != "traceparent" {
		t.Fatalf("Set did not replace every spelling: %v", hs)
	}
	c.Set("b", "2")
	if keys := c.Keys(); len(keys) != 3 || keys[2] != "b" {
		t.Fatalf("Keys = %v", keys)
	}
	var empty kafka.HeaderCarrier
	empty.Set("x", "y")
	if empty.Get("x") != "" || empty.Keys() != nil {
		t.Fatal("nil carrier must be inert")
	}
}

func TestNewProducerValidates(t *testing.T) {
	if _, err := kafka.NewProducer(nil); err == nil {
		t.Error("no brokers accepted")
	}
	if _, err := kafka.NewProducer([]string{""}); err == nil {
		t.Error("empty broker accepted")
	}
	if _, err := kafka.NewProducer([]string{"127.0.0.1:1"}, kafka.WithTracerProvider(nil)); err == nil {
		t.Error("nil tracer provider accepted")
	}
	if _, err := kafka.NewProducer([]string{"127.0.0.1:1"}, kafka.WithClientOptions(nil)); err == nil {
		t.Error("nil client option accepted")
	}
	if _, err := kafka.NewEncodedMessage("t", "text/plain", "x"); err == nil {
		t.Error("unsupported content type accepted")
	}
}

// Exemplars are kept on messaging.client.operation.duration only, for
// sampled spans; the sent counter gets none.
func TestDurationExemplar(t *testing.T) {
	cluster := kafkatest.New(t)
	kit := observabilitytest.New(t)
	topic := cluster.Topic(t, 1)
	p := newProducer(t, cluster, kit)
	if err := p.Send(t.Context(), kafka.NewMessage(topic, []byte("x"))); err != nil {
		t.Fatal(err)
	}
	span := kit.Span(t, "publish "+topic)
	var duration, sent []metricdata.Exemplar[float64]
	for _, p := range kit.Metric(t, "messaging.client.operation.duration").Data.(metricdata.Histogram[float64]).DataPoints {
		duration = append(duration, p.Exemplars...)
	}
	for _, p := range kit.Metric(t, "messaging.client.sent.messages").Data.(metricdata.Sum[int64]).DataPoints {
		for _, e := range p.Exemplars {
			sent = append(sent, metricdata.Exemplar[float64]{TraceID: e.TraceID})
		}
	}
	if len(duration) != 1 || trace.TraceID(duration[0].TraceID) != span.SpanContext().TraceID() {
		t.Errorf("duration exemplars = %v, want one for trace %s", duration, span.SpanContext().TraceID())
	}
	if len(sent) != 0 {
		t.Errorf("sent exemplars = %v, want none", sent)
	}
}
