package sqs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/patron-go/patron/internal/awsattr"
	"github.com/patron-go/patron/internal/consume"
	"github.com/patron-go/patron/observability"
	patronlog "github.com/patron-go/patron/observability/log"
	"github.com/patron-go/patron/reliability"
)

// callTimeout bounds the calls made while draining (deletes, visibility
// changes), which run on a context that shutdown does not cancel.
const callTimeout = 10 * time.Second

// emptyBackoff spaces receives that came back empty before the long-poll
// wait was over (short polling, or a server that ignores the wait), so an
// empty queue never turns into a hot loop.
var emptyBackoff = reliability.Backoff{Initial: 200 * time.Millisecond, Max: 5 * time.Second, Multiplier: 2}

// runner is the state of one Run.
type runner struct {
	c      *Component
	url    string
	logger *slog.Logger
	// base is the parent of every message's context: Run's context without
	// its cancellation. Each message starts from it, never from another
	// message's context, so no trace or correlation ID leaks between them.
	base       context.Context
	cancelBase context.CancelFunc
	pipe       *consume.Pipeline

	tokens chan struct{} // one per free worker
	wg     sync.WaitGroup

	mu       sync.Mutex
	inflight map[*inflight]struct{}

	stopOnce sync.Once
	stopCh   chan struct{}
	stopErr  error

	deletes chan *inflight
	batches chan received // nil without WithBatch
}

// inflight is a message held by this consumer: received, not yet deleted or
// released. mu serialises the heartbeat's extensions with the final
// visibility change, so an extension never overrides a backoff.
type inflight struct {
	mu       sync.Mutex
	receipt  string
	deadline time.Time
	done     bool

	ctx  context.Context // the message's context, for logs
	id   string
	left int // delete attempts left
}

func newRunner(c *Component, ctx context.Context, url string, logger *slog.Logger, strategy FailureStrategy) *runner {
	delivery := c.cfg.delivery
	delivery.Strategy = strategy
	// Handlers outlive ctx by the drain timeout at most.
	base, cancelBase := consume.HandlerContext(patronlog.WithContext(ctx, logger), delivery.DrainTimeout)
	r := &runner{
		c:          c,
		url:        url,
		logger:     logger,
		base:       base,
		cancelBase: cancelBase,
		pipe: consume.New(consume.Spec{
			Pkg: "sqs", System: semconv.MessagingSystemAWSSQS, Destination: c.queueName,
			Tracer: c.tracer, Prop: c.prop, Metrics: c.metrics.DestinationMetrics, Config: delivery,
		}),
		tokens:   make(chan struct{}, c.cfg.workers),
		inflight: make(map[*inflight]struct{}),
		stopCh:   make(chan struct{}),
		deletes:  make(chan *inflight, c.cfg.workers),
	}
	for range c.cfg.workers {
		r.tokens <- struct{}{}
	}
	if c.cfg.batch != nil {
		r.batches = make(chan received, c.cfg.workers)
	}
	return r
}

func (r *runner) run(ctx context.Context) error {
	// The helpers outlive ctx: in-flight messages still need extending and
	// deleting while they drain.
	helpers, stopHelpers := context.WithCancel(context.WithoutCancel(ctx))
	var helpersWG sync.WaitGroup
	helpersWG.Add(2)
	go func() { defer helpersWG.Done(); r.heartbeat(helpers) }()
	go func() { defer helpersWG.Done(); r.c.pollDepth(helpers, r.url, r.logger) }()
	deleterDone := make(chan struct{})
	go func() { defer close(deleterDone); r.deleter() }()

	// The Stop strategy ends the waits between receives but never cancels
	// a receive in flight: a cancelled long poll can still take messages on
	// the server (the one the failing handler just made visible, say) and
	// lose the response, leaving them invisible until their visibility
	// timeout. Instead the receive finishes and process hands what it
	// brought back at once. Shutdown (ctx) does cancel it, so that Run
	// returns promptly; the messages such a cancelled poll took come back
	// after their visibility timeout.
	waits, stopWaits := context.WithCancel(ctx)
	defer stopWaits()
	go func() {
		select {
		case <-r.stopCh:
			stopWaits()
		case <-waits.Done():
		}
	}()
	batcherDone := make(chan struct{})
	if r.batches != nil {
		go func() { defer close(batcherDone); r.batcher() }()
	} else {
		close(batcherDone)
	}
	r.receiveLoop(ctx, waits)
	stopWaits()
	if r.batches != nil {
		close(r.batches)
	}
	<-batcherDone

	r.wg.Wait()
	r.cancelBase()
	close(r.deletes)
	<-deleterDone
	stopHelpers()
	helpersWG.Wait()
	r.logger.InfoContext(ctx, "sqs consumer stopped")
	return r.stopErr
}

