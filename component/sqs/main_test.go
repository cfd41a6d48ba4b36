package sqs_test

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"

	"github.com/patron-go/patron/component/sqs"
	"github.com/patron-go/patron/observability/observabilitytest"
	"github.com/patron-go/patron/patrontest/sqstest"
)

// TestMain stops the shared emulator, then checks for leaked goroutines.
func TestMain(m *testing.M) { os.Exit(sqstest.Main(m, func() error { return goleak.Find() })) }

type fixture struct {
	emu *sqstest.Emulator
	sqs *awssqs.Client
	kit *observabilitytest.Kit
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	emu := sqstest.Shared(t)
	return &fixture{emu: emu, sqs: sqstest.NewSQSClient(emu.Endpoint()), kit: observabilitytest.New(t)}
}

func (f *fixture) opts(extra ...sqs.Option) []sqs.Option {
	return append([]sqs.Option{
		sqs.WithClient(f.sqs),
		sqs.WithTracerProvider(f.kit.TracerProvider),
		sqs.WithMeterProvider(f.kit.MeterProvider),
		sqs.WithPropagator(f.kit.Propagator),
	}, extra...)
}

// start runs c until the returned stop is called (or the test ends) and
// returns Run's error from stop.
func start(t *testing.T, c *sqs.Component) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				err = errors.New("Run did not return within 30s of cancellation")
			}
		})
		return err
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return stop
}

// recorder collects what the handler saw.
type recorder struct {
	mu   sync.Mutex
	msgs []seen
}

type seen struct {
	msg         *sqs.Message
	at          time.Time
	correlation string
}

func (r *recorder) add(s seen) {
	r.mu.Lock()
	r.msgs = append(r.msgs, s)
	r.mu.Unlock()
}

func (r *recorder) all() []seen {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]seen(nil), r.msgs...)
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

func containsAttr(data any, attr attribute.KeyValue) bool {
	switch d := data.(type) {
	case metricdata.Gauge[int64]:
		for _, p := range d.DataPoints {
			if v, ok := p.Attributes.Value(attr.Key); ok && v == attr.Value {
				return true
			}
		}
	}
	return false
}
