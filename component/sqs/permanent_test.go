package sqs_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/patron-go/patron/component/sqs"
	"github.com/patron-go/patron/observability"
	"github.com/patron-go/patron/patrontest/sqstest"
	"github.com/patron-go/patron/reliability"
)

// A message that cannot succeed (a reliability.Permanent error, or a body
// that does not decode) is not retried: on a queue without a redrive
// policy the default strategy skips it (logged, counted with its
// error.type, deleted) instead of redelivering it forever.
func TestPermanentAndMalformedNotRedelivered(t *testing.T) {
	f := newFixture(t)
	name := sqstest.UniqueName("permanent")
	url, _ := sqstest.CreateQueue(t, f.sqs, name, nil)
	send(t, f.sqs, url, "permanent", "{not json", `{"n":1}`)

	var permanent, malformed, good atomic.Int32
	h := func(_ context.Context, msg *sqs.Message) error {
		switch string(msg.Body) {
		case "permanent":
			permanent.Add(1)
			return reliability.Permanent(errors.New("unknown order"))
		}
		var v struct{ N int }
		if err := msg.Decode(&v); err != nil {
			malformed.Add(1)
			return err
		}
		good.Add(1)
		return nil
	}
	c, err := sqs.New("consumer", url, h, f.opts(
		// A short redelivery delay: were the messages retried, they
		// would be back long before the queue is seen empty.
		sqs.WithRetry(sqs.DefaultRetries, reliability.Backoff{Initial: time.Second, Max: time.Second, NoJitter: true}),
		sqs.WithWaitTime(time.Second))...)
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, c)
	sqstest.WaitFor(t, 30*time.Second, "the queue to be empty", func() bool {
		return good.Load() == 1 && sqstest.QueueDepth(t, f.sqs, url) == 0
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if permanent.Load() != 1 || malformed.Load() != 1 {
		t.Fatalf("permanent handled %d times, malformed %d times, want once each", permanent.Load(), malformed.Load())
	}
	skipped := f.kit.Sum(t, observability.MetricConsumerMessages, semconv.MessagingDestinationName(name),
		observability.OutcomeKey.String(observability.OutcomeSkipped.String()))
	requeued := f.kit.Sum(t, observability.MetricConsumerMessages, semconv.MessagingDestinationName(name),
		observability.OutcomeKey.String(observability.OutcomeRequeued.String()))
	if skipped != 2 || requeued != 0 {
		t.Fatalf("skipped = %v, requeued = %v, want 2 and 0", skipped, requeued)
	}
}
