// Package kafka is a traced Kafka producer built on franz-go: every message
// gets a PRODUCER span "publish <topic>" whose context (with every configured
// propagator) and the correlation ID travel in the record headers, so that
// the consumer's span continues the producer's trace.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/patron-go/patron/encoding"
	"github.com/patron-go/patron/observability"
)

const scope = observability.ModulePath + "/client/kafka"

// ContentTypeHeader is the record header that names the encoding of the
// value; the Patron consumer's Message.Decode reads it.
const ContentTypeHeader = "Content-Type"

// ErrClosed is returned by Send and SendAsync after Close, and is the error
// (wrapping kgo.ErrClientClosed) of the records still buffered when Close
// gave up waiting for them. Its error.type is "client_closed".
var ErrClosed = observability.NewError("client_closed", "kafka: producer closed")

// Message is a record to produce. Partition and Offset are set once the
// broker acknowledged it.
type Message struct {
	Topic   string
	Key     []byte
	Value   []byte
	Headers []kgo.RecordHeader

	Partition int32
	Offset    int64
}

// NewMessage returns a message of value for topic.
func NewMessage(topic string, value []byte) *Message {
	return &Message{Topic: topic, Value: value}
}

// NewEncodedMessage encodes v as contentType (encoding.JSON or
// encoding.Protobuf) and records the content type in the ContentTypeHeader.
func NewEncodedMessage(topic, contentType string, v any) (*Message, error) {
	ct, err := encoding.Normalize(contentType)
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	b, err := encoding.Encode(ct, v)
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	return &Message{Topic: topic, Value: b, Headers: []kgo.RecordHeader{{Key: ContentTypeHeader, Value: []byte(ct)}}}, nil
}

// SetHeader sets header key to value, replacing an existing one.
func (m *Message) SetHeader(key, value string) {
	HeaderCarrier{Headers: &m.Headers}.Set(key, value)
}

// Callback receives the outcome of SendAsync.
type Callback func(msg *Message, err error)

// Producer sends messages to Kafka. It is safe for concurrent use.
type Producer struct {
	client *kgo.Client
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
	logger *slog.Logger

	metrics *observability.ProducerMetrics

	// mu guards closed. Senders hold it only to check closed and join
	// active, never while they wait, so that Close is never held up by a
	// sender waiting for buffer room.
	mu      sync.RWMutex
	closed  bool
	closing chan struct{}  // closed when Close starts: room waiters give up
	active  sync.WaitGroup // senders past the closed check, until their record is handed over
	room    *room

	callbacks *callbackQueue

	topicsMu sync.RWMutex
	topics   map[string]*topicTelemetry
	last     atomic.Pointer[topicTelemetry] // most producers send to one topic: no lock then

	// attrs is the promise's buffer of span attributes: franz-go calls
	// promises serially, and a fresh variadic slice per call would escape
	// to the heap.
	attrs []attribute.KeyValue
}

// topicTelemetry is what a message to one topic needs for its span and
// metrics, looked up once per message.
type topicTelemetry struct {
	topic   string
	spans   *observability.ProducerSpans
	metrics *observability.ProducerDestination
}

// NewProducer returns a producer for brokers. Production is idempotent (and
// so acks=all) unless kgo.DisableIdempotentWrite is passed with
// WithClientOptions.
func NewProducer(brokers []string, opts ...Option) (*Producer, error) {
	if len(brokers) == 0 {
		return nil, errors.New("kafka: no brokers")
	}
	for _, b := range brokers {
		if b == "" {
			return nil, errors.New("kafka: empty broker address")
		}
	}
	cfg := config{}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	pm, err := observability.NewProducerMetrics(observability.Meter(cfg.mp, scope), semconv.MessagingSystemKafka)
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	kopts := append([]kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.RequiredAcks(kgo.AllISRAcks()),
	}, cfg.clientOpts...)
	client, err := kgo.NewClient(kopts...)
	if err != nil {
		return nil, fmt.Errorf("kafka: creating client: %w", err)
	}
	rm := newRoom(client)
	return &Producer{
		client:    client,
		closing:   make(chan struct{}),
		room:      rm,
		tracer:    observability.Tracer(cfg.tp, scope),
		prop:      observability.Propagator(cfg.prop),
		logger:    cfg.logger,
		metrics:   pm,
		callbacks: newCallbackQueue(rm.idle),

		topics: make(map[string]*topicTelemetry),
		attrs:  make([]attribute.KeyValue, 0, 4),
	}, nil
}

