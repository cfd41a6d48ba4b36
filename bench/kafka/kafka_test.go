package kafkabench

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kotel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	kafkaclient "github.com/patron-go/patron/client/kafka"
	"github.com/patron-go/patron/component/kafka"
	"github.com/patron-go/patron/patrontest/kafkatest"
)

const partitions = 4

// queueSize is the consumer's per-partition queue (kafka.WithQueueSize);
// PATRON_BENCH_QUEUE overrides the default (read in TestMain) to show the
// cost of pausing.
var queueSize = kafka.DefaultQueueSize

// One cluster for the whole run, so every variant meets the same broker.
var cluster *kafkatest.Cluster

func TestMain(m *testing.M) {
	if v, err := strconv.Atoi(os.Getenv("PATRON_BENCH_QUEUE")); err == nil && v > 0 {
		queueSize = v
	}
	c, err := kafkatest.Start(kafkatest.WithPartitions(partitions))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cluster = c
	code := m.Run()
	c.Close()
	os.Exit(code)
}

var seq atomic.Int64

func unique(prefix string) string { return prefix + "-" + strconv.FormatInt(seq.Add(1), 10) }

// telemetry is "tracing on": the SDK with sampler (AlwaysSample records
// every span, then drops it as no exporter is set; NeverSample is what most
// messages meet in production at a low sampling ratio) and metrics
// aggregated by a reader.
func telemetry(b *testing.B, sampler sdktrace.Sampler) (trace.TracerProvider, metric.MeterProvider, propagation.TextMapPropagator) {
	if sampler == nil {
		return tracenoop.NewTracerProvider(), metricnoop.NewMeterProvider(), propagation.TraceContext{}
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sampler))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	b.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	return tp, mp, propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

var value = make([]byte, 100)

// fill produces n records with an unsampled traceparent header (as a
// traced producer at a low sampling ratio would mostly write) to a new topic, outside the timed region.
func fill(b *testing.B, n int) string {
	b.Helper()
	topic := unique("bench")
	if err := cluster.CreateTopic(topic, partitions); err != nil {
		b.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.Addrs()...), kgo.ProducerLinger(0))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	tp := []byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
	for i := 0; i < n; i++ {
		cl.Produce(context.Background(), &kgo.Record{Topic: topic, Key: []byte(strconv.Itoa(i)), Value: value,
			Headers: []kgo.RecordHeader{{Key: "traceparent", Value: tp}}}, func(_ *kgo.Record, err error) {
			if err != nil {
				b.Error(err)
			}
		})
	}
	if err := cl.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	return topic
}

// report adds msgs/s and the CPU time of the whole process (client,
// in-process broker, span and metric SDKs) per message since cpu0: the
// steadier number on a shared machine, and the one whose difference to
// bare's is the instrumentation's cost per record.
func report(b *testing.B, start time.Time, cpu0 int64) {
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/msg")
}

// cpuTime is the user and system CPU time of the process, in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkConsume: b.N messages consumed by a group member, from joining
// the group until the last message was handled.
func BenchmarkConsume(b *testing.B) {
	b.Run("bare-franz-go", func(b *testing.B) {
		b.ReportAllocs()
		topic := fill(b, b.N)
		b.ResetTimer()
		consumeAll(b, "bare", topic, func(*kgo.Record) {})
	})
	for _, v := range variants {
		b.Run("kotel-"+v.name, func(b *testing.B) { benchKotelConsume(b, v.sampler) })
		b.Run("bare-otel-"+v.name, func(b *testing.B) { benchBareOTelConsume(b, v.sampler) })
		b.Run("patron-"+v.name, func(b *testing.B) { benchPatronConsume(b, v.sampler) })
	}
}

// benchBareOTelConsume is the bare loop plus what hand-rolled OpenTelemetry
// instrumentation does per record: extract the producer's context, a
// CONSUMER span with the messaging attributes and a link, a duration
// histogram and a counter. It is the honest "same telemetry, no framework"
// baseline: no correlation ID, no failure strategy, no per-partition order.
func benchBareOTelConsume(b *testing.B, sampler sdktrace.Sampler) {
	b.ReportAllocs()
	topic := fill(b, b.N)
	tp, mp, prop := telemetry(b, sampler)
	tracer := tp.Tracer("bench")
	meter := mp.Meter("bench")
	duration, _ := meter.Float64Histogram("messaging.process.duration", metric.WithUnit("s"))
	consumed, _ := meter.Int64Counter("messaging.client.consumed.messages")
	set := metric.WithAttributeSet(attribute.NewSet(semconv.MessagingSystemKafka, semconv.MessagingDestinationName(topic)))
	b.ResetTimer()
	consumeAll(b, "bareotel", topic, func(r *kgo.Record) {
		t0 := time.Now()
		ctx := prop.Extract(context.Background(), kafkaclient.HeaderCarrier{Headers: &r.Headers})
		ctx, span := tracer.Start(ctx, "process "+r.Topic, trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithLinks(trace.LinkFromContext(ctx)),
			trace.WithAttributes(semconv.MessagingSystemKafka, semconv.MessagingDestinationName(r.Topic),
				semconv.MessagingOperationTypeProcess, semconv.MessagingKafkaOffset(int(r.Offset)),
				semconv.MessagingDestinationPartitionID(strconv.Itoa(int(r.Partition)))))
		consumed.Add(ctx, 1, set)
		duration.Record(ctx, time.Since(t0).Seconds(), set)
		span.End()
	})
}

