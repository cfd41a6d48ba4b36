// Package kafka is a Kafka consumer-group component built on franz-go. It
// handles the records of each partition in order and different partitions
// concurrently, commits an offset only after its handler succeeded (or the
// failure strategy disposed of the message), and traces every message with a
// CONSUMER span "process <topic>" that continues the producer's trace.
//
// Delivery is at-least-once. On a revocation, a rebalance or shutdown, the
// handlers in flight finish (within the drain timeout), the offsets of what
// was processed are committed synchronously, and records fetched but not yet
// handled are left to the next owner.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/patron-go/patron/internal/consume"
	"github.com/patron-go/patron/internal/option"
	"github.com/patron-go/patron/observability"
	patronlog "github.com/patron-go/patron/observability/log"
	"github.com/patron-go/patron/reliability"
)

const scope = observability.ModulePath + "/component/kafka"

// ErrNotReady is wrapped by Ready's errors.
var ErrNotReady = errors.New("kafka: consumer not ready")

type topicPartition struct {
	topic     string
	partition int32
}

// Component consumes topics as a member of a consumer group. Build it with
// New and give it to patron's Service.Run (or call Run yourself).
type Component struct {
	name    string
	group   string
	brokers []string
	topics  []string
	handler Handler
	cfg     config

	tracer  trace.Tracer
	prop    propagation.TextMapPropagator
	metrics *metrics

	running atomic.Bool
	joined  atomic.Bool
	sem     chan struct{}
	full    atomic.Int32  // workers whose queue is full
	room    chan struct{} // a full worker made room

	mu       sync.Mutex
	client   *kgo.Client
	workers  map[topicPartition]*worker
	stopping bool
	baseCtx  context.Context
	logger   *slog.Logger
	fail     context.CancelCauseFunc
}

// New returns a consumer named name (for logs and readiness) that joins
// group on brokers and consumes topics with h. With WithBatchHandler, h must
// be nil.
func New(name, group string, brokers, topics []string, h Handler, opts ...Option) (*Component, error) {
	if strings.TrimSpace(name) == "" {
		return nil, errors.New("kafka: empty component name")
	}
	if strings.TrimSpace(group) == "" {
		return nil, errors.New("kafka: empty consumer group")
	}
	if len(brokers) == 0 {
		return nil, errors.New("kafka: no brokers")
	}
	for _, b := range brokers {
		if strings.TrimSpace(b) == "" {
			return nil, errors.New("kafka: empty broker address")
		}
	}
	if len(topics) == 0 {
		return nil, errors.New("kafka: no topics")
	}
	for _, t := range topics {
		if strings.TrimSpace(t) == "" {
			return nil, errors.New("kafka: empty topic name")
		}
	}
	cfg := config{
		delivery:    consume.DefaultConfig(reliability.DefaultBackoff()),
		queueSize:   DefaultQueueSize,
		commitEvery: DefaultCommitInterval,
	}
	if err := option.Apply("kafka", &cfg, opts); err != nil {
		return nil, err
	}
	switch {
	case h == nil && cfg.batch == nil:
		return nil, errors.New("kafka: handler is nil")
	case h != nil && cfg.batch != nil:
		return nil, errors.New("kafka: both a handler and a batch handler given; pass a nil handler with WithBatchHandler")
	}
	if cfg.delivery.Strategy == 0 {
		// A poison message goes where the user said dead letters go, and
		// is otherwise skipped loudly (see Skip) rather than stopping the
		// partition.
		cfg.delivery.Strategy = Skip
		if cfg.dlTopic != "" {
			cfg.delivery.Strategy = DeadLetter
		}
	}
	if cfg.delivery.Strategy == DeadLetter && cfg.dlTopic == "" {
		return nil, errors.New("kafka: the DeadLetter strategy needs WithDeadLetterTopic")
	}
	if cfg.dlTopic != "" {
		for _, t := range topics {
			if t == cfg.dlTopic {
				return nil, fmt.Errorf("kafka: dead-letter topic %q is also consumed", t)
			}
		}
	}
	c := &Component{
		name: name, group: group,
		brokers: append([]string(nil), brokers...),
		topics:  append([]string(nil), topics...),
		handler: h, cfg: cfg,
		tracer:  observability.Tracer(cfg.tp, scope),
		prop:    observability.Propagator(cfg.prop),
		workers: make(map[topicPartition]*worker),
		room:    make(chan struct{}, 1),
	}
	if cfg.concurrency > 0 {
		c.sem = make(chan struct{}, cfg.concurrency)
	}
	m, err := newMetrics(observability.Meter(cfg.mp, scope), c)
	if err != nil {
		return nil, err
	}
	c.metrics = m
	return c, nil
}

// Name returns the component's name.
func (c *Component) Name() string { return c.name }