// Client returns the underlying franz-go client, for admin requests; records
// produced through it directly are not traced.
func (p *Producer) Client() *kgo.Client { return p.client }

// Send produces msgs and waits until the broker acknowledged each of them or
// ctx ends. It returns the failures joined; the messages that succeeded have
// Partition and Offset set. When ctx ends first, the messages not yet
// acknowledged fail with ctx's error (franz-go still cancels their records
// where that is safe) and Send no longer touches them.
func (p *Producer) Send(ctx context.Context, msgs ...*Message) error {
	if len(msgs) == 0 {
		return nil
	}
	if !p.enter() {
		return ErrClosed
	}
	w := &sendWait{left: 1, done: make(chan struct{})} // Send's own hold until every message is handed over
	errs := make([]error, len(msgs))
	for i, m := range msgs {
		if err := validate(m); err != nil {
			errs[i] = err
			continue
		}
		if err := p.room.acquire(ctx, p.closing); err != nil {
			errs[i] = err
			continue
		}
		errs[i] = errPending
		w.add()
		f := p.produce(ctx, m, false)
		f.send, f.errp = w, &errs[i]
		p.client.Produce(f, &f.rec, p.promise)
	}
	p.active.Done()
	w.finish()
	select {
	case <-w.done:
	case <-ctx.Done():
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.left > 0 {
		// The promises of the messages still out leave them alone from
		// now on: the caller owns them again when Send returns.
		w.abandoned = true
		for i := range errs {
			if errs[i] == errPending {
				errs[i] = fmt.Errorf("kafka: no acknowledgement before the context ended: %w", ctx.Err())
			}
		}
	}
	return errors.Join(errs...)
}

// errPending marks a Send slot whose message has no outcome yet.
var errPending = errors.New("kafka: pending")

// sendWait is what one Send call waits on: the count of its messages not yet
// acknowledged, and whether Send stopped waiting for them.
type sendWait struct {
	mu        sync.Mutex
	left      int
	done      chan struct{}
	abandoned bool
}

func (w *sendWait) add() {
	w.mu.Lock()
	w.left++
	w.mu.Unlock()
}

// finish counts one outcome; the caller must not hold w.mu.
func (w *sendWait) finish() {
	w.mu.Lock()
	w.finishLocked()
	w.mu.Unlock()
}

func (w *sendWait) finishLocked() {
	w.left--
	if w.left == 0 {
		close(w.done)
	}
}

// SendAsync produces msg without waiting and calls cb (which may be nil)
// with the outcome. Callbacks run one at a time, in completion order, on a
// goroutine of the producer: never on franz-go's promise goroutine, so a
// slow callback delays later callbacks but never production.
//
// When the producer's buffer is full (kgo.MaxBufferedRecords, given with
// WithClientOptions), SendAsync waits for room until ctx ends or Close
// starts, and then returns ctx's error or ErrClosed without calling cb: the
// message was never handed over. Cancelling ctx after SendAsync returned
// does not abort the message (a request that returned must not take its
// fire-and-forget message with it); ctx still gives the span its parent and
// the correlation ID.
func (p *Producer) SendAsync(ctx context.Context, msg *Message, cb Callback) error {
	if err := validate(msg); err != nil {
		return err
	}
	if !p.enter() {
		return ErrClosed
	}
	defer p.active.Done()
	if err := p.room.acquire(ctx, p.closing); err != nil {
		return err
	}
	f := p.produce(ctx, msg, true)
	f.cb = cb
	p.client.Produce(f, &f.rec, p.promise)
	return nil
}

// enter joins active unless the producer is closed; the caller calls
// p.active.Done once its records are handed to franz-go.
func (p *Producer) enter() bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return false
	}
	p.active.Add(1)
	return true
}

