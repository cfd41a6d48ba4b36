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
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
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

// ErrClosed is returned by Send and SendAsync after Close.
var ErrClosed = errors.New("kafka: producer closed")

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

	mu     sync.RWMutex // guards closed against concurrent Close
	closed bool

	callbacks *callbackQueue

	spansMu      sync.RWMutex
	spansByTopic map[string]*observability.ProducerSpans
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
	return &Producer{
		client:    client,
		tracer:    observability.Tracer(cfg.tp, scope),
		prop:      observability.Propagator(cfg.prop),
		logger:    cfg.logger,
		metrics:   pm,
		callbacks: newCallbackQueue(),

		spansByTopic: make(map[string]*observability.ProducerSpans),
	}, nil
}

// Client returns the underlying franz-go client, for admin requests; records
// produced through it directly are not traced.
func (p *Producer) Client() *kgo.Client { return p.client }

// Send produces msgs and waits until the broker acknowledged each of them or
// ctx ends. It returns the failures joined; the messages that succeeded have
// Partition and Offset set.
func (p *Producer) Send(ctx context.Context, msgs ...*Message) error {
	if len(msgs) == 0 {
		return nil
	}
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		return ErrClosed
	}
	var wg sync.WaitGroup
	errs := make([]error, len(msgs))
	for i, m := range msgs {
		if err := validate(m); err != nil {
			errs[i] = err
			continue
		}
		wg.Add(1)
		f := p.produce(ctx, m)
		f.wg, f.errp = &wg, &errs[i]
		p.client.Produce(f, &f.rec, p.promise)
	}
	p.mu.RUnlock()
	wg.Wait()
	return errors.Join(errs...)
}

// SendAsync produces msg without waiting and calls cb (which may be nil)
// with the outcome. Callbacks run one at a time, in completion order, on a
// goroutine of the producer: never on franz-go's promise goroutine, so a
// slow callback delays later callbacks but never production. Cancelling ctx
// after SendAsync returned does not abort the message (a request that
// returned must not take its fire-and-forget message with it); ctx still
// gives the span its parent and the correlation ID.
func (p *Producer) SendAsync(ctx context.Context, msg *Message, cb Callback) error {
	if err := validate(msg); err != nil {
		return err
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return ErrClosed
	}
	f := p.produce(context.WithoutCancel(ctx), msg)
	f.cb, f.async = cb, true
	p.client.Produce(f, &f.rec, p.promise)
	return nil
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
type inflight struct {
	context.Context
	rec   kgo.Record
	hdrs  [4]kgo.RecordHeader
	msg   *Message
	span  trace.Span
	start time.Time
	err   error

	async bool
	cb    Callback        // SendAsync's callback, may be nil
	wg    *sync.WaitGroup // Send's
	errp  *error          // Send's slot for the outcome
}

// produce starts the PRODUCER span and writes the trace context into a
// copy of the message's headers; the caller hands f.rec to franz-go.
func (p *Producer) produce(ctx context.Context, m *Message) *inflight {
	f := &inflight{msg: m}
	f.rec = kgo.Record{Topic: m.Topic, Key: m.Key, Value: m.Value}
	headers := f.hdrs[:0]
	if len(m.Headers)+3 > len(f.hdrs) {
		headers = make([]kgo.RecordHeader, 0, len(m.Headers)+3)
	}
	headers = append(headers, m.Headers...)
	ctx, span := p.spans(m.Topic).Start(ctx, HeaderCarrier{Headers: &headers})
	if span.IsRecording() {
		span.SetAttributes(semconv.MessagingMessageBodySize(len(m.Value)))
		if len(m.Key) > 0 && utf8.Valid(m.Key) {
			span.SetAttributes(semconv.MessagingKafkaMessageKey(string(m.Key)))
		}
	}
	f.rec.Headers = headers
	f.Context, f.span, f.start = ctx, span, time.Now()
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
	elapsed := time.Since(f.start)
	if err != nil {
		observability.RecordError(span, err)
		et := errorType(err)
		p.metrics.Sent(f, m.Topic, 1, et)
		p.metrics.Duration(f, m.Topic, elapsed, et)
	} else {
		m.Partition, m.Offset = r.Partition, r.Offset
		if span.IsRecording() {
			span.SetAttributes(semconv.MessagingDestinationPartitionID(strconv.Itoa(int(r.Partition))),
				semconv.MessagingKafkaOffset(int(r.Offset)))
		}
		p.metrics.Sent(f, m.Topic, 1, "")
		p.metrics.Duration(f, m.Topic, elapsed, "")
	}
	span.End()
	switch {
	case !f.async:
		*f.errp = err
		f.wg.Done()
	case f.cb != nil:
		f.err = err
		p.callbacks.push(f)
	case err != nil:
		p.logger.ErrorContext(f, "kafka: asynchronous send failed", "topic", m.Topic, "error", err)
	}
}

// spans returns the cached span starter of topic.
func (p *Producer) spans(topic string) *observability.ProducerSpans {
	p.spansMu.RLock()
	s := p.spansByTopic[topic]
	p.spansMu.RUnlock()
	if s != nil {
		return s
	}
	p.spansMu.Lock()
	defer p.spansMu.Unlock()
	if s = p.spansByTopic[topic]; s == nil {
		s = observability.NewProducerSpans(p.tracer, p.prop, semconv.MessagingSystemKafka, topic)
		p.spansByTopic[topic] = s
	}
	return s
}

func errorType(err error) string {
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, kgo.ErrClientClosed):
		return "client_closed"
	}
	return "_OTHER"
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
// pending callbacks and closes the client. Later sends return ErrClosed.
func (p *Producer) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()

	var errs []error
	if err := p.client.Flush(ctx); err != nil {
		errs = append(errs, fmt.Errorf("kafka: flushing: %w", err))
	}
	// Close fails what is still buffered (only after a flush that ctx cut
	// short), which queues their callbacks before the queue closes.
	p.client.Close()
	if err := p.callbacks.close(ctx); err != nil {
		errs = append(errs, fmt.Errorf("kafka: waiting for callbacks: %w", err))
	}
	return errors.Join(errs...)
}

// callbackQueue runs callbacks in order on one goroutine; push never blocks,
// so franz-go's promise goroutine never waits on user code.
type callbackQueue struct {
	mu      sync.Mutex
	cond    *sync.Cond
	items   []*inflight
	waiting bool // the runner sleeps; only then does push wake it
	closed  bool
	done    chan struct{}
}

func newCallbackQueue() *callbackQueue {
	q := &callbackQueue{done: make(chan struct{})}
	q.cond = sync.NewCond(&q.mu)
	go q.run()
	return q
}

func (q *callbackQueue) push(f *inflight) {
	q.mu.Lock()
	q.items = append(q.items, f)
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
	for {
		q.mu.Lock()
		for len(q.items) == 0 && !q.closed {
			q.waiting = true
			q.cond.Wait()
			q.waiting = false
		}
		if len(q.items) == 0 {
			q.mu.Unlock()
			return
		}
		batch := q.items
		q.items = nil
		q.mu.Unlock()
		for i, f := range batch {
			f.cb(f.msg, f.err)
			batch[i] = nil
		}
	}
}

func (q *callbackQueue) close(ctx context.Context) error {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cond.Broadcast()
	select {
	case <-q.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
