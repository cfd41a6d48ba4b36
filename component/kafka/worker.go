package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/patron-go/patron/internal/consume"
	"github.com/patron-go/patron/internal/kafkaheader"
	"github.com/patron-go/patron/observability"
	patronlog "github.com/patron-go/patron/observability/log"
)

// errStopped means the partition was revoked or the component is stopping
// while a message waited for a retry: it is left uncommitted.
var errStopped = errors.New("kafka: partition worker stopped")

// maxErrorHeader bounds the error text copied into a dead-letter header.
const maxErrorHeader = 1024

// worker handles the records of one partition, in order, on its own
// goroutine. The poll loop appends to its queue and never waits for it.
type worker struct {
	c  *Component
	cl *kgo.Client
	tp topicPartition

	ctx    context.Context // handlers' context; cancelled after the drain timeout
	cancel context.CancelFunc
	stop   chan struct{} // closed to stop taking records and retrying
	once   sync.Once
	done   chan struct{}
	wake   chan struct{}

	mu    sync.Mutex
	queue []*kgo.Record
	full  bool // counted in Component.full

	hwm  atomic.Int64 // high watermark of the last fetch
	next atomic.Int64 // offset after the last handled record

	// unmarked is the last handled record not yet marked for commit:
	// marking takes the client's group lock, so it happens once per chunk
	// of records and always before the worker returns (commits on
	// revocation and shutdown run after that).
	unmarked *kgo.Record

	partitionID string
	pipe        *consume.Pipeline
	spans       *observability.ConsumerSpans
	// A record's span starts with the attributes a sampler may need (the
	// semconv messaging attributes marked for sampling: system,
	// destination, operation, consumer group), attrs[:nStart] in lean;
	// the partition and the per-record attributes (offset, body size and
	// key, the last three slots, overwritten per record) are set once the
	// span is known to record, so an unsampled record copies none of
	// them. While spans record (recorded: the last one did), they are
	// given at the start instead (withKey, noKey), which spares the SDK a
	// second lock and a second growth of the span's attributes. The SDK
	// copies the attributes before Start returns, so no record allocates
	// options.
	attrs                []attribute.KeyValue
	nStart               int
	lean, withKey, noKey []trace.SpanStartOption
	recorded             bool
	dm                   *observability.DestinationMetrics
	lagAttrs             metric.MeasurementOption
}

func newWorker(c *Component, cl *kgo.Client, tp topicPartition) *worker {
	ctx, cancel := context.WithCancel(c.baseCtx)
	w := &worker{
		c: c, cl: cl, tp: tp, ctx: ctx, cancel: cancel,
		stop: make(chan struct{}), done: make(chan struct{}), wake: make(chan struct{}, 1),
		partitionID: strconv.Itoa(int(tp.partition)),
	}
	w.hwm.Store(-1)
	w.next.Store(-1)
	w.dm = c.metrics.Destination(tp.topic, semconv.MessagingConsumerGroupName(c.group))
	w.pipe = consume.New(consume.Spec{
		Pkg: "kafka", System: semconv.MessagingSystemKafka, Destination: tp.topic,
		Attrs: []attribute.KeyValue{
			semconv.MessagingConsumerGroupName(c.group),
			semconv.MessagingDestinationPartitionID(w.partitionID),
		},
		Tracer: c.tracer, Prop: c.prop, Metrics: w.dm, Config: c.cfg.delivery,
	})
	w.spans = w.pipe.Spans()
	partition := semconv.MessagingDestinationPartitionID(w.partitionID)
	for _, a := range w.spans.Attributes() {
		if a.Key != partition.Key {
			w.attrs = append(w.attrs, a)
		}
	}
	w.nStart = len(w.attrs)
	w.attrs = append(w.attrs, partition, attribute.KeyValue{}, attribute.KeyValue{}, attribute.KeyValue{})
	kind := trace.WithSpanKind(trace.SpanKindConsumer)
	w.lean = []trace.SpanStartOption{kind, trace.WithAttributes(w.attrs[:w.nStart]...)}
	w.withKey = []trace.SpanStartOption{kind, trace.WithAttributes(w.attrs...)}
	w.noKey = []trace.SpanStartOption{kind, trace.WithAttributes(w.attrs[:len(w.attrs)-1]...)}
	w.lagAttrs = metric.WithAttributeSet(attribute.NewSet(semconv.MessagingSystemKafka,
		semconv.MessagingDestinationName(tp.topic),
		semconv.MessagingConsumerGroupName(c.group),
		semconv.MessagingDestinationPartitionID(w.partitionID)))
	return w
}