// receiveLoop receives until ctx (which cancels a receive in flight) or
// waits (which ends only the waits between receives) is done.
func (r *runner) receiveLoop(ctx, waits context.Context) {
	cfg := r.c.cfg
	errAttempt, emptyAttempt := 0, 0
	for {
		// Receive only for free workers, so no message waits unprocessed
		// while its visibility runs out.
		select {
		case <-r.tokens:
		case <-waits.Done():
			return
		}
		n := r.grabTokens(waits)
		if waits.Err() != nil {
			r.release(n)
			return
		}
		start := time.Now()
		out, err := r.c.client.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(r.url),
			MaxNumberOfMessages:         int32(n),
			WaitTimeSeconds:             int32(cfg.wait / time.Second),
			VisibilityTimeout:           int32(cfg.visibility / time.Second),
			MessageAttributeNames:       []string{"All"},
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		})
		if err != nil {
			r.release(n)
			if waits.Err() != nil {
				return
			}
			err = fmt.Errorf("sqs: receiving from %s: %w", r.c.queueName, err)
			r.c.setReady(err)
			r.logger.WarnContext(ctx, "receive failed, backing off", slog.Any("error", err), slog.Int("attempt", errAttempt+1))
			if cfg.errBackoff.Sleep(waits, errAttempt) != nil {
				return
			}
			errAttempt++
			continue
		}
		errAttempt = 0
		r.c.setReady(nil)
		r.release(n - len(out.Messages))
		if len(out.Messages) == 0 {
			if time.Since(start) < cfg.wait/2 || cfg.wait == 0 {
				if emptyBackoff.Sleep(waits, emptyAttempt) != nil {
					return
				}
				emptyAttempt++
			}
			continue
		}
		emptyAttempt = 0
		for _, m := range out.Messages {
			r.dispatch(m)
		}
	}
}

// receiveLinger is how long the receive loop waits for more workers to free
// up before it receives for fewer messages than it could take: under load,
// workers free up one at a time, and receiving at once for each would make
// many small receives (each a request SQS bills and a round trip) instead of
// a few full ones.
const receiveLinger = 5 * time.Millisecond

// grabTokens takes the free workers' tokens, the caller holding one
// already, waiting at most receiveLinger for more while workers are busy,
// and returns how many the caller now holds.
func (r *runner) grabTokens(waits context.Context) int {
	want := min(r.c.cfg.maxMessages, r.c.cfg.workers)
	n := 1
grab:
	for n < want {
		select {
		case <-r.tokens:
			n++
		default:
			break grab
		}
	}
	if n == want {
		return n
	}
	linger := time.NewTimer(receiveLinger)
	defer linger.Stop()
	for n < want {
		select {
		case <-r.tokens:
			n++
		case <-linger.C:
			return n
		case <-waits.Done():
			return n
		}
	}
	return n
}

func (r *runner) release(n int) {
	for range n {
		r.tokens <- struct{}{}
	}
}

