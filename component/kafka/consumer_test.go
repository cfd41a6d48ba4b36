package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	kafkaclient "github.com/patron-go/patron/client/kafka"
	"github.com/patron-go/patron/component/kafka"
	"github.com/patron-go/patron/correlation"
	"github.com/patron-go/patron/observability"
	"github.com/patron-go/patron/observability/observabilitytest"
)

// An HTTP request that produces a message gives one trace: SERVER ->
// PRODUCER -> CONSUMER, the consumer also linking to the producer, and the
// request's correlation ID reaches the handler.
func TestTraceFromHTTPThroughKafka(t *testing.T) {
	e := newEnv(t, 3)
	producer, err := kafkaclient.NewProducer(e.cluster.Addrs(),
		kafkaclient.WithTracerProvider(e.kit.TracerProvider),
		kafkaclient.WithMeterProvider(e.kit.MeterProvider),
		kafkaclient.WithPropagator(e.kit.Propagator))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = producer.Close(context.Background()) })

	srv := httptest.NewServer(otelhttp.NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, _ := correlation.Ensure(r.Context(), r.Header.Get(correlation.HeaderKey))
		msg := kafkaclient.NewMessage(e.topic, []byte(`{"order":1}`))
		msg.Key = []byte("order-1")
		if err := producer.Send(ctx, msg); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}), "orders",
		otelhttp.WithTracerProvider(e.kit.TracerProvider),
		otelhttp.WithPropagators(e.kit.Propagator),
		otelhttp.WithSpanNameFormatter(func(string, *http.Request) string { return "POST /orders" })))
	t.Cleanup(srv.Close)

	type got struct {
		corr  string
		trace trace.TraceID
		order struct{ Order int }
	}
	gotc := make(chan got, 1)
	c := e.consumer(t, func(ctx context.Context, m *kafka.Message) error {
		var g got
		g.corr, _ = correlation.FromContext(ctx)
		g.trace = trace.SpanContextFromContext(ctx).TraceID()
		if err := m.Decode(&g.order); err != nil {
			return err
		}
		gotc <- g
		return nil
	})
	run(t, c)
	waitReady(t, c)

	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/orders", nil)
	req.Header.Set(correlation.HeaderKey, "corr-http-1")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("status %d", resp.StatusCode)
	}
	g := <-gotc
	if g.corr != "corr-http-1" || g.order.Order != 1 {
		t.Fatalf("handler saw correlation %q, body %+v", g.corr, g.order)
	}
	spans := e.kit.WaitForSpanCount(t, wait, "process "+e.topic, 1)
	server := e.kit.Span(t, "POST /orders")
	if g.trace != server.SpanContext().TraceID() {
		t.Fatalf("handler trace %s, want the request's %s", g.trace, server.SpanContext().TraceID())
	}
	observabilitytest.AssertTree(t, spans, observabilitytest.Want{
		Name: "POST /orders", Kind: trace.SpanKindServer,
		Children: []observabilitytest.Want{{
			Name: "publish " + e.topic, Kind: trace.SpanKindProducer,
			Attrs: []attribute.KeyValue{semconv.MessagingSystemKafka, semconv.MessagingDestinationName(e.topic)},
			Children: []observabilitytest.Want{{
				Name: "process " + e.topic, Kind: trace.SpanKindConsumer,
				LinksTo: []string{"publish " + e.topic},
				Attrs: []attribute.KeyValue{
					semconv.MessagingSystemKafka,
					semconv.MessagingDestinationName(e.topic),
					semconv.MessagingConsumerGroupName(e.group),
					semconv.MessagingKafkaMessageKey("order-1"),
					semconv.MessagingMessageBodySize(len(`{"order":1}`)),
					semconv.MessagingKafkaOffset(0),
				},
			}},
		}},
	})
	if n := outcomes(t, e, observability.OutcomeProcessed); n != 1 {
		t.Fatalf("processed = %v, want 1", n)
	}
	if n := e.kit.Sum(t, "messaging.process.duration"); n != 1 {
		t.Fatalf("process duration count = %v, want 1", n)
	}
}