func validate(m *Message) error {
	if m == nil {
		return errors.New("kafka: nil message")
	}
	if m.Topic == "" {
		return errors.New("kafka: message without topic")
	}
	return nil
}

// inflight is one message on its way: the record franz-go holds, its
// headers' storage, the span and what to do on acknowledgement, in one
// allocation. It is also the record's context (the span's context, which
// franz-go keeps in Record.Context), so that one promise function serves
// every message instead of a closure per message.
//
// A SendAsync message must not be cancelled with the caller's context, so
// its inflight is never done, like context.WithoutCancel. It does not wrap
// context.WithoutCancel because every Value lookup made directly on that
// context allocates (the tracer and the propagators make several per
// message); inflight's lookups reach the caller's context without one.
type inflight struct {
	context.Context
	rec   kgo.Record
	hdrs  [4]kgo.RecordHeader
	msg   *Message
	span  trace.Span
	tel   *topicTelemetry
	start time.Time

	async   bool      // detached from the caller's cancellation
	sampled bool      // the span is sampled
	cb      Callback  // SendAsync's callback, may be nil
	send    *sendWait // Send's
	errp    *error    // Send's slot for the outcome
}

// Done, Err and Deadline make an asynchronous message's context never done
// (see inflight); its values are the caller's context's.
func (f *inflight) Done() <-chan struct{} {
	if f.async {
		return nil
	}
	return f.Context.Done()
}

func (f *inflight) Err() error {
	if f.async {
		return nil
	}
	return f.Context.Err()
}

func (f *inflight) Deadline() (time.Time, bool) {
	if f.async {
		return time.Time{}, false
	}
	return f.Context.Deadline()
}

// produce starts the PRODUCER span and writes the trace context into a
// copy of the message's headers; the caller hands f.rec to franz-go.
func (p *Producer) produce(ctx context.Context, m *Message, async bool) *inflight {
	f := &inflight{msg: m, async: async, tel: p.telemetry(m.Topic)}
	f.rec = kgo.Record{Topic: m.Topic, Key: m.Key, Value: m.Value, Headers: f.hdrs[:0]}
	if len(m.Headers)+3 > len(f.hdrs) {
		f.rec.Headers = make([]kgo.RecordHeader, 0, len(m.Headers)+3)
	}
	f.rec.Headers = append(f.rec.Headers, m.Headers...)
	// The carrier points into f, which is on the heap anyway: a local
	// slice would escape through the carrier.
	f.Context, f.span = f.tel.spans.Start(ctx, HeaderCarrier{Headers: &f.rec.Headers})
	f.sampled = f.span.SpanContext().IsSampled()
	if f.tel.metrics.Timed(ctx) {
		f.start = observability.SpanStartTime(f.span)
		// franz-go reads the clock for a record without a timestamp;
		// this one is as good and spares that read.
		f.rec.Timestamp = f.start
	}
	return f
}