func (w *worker) enqueue(recs []*kgo.Record) {
	w.mu.Lock()
	if w.next.Load() < 0 {
		w.next.Store(recs[0].Offset)
	}
	w.queue = append(w.queue, recs...)
	if !w.full && len(w.queue) >= w.c.cfg.queueSize {
		w.full = true
		w.c.full.Add(1)
	}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// take appends up to n queued records to buf.
func (w *worker) take(n int, buf []*kgo.Record) []*kgo.Record {
	w.mu.Lock()
	defer w.mu.Unlock()
	n = min(n, len(w.queue))
	buf = append(buf, w.queue[:n]...)
	clear(w.queue[:n])
	w.queue = w.queue[n:]
	if w.full && len(w.queue) <= w.c.cfg.queueSize/2 {
		w.release()
	}
	return buf
}

// release stops counting w as full and wakes the poll loop; w.mu is held.
func (w *worker) release() {
	w.full = false
	w.c.full.Add(-1)
	select {
	case w.c.room <- struct{}{}:
	default:
	}
}

func (w *worker) stopSoft() { w.once.Do(func() { close(w.stop) }) }

func (w *worker) stopped() bool {
	select {
	case <-w.stop:
		return true
	default:
		return false
	}
}

func (w *worker) run() {
	defer close(w.done)
	defer w.cancel()
	defer w.flushMark()
	if w.c.cfg.batch != nil {
		w.runBatch()
		return
	}
	buf := make([]*kgo.Record, 0, 64)
	for {
		buf = w.take(cap(buf), buf[:0])
		if len(buf) == 0 {
			w.flushMark()
			select {
			case <-w.wake:
				continue
			case <-w.stop:
				return
			}
		}
		// One allocation for the chunk's messages rather than one per
		// record; a fresh chunk each time, since a handler may keep its
		// *Message.
		msgs := make([]Message, len(buf))
		for i, rec := range buf {
			// Records taken but not started are dropped on a stop: they
			// are not committed, so the next owner gets them.
			if w.stopped() {
				clear(buf)
				return
			}
			msgs[i].set(rec)
			if !w.handleOne(rec, &msgs[i]) {
				clear(buf)
				return
			}
			buf[i] = nil
		}
		w.flushMark()
	}
}

func (w *worker) runBatch() {
	size, timeout := w.c.cfg.batchSize, w.c.cfg.batchTimeout
	batch := make([]*kgo.Record, 0, size)
	var (
		timer  *time.Timer
		timerC <-chan time.Time
	)
	stopTimer := func() {
		if timer != nil {
			timer.Stop()
			timer, timerC = nil, nil
		}
	}
	defer stopTimer()
	flush := func() bool {
		stopTimer()
		ok := w.handleBatch(batch)
		w.flushMark()
		clear(batch)
		batch = batch[:0]
		return ok
	}
	for {
		if w.stopped() {
			return
		}
		batch = w.take(size-len(batch), batch)
		if len(batch) >= size {
			if !flush() {
				return
			}
			continue
		}
		if len(batch) > 0 && timerC == nil {
			// The timeout runs from the batch's first message, so a
			// partial batch on an idle topic is handled too.
			timer = time.NewTimer(timeout)
			timerC = timer.C
		}
		select {
		case <-w.wake:
		case <-timerC:
			timer, timerC = nil, nil
			if !flush() {
				return
			}
		case <-w.stop:
			return
		}
	}
}

// startSpan starts rec's CONSUMER span (see worker.attrs for which
// attributes are given at the start).
func (w *worker) startSpan(rec *kgo.Record) (context.Context, trace.Span) {
	n := len(w.attrs)
	w.attrs[n-3] = semconv.MessagingKafkaOffset(int(rec.Offset))
	w.attrs[n-2] = semconv.MessagingMessageBodySize(len(rec.Value))
	hasKey := len(rec.Key) > 0 && utf8.Valid(rec.Key)
	opts, full := w.lean, w.recorded
	if full {
		opts = w.noKey
		if hasKey {
			w.attrs[n-1] = semconv.MessagingKafkaMessageKey(string(rec.Key))
			opts = w.withKey
		}
	}
	carrier := kafkaheader.ExtractCarrier{Carrier: kafkaheader.Carrier{Headers: &rec.Headers}}
	ctx, span := w.spans.StartWithOptions(w.ctx, carrier, opts)
	w.recorded = span.IsRecording()
	if w.recorded && !full {
		rest := w.attrs[w.nStart : n-1]
		if hasKey {
			w.attrs[n-1] = semconv.MessagingKafkaMessageKey(string(rec.Key))
			rest = w.attrs[w.nStart:]
		}
		span.SetAttributes(rest...)
	}
	w.attrs[n-1] = attribute.KeyValue{} // the buffer keeps no key alive
	return ctx, span
}

// handleOne processes rec, whose Message is msg; false stops the worker.
func (w *worker) handleOne(rec *kgo.Record, msg *Message) bool {
	ctx, span := w.startSpan(rec)
	defer span.End()
	now := observability.SpanStartTime(span)
	w.dm.Age(ctx, rec.Timestamp, now)
	tries, err := w.attempts(ctx, span, 1, now, msg, nil)
	switch {
	case err == nil:
		w.mark(rec)
		return true
	case errors.Is(err, errStopped):
		return false
	}
	return w.dispose(ctx, span, []*kgo.Record{rec}, tries, err)
}

func (w *worker) handleBatch(recs []*kgo.Record) bool {
	if len(recs) == 0 {
		return true
	}
	msgs := make([]*Message, len(recs))
	carriers := make([]propagation.TextMapCarrier, len(recs))
	now := time.Now()
	for i, r := range recs {
		msgs[i] = newMessage(r)
		carriers[i] = HeaderCarrier{Headers: &r.Headers}
		w.dm.Age(w.ctx, r.Timestamp, now)
	}
	ctx, span := w.pipe.StartBatch(w.ctx, carriers)
	defer span.End()
	tries, err := w.attempts(ctx, span, len(recs), now, nil, msgs)
	switch {
	case err == nil:
		w.mark(recs[len(recs)-1])
		return true
	case errors.Is(err, errStopped):
		return false
	}
	return w.dispose(ctx, span, recs, tries, err)
}

// attempts calls the handler with msg (or the batch handler with msgs) until
// it succeeds or the pipeline says to stop retrying; n is the number of
// messages, for the counters, and start the time of the first attempt. It
// returns how many tries were made and the last error, errStopped when the
// worker was stopped before the handler succeeded.
func (w *worker) attempts(ctx context.Context, span trace.Span, n int, start time.Time, msg *Message, msgs []*Message) (int, error) {
	for attempt := 1; ; attempt++ {
		if attempt > 1 {
			start = time.Now()
		}
		err := w.call(ctx, span, n, attempt, start, msg, msgs)
		if err == nil {
			w.pipe.Processed(ctx, n)
			return attempt, nil
		}
		if errors.Is(err, errStopped) {
			return attempt, err
		}
		// A failure while stopping may be the stop itself (a cancelled
		// context): the message is not disposed of, but redelivered.
		if w.stopped() {
			return attempt, errStopped
		}
		if w.pipe.Next(attempt, err) != consume.ActionRetry {
			return attempt, err
		}
		if !w.sleep(attempt - 1) {
			return attempt, errStopped
		}
		w.pipe.Retried(ctx, n)
	}
}

// call runs the handler once, within the concurrency bound, through the
// pipeline (which turns a panic into an error and records the attempt).
func (w *worker) call(ctx context.Context, span trace.Span, n, attempt int, start time.Time, msg *Message, msgs []*Message) error {
	if sem := w.c.sem; sem != nil {
		select {
		case sem <- struct{}{}:
			defer func() { <-sem }()
		case <-w.stop:
			return errStopped
		case <-w.ctx.Done():
			return errStopped
		}
		// Waiting for a slot is not handling time.
		start = time.Now()
	}
	return w.pipe.Call(ctx, span, n, attempt, start, func() error {
		if msgs != nil {
			return w.c.cfg.batch(ctx, msgs)
		}
		return w.c.handler(ctx, msg)
	})
}

func (w *worker) sleep(attempt int) bool {
	t := time.NewTimer(w.c.cfg.delivery.Backoff.Delay(attempt))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-w.stop:
		return false
	case <-w.ctx.Done():
		return false
	}
}