// Ready returns nil once the consumer joined its group and received its
// assignment, and while a broker answers; an error otherwise.
func (c *Component) Ready(ctx context.Context) error {
	if !c.joined.Load() {
		return fmt.Errorf("%w: %s has not joined group %q", ErrNotReady, c.name, c.group)
	}
	c.mu.Lock()
	cl := c.client
	c.mu.Unlock()
	if cl == nil {
		return fmt.Errorf("%w: %s is not running", ErrNotReady, c.name)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
	}
	if err := cl.Ping(ctx); err != nil {
		return fmt.Errorf("%w: %s: no broker reachable: %w", ErrNotReady, c.name, err)
	}
	return nil
}

// Run consumes until ctx is cancelled, then lets in-flight handlers finish
// (within the drain timeout), commits what was processed, leaves the group
// and returns nil. It returns an error when the client cannot be created or
// when a message fails under the Stop strategy. Brokers that are unreachable
// are retried until ctx ends, with readiness reporting it.
func (c *Component) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return fmt.Errorf("kafka: %s is already running", c.name)
	}
	defer c.running.Store(false)

	logger := c.cfg.logger
	if logger == nil {
		logger = patronlog.FromContext(ctx)
	}
	logger = logger.With("component", c.name, "consumer_group", c.group)
	base, hardStop := context.WithCancel(patronlog.WithContext(context.WithoutCancel(ctx), logger))
	defer hardStop()
	pollCtx, fail := context.WithCancelCause(ctx)
	defer fail(nil)

	// Group callbacks may run as soon as the client exists, so what they
	// read is in place before.
	c.mu.Lock()
	c.baseCtx, c.logger, c.fail, c.stopping = base, logger, fail, false
	c.mu.Unlock()
	cl, err := kgo.NewClient(c.clientOptions()...)
	if err != nil {
		return fmt.Errorf("kafka: %s: creating client: %w", c.name, err)
	}
	c.mu.Lock()
	c.client = cl
	c.mu.Unlock()

	logger.InfoContext(ctx, "kafka consumer started", "topics", c.topics)
	c.poll(pollCtx, cl)
	runErr := context.Cause(pollCtx)
	if ctx.Err() != nil || errors.Is(runErr, context.Canceled) {
		runErr = nil
	}

	c.shutdown(base, cl, logger)
	c.mu.Lock()
	c.client = nil
	c.mu.Unlock()
	c.joined.Store(false)
	if runErr != nil {
		logger.ErrorContext(base, "kafka consumer stopped on error", "error", runErr)
		return runErr
	}
	logger.InfoContext(base, "kafka consumer stopped")
	return nil
}

func (c *Component) clientOptions() []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.brokers...),
		kgo.ConsumerGroup(c.group),
		kgo.ConsumeTopics(c.topics...),
		// Offsets are marked only once handled, and committed in the
		// background, on revocation and at shutdown.
		kgo.AutoCommitMarks(),
		kgo.AutoCommitInterval(c.cfg.commitEvery),
		// Records of a poll reach their partition workers before a
		// rebalance can revoke the partitions: dispatching never waits on
		// handlers, so this blocks rebalances only for a moment.
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(c.onAssigned),
		kgo.OnPartitionsRevoked(c.onRevoked),
		kgo.OnPartitionsLost(c.onLost),
		kgo.WithHooks(groupErrorHook{c}),
	}
	return append(opts, c.cfg.clientOpts...)
}

type groupErrorHook struct{ c *Component }

// OnGroupManageError marks the consumer not ready until the group is joined
// again (the client rejoins by itself, with backoff).
func (h groupErrorHook) OnGroupManageError(err error) {
	if errors.Is(err, context.Canceled) || errors.Is(err, kgo.ErrClientClosed) {
		return
	}
	h.c.joined.Store(false)
	h.c.mu.Lock()
	logger := h.c.logger
	h.c.mu.Unlock()
	if logger != nil {
		logger.Warn("kafka consumer group session failed; rejoining", "error", err)
	}
}

func (c *Component) poll(ctx context.Context, cl *kgo.Client) {
	for {
		// Backpressure: while a partition's queue is full, stop polling.
		// The client then holds at most one fetch per broker and fetches
		// no more. (Pausing only that partition would spare the others,
		// but a resumed partition waits for the fetch in flight, up to
		// FetchMaxWait, whenever the others are idle, and its dropped
		// records are fetched and decoded again: bench/kafka measured it
		// up to 60 times slower.)
		for c.full.Load() > 0 {
			select {
			case <-c.room:
			case <-ctx.Done():
				return
			}
		}
		// One poll takes everything the client buffered, every partition
		// of every fetch: those records are in memory already. A poll
		// bounded by a record count would take them partition by
		// partition, fill the first partition's queue and stop polling
		// before the others got any, so that a backlog was handled one
		// partition after another.
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			cl.AllowRebalance()
			return
		}
		fetches.EachError(func(topic string, partition int32, err error) {
			if errors.Is(err, context.Canceled) {
				return
			}
			// The client retries what it can; what reaches us is worth
			// an operator's look, but not a reason to stop consuming.
			c.logger.WarnContext(ctx, "kafka fetch error", "topic", topic, "partition", partition, "error", err)
		})
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			if len(p.Records) == 0 && p.Err != nil {
				return
			}
			c.dispatch(cl, p)
		})
		cl.AllowRebalance()
	}
}

