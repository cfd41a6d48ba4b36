package sqs_test

import (
	"context"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	clientsqs "github.com/patron-go/patron/client/sqs"
	"github.com/patron-go/patron/component/sqs"
	"github.com/patron-go/patron/patrontest/sqstest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	_ = sqstest.CloseShared()
	os.Exit(code)
}

// tracing is a sampling SDK provider without exporter: the span work is
// done, nothing leaves the process.
func tracing(b *testing.B) *sdktrace.TracerProvider {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
	b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp
}

// BenchmarkSend compares client/sqs Send (span, propagation attributes,
// metrics) with the SDK's SendMessage, one message per op.
func BenchmarkSend(b *testing.B) {
	emu := sqstest.Shared(b)
	client := sqstest.NewSQSClient(emu.Endpoint())
	// Each sub-benchmark gets a fresh queue, so neither pays for the
	// messages the other left in the emulator.
	queue := func(b *testing.B) string {
		url, _ := sqstest.CreateQueue(b, client, sqstest.UniqueName("bench-send"), nil)
		b.Cleanup(func() {
			_, _ = client.DeleteQueue(context.Background(), &awssqs.DeleteQueueInput{QueueUrl: aws.String(url)})
		})
		return url
	}
	b.Run("bare", func(b *testing.B) {
		url := queue(b)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := client.SendMessage(b.Context(), &awssqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("payload")}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("patron", func(b *testing.B) {
		url := queue(b)
		pub, err := clientsqs.New(client, clientsqs.WithTracerProvider(tracing(b)),
			clientsqs.WithMeterProvider(metricnoop.NewMeterProvider()), clientsqs.WithPropagator(propagation.TraceContext{}))
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := pub.Send(b.Context(), url, clientsqs.Message{Body: "payload"}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkConsume compares the consumer component with a bare loop of
// ReceiveMessage and DeleteMessageBatch doing the same work: b.N messages
// are queued first, then consumed; one op is one message.
func BenchmarkConsume(b *testing.B) {
	emu := sqstest.Shared(b)
	client := sqstest.NewSQSClient(emu.Endpoint())
	fill := func(b *testing.B) string {
		b.Helper()
		url, _ := sqstest.CreateQueue(b, client, sqstest.UniqueName("bench-consume"), nil)
		b.Cleanup(func() {
			_, _ = client.DeleteQueue(context.Background(), &awssqs.DeleteQueueInput{QueueUrl: aws.String(url)})
		})
		pub, err := clientsqs.New(client, clientsqs.WithTracerProvider(tracing(b)), clientsqs.WithPropagator(propagation.TraceContext{}))
		if err != nil {
			b.Fatal(err)
		}
		msgs := make([]clientsqs.Message, 10)
		for i := range msgs {
			msgs[i].Body = "payload"
		}
		for sent := 0; sent < b.N; sent += 10 {
			if _, err := pub.SendBatch(context.Background(), url, msgs[:min(10, b.N-sent)]); err != nil {
				b.Fatal(err)
			}
		}
		return url
	}
	b.Run("bare", func(b *testing.B) {
		url := fill(b)
		b.ReportAllocs()
		b.ResetTimer()
		receiveAndDelete(b, client, url, b.N)
	})
	b.Run("patron", func(b *testing.B) {
		url := fill(b)
		var handled atomic.Int64
		all := make(chan struct{})
		n := int64(b.N)
		c, err := sqs.New("bench", url, func(context.Context, *sqs.Message) error {
			if handled.Add(1) == n {
				close(all)
			}
			return nil
		}, sqs.WithClient(client), sqs.WithTracerProvider(tracing(b)), sqs.WithMeterProvider(metricnoop.NewMeterProvider()),
			sqs.WithPropagator(propagation.TraceContext{}), sqs.WithWaitTime(1e9), sqs.WithQueueDepthInterval(0),
			sqs.WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx) }()
		<-all
		b.StopTimer()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkConsumeRatio interleaves the bare loop and the consumer on the
// same emulator, round by round (alternating which goes first), and reports
// the throughput ratio patron/bare, which the shared machine's load affects
// alike. "patron" traces with a no-op provider (a service that does not
// sample), "patron-traced" samples every span with the SDK (no exporter).
func BenchmarkConsumeRatio(b *testing.B) {
	for _, traced := range []bool{false, true} {
		name := "patron"
		if traced {
			name = "patron-traced"
		}
		b.Run(name, func(b *testing.B) { consumeRatio(b, traced) })
	}
}

func consumeRatio(b *testing.B, traced bool) {
	emu := sqstest.Shared(b)
	client := sqstest.NewSQSClient(emu.Endpoint())
	const round = 200
	rounds := max(b.N/round, 1)
	tp := trace.TracerProvider(tracenoop.NewTracerProvider())
	if traced {
		tp = tracing(b)
	}
	pub, err := clientsqs.New(client, clientsqs.WithTracerProvider(tracing(b)), clientsqs.WithPropagator(propagation.TraceContext{}),
		clientsqs.WithMeterProvider(metricnoop.NewMeterProvider()))
	if err != nil {
		b.Fatal(err)
	}
	msgs := make([]clientsqs.Message, 10)
	for i := range msgs {
		msgs[i].Body = "payload"
	}
	fill := func() string {
		url, _ := sqstest.CreateQueue(b, client, sqstest.UniqueName("bench-ratio"), nil)
		b.Cleanup(func() {
			_, _ = client.DeleteQueue(context.Background(), &awssqs.DeleteQueueInput{QueueUrl: aws.String(url)})
		})
		for sent := 0; sent < round; sent += 10 {
			if _, err := pub.SendBatch(context.Background(), url, msgs); err != nil {
				b.Fatal(err)
			}
		}
		return url
	}
	var bare, patron time.Duration
	ratios := make([]float64, 0, rounds)
	b.ResetTimer()
	for r := range rounds {
		b.StopTimer()
		bq, pq := fill(), fill()
		b.StartTimer()
		runBare := func() {
			start := time.Now()
			receiveAndDelete(b, client, bq, round)
			bare += time.Since(start)
		}
		runPatron := func() {
			var handled atomic.Int64
			all := make(chan struct{})
			c, err := sqs.New("bench", pq, func(context.Context, *sqs.Message) error {
				if handled.Add(1) == round {
					close(all)
				}
				return nil
			}, sqs.WithClient(client), sqs.WithTracerProvider(tp), sqs.WithMeterProvider(metricnoop.NewMeterProvider()),
				sqs.WithPropagator(propagation.TraceContext{}), sqs.WithWaitTime(time.Second), sqs.WithQueueDepthInterval(0),
				sqs.WithLogger(slog.New(slog.DiscardHandler)))
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			start := time.Now()
			go func() { done <- c.Run(ctx) }()
			<-all
			// The deletes of the last messages are part of the work, as
			// in the bare loop: Run returns once they are done.
			cancel()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			patron += time.Since(start)
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
	b.StopTimer()
	n := rounds * round
	b.ReportMetric(float64(bare.Nanoseconds())/float64(n), "bare-ns/msg")
	b.ReportMetric(float64(patron.Nanoseconds())/float64(n), "patron-ns/msg")
	b.ReportMetric(float64(bare)/float64(patron), "patron/bare-throughput")
	// The median of the rounds' ratios: a load spike during a few rounds
	// moves the totals' ratio, not the median.
	slices.Sort(ratios)
	b.ReportMetric(ratios[len(ratios)/2], "median-patron/bare")
}

// receiveAndDelete is the bare consumer loop: receive up to ten messages
// at a time and delete them in one batch, until n are done.
func receiveAndDelete(b *testing.B, client *awssqs.Client, url string, n int) {
	for done := 0; done < n; {
		out, err := client.ReceiveMessage(b.Context(), &awssqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
			MessageAttributeNames: []string{"All"}})
		if err != nil {
			b.Fatal(err)
		}
		if len(out.Messages) == 0 {
			continue
		}
		entries := make([]types.DeleteMessageBatchRequestEntry, len(out.Messages))
		for i, m := range out.Messages {
			entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle}
		}
		if _, err := client.DeleteMessageBatch(b.Context(), &awssqs.DeleteMessageBatchInput{QueueUrl: aws.String(url), Entries: entries}); err != nil {
			b.Fatal(err)
		}
		done += len(out.Messages)
	}
}