// A handler that fails twice and then succeeds is called three times, and
// the offset is committed after the success.
func TestRetryThenSuccessCommits(t *testing.T) {
	e := newEnv(t, 1)
	var calls atomic.Int32
	c := e.consumer(t, func(context.Context, *kafka.Message) error {
		if calls.Add(1) <= 2 {
			return errBoom
		}
		return nil
	})
	e.produce(t, keyed("retry", 1)...)
	r := run(t, c)
	if _, err := e.cluster.WaitCommitted(t.Context(), e.group, e.topic, 0, 1); err != nil {
		t.Fatal(err)
	}
	if err := r.stop(); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if n := calls.Load(); n != 3 {
		t.Fatalf("handler called %d times, want 3", n)
	}
	for o, want := range map[observability.Outcome]float64{observability.OutcomeFailed: 2, observability.OutcomeRetried: 2, observability.OutcomeProcessed: 1} {
		if got := outcomes(t, e, o); got != want {
			t.Errorf("%s = %v, want %v", o, got, want)
		}
	}
	span := e.kit.Span(t, "process "+e.topic)
	if span.Status().Code.String() == "Error" || len(span.Events()) != 2 {
		t.Fatalf("span status %s with %d events, want OK with 2 failed attempts", span.Status().Code, len(span.Events()))
	}
}

// A message that always fails lands in the dead-letter topic with its
// headers plus the failure's, and the consumer moves on and commits past it.
func TestPoisonMessageGoesToDeadLetterTopic(t *testing.T) {
	e := newEnv(t, 1)
	dlt := e.cluster.Topic(t, 1)
	processed := newSeen()
	c := e.consumer(t, func(_ context.Context, m *kafka.Message) error {
		if string(m.Key) == "poison" {
			return errBoom
		}
		processed.add(string(m.Key))
		return nil
	}, kafka.WithDeadLetterTopic(dlt))
	e.produce(t,
		&kgo.Record{Key: []byte("before")},
		&kgo.Record{Key: []byte("poison"), Value: []byte("bad"), Headers: []kgo.RecordHeader{{Key: "origin", Value: []byte("test")}}},
		&kgo.Record{Key: []byte("after")})
	run(t, c)
	waitFor(t, "message after the poison", func() bool { return processed.has("after") })
	if _, err := e.cluster.WaitCommitted(t.Context(), e.group, e.topic, 0, 3); err != nil {
		t.Fatal(err)
	}

	reader := e.cluster.Client(t, kgo.ConsumeTopics(dlt))
	fs := reader.PollRecords(t.Context(), 1)
	if err := fs.Err0(); err != nil {
		t.Fatal(err)
	}
	recs := fs.Records()
	if len(recs) != 1 {
		t.Fatalf("dead-letter topic has %d records, want 1", len(recs))
	}
	dead := recs[0]
	headers := map[string]string{}
	for _, h := range dead.Headers {
		headers[h.Key] = string(h.Value)
	}
	want := map[string]string{
		"origin":                        "test",
		kafka.DeadLetterErrorHeader:     errBoom.Error(),
		kafka.DeadLetterTopicHeader:     e.topic,
		kafka.DeadLetterPartitionHeader: "0",
		kafka.DeadLetterOffsetHeader:    "1",
		kafka.DeadLetterGroupHeader:     e.group,
	}
	for k, v := range want {
		if headers[k] != v {
			t.Errorf("header %s = %q, want %q", k, headers[k], v)
		}
	}
	if string(dead.Key) != "poison" || string(dead.Value) != "bad" || headers["traceparent"] == "" {
		t.Errorf("dead letter key %q value %q traceparent %q", dead.Key, dead.Value, headers["traceparent"])
	}
	if got := outcomes(t, e, observability.OutcomeDeadLettered); got != 1 {
		t.Errorf("dead-lettered = %v, want 1", got)
	}
	// The dead-letter publish continues the failed message's trace.
	spans := e.kit.WaitForSpanCount(t, wait, "publish "+dlt, 1)
	observabilitytest.AssertTree(t, spans, observabilitytest.Want{
		Name: "process " + e.topic, Kind: trace.SpanKindConsumer, Error: true,
		Children: []observabilitytest.Want{{Name: "publish " + dlt, Kind: trace.SpanKindProducer}},
	})
}