func (r *runner) dispatch(m types.Message) {
	e := &inflight{
		receipt:  aws.ToString(m.ReceiptHandle),
		deadline: time.Now().Add(r.c.cfg.visibility),
		id:       aws.ToString(m.MessageId),
		ctx:      r.base,
	}
	r.mu.Lock()
	r.inflight[e] = struct{}{}
	r.mu.Unlock()
	if r.batches != nil {
		r.batches <- received{m, e}
		return
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer r.release(1)
		r.process(m, e)
	}()
}

// received is a message on its way to a batch.
type received struct {
	m types.Message
	e *inflight
}

// batcher gathers received messages into batches of up to the batch size,
// or what arrived within the batch's max wait of its first message, and
// hands each to its own goroutine. It returns once batches is closed, after
// handing over what it holds.
func (r *runner) batcher() {
	size, maxWait := r.c.cfg.batchSize, r.c.cfg.batchWait
	var (
		batch  []received
		timer  *time.Timer
		timerC <-chan time.Time
	)
	flush := func() {
		if timer != nil {
			timer.Stop()
			timer, timerC = nil, nil
		}
		if len(batch) == 0 {
			return
		}
		b := batch
		batch = nil
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			defer r.release(len(b))
			r.processBatch(b)
		}()
	}
	for {
		select {
		case m, ok := <-r.batches:
			if !ok {
				flush()
				return
			}
			batch = append(batch, m)
			if len(batch) == 1 {
				timer = time.NewTimer(maxWait)
				timerC = timer.C
			}
			if len(batch) >= size {
				flush()
			}
		case <-timerC:
			timer, timerC = nil, nil
			flush()
		}
	}
}

// processBatch hands b to the batch handler under one CONSUMER span linked
// to every message's context; a failure applies the retries and the
// failure strategy to each message.
func (r *runner) processBatch(b []received) {
	c := r.c
	if r.stopping() {
		for _, x := range b {
			r.settle(x.e, 0)
		}
		return
	}
	start := time.Now()
	msgs := make([]*Message, len(b))
	carriers := make([]propagation.TextMapCarrier, len(b))
	attempt := 1
	for i, x := range b {
		msgs[i] = newMessage(x.m, c.queueName)
		carriers[i] = messageCarrier(msgs[i])
		attempt = max(attempt, msgs[i].ReceiveCount)
	}
	ctx, span := r.pipe.StartBatch(r.base, carriers)
	defer span.End()
	for i, x := range b {
		r.pipe.Received(ctx, 1, msgs[i].SentAt, start)
		x.e.mu.Lock()
		x.e.ctx = ctx
		x.e.mu.Unlock()
	}
	err := r.pipe.Call(ctx, span, len(b), attempt, start, func() error { return c.cfg.batch(ctx, msgs) })
	if err == nil {
		r.pipe.Processed(ctx, len(b))
		for _, x := range b {
			r.deletes <- x.e
		}
		return
	}
	observability.RecordError(span, err)
	for i, x := range b {
		r.dispose(ctx, x.e, msgs[i], err)
	}
}

func (r *runner) stopping() bool {
	select {
	case <-r.stopCh:
		return true
	default:
		return false
	}
}

func (r *runner) process(m types.Message, e *inflight) {
	c := r.c
	if r.stopping() {
		// Stop was triggered after this message was received: hand it
		// back untouched.
		r.settle(e, 0)
		return
	}
	msg := newMessage(m, c.queueName)
	start := time.Now()
	ctx, span := r.pipe.Start(r.base, messageCarrier(msg), msg.SentAt, start)
	defer span.End()
	if span.IsRecording() {
		span.SetAttributes(c.spanAttrs(msg, r.url)...)
	}
	e.mu.Lock()
	e.ctx = ctx
	e.mu.Unlock()
	err := r.pipe.Call(ctx, span, 1, msg.ReceiveCount, start, func() error { return c.handler(ctx, msg) })
	if err == nil {
		r.pipe.Processed(ctx, 1)
		r.deletes <- e
		return
	}
	observability.RecordError(span, err)
	r.dispose(ctx, e, msg, err)
}