// promise records the outcome of a message; it runs on franz-go's promise
// goroutine and must not block.
func (p *Producer) promise(r *kgo.Record, err error) {
	f, ok := r.Context.(*inflight)
	if !ok {
		return // not ours: every record produced through p carries one
	}
	m, span := f.msg, f.span
	if errors.Is(err, kgo.ErrClientClosed) {
		err = fmt.Errorf("%w: the record was still buffered: %w", ErrClosed, err)
	}
	var elapsed time.Duration
	if !f.start.IsZero() {
		elapsed = time.Since(f.start)
	}
	et := observability.ErrorType(err)
	if span.IsRecording() {
		p.setSpanAttrs(span, r, err == nil)
		if err != nil {
			observability.RecordError(span, err)
		}
	}
	// Metrics read the span from their context for exemplars, which the
	// SDK keeps for sampled spans only: an unsampled message spares the
	// promise goroutine that lookup into memory the sending goroutine
	// wrote on another core.
	var mctx context.Context = f
	if !f.sampled {
		mctx = context.Background()
	}
	f.tel.metrics.Record(mctx, 1, elapsed, et)
	span.End()
	switch {
	case !f.async:
		w := f.send
		w.mu.Lock()
		if !w.abandoned {
			*f.errp = err
			if err == nil {
				m.Partition, m.Offset = r.Partition, r.Offset
			}
		}
		w.finishLocked()
		w.mu.Unlock()
	case f.cb != nil:
		if err == nil {
			m.Partition, m.Offset = r.Partition, r.Offset
		}
		p.callbacks.push(f.cb, m, err)
	case err != nil:
		p.logger.ErrorContext(f, "kafka: asynchronous send failed", "topic", m.Topic, "error", err)
	}
	// Released last, after the callback is queued: the callback queue
	// outlives Close until the last record it may get a callback for is
	// done.
	if p.room.release() == 0 {
		p.callbacks.idleNow()
	}
}

// setSpanAttrs adds the per-message attributes to a recording span in one
// call, all at acknowledgement: the SDK then grows the span's attributes
// once. It runs in the promise, which franz-go calls serially, so p.attrs
// is not shared.
func (p *Producer) setSpanAttrs(span trace.Span, r *kgo.Record, acked bool) {
	attrs := append(p.attrs[:0], semconv.MessagingMessageBodySize(len(r.Value)))
	if len(r.Key) > 0 && utf8.Valid(r.Key) {
		attrs = append(attrs, semconv.MessagingKafkaMessageKey(string(r.Key)))
	}
	if acked {
		attrs = append(attrs, semconv.MessagingDestinationPartitionID(strconv.Itoa(int(r.Partition))),
			semconv.MessagingKafkaOffset(int(r.Offset)))
	}
	span.SetAttributes(attrs...)
	clear(attrs) // the key string must not outlive the span
	p.attrs = attrs[:0]
}

// telemetry returns the cached span starter and metric recorder of topic.
func (p *Producer) telemetry(topic string) *topicTelemetry {
	if t := p.last.Load(); t != nil && t.topic == topic {
		return t
	}
	p.topicsMu.RLock()
	t := p.topics[topic]
	p.topicsMu.RUnlock()
	if t != nil {
		p.last.Store(t)
		return t
	}
	p.topicsMu.Lock()
	defer p.topicsMu.Unlock()
	if t = p.topics[topic]; t == nil {
		t = &topicTelemetry{
			topic:   topic,
			spans:   observability.NewProducerSpans(p.tracer, p.prop, semconv.MessagingSystemKafka, topic),
			metrics: p.metrics.Destination(topic),
		}
		p.topics[topic] = t
	}
	p.last.Store(t)
	return t
}

// Flush waits until every message handed to Send or SendAsync so far was
// acknowledged or failed, or ctx ends. Callbacks may still be running.
func (p *Producer) Flush(ctx context.Context) error {
	if err := p.client.Flush(ctx); err != nil {
		return fmt.Errorf("kafka: flushing: %w", err)
	}
	return nil
}

