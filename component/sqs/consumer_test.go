package sqs_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/patron-go/patron/component/sqs"
	"github.com/patron-go/patron/observability"
	"github.com/patron-go/patron/patrontest/sqstest"
	"github.com/patron-go/patron/reliability"
)

func send(t *testing.T, c *awssqs.Client, url string, bodies ...string) {
	t.Helper()
	for _, b := range bodies {
		if _, err := c.SendMessage(t.Context(), &awssqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFailingHandlerRedeliveredThenDeadLettered: a handler that always
// fails sees the message again only after the backoff delay, and after the
// queue's maxReceiveCount deliveries the redrive policy moves it to the
// dead-letter queue. The failures are counted and the spans marked.
func TestFailingHandlerRedeliveredThenDeadLettered(t *testing.T) {
	f := newFixture(t)
	dlqName := sqstest.UniqueName("dlq")
	dlqURL, dlqARN := sqstest.CreateQueue(t, f.sqs, dlqName, nil)
	name := sqstest.UniqueName("failing")
	url, _ := sqstest.CreateQueue(t, f.sqs, name, map[string]string{
		"RedrivePolicy": fmt.Sprintf(`{"maxReceiveCount":"3","deadLetterTargetArn":"%s"}`, dlqARN),
	})
	send(t, f.sqs, url, "poison")

	rec := &recorder{}
	h := func(_ context.Context, msg *sqs.Message) error {
		rec.add(seen{msg: msg, at: time.Now()})
		return errors.New("cannot handle")
	}
	const delay = time.Second
	c, err := sqs.New("consumer", url, h, f.opts(
		sqs.WithBackoff(reliability.Backoff{Initial: delay, Max: delay, NoJitter: true}),
		sqs.WithMaxReceives(3))...)
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, c)
	sqstest.WaitFor(t, 30*time.Second, "the message in the dead-letter queue", func() bool {
		return sqstest.QueueDepth(t, f.sqs, dlqURL) == 1
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	got := rec.all()
	if len(got) != 3 {
		t.Fatalf("handler called %d times, want 3 (maxReceiveCount)", len(got))
	}
	for i := 1; i < len(got); i++ {
		if gap := got[i].at.Sub(got[i-1].at); gap < delay-100*time.Millisecond {
			t.Fatalf("delivery %d came %s after the previous one, before the %s backoff", i+1, gap, delay)
		}
		if got[i].msg.ID != got[0].msg.ID {
			t.Fatalf("different message redelivered")
		}
	}
	if d := sqstest.QueueDepth(t, f.sqs, url); d != 0 {
		t.Fatalf("source queue still holds %d messages", d)
	}
	// Every failure is counted, then disposed of once: made visible again
	// (requeued) or left to the redrive policy (dead_lettered; the
	// emulator does not count receives, so its redrive moves the message
	// while the consumer still sees a first receive).
	sum := func(o observability.Outcome) float64 {
		return f.kit.Sum(t, observability.MetricConsumerMessages, semconv.MessagingDestinationName(name),
			observability.OutcomeKey.String(o.String()))
	}
	if failed, disposed := sum(observability.OutcomeFailed), sum(observability.OutcomeRequeued)+sum(observability.OutcomeDeadLettered); failed != 3 || disposed != 3 {
		t.Fatalf("failed = %v, requeued + dead_lettered = %v, want 3 and 3", failed, disposed)
	}

	for _, s := range f.kit.Spans() {
		if s.Name() == "process "+name && s.Status().Code.String() != "Error" {
			t.Fatalf("span of a failed attempt has status %s", s.Status().Code)
		}
	}
}

// TestHeartbeatKeepsSlowMessage: a handler that runs three visibility
// timeouts long is not given the message a second time while it runs,
// because the heartbeat keeps extending the visibility.
func TestHeartbeatKeepsSlowMessage(t *testing.T) {
	f := newFixture(t)
	name := sqstest.UniqueName("slow")
	url, _ := sqstest.CreateQueue(t, f.sqs, name, nil)
	send(t, f.sqs, url, "slow")

	const vis = 2 * time.Second
	var calls atomic.Int32
	finished := make(chan struct{})
	h := func(_ context.Context, _ *sqs.Message) error {
		calls.Add(1)
		// The work itself: longer than the visibility timeout.
		time.Sleep(3 * vis)
		close(finished)
		return nil
	}
	c, err := sqs.New("consumer", url, h, f.opts(sqs.WithVisibilityTimeout(vis), sqs.WithWorkers(2), sqs.WithWaitTime(time.Second))...)
	if err != nil {
		t.Fatal(err)
	}
	start(t, c)
	select {
	case <-finished:
	case <-time.After(30 * time.Second):
		t.Fatal("handler did not finish")
	}
	sqstest.WaitFor(t, 10*time.Second, "the message to be deleted", func() bool { return sqstest.QueueDepth(t, f.sqs, url) == 0 })
	if n := calls.Load(); n != 1 {
		t.Fatalf("handler called %d times, want 1: the message was delivered again while in progress", n)
	}
}

// TestShutdownWaitsAndDeletesOnlyProcessed: cancelling Run's context stops
// receiving but Run returns only after the handlers in flight finished; the
// messages that succeeded (even after the cancellation) are deleted, the
// one that failed is not and becomes visible again.
func TestShutdownWaitsAndDeletesOnlyProcessed(t *testing.T) {
	f := newFixture(t)
	name := sqstest.UniqueName("shutdown")
	url, _ := sqstest.CreateQueue(t, f.sqs, name, nil)
	send(t, f.sqs, url, "quick", "slow-ok", "slow-fail")

	release := make(chan struct{})
	var started atomic.Int32
	var quickDone atomic.Bool
	h := func(_ context.Context, msg *sqs.Message) error {
		switch string(msg.Body) {
		case "quick":
			quickDone.Store(true)
			return nil
		case "slow-ok":
			started.Add(1)
			<-release
			return nil
		default:
			started.Add(1)
			<-release
			return errors.New("failed during shutdown")
		}
	}
	c, err := sqs.New("consumer", url, h, f.opts(sqs.WithWorkers(3),
		sqs.WithBackoff(reliability.Backoff{Initial: time.Second, Max: time.Second, NoJitter: true}))...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	sqstest.WaitFor(t, 10*time.Second, "both slow handlers to start and quick to finish", func() bool {
		return started.Load() == 2 && quickDone.Load()
	})
	cancel()
	select {
	case err := <-done:
		t.Fatalf("Run returned (%v) while two handlers were still running", err)
	default:
	}
	close(release)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after the handlers finished")
	}
	if d := sqstest.QueueDepth(t, f.sqs, url); d != 1 {
		t.Fatalf("queue holds %d messages after shutdown, want 1 (the failed one)", d)
	}
	var left []string
	sqstest.WaitFor(t, 10*time.Second, "the failed message to be visible again", func() bool {
		out, err := f.sqs.ReceiveMessage(t.Context(), &awssqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			left = append(left, aws.ToString(m.Body))
		}
		return len(left) > 0
	})
	if len(left) != 1 || left[0] != "slow-fail" {
		t.Fatalf("left in the queue: %v, want [slow-fail]", left)
	}
}

// TestEmptyQueueLongPolls: on an empty queue every ReceiveMessage is a long
// poll that the server held for its whole wait, so the consumer costs one
// call per wait time, not a loop.
func TestEmptyQueueLongPolls(t *testing.T) {
	f := newFixture(t)
	url, _ := sqstest.CreateQueue(t, f.sqs, sqstest.UniqueName("empty"), nil)
	counter := &sqstest.CountingTransport{}
	client := sqstest.NewSQSClient(f.emu.Endpoint(), func(o *awssqs.Options) { o.HTTPClient = &http.Client{Transport: counter} })
	const wait = 2 * time.Second
	c, err := sqs.New("consumer", url, func(context.Context, *sqs.Message) error { return nil },
		sqs.WithClient(client), sqs.WithWaitTime(wait), sqs.WithQueueDepthInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, c)
	sqstest.WaitFor(t, 30*time.Second, "three receive calls to complete", func() bool {
		return len(counter.Calls("ReceiveMessage")) >= 3
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	calls := counter.Calls("ReceiveMessage")
	// The last call may have been cut short by the shutdown.
	for i, call := range calls[:3] {
		if call.Status != http.StatusOK || call.Duration < wait-200*time.Millisecond {
			t.Fatalf("receive %d: status %d after %s; want a %s long poll", i+1, call.Status, call.Duration, wait)
		}
	}
	if err := c.Ready(t.Context()); err == nil {
		t.Fatal("a stopped consumer reports ready")
	}
}

// TestReceiveErrorsBackOff: receive errors (here, a queue that does not
// exist) make the consumer back off between attempts and report not ready,
// instead of retrying in a loop.
func TestReceiveErrorsBackOff(t *testing.T) {
	f := newFixture(t)
	counter := &sqstest.CountingTransport{}
	client := sqstest.NewSQSClient(f.emu.Endpoint(), func(o *awssqs.Options) {
		o.HTTPClient = &http.Client{Transport: counter}
		o.RetryMaxAttempts = 1
	})
	const initial = 300 * time.Millisecond
	c, err := sqs.New("consumer", f.emu.Endpoint()+"/"+sqstest.AccountID+"/"+sqstest.UniqueName("missing"),
		func(context.Context, *sqs.Message) error { return nil },
		sqs.WithClient(client), sqs.WithQueueDepthInterval(0),
		sqs.WithReceiveErrorBackoff(reliability.Backoff{Initial: initial, Max: initial, NoJitter: true}))
	if err != nil {
		t.Fatal(err)
	}
	start(t, c)
	sqstest.WaitFor(t, 10*time.Second, "three failed receives", func() bool { return len(counter.Calls("ReceiveMessage")) >= 3 })
	calls := counter.Calls("ReceiveMessage")
	for i := 1; i < 3; i++ {
		prevEnd := calls[i-1].Start.Add(calls[i-1].Duration)
		if gap := calls[i].Start.Sub(prevEnd); gap < initial-50*time.Millisecond {
			t.Fatalf("receive %d came %s after the previous failure, before the %s backoff", i+1, gap, initial)
		}
	}
	err = c.Ready(t.Context())
	if !errors.Is(err, sqs.ErrNotReady) {
		t.Fatalf("Ready = %v, want ErrNotReady", err)
	}
}

// TestStopStrategy: with Stop, a handler error stops the component: Run
// returns the error and the message is visible again at once.
func TestStopStrategy(t *testing.T) {
	f := newFixture(t)
	url, _ := sqstest.CreateQueue(t, f.sqs, sqstest.UniqueName("stop"), nil)
	send(t, f.sqs, url, "bad")
	boom := errors.New("boom")
	c, err := sqs.New("consumer", url, func(context.Context, *sqs.Message) error { return boom },
		f.opts(sqs.WithFailureStrategy(sqs.Stop), sqs.WithRetry(0, reliability.DefaultBackoff()))...)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(t.Context()) }()
	select {
	case err := <-done:
		if !errors.Is(err, boom) {
			t.Fatalf("Run = %v, want the handler's error", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not stop")
	}
	out, err := f.sqs.ReceiveMessage(t.Context(), &awssqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 1 {
		t.Fatalf("message not handed back: received %d", len(out.Messages))
	}
}

// TestQueueByNameMetricsAndReadiness: the queue can be given by name; the
// consumer becomes ready, counts processed messages, records durations and
// age, and reports the queue depth gauges.
func TestQueueByNameMetricsAndReadiness(t *testing.T) {
	f := newFixture(t)
	name := sqstest.UniqueName("named")
	url, _ := sqstest.CreateQueue(t, f.sqs, name, nil)
	send(t, f.sqs, url, "a", "b", "c")
	rec := &recorder{}
	c, err := sqs.New("consumer", name, recordingHandler(rec), f.opts(sqs.WithQueueDepthInterval(100*time.Millisecond))...)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Ready(t.Context()); err == nil {
		t.Fatal("ready before Run")
	}
	start(t, c)
	sqstest.WaitFor(t, 10*time.Second, "three messages handled", func() bool { return rec.count() == 3 })
	sqstest.WaitFor(t, 10*time.Second, "readiness", func() bool { return c.Ready(t.Context()) == nil })
	dest := semconv.MessagingDestinationName(name)
	if n := f.kit.Sum(t, observability.MetricConsumerMessages, dest, observability.OutcomeKey.String(observability.OutcomeProcessed.String())); n != 3 {
		t.Fatalf("processed %v, want 3", n)
	}
	if n := f.kit.Sum(t, "messaging.client.consumed.messages", dest); n != 3 {
		t.Fatalf("consumed %v, want 3", n)
	}
	if n := f.kit.Sum(t, "messaging.process.duration", dest); n != 3 {
		t.Fatalf("durations recorded %v, want 3", n)
	}
	if n := f.kit.Sum(t, observability.MetricMessageAge, dest); n != 3 {
		t.Fatalf("ages recorded %v, want 3", n)
	}
	sqstest.WaitFor(t, 10*time.Second, "the depth gauge to read an empty queue", func() bool {
		// hasPoint first: Sum fails the test when the gauge has not been
		// observed yet, which is what this loop waits for.
		return hasPoint(f, t, sqs.MetricQueueMessages, sqs.QueueStateKey.String("visible")) &&
			f.kit.Sum(t, sqs.MetricQueueMessages, dest, sqs.QueueStateKey.String("visible")) == 0
	})
	if c.Name() != "consumer" {
		t.Fatalf("Name %q", c.Name())
	}
}

func hasPoint(f *fixture, t *testing.T, metric string, attr attribute.KeyValue) bool {
	t.Helper()
	rm := f.kit.Collect(t)
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == metric {
				return fmt.Sprint(m.Data) != "" && containsAttr(m.Data, attr)
			}
		}
	}
	return false
}

func TestNewValidates(t *testing.T) {
	h := func(context.Context, *sqs.Message) error { return nil }
	client := sqstest.NewSQSClient("http://127.0.0.1:1")
	cases := map[string]struct {
		name, queue string
		h           sqs.Handler
		opts        []sqs.Option
	}{
		"empty name":        {"", "q", h, nil},
		"empty queue":       {"c", "", h, nil},
		"nil handler":       {"c", "q", nil, nil},
		"nil client":        {"c", "q", h, []sqs.Option{sqs.WithClient(nil)}},
		"zero workers":      {"c", "q", h, []sqs.Option{sqs.WithWorkers(0)}},
		"11 messages":       {"c", "q", h, []sqs.Option{sqs.WithMaxMessages(11)}},
		"wait 21s":          {"c", "q", h, []sqs.Option{sqs.WithWaitTime(21 * time.Second)}},
		"wait 1.5s":         {"c", "q", h, []sqs.Option{sqs.WithWaitTime(1500 * time.Millisecond)}},
		"visibility 0":      {"c", "q", h, []sqs.Option{sqs.WithVisibilityTimeout(0)}},
		"negative receives": {"c", "q", h, []sqs.Option{sqs.WithMaxReceives(-1)}},
		"bad strategy":      {"c", "q", h, []sqs.Option{sqs.WithFailureStrategy(7)}},
		"nil tracer":        {"c", "q", h, []sqs.Option{sqs.WithTracerProvider(nil)}},
		"nil meter":         {"c", "q", h, []sqs.Option{sqs.WithMeterProvider(nil)}},
		"nil propagator":    {"c", "q", h, []sqs.Option{sqs.WithPropagator(nil)}},
		"nil logger":        {"c", "q", h, []sqs.Option{sqs.WithLogger(nil)}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := sqs.New(tc.name, tc.queue, tc.h, append([]sqs.Option{sqs.WithClient(client)}, tc.opts...)...); err == nil {
				t.Fatal("New accepted bad configuration")
			}
		})
	}
}

// TestDeleteFailureReported: when SQS rejects the delete of a processed
// message (here the handler already deleted it, so its receipt handle is
// unknown), the failure is counted and logged, not lost silently, and the
// consumer goes on.
func TestDeleteFailureReported(t *testing.T) {
	f := newFixture(t)
	name := sqstest.UniqueName("delfail")
	url, _ := sqstest.CreateQueue(t, f.sqs, name, nil)
	send(t, f.sqs, url, "one", "two")
	var handled atomic.Int32
	h := func(ctx context.Context, msg *sqs.Message) error {
		handled.Add(1)
		if string(msg.Body) == "one" {
			_, err := f.sqs.DeleteMessage(ctx, &awssqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: msg.Raw.ReceiptHandle})
			return err
		}
		return nil
	}
	c, err := sqs.New("consumer", url, h, f.opts()...)
	if err != nil {
		t.Fatal(err)
	}
	start(t, c)
	sqstest.WaitFor(t, 10*time.Second, "the failed delete to be counted", func() bool {
		return hasSum(f, t, sqs.MetricDeleteFailed) && f.kit.Sum(t, sqs.MetricDeleteFailed, semconv.MessagingDestinationName(name)) == 1
	})
	sqstest.WaitFor(t, 10*time.Second, "the queue to be empty", func() bool { return sqstest.QueueDepth(t, f.sqs, url) == 0 })
	if n := handled.Load(); n != 2 {
		t.Fatalf("handled %d", n)
	}
}

func hasSum(f *fixture, t *testing.T, metric string) bool {
	t.Helper()
	for _, sm := range f.kit.Collect(t).ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == metric {
				return true
			}
		}
	}
	return false
}

// abandoningClient models a receive whose caller gave up: when the caller's
// context is cancelled, ReceiveMessage returns at once while the request
// goes on at the server, which may still hand it messages that nobody will
// see (they stay invisible until their visibility timeout). It signals
// started when the second receive begins.
type abandoningClient struct {
	*awssqs.Client
	calls   atomic.Int32
	started chan struct{}
	wg      sync.WaitGroup
}

func (a *abandoningClient) ReceiveMessage(ctx context.Context, in *awssqs.ReceiveMessageInput, optFns ...func(*awssqs.Options)) (*awssqs.ReceiveMessageOutput, error) {
	type result struct {
		out *awssqs.ReceiveMessageOutput
		err error
	}
	res := make(chan result, 1)
	a.wg.Go(func() {
		out, err := a.Client.ReceiveMessage(context.WithoutCancel(ctx), in, optFns...)
		res <- result{out, err}
	})
	if a.calls.Add(1) == 2 {
		close(a.started)
	}
	select {
	case r := <-res:
		return r.out, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// TestStopHandsBackWhatAReceiveInFlightGets: when the Stop strategy
// triggers while a long poll is in flight, the poll is not abandoned (which
// would let the server give it the message the failing handler just made
// visible, and lose it until its visibility timeout): it finishes, and what
// it brought is made visible again at once.
func TestStopHandsBackWhatAReceiveInFlightGets(t *testing.T) {
	f := newFixture(t)
	url, _ := sqstest.CreateQueue(t, f.sqs, sqstest.UniqueName("stopinflight"), nil)
	send(t, f.sqs, url, "bad")
	client := &abandoningClient{Client: f.sqs, started: make(chan struct{})}
	t.Cleanup(client.wg.Wait)
	boom := errors.New("boom")
	h := func(context.Context, *sqs.Message) error {
		select {
		case <-client.started:
		case <-time.After(10 * time.Second):
		}
		return boom
	}
	c, err := sqs.New("consumer", url, h, sqs.WithClient(client), sqs.WithWaitTime(2*time.Second),
		sqs.WithQueueDepthInterval(0), sqs.WithFailureStrategy(sqs.Stop), sqs.WithRetry(0, reliability.DefaultBackoff()),
		sqs.WithTracerProvider(f.kit.TracerProvider), sqs.WithMeterProvider(f.kit.MeterProvider))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Run(t.Context()); !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want the handler's error", err)
	}
	out, err := f.sqs.ReceiveMessage(t.Context(), &awssqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 1 {
		t.Fatalf("message not handed back: received %d", len(out.Messages))
	}
}
