package observability

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/messagingconv"
)

// Names of the messaging instruments that the semantic conventions lack.
const (
	// MetricConsumerMessages counts consumed messages by OutcomeKey.
	MetricConsumerMessages = "patron.messaging.consumer.messages"
	// MetricMessageAge is the time, in seconds, from a message's broker or
	// producer timestamp to the start of its processing.
	MetricMessageAge = "patron.messaging.message.age"
)

// OutcomeKey is the attribute of MetricConsumerMessages that says what became
// of a message.
const OutcomeKey = attribute.Key("patron.messaging.outcome")

// Outcome is what became of a consumed message (or of one handler attempt).
type Outcome uint8

// The outcomes every Patron consumer counts. A message is counted once as
// processed, dead_lettered or skipped when it is disposed of, once as failed
// per failed handler attempt, and once as retried or requeued per new attempt.
const (
	OutcomeProcessed    Outcome = iota // the handler succeeded
	OutcomeFailed                      // one handler attempt returned an error
	OutcomeRetried                     // the message is retried in place
	OutcomeRequeued                    // the message went back to the broker to be redelivered
	OutcomeDeadLettered                // the message went to a dead-letter destination
	OutcomeSkipped                     // the message was dropped (logged) after its retries
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"processed", "failed", "retried", "requeued", "dead_lettered", "skipped"}

// String returns the OutcomeKey value of o.
func (o Outcome) String() string {
	if o < numOutcomes {
		return outcomeNames[o]
	}
	return "unknown"
}

// maxCachedSets bounds the attribute sets cached per destination for error
// types, so that an unexpected variety of errors cannot grow memory forever.
const maxCachedSets = 256

// attrOpts is one precomputed attribute set, ready to pass to Add and
// Record. The option slices are built once: passing them with "opts..."
// spares the API's variadic slice, which would otherwise escape to the heap
// on every measurement.
type attrOpts struct {
	add []metric.AddOption
	rec []metric.RecordOption
}

func newAttrOpts(attrs ...attribute.KeyValue) attrOpts {
	o := metric.WithAttributeSet(attribute.NewSet(attrs...))
	return attrOpts{add: []metric.AddOption{o}, rec: []metric.RecordOption{o}}
}

// setCache caches attribute sets keyed by K (an error type, a destination),
// so that steady-state recording neither builds sets nor allocates (a map
// under a read lock, unlike a sync.Map, needs no interface conversion).
type setCache[K comparable] struct {
	mu sync.RWMutex
	m  map[K]attrOpts
}

func (c *setCache[K]) get(key K, build func() []attribute.KeyValue) attrOpts {
	c.mu.RLock()
	o, ok := c.m[key]
	c.mu.RUnlock()
	if ok {
		return o
	}
	o = newAttrOpts(build()...)
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.m[key]; ok {
		return prev
	}
	if len(c.m) < maxCachedSets {
		if c.m == nil {
			c.m = make(map[K]attrOpts)
		}
		c.m[key] = o
	}
	return o
}

// ConsumerMetrics holds the instruments every Patron consumer records, the
// same for Kafka, RabbitMQ and SQS: the semconv messaging.process.duration
// and messaging.client.consumed.messages, MetricConsumerMessages by outcome
// and MetricMessageAge. Build it once per component with NewConsumerMetrics,
// and the precomputed attributes of each destination with Destination.
//
// MetricConsumerMessages is an observable counter: a message's outcome is
// an atomic add on the hot path, and the totals are read at collection,
// which spares every message an SDK recording (attribute resolution and
// aggregation) for a series that only ever goes up by one.
type ConsumerMetrics struct {
	system   attribute.KeyValue
	consumed metric.Int64Counter
	messages metric.Int64ObservableCounter
	duration metric.Float64Histogram
	age      metric.Float64Histogram

	// series holds every outcome series counted so far, by attribute
	// set, so that a destination recreated (a partition assigned again)
	// goes on counting from its total: a cumulative counter never resets.
	mu     sync.Mutex
	series map[attribute.Distinct]*outcomeSeries
}

// outcomeSeries is the running total of one MetricConsumerMessages series.
type outcomeSeries struct {
	n   atomic.Int64
	opt []metric.ObserveOption
}