// dispose retries msg, whose handler failed with err, or applies the
// failure strategy once the pipeline says retrying is over.
func (r *runner) dispose(ctx context.Context, e *inflight, msg *Message, err error) {
	c := r.c
	logger := patronlog.FromContext(ctx)
	where := []any{slog.String("message_id", msg.ID), slog.Int("receive_count", msg.ReceiveCount)}
	switch r.pipe.Next(msg.ReceiveCount, err) {
	case consume.ActionStop:
		logger.ErrorContext(ctx, "handler failed, stopping the consumer", append(where, slog.Any("error", err))...)
		r.stop(fmt.Errorf("sqs: handler failed on message %s of %s: %w", msg.ID, c.queueName, err))
		r.settle(e, 0)
		r.pipe.Requeued(ctx, 1)
	case consume.ActionDeadLetter:
		// The redrive policy moves it once its receive count passes
		// maxReceiveCount; until then it comes back after its visibility
		// timeout.
		r.forget(e)
		r.pipe.DeadLettered(ctx, 1, err, where...)
	case consume.ActionSkip:
		r.pipe.Skipped(ctx, 1, err, where...)
		r.deletes <- e
	default:
		delay := redeliveryDelay(r.pipe.Config().Backoff, msg.ReceiveCount)
		logger.WarnContext(ctx, "handler failed, message comes back after a delay",
			append(where, slog.Duration("delay", delay), slog.Any("error", err))...)
		r.settle(e, delay)
		r.pipe.Requeued(ctx, 1)
	}
}

// messageCarrier is the one place that turns a message into the carrier its
// trace context and correlation ID are read from: its String and Number
// attributes (SNS envelope included), with the packed propagation
// attribute that the publishers may write read through awsattr.
func messageCarrier(msg *Message) propagation.TextMapCarrier {
	return awsattr.Carrier(msg.Attributes)
}

func (r *runner) stop(err error) {
	r.stopOnce.Do(func() {
		r.stopErr = err
		close(r.stopCh)
	})
}

// redeliveryDelay is the backoff for a message that failed on its
// receiveCount-th delivery, in whole seconds as SQS wants them, 1s to 12h.
func redeliveryDelay(b reliability.Backoff, receiveCount int) time.Duration {
	d := b.Delay(max(receiveCount-1, 0))
	secs := math.Ceil(d.Seconds())
	return time.Duration(min(max(secs, 1), 12*3600)) * time.Second
}

// forget stops extending e and leaves it to its visibility timeout.
func (r *runner) forget(e *inflight) {
	e.mu.Lock()
	e.done = true
	e.mu.Unlock()
	r.mu.Lock()
	delete(r.inflight, e)
	r.mu.Unlock()
}

// settle stops extending e and makes it visible again after delay.
func (r *runner) settle(e *inflight, delay time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.done = true
	r.mu.Lock()
	delete(r.inflight, e)
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(e.ctx), callTimeout)
	defer cancel()
	_, err := r.c.client.ChangeMessageVisibility(ctx, &awssqs.ChangeMessageVisibilityInput{
		QueueUrl:          aws.String(r.url),
		ReceiptHandle:     aws.String(e.receipt),
		VisibilityTimeout: int32(delay / time.Second),
	})
	if err != nil {
		patronlog.FromContext(e.ctx).WarnContext(e.ctx, "cannot change message visibility; it comes back after its visibility timeout",
			slog.String("message_id", e.id), slog.Any("error", err))
	}
}

// heartbeat extends the visibility of messages in flight before it runs
// out, so a slow handler does not see its message delivered again.
func (r *runner) heartbeat(ctx context.Context) {
	vis := r.c.cfg.visibility
	t := time.NewTicker(vis / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.mu.Lock()
		due := make([]*inflight, 0, len(r.inflight))
		for e := range r.inflight {
			due = append(due, e)
		}
		r.mu.Unlock()
		for _, e := range due {
			r.extend(ctx, e, vis)
		}
	}
}

