package kafka_test

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/patron-go/patron/component/kafka"
)

// patternSampler records the spans whose start is in record (by call
// number) and keeps the attributes each start showed it.
type patternSampler struct {
	record []bool
	mu     sync.Mutex
	calls  [][]attribute.KeyValue
}

func (s *patternSampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	s.mu.Lock()
	n := len(s.calls)
	s.calls = append(s.calls, slices.Clone(p.Attributes))
	s.mu.Unlock()
	d := sdktrace.Drop
	if n < len(s.record) && s.record[n] {
		d = sdktrace.RecordAndSample
	}
	return sdktrace.SamplingResult{Decision: d}
}

func (*patternSampler) Description() string { return "pattern" }

// A record's span carries every messaging attribute whichever the
// sampler's earlier decisions were (the worker gives the per-record ones at
// the start only while spans record), and the sampler always sees the
// attributes the semantic conventions mark for sampling.
func TestSpanAttributesWhateverTheSampler(t *testing.T) {
	e := newEnv(t, 1)
	// Starts after a recorded span get every attribute at the start
	// (1, 2, 4, 7, 8), the others only the sampling ones; keyed and
	// keyless records in both, recorded and dropped.
	pattern := []bool{true, true, false, true, false, false, true, true, false, true}
	keyless := []int{2, 3, 7}
	sampler := &patternSampler{record: pattern}
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sampler), sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

	recs := make([]*kgo.Record, len(pattern))
	for i := range recs {
		recs[i] = &kgo.Record{Value: []byte(`{"n":` + strconv.Itoa(i) + `}`)}
		if !slices.Contains(keyless, i) {
			recs[i].Key = []byte("k-" + strconv.Itoa(i))
		}
	}
	e.produce(t, recs...)
	done := make(chan struct{}, len(recs))
	c := e.consumer(t, func(context.Context, *kafka.Message) error {
		done <- struct{}{}
		return nil
	}, kafka.WithTracerProvider(tp))
	r := run(t, c)
	for range recs {
		<-done
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}

	sampling := []attribute.KeyValue{
		semconv.MessagingSystemKafka,
		semconv.MessagingDestinationName(e.topic),
		semconv.MessagingOperationTypeProcess,
		semconv.MessagingOperationName("process"),
		semconv.MessagingConsumerGroupName(e.group),
	}
	sampler.mu.Lock()
	calls := sampler.calls
	sampler.mu.Unlock()
	if len(calls) != len(recs) {
		t.Fatalf("sampler asked %d times, want %d", len(calls), len(recs))
	}
	for i, attrs := range calls {
		for _, want := range sampling {
			if !slices.Contains(attrs, want) {
				t.Errorf("start %d: sampler did not see %s=%s (saw %v)", i, want.Key, want.Value.String(), attrs)
			}
		}
	}

	var recorded int
	for _, s := range rec.Ended() {
		if s.Name() != "process "+e.topic {
			continue
		}
		recorded++
		attrs := s.Attributes()
		var offset int
		for _, a := range attrs {
			if a.Key == semconv.MessagingKafkaOffsetKey {
				offset = int(a.Value.AsInt64())
			}
		}
		want := append(slices.Clone(sampling),
			semconv.MessagingDestinationPartitionID("0"),
			semconv.MessagingKafkaOffset(offset),
			semconv.MessagingMessageBodySize(len(recs[offset].Value)))
		if recs[offset].Key != nil {
			want = append(want, semconv.MessagingKafkaMessageKey(string(recs[offset].Key)))
		}
		if len(attrs) != len(want) {
			t.Errorf("offset %d: %d attributes %v, want %v", offset, len(attrs), attrs, want)
		}
		for _, w := range want {
			if !slices.Contains(attrs, w) {
				t.Errorf("offset %d: missing %s=%s in %v", offset, w.Key, w.Value.String(), attrs)
			}
		}
		if !pattern[offset] {
			t.Errorf("offset %d recorded, the sampler dropped it", offset)
		}
	}
	var want int
	for _, p := range pattern {
		if p {
			want++
		}
	}
	if recorded != want {
		t.Fatalf("%d spans recorded, want %d", recorded, want)
	}
}