// seriesFor returns the series of attrs, registering it on first use.
func (m *ConsumerMetrics) seriesFor(attrs ...attribute.KeyValue) *outcomeSeries {
	set := attribute.NewSet(attrs...)
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.series[set.Equivalent()]; ok {
		return s
	}
	s := &outcomeSeries{opt: []metric.ObserveOption{metric.WithAttributeSet(set)}}
	m.series[set.Equivalent()] = s
	return s
}

func (m *ConsumerMetrics) observe(_ context.Context, o metric.Observer) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.series {
		// A series appears with its first message, as it would on a
		// synchronous counter.
		if n := s.n.Load(); n > 0 {
			o.ObserveInt64(m.messages, n, s.opt...)
		}
	}
	return nil
}

// NewConsumerMetrics creates the consumer instruments on m; system is the
// semconv messaging.system attribute (e.g. semconv.MessagingSystemKafka).
func NewConsumerMetrics(m metric.Meter, system attribute.KeyValue) (*ConsumerMetrics, error) {
	cm := &ConsumerMetrics{system: system, series: make(map[attribute.Distinct]*outcomeSeries)}
	var errs []error
	var err error
	cm.consumed, err = m.Int64Counter(messagingconv.ClientConsumedMessages{}.Name(), metric.WithUnit("{message}"),
		metric.WithDescription("Messages received from the broker and handed to the handlers."))
	errs = append(errs, err)
	cm.messages, err = m.Int64ObservableCounter(MetricConsumerMessages, metric.WithUnit("{message}"),
		metric.WithDescription("Consumed messages by outcome: processed, failed (per attempt), retried, requeued, dead_lettered, skipped."))
	errs = append(errs, err)
	if err == nil {
		_, err = m.RegisterCallback(cm.observe, cm.messages)
		errs = append(errs, err)
	}
	cm.duration, err = DurationHistogram(m, messagingconv.ProcessDuration{}.Name(), "Duration of one handler call (a message or a batch).")
	errs = append(errs, err)
	cm.age, err = DurationHistogram(m, MetricMessageAge, "Time from a message's timestamp to the start of its processing.")
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("observability: creating consumer metrics: %w", err)
	}
	return cm, nil
}

// DestinationMetrics records the consumer instruments for one destination
// (topic, queue) with attribute sets computed once, so that recording on
// the success path allocates nothing. It is safe for concurrent use.
type DestinationMetrics struct {
	m        *ConsumerMetrics
	base     []attribute.KeyValue
	baseOpt  attrOpts
	outcomes [numOutcomes]*outcomeSeries
	failedMu sync.RWMutex
	failed   map[outcomeError]*outcomeSeries // outcome and error type -> series with error.type
	errored  setCache[string]                // error type -> base + error.type (duration)
}

// Destination returns the recorder for destination; attrs are added to every
// measurement (e.g. the consumer group). It builds attribute sets: call it
// once per destination, not per message.
func (m *ConsumerMetrics) Destination(destination string, attrs ...attribute.KeyValue) *DestinationMetrics {
	base := make([]attribute.KeyValue, 0, 3+len(attrs))
	base = append(base, m.system,
		semconv.MessagingDestinationName(destination),
		semconv.MessagingOperationName(OperationProcess))
	base = append(base, attrs...)
	d := &DestinationMetrics{m: m, base: base, baseOpt: newAttrOpts(base...), failed: make(map[outcomeError]*outcomeSeries)}
	for o := range numOutcomes {
		d.outcomes[o] = m.seriesFor(d.with(OutcomeKey.String(o.String()))...)
	}
	return d
}

func (d *DestinationMetrics) with(extra ...attribute.KeyValue) []attribute.KeyValue {
	return append(d.base[:len(d.base):len(d.base)], extra...)
}

// Consumed counts n messages received from the broker. Exemplars are left
// to the duration histogram (see Duration), so ctx gives this counter
// none: each measurement would read the clock and the span context for
// exemplars nobody looks at.
func (d *DestinationMetrics) Consumed(_ context.Context, n int) {
	d.m.consumed.Add(context.Background(), int64(n), d.baseOpt.add...)
}