func (w *worker) mark(last *kgo.Record) {
	w.unmarked = last
	w.next.Store(last.Offset + 1)
}

func (w *worker) flushMark() {
	if w.unmarked != nil {
		w.cl.MarkCommitRecords(w.unmarked)
		w.unmarked = nil
	}
}

// dispose applies the failure strategy to recs, whose handler failed with
// err on its tries-th try; false stops the worker.
func (w *worker) dispose(ctx context.Context, span trace.Span, recs []*kgo.Record, tries int, err error) bool {
	c := w.c
	observability.RecordError(span, err)
	logger := patronlog.FromContext(ctx)
	first, last := recs[0], recs[len(recs)-1]
	where := []any{"topic", first.Topic, "partition", first.Partition, "offset", first.Offset,
		"messages", len(recs), "attempts", tries}
	switch c.cfg.delivery.Strategy {
	case Stop:
		logger.ErrorContext(ctx, "kafka message failed; stopping the consumer", append(where, "error", err)...)
		c.stopWith(fmt.Errorf("kafka: %s: message %s/%d@%d failed after %d attempts: %w",
			c.name, first.Topic, first.Partition, first.Offset, tries, err))
		return false
	case DeadLetter:
		for attempt := 0; ; attempt++ {
			derr := w.deadLetter(ctx, recs, err)
			if derr == nil {
				w.pipe.DeadLettered(ctx, len(recs), err, append(where, "dead_letter_topic", c.cfg.dlTopic)...)
				w.mark(last)
				return true
			}
			logger.ErrorContext(ctx, "kafka dead-lettering failed; retrying", append(where, "error", err, "dead_letter_error", derr)...)
			if !w.sleep(attempt) {
				return false
			}
		}
	default:
		w.pipe.Skipped(ctx, len(recs), err, where...)
		w.mark(last)
		return true
	}
}