// Without a dead-letter topic the default skips a poison message after the
// retries, logs it at error level, counts it with its error.type and goes
// on.
func TestDefaultSkipsPoisonMessage(t *testing.T) {
	e := newEnv(t, 1)
	processed := newSeen()
	var poisonCalls atomic.Int32
	var logs observabilitytest.LogBuffer
	c := e.consumer(t, func(_ context.Context, m *kafka.Message) error {
		if string(m.Key) == "poison" {
			poisonCalls.Add(1)
			return observability.WithType(errBoom, "boom")
		}
		processed.add(string(m.Key))
		return nil
	}, kafka.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
	e.produce(t, &kgo.Record{Key: []byte("poison")}, &kgo.Record{Key: []byte("after")})
	run(t, c)
	if _, err := e.cluster.WaitCommitted(t.Context(), e.group, e.topic, 0, 2); err != nil {
		t.Fatal(err)
	}
	if !processed.has("after") || poisonCalls.Load() != 4 {
		t.Fatalf("after processed %v, poison called %d times (want 1 + 3 retries)", processed.has("after"), poisonCalls.Load())
	}
	if got := e.kit.Sum(t, observability.MetricConsumerMessages,
		observability.OutcomeKey.String(observability.OutcomeSkipped.String()), semconv.ErrorTypeKey.String("boom")); got != 1 {
		t.Errorf("skipped with error.type boom = %v, want 1", got)
	}
	logs.WaitRecord(t, wait, func(r map[string]any) bool {
		return r["level"] == "ERROR" && strings.Contains(fmt.Sprint(r["msg"]), "skipped") && r["offset"] == float64(0)
	})
}

// A malformed message cannot succeed on a retry: Decode's error is
// permanent, so it goes to the failure strategy after one call.
func TestMalformedMessageIsNotRetried(t *testing.T) {
	e := newEnv(t, 1)
	processed := newSeen()
	var calls atomic.Int32
	c := e.consumer(t, func(_ context.Context, m *kafka.Message) error {
		var v struct{ Name string }
		if err := m.Decode(&v); err != nil {
			calls.Add(1)
			return err
		}
		processed.add(string(m.Key))
		return nil
	})
	e.produce(t, &kgo.Record{Key: []byte("bad"), Value: []byte("{not json")}, &kgo.Record{Key: []byte("good"), Value: []byte(`{"Name":"x"}`)})
	run(t, c)
	if _, err := e.cluster.WaitCommitted(t.Context(), e.group, e.topic, 0, 2); err != nil {
		t.Fatal(err)
	}
	if !processed.has("good") || calls.Load() != 1 {
		t.Fatalf("good processed %v, malformed handled %d times (want once, no retries)", processed.has("good"), calls.Load())
	}
	if got := outcomes(t, e, observability.OutcomeSkipped); got != 1 {
		t.Errorf("skipped = %v, want 1", got)
	}
}

// The Stop strategy makes Run return the handler's error, with the messages
// before the failed one committed and the failed one not.
func TestStopStrategyReturnsError(t *testing.T) {
	e := newEnv(t, 1)
	c := e.consumer(t, func(_ context.Context, m *kafka.Message) error {
		if string(m.Key) == "poison" {
			return errBoom
		}
		return nil
	}, kafka.WithFailureStrategy(kafka.Stop), kafka.WithRetry(1, fastBackoff))
	e.produce(t, &kgo.Record{Key: []byte("ok")}, &kgo.Record{Key: []byte("poison")}, &kgo.Record{Key: []byte("never")})
	r := run(t, c)
	select {
	case err := <-r.done:
		r.once.Do(func() { r.err = err })
		if !errors.Is(err, errBoom) {
			t.Fatalf("Run = %v, want the handler's error", err)
		}
	case <-t.Context().Done():
		t.Fatal("test ended before Run returned")
	}
	got, err := e.cluster.CommittedOffset(t.Context(), e.group, e.topic, 0)
	if err != nil || got != 1 {
		t.Fatalf("committed %d (%v), want 1: the failed message must stay uncommitted", got, err)
	}
}

// A malformed traceparent starts a new trace and never fails the message;
// the correlation ID header is still honoured.
func TestMalformedTraceparentDoesNotFailProcessing(t *testing.T) {
	e := newEnv(t, 1)
	corr := make(chan string, 1)
	c := e.consumer(t, func(ctx context.Context, _ *kafka.Message) error {
		id, _ := correlation.FromContext(ctx)
		corr <- id
		return nil
	})
	e.produce(t, &kgo.Record{Key: []byte("k"), Headers: []kgo.RecordHeader{
		{Key: "traceparent", Value: []byte("00-not-a-trace-context-zz")},
		{Key: "tracestate", Value: []byte("\x00\xff")},
		{Key: correlation.HeaderKey, Value: []byte("corr-42")},
	}})
	run(t, c)
	if id := <-corr; id != "corr-42" {
		t.Fatalf("correlation ID %q, want corr-42", id)
	}
	span := e.kit.WaitForSpanCount(t, wait, "process "+e.topic, 1)[0]
	if span.Parent().IsValid() || len(span.Links()) != 0 || span.Status().Code.String() == "Error" {
		t.Fatalf("span parent %v links %d status %s; want a new, successful root", span.Parent().IsValid(), len(span.Links()), span.Status().Code)
	}
	if _, err := e.cluster.WaitCommitted(t.Context(), e.group, e.topic, 0, 1); err != nil {
		t.Fatal(err)
	}
}

// Records of one partition are handled in order, and WithConcurrency bounds
// how many handlers run at once across partitions.
func TestOrderPerPartitionAndConcurrencyBound(t *testing.T) {
	e := newEnv(t, 4)
	var (
		mu       sync.Mutex
		last     = map[int32]int64{}
		disorder []string
		active   atomic.Int32
		peak     atomic.Int32
	)
	done := newSeen()
	c := e.consumer(t, func(_ context.Context, m *kafka.Message) error {
		n := active.Add(1)
		defer active.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		mu.Lock()
		if prev, ok := last[m.Partition]; ok && m.Offset <= prev {
			disorder = append(disorder, fmt.Sprintf("p%d: %d after %d", m.Partition, m.Offset, prev))
		}
		last[m.Partition] = m.Offset
		mu.Unlock()
		done.add(string(m.Key))
		return nil
	}, kafka.WithConcurrency(2))
	e.produce(t, keyed("order", 400)...)
	run(t, c)
	waitFor(t, "400 messages", func() bool { return done.distinct() == 400 })
	mu.Lock()
	defer mu.Unlock()
	if len(disorder) > 0 {
		t.Fatalf("out of order: %v", disorder)
	}
	if p := peak.Load(); p > 2 {
		t.Fatalf("%d handlers ran at once, want at most 2", p)
	}
	if len(last) != 4 {
		t.Fatalf("messages from %d partitions, want 4", len(last))
	}
}

// Stopping a consumer in the middle of 10,000 messages and starting another
// in the same group loses none; duplicates are bounded by what was in flight
// (at most one message per partition) and, with commits on shutdown, nil.
func TestStopMidwayThenAnotherConsumerLosesNothing(t *testing.T) {
	const total, partitions = 10000, 4
	e := newEnv(t, partitions)
	s := newSeen()
	h := func(_ context.Context, m *kafka.Message) error {
		s.add(string(m.Key))
		return nil
	}
	e.produce(t, keyed("m", total)...)

	first := e.consumer(t, h)
	r1 := run(t, first)
	waitFor(t, "a third of the messages", func() bool { return s.sum() >= total/3 })
	if err := r1.stop(); err != nil {
		t.Fatalf("first Run = %v, want nil", err)
	}
	atStop := s.sum()

	second := e.consumer(t, h)
	run(t, second)
	waitFor(t, "every key", func() bool { return s.distinct() == total })
	dups := s.sum() - total
	t.Logf("first consumer handled %d, duplicates %d", atStop, dups)
	if atStop >= total {
		t.Fatalf("first consumer handled everything (%d); the test did not stop it midway", atStop)
	}
	if dups > partitions {
		t.Fatalf("%d duplicates, more than the %d messages that could be in flight", dups, partitions)
	}
}

// Two consumers in one group split the partitions (no partition is handled
// by both after the rebalance), and a member leaving loses nothing.
func TestTwoConsumersSplitPartitionsAndRebalanceLosesNothing(t *testing.T) {
	e := newEnv(t, 4)
	s := newSeen()
	type owner struct {
		mu    sync.Mutex
		parts map[string]map[int32]bool // phase -> partitions
	}
	record := func(o *owner) kafka.Handler {
		return func(_ context.Context, m *kafka.Message) error {
			key := string(m.Key)
			o.mu.Lock()
			phase := key[:2]
			if o.parts[phase] == nil {
				o.parts[phase] = map[int32]bool{}
			}
			o.parts[phase][m.Partition] = true
			o.mu.Unlock()
			s.add(key)
			return nil
		}
	}
	a, b := &owner{parts: map[string]map[int32]bool{}}, &owner{parts: map[string]map[int32]bool{}}
	ca := e.consumer(t, record(a))
	run(t, ca)
	waitReady(t, ca)
	e.produce(t, keyed("p1", 200)...)
	waitFor(t, "phase 1", func() bool { return s.distinct() == 200 })

	cb := e.consumer(t, record(b))
	rb := run(t, cb)
	waitReady(t, cb)
	if _, err := e.cluster.Fake().WaitGroupStable(t.Context(), e.group, 2); err != nil {
		t.Fatal(err)
	}
	e.produce(t, keyed("p2", 400)...)
	waitFor(t, "phase 2", func() bool { return s.distinct() == 600 })

	a.mu.Lock()
	b.mu.Lock()
	pa, pb := a.parts["p2"], b.parts["p2"]
	for p := range pa {
		if pb[p] {
			t.Errorf("partition %d handled by both members in phase 2", p)
		}
	}
	if len(pa) == 0 || len(pb) == 0 || len(pa)+len(pb) != 4 {
		t.Errorf("phase 2 partitions: a %v, b %v; want a split of all 4", pa, pb)
	}
	a.mu.Unlock()
	b.mu.Unlock()

	if err := rb.stop(); err != nil {
		t.Fatalf("b's Run = %v", err)
	}
	e.produce(t, keyed("p3", 400)...)
	waitFor(t, "phase 3 after b left", func() bool { return s.distinct() == 1000 })
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.parts["p3"]) != 4 {
		t.Errorf("after b left, a handled partitions %v, want all 4", a.parts["p3"])
	}
	t.Logf("handled %d for 1000 keys", s.sum())
}