// kotelHooks is what a franz-go user instruments with instead of Patron:
// the kotel plugin's tracer and meter as client hooks, on the same
// providers and propagator.
func kotelHooks(b *testing.B, sampler sdktrace.Sampler, group string) (*kotel.Tracer, kgo.Opt) {
	tp, mp, prop := telemetry(b, sampler)
	tracer := kotel.NewTracer(kotel.TracerProvider(tp), kotel.TracerPropagator(prop), kotel.ConsumerGroup(group))
	k := kotel.NewKotel(kotel.WithTracer(tracer), kotel.WithMeter(kotel.NewMeter(kotel.MeterProvider(mp))))
	return tracer, kgo.WithHooks(k.Hooks()...)
}

// benchKotelConsume is the bare loop with kotel's hooks (a receive span
// per record from the fetch hooks, the broker and fetch-batch metrics) and
// a process span per record (Tracer.WithProcessSpan), as kotel's README
// shows.
func benchKotelConsume(b *testing.B, sampler sdktrace.Sampler) {
	b.ReportAllocs()
	topic := fill(b, b.N)
	tracer, hooks := kotelHooks(b, sampler, "kotel")
	b.ResetTimer()
	consumeAll(b, "kotel", topic, func(r *kgo.Record) {
		_, span := tracer.WithProcessSpan(r)
		span.End()
	}, hooks)
}

// benchKotelProduce is bare producing with kotel's hooks: a publish span
// per record started when it is buffered (with the trace context injected
// into its headers) and ended when it is acknowledged, and the meter's
// broker and produce-batch metrics.
func benchKotelProduce(b *testing.B, sampler sdktrace.Sampler) {
	b.ReportAllocs()
	topic := newTopic(b)
	_, hooks := kotelHooks(b, sampler, "")
	b.ResetTimer()
	produceAll(b, topic, func(cl *kgo.Client, rec *kgo.Record, done func(error)) {
		cl.Produce(context.Background(), rec, func(_ *kgo.Record, err error) { done(err) })
	}, hooks)
}

// consumeAll is the bare franz-go loop both bare consumer benchmarks time:
// join a new group on topic, poll until b.N records went through each,
// commit.
func consumeAll(b *testing.B, group, topic string, each func(*kgo.Record), opts ...kgo.Opt) {
	start, cpu0 := time.Now(), cpuTime()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(cluster.Addrs()...), kgo.ConsumerGroup(unique(group)), kgo.ConsumeTopics(topic)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	var n int
	for n < b.N {
		cl.PollFetches(context.Background()).EachRecord(func(r *kgo.Record) {
			each(r)
			n++
		})
	}
	if err := cl.CommitUncommittedOffsets(context.Background()); err != nil {
		b.Fatal(err)
	}
	report(b, start, cpu0)
	b.StopTimer()
	cl.Close()
}

var variants = []struct {
	name    string
	sampler sdktrace.Sampler
}{
	{"sampled", sdktrace.AlwaysSample()},
	{"unsampled", sdktrace.ParentBased(sdktrace.NeverSample())},
	{"no-telemetry", nil},
}

func benchPatronConsume(b *testing.B, sampler sdktrace.Sampler) {
	b.ReportAllocs()
	topic := fill(b, b.N)
	tp, mp, prop := telemetry(b, sampler)
	var n atomic.Int64
	done := make(chan struct{})
	target := int64(b.N)
	c, err := kafka.New("bench", unique("patron"), cluster.Addrs(), []string{topic},
		func(context.Context, *kafka.Message) error {
			if n.Add(1) == target {
				close(done)
			}
			return nil
		},
		kafka.WithTracerProvider(tp), kafka.WithMeterProvider(mp), kafka.WithPropagator(prop),
		kafka.WithLogger(slog.New(slog.DiscardHandler)), kafka.WithQueueSize(queueSize))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	errc := make(chan error, 1)
	go func() { errc <- c.Run(ctx) }()
	<-done
	report(b, start, cpu0)
	b.StopTimer()
	cancel()
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
}