// Close flushes buffered messages (waiting at most until ctx ends), runs the
// pending callbacks and closes the client. It returns by ctx's deadline:
// records still buffered then fail through their callbacks (or Send) with
// an error wrapping ErrClosed, and senders still waiting for buffer room
// get ErrClosed. Later sends return ErrClosed.
func (p *Producer) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.closing)
	p.mu.Unlock()

	var errs []error
	if err := p.client.Flush(ctx); err != nil {
		errs = append(errs, fmt.Errorf("kafka: flushing: %w", err))
	}
	// Senders past the closed check hand their record over before the
	// client closes (a record produced into a closed client might never
	// get its promise). They do not wait for room any more, so this is
	// short; only one blocked inside franz-go by kgo.MaxBufferedBytes
	// waits until ctx ends, and client.Close below releases it.
	if err := waitGroup(ctx, &p.active); err != nil && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("kafka: waiting for senders: %w", err))
	}
	// Close fails what is still buffered (only after a flush that ctx cut
	// short), which queues their callbacks before the queue closes.
	p.client.Close()
	if err := p.callbacks.close(ctx); err != nil && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("kafka: waiting for callbacks: %w", err))
	}
	return errors.Join(errs...)
}

// waitGroup waits for wg until ctx ends.
func waitGroup(ctx context.Context, wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// callbackQueue runs callbacks in order on one goroutine; push never blocks,
// so franz-go's promise goroutine never waits on user code. The queue holds
// the callbacks' arguments rather than the inflights, so that the runner
// reads the memory the pusher just wrote, in order, instead of one
// inflight (last touched on the other core) per message.
//
// After close the runner goes on until idle reports that no record is out:
// a Close whose deadline passed fails the buffered records after it
// returned, and their callbacks must still run.
type callbackQueue struct {
	mu      sync.Mutex
	cond    *sync.Cond
	items   []pendingCallback
	waiting bool // the runner sleeps; only then does push wake it
	closed  bool
	closing atomic.Bool // closed, read without mu by idleNow
	idle    func() bool
	done    chan struct{}
}

type pendingCallback struct {
	cb  Callback
	msg *Message
	err error
}

func newCallbackQueue(idle func() bool) *callbackQueue {
	q := &callbackQueue{done: make(chan struct{}), idle: idle}
	q.cond = sync.NewCond(&q.mu)
	go q.run()
	return q
}

func (q *callbackQueue) push(cb Callback, msg *Message, err error) {
	q.mu.Lock()
	q.items = append(q.items, pendingCallback{cb, msg, err})
	wake := q.waiting
	q.mu.Unlock()
	// A busy runner finds the item when it comes back for more; waking
	// it per message would cost a goroutine switch per acknowledgement.
	if wake {
		q.cond.Signal()
	}
}

func (q *callbackQueue) run() {
	defer close(q.done)
	// Two buffers take turns: the runner empties one while push fills
	// the other, so that steady state allocates nothing.
	var spare []pendingCallback
	for {
		q.mu.Lock()
		for len(q.items) == 0 && !(q.closed && q.idle()) {
			q.waiting = true
			q.cond.Wait()
			q.waiting = false
		}
		if len(q.items) == 0 {
			q.mu.Unlock()
			return
		}
		batch := q.items
		q.items = spare
		q.mu.Unlock()
		for i := range batch {
			c := &batch[i]
			c.cb(c.msg, c.err)
			*c = pendingCallback{} // nothing kept alive by the buffer
		}
		spare = batch[:0]
		// A runner that comes straight back for one or two callbacks
		// at a time takes the lock from the promise goroutine on the
		// other core for every message; yielding once lets a burst of
		// acknowledgements gather, and costs nothing when nothing else
		// waits to run.
		if len(batch) < 16 {
			runtime.Gosched()
		}
	}
}

// idleNow wakes a closed queue's runner to see that no record is out; the
// lock orders the wake-up after the runner's check, so it is not lost.
func (q *callbackQueue) idleNow() {
	if !q.closing.Load() {
		return
	}
	q.mu.Lock()
	q.mu.Unlock() //nolint:staticcheck // empty critical section: see above
	q.cond.Signal()
}

func (q *callbackQueue) close(ctx context.Context) error {
	q.mu.Lock()
	q.closed = true
	q.closing.Store(true)
	q.mu.Unlock()
	q.cond.Broadcast()
	select {
	case <-q.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
