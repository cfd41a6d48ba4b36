package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/patron-go/patron/component/kafka"
	"github.com/patron-go/patron/observability"
	"github.com/patron-go/patron/observability/observabilitytest"
	"github.com/patron-go/patron/patrontest/kafkatest"
	"github.com/patron-go/patron/patrontest/testenv"
	"github.com/patron-go/patron/reliability"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const wait = 30 * time.Second

// fast retries keep the tests quick without changing what they prove.
var fastBackoff = reliability.Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond, NoJitter: true}

type running struct {
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// run starts c and returns a handle whose stop cancels it and returns Run's
// result; it is also stopped when t ends.
func run(t *testing.T, c *kafka.Component) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- c.Run(ctx) }()
	t.Cleanup(func() { _ = r.stop() })
	return r
}

func (r *running) stop() error {
	r.once.Do(func() {
		r.cancel()
		r.err = <-r.done
	})
	return r.err
}

func waitReady(t *testing.T, c *kafka.Component) {
	t.Helper()
	waitFor(t, "consumer ready", func() bool { return c.Ready(t.Context()) == nil })
}

// waitFor polls cond (a bounded wait on a condition, not a sleep).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, wait, what, cond)
}

type env struct {
	cluster *kafkatest.Cluster
	kit     *observabilitytest.Kit
	topic   string
	group   string
}

// outcomes is the consumer's message count with outcome o.
func outcomes(t *testing.T, e *env, o observability.Outcome) float64 {
	t.Helper()
	return e.kit.Sum(t, observability.MetricConsumerMessages, observability.OutcomeKey.String(o.String()))
}

func newEnv(t *testing.T, partitions int32) *env {
	t.Helper()
	cluster := kafkatest.New(t)
	return &env{
		cluster: cluster,
		kit:     observabilitytest.New(t),
		topic:   cluster.Topic(t, partitions),
		group:   cluster.Unique(t, "group"),
	}
}

func (e *env) consumer(t *testing.T, h kafka.Handler, opts ...kafka.Option) *kafka.Component {
	t.Helper()
	opts = append([]kafka.Option{
		kafka.WithTracerProvider(e.kit.TracerProvider),
		kafka.WithMeterProvider(e.kit.MeterProvider),
		kafka.WithPropagator(e.kit.Propagator),
		kafka.WithRetry(3, fastBackoff),
	}, opts...)
	c, err := kafka.New("test-consumer", e.group, e.cluster.Addrs(), []string{e.topic}, h, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// produce writes records with a plain franz-go client.
func (e *env) produce(t *testing.T, recs ...*kgo.Record) {
	t.Helper()
	cl := e.cluster.Client(t)
	for _, r := range recs {
		if r.Topic == "" {
			r.Topic = e.topic
		}
	}
	if err := cl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// keyed returns n records with keys prefix-0 .. prefix-(n-1).
func keyed(prefix string, n int) []*kgo.Record {
	recs := make([]*kgo.Record, n)
	for i := range recs {
		k := fmt.Sprintf("%s-%d", prefix, i)
		recs[i] = &kgo.Record{Key: []byte(k), Value: []byte(`{"n":` + fmt.Sprint(i) + `}`)}
	}
	return recs
}

// seen counts how often each key was handled.
type seen struct {
	mu     sync.Mutex
	counts map[string]int
	total  int
}

func newSeen() *seen { return &seen{counts: map[string]int{}} }

func (s *seen) add(key string) {
	s.mu.Lock()
	s.counts[key]++
	s.total++
	s.mu.Unlock()
}

func (s *seen) distinct() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.counts)
}

func (s *seen) sum() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

func (s *seen) has(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[key] > 0
}

var errBoom = errors.New("boom")

// exemplarTraces lists the trace IDs of the exemplars of metric name.
func exemplarTraces(t *testing.T, kit *observabilitytest.Kit, name string) []trace.TraceID {
	t.Helper()
	var out []trace.TraceID
	add := func(id []byte) { out = append(out, trace.TraceID(id)) }
	switch d := kit.Metric(t, name).Data.(type) {
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			for _, e := range p.Exemplars {
				add(e.TraceID)
			}
		}
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			for _, e := range p.Exemplars {
				add(e.TraceID)
			}
		}
	default:
		t.Fatalf("%s is %T", name, d)
	}
	return out
}