// BenchmarkProduce: b.N asynchronous messages, until all are acknowledged.
func BenchmarkProduce(b *testing.B) {
	b.Run("bare-franz-go", func(b *testing.B) {
		b.ReportAllocs()
		topic := newTopic(b)
		b.ResetTimer()
		produceAll(b, topic, func(cl *kgo.Client, rec *kgo.Record, done func(error)) {
			cl.Produce(context.Background(), rec, func(_ *kgo.Record, err error) { done(err) })
		})
	})
	for _, v := range variants {
		b.Run("kotel-"+v.name, func(b *testing.B) { benchKotelProduce(b, v.sampler) })
		b.Run("bare-otel-"+v.name, func(b *testing.B) { benchBareOTelProduce(b, v.sampler) })
		b.Run("patron-"+v.name, func(b *testing.B) { benchPatronProduce(b, v.sampler) })
	}
}

// benchBareOTelProduce is bare producing plus hand-rolled OpenTelemetry per
// record: a PRODUCER span, trace context injected into the headers, and a
// counter and duration histogram recorded in the promise.
func benchBareOTelProduce(b *testing.B, sampler sdktrace.Sampler) {
	b.ReportAllocs()
	topic := newTopic(b)
	tp, mp, prop := telemetry(b, sampler)
	tracer := tp.Tracer("bench")
	meter := mp.Meter("bench")
	duration, _ := meter.Float64Histogram("messaging.client.operation.duration", metric.WithUnit("s"))
	sent, _ := meter.Int64Counter("messaging.client.sent.messages")
	set := metric.WithAttributeSet(attribute.NewSet(semconv.MessagingSystemKafka, semconv.MessagingDestinationName(topic)))
	b.ResetTimer()
	produceAll(b, topic, func(cl *kgo.Client, rec *kgo.Record, done func(error)) {
		ctx, span := tracer.Start(context.Background(), "publish "+topic, trace.WithSpanKind(trace.SpanKindProducer),
			trace.WithAttributes(semconv.MessagingSystemKafka, semconv.MessagingDestinationName(topic),
				semconv.MessagingOperationTypeSend, semconv.MessagingMessageBodySize(len(value))))
		prop.Inject(ctx, kafkaclient.HeaderCarrier{Headers: &rec.Headers})
		t0 := time.Now()
		cl.Produce(ctx, rec, func(_ *kgo.Record, err error) {
			done(err)
			sent.Add(ctx, 1, set)
			duration.Record(ctx, time.Since(t0).Seconds(), set)
			span.End()
		})
	})
}

// newTopic creates an empty topic for a producer benchmark.
func newTopic(b *testing.B) string {
	b.Helper()
	topic := unique("produce")
	if err := cluster.CreateTopic(topic, partitions); err != nil {
		b.Fatal(err)
	}
	return topic
}

// produceAll is the bare franz-go loop both bare producer benchmarks time:
// b.N records handed to produce, then a flush; produce calls done with
// each record's outcome from its promise.
func produceAll(b *testing.B, topic string, produce func(cl *kgo.Client, rec *kgo.Record, done func(error)), opts ...kgo.Opt) {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(cluster.Addrs()...)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	var failed atomic.Int64
	done := func(err error) {
		if err != nil {
			failed.Add(1)
		}
	}
	start, cpu0 := time.Now(), cpuTime()
	for i := 0; i < b.N; i++ {
		produce(cl, &kgo.Record{Topic: topic, Key: []byte(strconv.Itoa(i)), Value: value}, done)
	}
	if err := cl.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	report(b, start, cpu0)
	if failed.Load() > 0 {
		b.Fatalf("%d failed", failed.Load())
	}
}

func benchPatronProduce(b *testing.B, sampler sdktrace.Sampler) {
	b.ReportAllocs()
	topic := newTopic(b)
	tp, mp, prop := telemetry(b, sampler)
	p, err := kafkaclient.NewProducer(cluster.Addrs(), kafkaclient.WithTracerProvider(tp), kafkaclient.WithMeterProvider(mp), kafkaclient.WithPropagator(prop))
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = p.Close(context.Background()) }()
	var failed atomic.Int64
	cb := func(_ *kafkaclient.Message, err error) {
		if err != nil {
			failed.Add(1)
		}
	}
	ctx := context.Background()
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	for i := 0; i < b.N; i++ {
		if err := p.SendAsync(ctx, &kafkaclient.Message{Topic: topic, Key: []byte(strconv.Itoa(i)), Value: value}, cb); err != nil {
			b.Fatal(err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	report(b, start, cpu0)
	if failed.Load() > 0 {
		b.Fatalf("%d failed", failed.Load())
	}
}