// In batch mode a full batch is one CONSUMER span linking to each message's
// producer span, and a partial batch is handled after the timeout on an idle
// topic.
func TestBatchHandler(t *testing.T) {
	e := newEnv(t, 1)
	producer, err := kafkaclient.NewProducer(e.cluster.Addrs(),
		kafkaclient.WithTracerProvider(e.kit.TracerProvider),
		kafkaclient.WithMeterProvider(e.kit.MeterProvider),
		kafkaclient.WithPropagator(e.kit.Propagator))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = producer.Close(context.Background()) })

	batches := make(chan []string, 10)
	c, err := kafka.New("batch", e.group, e.cluster.Addrs(), []string{e.topic}, nil,
		kafka.WithTracerProvider(e.kit.TracerProvider),
		kafka.WithMeterProvider(e.kit.MeterProvider),
		kafka.WithPropagator(e.kit.Propagator),
		kafka.WithBatch(func(ctx context.Context, msgs []*kafka.Message) error {
			keys := make([]string, len(msgs))
			for i, m := range msgs {
				keys[i] = string(m.Key)
			}
			batches <- keys
			return nil
		}, 3, 300*1e6))
	if err != nil {
		t.Fatal(err)
	}
	msgs := make([]*kafkaclient.Message, 3)
	for i := range msgs {
		msgs[i] = kafkaclient.NewMessage(e.topic, []byte("v"))
		msgs[i].Key = []byte("b" + strconv.Itoa(i))
	}
	if err := producer.Send(t.Context(), msgs...); err != nil {
		t.Fatal(err)
	}
	run(t, c)
	if got := <-batches; len(got) != 3 || got[0] != "b0" || got[2] != "b2" {
		t.Fatalf("first batch %v, want [b0 b1 b2]", got)
	}
	spans := e.kit.WaitForSpanCount(t, wait, "process "+e.topic, 1)
	batch := observabilitytest.Named(spans, "process "+e.topic)[0]
	if n := len(batch.Links()); n != 3 {
		t.Fatalf("batch span has %d links, want 3", n)
	}
	observabilitytest.AssertTree(t, spans, observabilitytest.Want{Name: "process " + e.topic, Kind: trace.SpanKindConsumer,
		LinksTo: []string{"publish " + e.topic},
		Attrs:   []attribute.KeyValue{semconv.MessagingBatchMessageCount(3), semconv.MessagingConsumerGroupName(e.group)}})

	// Two more messages and then nothing: the timeout hands them over.
	if err := producer.Send(t.Context(), kafkaclient.NewMessage(e.topic, nil), kafkaclient.NewMessage(e.topic, nil)); err != nil {
		t.Fatal(err)
	}
	if got := <-batches; len(got) != 2 {
		t.Fatalf("idle batch has %d messages, want 2", len(got))
	}
	if _, err := e.cluster.WaitCommitted(t.Context(), e.group, e.topic, 0, 5); err != nil {
		t.Fatal(err)
	}
}