func (w *worker) deadLetter(ctx context.Context, recs []*kgo.Record, herr error) error {
	c := w.c
	topic := c.cfg.dlTopic
	msg := herr.Error()
	if len(msg) > maxErrorHeader {
		msg = msg[:maxErrorHeader]
		for !utf8.ValidString(msg) {
			msg = msg[:len(msg)-1]
		}
	}
	outs := make([]*kgo.Record, len(recs))
	spans := make([]trace.Span, len(recs))
	for i, r := range recs {
		headers := make([]kgo.RecordHeader, len(r.Headers), len(r.Headers)+8)
		copy(headers, r.Headers)
		carrier := HeaderCarrier{Headers: &headers}
		carrier.Set(DeadLetterErrorHeader, msg)
		carrier.Set(DeadLetterTopicHeader, r.Topic)
		carrier.Set(DeadLetterPartitionHeader, strconv.Itoa(int(r.Partition)))
		carrier.Set(DeadLetterOffsetHeader, strconv.FormatInt(r.Offset, 10))
		carrier.Set(DeadLetterGroupHeader, c.group)
		// The dead-letter publish continues the failed message's trace:
		// its context replaces the original one in the headers.
		_, spans[i] = observability.StartProducerSpan(ctx, c.tracer, c.prop, carrier, semconv.MessagingSystemKafka, topic,
			semconv.MessagingMessageBodySize(len(r.Value)))
		outs[i] = &kgo.Record{Topic: topic, Key: r.Key, Value: r.Value, Headers: headers, Timestamp: r.Timestamp}
	}
	results := w.cl.ProduceSync(w.ctx, outs...)
	var errs []error
	for i, res := range results {
		if res.Err != nil {
			observability.RecordError(spans[i], res.Err)
			errs = append(errs, res.Err)
		}
		spans[i].End()
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("kafka: producing to dead-letter topic %q: %w", topic, err)
	}
	return nil
}