func (r *runner) extend(ctx context.Context, e *inflight, vis time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.done || time.Until(e.deadline) > vis/2 {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	_, err := r.c.client.ChangeMessageVisibility(cctx, &awssqs.ChangeMessageVisibilityInput{
		QueueUrl:          aws.String(r.url),
		ReceiptHandle:     aws.String(e.receipt),
		VisibilityTimeout: int32(vis / time.Second),
	})
	if err != nil {
		if ctx.Err() == nil {
			patronlog.FromContext(e.ctx).WarnContext(e.ctx, "cannot extend message visibility; it may be delivered again",
				slog.String("message_id", e.id), slog.Any("error", err))
		}
		return
	}
	e.deadline = time.Now().Add(vis)
}

// deleteLinger is how long the deleter waits for more processed messages
// before it sends a batch that is not full: a few milliseconds of delay on
// the delete (the message stays invisible meanwhile) buys up to ten times
// fewer DeleteMessageBatch calls under load.
const deleteLinger = 5 * time.Millisecond

// deleter deletes processed messages with DeleteMessageBatch, up to ten per
// call, waiting at most deleteLinger for a batch to fill. Entries that fail are retried, then
// reported; SQS delivers them again after their visibility timeout.
func (r *runner) deleter() {
	const attempts = 3
	var retry []*inflight
	for {
		batch := retry
		if len(batch) == 0 {
			e, ok := <-r.deletes
			if !ok {
				return
			}
			e.left = attempts
			batch = append(batch, e)
		}
		linger := time.NewTimer(deleteLinger)
	fill:
		for len(batch) < 10 {
			select {
			case e, ok := <-r.deletes:
				if !ok {
					break fill
				}
				e.left = attempts
				batch = append(batch, e)
			case <-linger.C:
				break fill
			}
		}
		linger.Stop()
		retry = r.deleteBatch(batch)
		if len(retry) > 0 {
			// A short pause before retrying; SQS's own throttling errors
			// are already retried by the SDK.
			time.Sleep(emptyBackoff.Delay(attempts - retry[0].left))
		}
	}
}

// deleteBatch deletes batch and returns the entries to try again.
func (r *runner) deleteBatch(batch []*inflight) []*inflight {
	entries := make([]types.DeleteMessageBatchRequestEntry, len(batch))
	for i, e := range batch {
		entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(e.receipt)}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.base), callTimeout)
	defer cancel()
	out, err := r.c.client.DeleteMessageBatch(ctx, &awssqs.DeleteMessageBatchInput{QueueUrl: aws.String(r.url), Entries: entries})
	// Most batches succeed entirely: the map of failures is made only
	// when there are some.
	var failed map[int]error
	if err != nil {
		failed = make(map[int]error, len(batch))
		for i := range batch {
			failed[i] = err
		}
	} else if len(out.Failed) > 0 {
		failed = make(map[int]error, len(out.Failed))
		for _, f := range out.Failed {
			i, serr := strconv.Atoi(aws.ToString(f.Id))
			if serr != nil || i < 0 || i >= len(batch) {
				continue
			}
			ferr := fmt.Errorf("%s: %s", aws.ToString(f.Code), aws.ToString(f.Message))
			if f.SenderFault {
				// The receipt handle is wrong or expired: trying again
				// cannot help.
				ferr = reliability.Permanent(ferr)
			}
			failed[i] = ferr
		}
	}
	var retry []*inflight
	for i, e := range batch {
		ferr, bad := failed[i]
		if !bad {
			r.forget(e)
			continue
		}
		e.left--
		if e.left > 0 && !errors.Is(ferr, reliability.ErrPermanent) {
			retry = append(retry, e)
			continue
		}
		r.forget(e)
		r.c.metrics.deleteFailed(e.ctx, ferr)
		patronlog.FromContext(e.ctx).ErrorContext(e.ctx, "cannot delete a processed message; it will be delivered again",
			slog.String("message_id", e.id), slog.Any("error", ferr))
	}
	return retry
}