// Age records the age of a message whose timestamp is sent, at now. A zero
// sent (no timestamp) records nothing; clock skew never gives a negative age.
// As for Consumed, ctx gives no exemplar.
func (d *DestinationMetrics) Age(_ context.Context, sent, now time.Time) {
	if sent.IsZero() {
		return
	}
	d.m.age.Record(context.Background(), max(now.Sub(sent), 0).Seconds(), d.baseOpt.rec...)
}

// Count adds n messages with outcome o. Use Failed for failures, so that
// they carry error.type. The counter is observed at collection, so ctx
// gives it no exemplar.
func (d *DestinationMetrics) Count(_ context.Context, o Outcome, n int) {
	if o >= numOutcomes {
		return
	}
	d.outcomes[o].n.Add(int64(n))
}

// Failed counts n messages whose handler attempt failed with an error of
// type errType (see ErrorType); it is CountError with OutcomeFailed.
func (d *DestinationMetrics) Failed(ctx context.Context, n int, errType string) {
	d.CountError(ctx, OutcomeFailed, n, errType)
}

// CountError adds n messages with outcome o (failed, skipped,
// dead_lettered) caused by an error of type errType, so that the series
// says why. Beyond maxCachedSets error types per destination, further
// types are counted as "_OTHER", so that an unexpected variety of errors
// cannot grow memory forever (each series lives as long as its counter).
func (d *DestinationMetrics) CountError(_ context.Context, o Outcome, n int, errType string) {
	if o >= numOutcomes {
		return
	}
	key := outcomeError{o, errType}
	d.failedMu.RLock()
	s := d.failed[key]
	d.failedMu.RUnlock()
	if s == nil {
		d.failedMu.Lock()
		if s = d.failed[key]; s == nil {
			if len(d.failed) >= maxCachedSets {
				key.errType = "_OTHER"
			}
			if s = d.failed[key]; s == nil {
				s = d.m.seriesFor(d.with(OutcomeKey.String(o.String()), semconv.ErrorTypeKey.String(key.errType))...)
				d.failed[key] = s
			}
		}
		d.failedMu.Unlock()
	}
	s.n.Add(int64(n))
}

// outcomeError keys the series of an outcome with an error.type.
type outcomeError struct {
	o       Outcome
	errType string
}

// Duration records one handler call that took elapsed; errType is "" on
// success, or the error.type of its failure. ctx (the span's) gives the
// histogram its exemplars, which lead from a slow bucket to the trace.
func (d *DestinationMetrics) Duration(ctx context.Context, elapsed time.Duration, errType string) {
	opt := d.baseOpt
	if errType != "" {
		opt = d.errored.get(errType, func() []attribute.KeyValue {
			return d.with(semconv.ErrorTypeKey.String(errType))
		})
	}
	d.m.duration.Record(ctx, elapsed.Seconds(), opt.rec...)
}

// ProducerMetrics holds the semconv instruments every Patron producer
// records: messaging.client.sent.messages (failures carry error.type) and
// messaging.client.operation.duration. Attribute sets are cached per
// destination and error type.
//
// messaging.client.sent.messages is an observable counter, as
// MetricConsumerMessages is (see ConsumerMetrics): an atomic add per
// message, totals read at collection.
type ProducerMetrics struct {
	system   attribute.KeyValue
	sent     metric.Int64ObservableCounter
	duration metric.Float64Histogram
	sets     setCache[producerKey]

	mu        sync.RWMutex
	series    map[producerKey]*outcomeSeries
	errSeries int // series with an error type, bounded by maxCachedSets
}

type producerKey struct{ destination, errType string }

// NewProducerMetrics creates the producer instruments on m; system is the
// semconv messaging.system attribute.
func NewProducerMetrics(m metric.Meter, system attribute.KeyValue) (*ProducerMetrics, error) {
	pm := &ProducerMetrics{system: system, series: make(map[producerKey]*outcomeSeries)}
	var err1, err2, err3 error
	pm.sent, err1 = m.Int64ObservableCounter(messagingconv.ClientSentMessages{}.Name(), metric.WithUnit("{message}"),
		metric.WithDescription("Messages the producer attempted to send; failures carry error.type."))
	pm.duration, err2 = DurationHistogram(m, messagingconv.ClientOperationDuration{}.Name(),
		"Duration of a send operation, until the broker acknowledged it.")
	if err1 == nil {
		_, err3 = m.RegisterCallback(pm.observe, pm.sent)
	}
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, fmt.Errorf("observability: creating producer metrics: %w", err)
	}
	return pm, nil
}