func (c *Component) dispatch(cl *kgo.Client, p kgo.FetchTopicPartition) {
	tp := topicPartition{p.Topic, p.Partition}
	c.mu.Lock()
	w := c.workers[tp]
	if w == nil && !c.stopping {
		// Assignment creates workers; this covers a partition that a
		// client option assigned some other way.
		w = c.startWorkerLocked(cl, tp)
	}
	c.mu.Unlock()
	if w == nil {
		return
	}
	w.hwm.Store(p.HighWatermark)
	if len(p.Records) > 0 {
		w.dm.Consumed(w.ctx, len(p.Records))
		w.enqueue(p.Records)
	}
}

func (c *Component) onAssigned(_ context.Context, cl *kgo.Client, assigned map[string][]int32) {
	c.mu.Lock()
	if !c.stopping {
		for topic, ps := range assigned {
			for _, p := range ps {
				if tp := (topicPartition{topic, p}); c.workers[tp] == nil {
					c.startWorkerLocked(cl, tp)
				}
			}
		}
	}
	logger := c.logger
	c.mu.Unlock()
	c.joined.Store(true)
	if len(assigned) > 0 {
		logger.Info("kafka partitions assigned", "partitions", assigned)
	}
}

func (c *Component) onRevoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	ws, stopping := c.takeWorkers(revoked)
	c.stopWorkers(ws)
	if stopping {
		return // shutdown already drained and committed
	}
	// Only what the stopped workers finished is marked, so this commits
	// exactly the processed offsets before another member takes over.
	if err := cl.CommitMarkedOffsets(ctx); err != nil {
		c.logger.Error("kafka commit on revocation failed; the next owner will see those messages again", "error", err)
	}
	if len(revoked) > 0 {
		c.logger.Info("kafka partitions revoked", "partitions", revoked)
	}
}

func (c *Component) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	c.joined.Store(false)
	ws, _ := c.takeWorkers(lost)
	c.stopWorkers(ws)
	if len(lost) > 0 {
		c.logger.Warn("kafka partitions lost; uncommitted work will be redelivered", "partitions", lost)
	}
}

// takeWorkers removes the workers of tps (all of them when tps is nil).
func (c *Component) takeWorkers(tps map[string][]int32) ([]*worker, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ws []*worker
	if tps == nil {
		for tp, w := range c.workers {
			ws = append(ws, w)
			delete(c.workers, tp)
		}
		return ws, c.stopping
	}
	for topic, ps := range tps {
		for _, p := range ps {
			tp := topicPartition{topic, p}
			if w := c.workers[tp]; w != nil {
				ws = append(ws, w)
				delete(c.workers, tp)
			}
		}
	}
	return ws, c.stopping
}

// stopWorkers lets the workers finish what they are handling, cancels their
// handlers' context after the drain timeout, and waits for them to return.
func (c *Component) stopWorkers(ws []*worker) {
	if len(ws) == 0 {
		return
	}
	for _, w := range ws {
		w.stopSoft()
		w.mu.Lock()
		if w.full {
			w.release() // its queue is dropped: it no longer holds polling back
		}
		w.mu.Unlock()
	}
	timer := time.NewTimer(c.cfg.delivery.DrainTimeout)
	defer timer.Stop()
	for _, w := range ws {
		select {
		case <-w.done:
		case <-timer.C:
			for _, w := range ws {
				w.cancel()
			}
			c.logger.Warn("kafka handlers exceeded the drain timeout; their context was cancelled", "timeout", c.cfg.delivery.DrainTimeout)
			for _, w := range ws {
				<-w.done
			}
			return
		}
	}
}

func (c *Component) shutdown(ctx context.Context, cl *kgo.Client, logger *slog.Logger) {
	c.mu.Lock()
	c.stopping = true
	c.mu.Unlock()
	ws, _ := c.takeWorkers(nil)
	c.stopWorkers(ws)

	commitCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := cl.CommitMarkedOffsets(commitCtx); err != nil {
		logger.ErrorContext(ctx, "kafka commit at shutdown failed; those messages will be redelivered", "error", err)
	}
	if err := cl.LeaveGroupContext(commitCtx); err != nil && !errors.Is(err, context.Canceled) {
		logger.WarnContext(ctx, "kafka leaving the group failed", "error", err)
	}
	cl.Close()
}

func (c *Component) startWorkerLocked(cl *kgo.Client, tp topicPartition) *worker {
	w := newWorker(c, cl, tp)
	c.workers[tp] = w
	go w.run()
	return w
}

// stopWith ends Run with err (the Stop failure strategy).
func (c *Component) stopWith(err error) {
	c.mu.Lock()
	fail := c.fail
	c.mu.Unlock()
	if fail != nil {
		fail(err)
	}
}

// lagSnapshot returns the current workers, for the lag gauge.
func (c *Component) lagSnapshot(f func(w *worker)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, w := range c.workers {
		f(w)
	}
}