// Ready fails before the group is joined and while no broker answers.
func TestReadiness(t *testing.T) {
	e := newEnv(t, 2)
	c := e.consumer(t, func(context.Context, *kafka.Message) error { return nil })
	if err := c.Ready(t.Context()); !errors.Is(err, kafka.ErrNotReady) {
		t.Fatalf("Ready before Run = %v, want ErrNotReady", err)
	}
	r := run(t, c)
	waitReady(t, c)
	e.cluster.Close()
	waitFor(t, "not ready without brokers", func() bool { return c.Ready(t.Context()) != nil })
	if err := r.stop(); err != nil {
		t.Fatalf("Run = %v, want nil after a graceful stop", err)
	}
}

func TestNewValidates(t *testing.T) {
	h := func(context.Context, *kafka.Message) error { return nil }
	cases := map[string]func() error{
		"no name":    func() error { _, err := kafka.New("", "g", []string{"b"}, []string{"t"}, h); return err },
		"no group":   func() error { _, err := kafka.New("n", "", []string{"b"}, []string{"t"}, h); return err },
		"no brokers": func() error { _, err := kafka.New("n", "g", nil, []string{"t"}, h); return err },
		"no topics":  func() error { _, err := kafka.New("n", "g", []string{"b"}, nil, h); return err },
		"no handler": func() error { _, err := kafka.New("n", "g", []string{"b"}, []string{"t"}, nil); return err },
		"both handlers": func() error {
			_, err := kafka.New("n", "g", []string{"b"}, []string{"t"}, h, kafka.WithBatch(func(context.Context, []*kafka.Message) error { return nil }, 1, 1))
			return err
		},
		"empty dlt": func() error {
			_, err := kafka.New("n", "g", []string{"b"}, []string{"t"}, h, kafka.WithDeadLetterTopic(""))
			return err
		},
		"dlt consumed": func() error {
			_, err := kafka.New("n", "g", []string{"b"}, []string{"t"}, h, kafka.WithDeadLetterTopic("t"))
			return err
		},
		"negative retries": func() error {
			_, err := kafka.New("n", "g", []string{"b"}, []string{"t"}, h, kafka.WithRetry(-1, fastBackoff))
			return err
		},
		"nil tracer": func() error {
			_, err := kafka.New("n", "g", []string{"b"}, []string{"t"}, h, kafka.WithTracerProvider(nil))
			return err
		},
		"bad batch": func() error {
			_, err := kafka.New("n", "g", []string{"b"}, []string{"t"}, nil, kafka.WithBatch(nil, 1, 1))
			return err
		},
	}
	for name, f := range cases {
		if f() == nil {
			t.Errorf("%s: New succeeded, want an error", name)
		}
	}
}

// Exemplars are kept on messaging.process.duration only, where they lead
// from a slow bucket to the message's trace; the age histogram and the
// counters get none.
func TestDurationExemplar(t *testing.T) {
	e := newEnv(t, 1)
	c := e.consumer(t, func(context.Context, *kafka.Message) error { return nil })
	e.produce(t, keyed("ex", 1)...)
	r := run(t, c)
	span := e.kit.WaitForSpanCount(t, wait, "process "+e.topic, 1)[0]
	if err := r.stop(); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if ex := exemplarTraces(t, e.kit, "messaging.process.duration"); len(ex) != 1 || ex[0] != span.SpanContext().TraceID() {
		t.Errorf("duration exemplars = %v, want one for trace %s", ex, span.SpanContext().TraceID())
	}
	for _, name := range []string{observability.MetricMessageAge, observability.MetricConsumerMessages, "messaging.client.consumed.messages"} {
		if ex := exemplarTraces(t, e.kit, name); len(ex) != 0 {
			t.Errorf("%s exemplars = %v, want none", name, ex)
		}
	}
}