func (p *ProducerMetrics) attrList(destination, errType string) []attribute.KeyValue {
	attrs := []attribute.KeyValue{p.system,
		semconv.MessagingDestinationName(destination),
		semconv.MessagingOperationName(OperationPublish),
		semconv.MessagingOperationTypeSend}
	if errType != "" {
		attrs = append(attrs, semconv.ErrorTypeKey.String(errType))
	}
	return attrs
}

func (p *ProducerMetrics) attrs(destination, errType string) attrOpts {
	return p.sets.get(producerKey{destination, errType}, func() []attribute.KeyValue {
		return p.attrList(destination, errType)
	})
}

// sentSeries returns the sent counter series of destination and errType,
// registering it on first use. Beyond maxCachedSets error series, further
// error types are counted as "_OTHER", so that an unexpected variety of
// errors cannot grow memory forever.
func (p *ProducerMetrics) sentSeries(destination, errType string) *outcomeSeries {
	key := producerKey{destination, errType}
	p.mu.RLock()
	s := p.series[key]
	p.mu.RUnlock()
	if s != nil {
		return s
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if s = p.series[key]; s != nil {
		return s
	}
	if errType != "" && p.errSeries >= maxCachedSets {
		key.errType = "_OTHER"
		if s = p.series[key]; s != nil {
			return s
		}
	}
	s = &outcomeSeries{opt: []metric.ObserveOption{metric.WithAttributeSet(attribute.NewSet(p.attrList(key.destination, key.errType)...))}}
	p.series[key] = s
	if key.errType != "" {
		p.errSeries++
	}
	return s
}

func (p *ProducerMetrics) observe(_ context.Context, o metric.Observer) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	for _, s := range p.series {
		if n := s.n.Load(); n > 0 {
			o.ObserveInt64(p.sent, n, s.opt...)
		}
	}
	return nil
}

// ProducerDestination records the producer instruments for one destination
// with the success attribute set computed once, so that a producer on a hot
// path neither looks the set up nor allocates per message. It is safe for
// concurrent use.
type ProducerDestination struct {
	p           *ProducerMetrics
	destination string
	ok          attrOpts
	okSent      *outcomeSeries
}

// Destination returns the recorder for destination. It builds attribute
// sets: call it once per destination, not per message.
func (p *ProducerMetrics) Destination(destination string) *ProducerDestination {
	return &ProducerDestination{p: p, destination: destination, ok: p.attrs(destination, ""), okSent: p.sentSeries(destination, "")}
}

// Timed reports whether Record keeps the duration (the histogram is
// enabled, which a no-op meter provider's is not): when it does not, the
// caller may skip reading the clock.
func (d *ProducerDestination) Timed(ctx context.Context) bool {
	return d.p.duration.Enabled(ctx)
}

// Record counts n messages sent and records the send operation that took
// elapsed; errType is "" on success, or the error.type of the failure. ctx
// (the span's) gives the duration histogram its exemplars; the counter,
// observed at collection, has none.
func (d *ProducerDestination) Record(ctx context.Context, n int, elapsed time.Duration, errType string) {
	opt, sent := d.ok, d.okSent
	if errType != "" {
		opt, sent = d.p.attrs(d.destination, errType), d.p.sentSeries(d.destination, errType)
	}
	sent.n.Add(int64(n))
	d.p.duration.Record(ctx, elapsed.Seconds(), opt.rec...)
}

// Sent counts n messages sent to destination; errType is "" on success, or
// the error.type of the failure. The counter is observed at collection, so
// ctx gives it no exemplar.
func (p *ProducerMetrics) Sent(_ context.Context, destination string, n int, errType string) {
	p.sentSeries(destination, errType).n.Add(int64(n))
}

// Duration records one send operation to destination that took elapsed.
func (p *ProducerMetrics) Duration(ctx context.Context, destination string, elapsed time.Duration, errType string) {
	p.duration.Record(ctx, elapsed.Seconds(), p.attrs(destination, errType).rec...)
}
