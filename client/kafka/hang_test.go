package kafka_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/patron-go/patron/client/kafka"
	"github.com/patron-go/patron/observability/observabilitytest"
	"github.com/patron-go/patron/patrontest/kafkatest"
	"github.com/patron-go/patron/patrontest/testenv"
)

// hangGuard is how long a call may take before the test calls it a hang;
// it is a guard against a blocked test binary, not a timing assertion.
const hangGuard = 20 * time.Second

// returns runs f and fails the test if it has not returned within hangGuard.
func returns[T any](t *testing.T, what string, f func() T) T {
	t.Helper()
	ch := make(chan T, 1)
	go func() { ch <- f() }()
	select {
	case v := <-ch:
		return v
	case <-time.After(hangGuard):
		t.Fatalf("%s blocked", what)
		panic("unreachable")
	}
}

// callbacks collects SendAsync outcomes.
type callbacks struct {
	mu   sync.Mutex
	errs []error
	all  sync.WaitGroup
}

func (c *callbacks) cb() kafka.Callback {
	c.all.Add(1)
	return func(_ *kafka.Message, err error) {
		c.mu.Lock()
		c.errs = append(c.errs, err)
		c.mu.Unlock()
		c.all.Done()
	}
}

// fillBuffer hands p as many messages as its buffer holds (2).
func fillBuffer(t *testing.T, p *kafka.Producer, cbs *callbacks) {
	t.Helper()
	for range 2 {
		if err := p.SendAsync(t.Context(), kafka.NewMessage("t", []byte("v")), cbs.cb()); err != nil {
			t.Fatal(err)
		}
	}
}

func assertClosedErrors(t *testing.T, cbs *callbacks, n int) {
	t.Helper()
	returns(t, "waiting for the callbacks", func() struct{} { cbs.all.Wait(); return struct{}{} })
	cbs.mu.Lock()
	defer cbs.mu.Unlock()
	if len(cbs.errs) != n {
		t.Fatalf("%d callbacks ran, want %d", len(cbs.errs), n)
	}
	for _, err := range cbs.errs {
		if !errors.Is(err, kafka.ErrClosed) {
			t.Fatalf("buffered record failed with %v, want ErrClosed", err)
		}
	}
}

// With no broker reachable and the buffer full, SendAsync and Send give up
// when their context ends, and Close returns by its deadline, failing the
// buffered records through their callbacks.
func TestFullBufferUnreachableBroker(t *testing.T) {
	kit := observabilitytest.New(t)
	p, err := kafka.NewProducer([]string{testenv.FreeAddr(t)},
		kafka.WithTracerProvider(kit.TracerProvider), kafka.WithMeterProvider(kit.MeterProvider),
		kafka.WithClientOptions(kgo.MaxBufferedRecords(2)))
	if err != nil {
		t.Fatal(err)
	}
	var cbs callbacks
	fillBuffer(t, p, &cbs)

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	called := false
	err = returns(t, "SendAsync on a full buffer", func() error {
		return p.SendAsync(ctx, kafka.NewMessage("t", []byte("v")), func(*kafka.Message, error) { called = true })
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("SendAsync = %v, want DeadlineExceeded", err)
	}
	err = returns(t, "Send on a full buffer", func() error { return p.Send(ctx, kafka.NewMessage("t", []byte("v"))) })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send = %v, want DeadlineExceeded", err)
	}

	// A SendAsync still waiting for room when Close starts fails with ErrClosed.
	waiting := make(chan error, 1)
	go func() { waiting <- p.SendAsync(t.Context(), kafka.NewMessage("t", []byte("v")), nil) }()

	closeCtx, cancelClose := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancelClose()
	err = returns(t, "Close", func() error { return p.Close(closeCtx) })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close = %v, want the deadline reported", err)
	}
	if err := returns(t, "the waiting SendAsync", func() error { return <-waiting }); !errors.Is(err, kafka.ErrClosed) {
		t.Fatalf("waiting SendAsync = %v, want ErrClosed", err)
	}
	assertClosedErrors(t, &cbs, 2)
	if called {
		t.Fatal("the callback of a message never handed over ran")
	}
}

// Against a broker that never answers produce requests (kfake), Send returns
// when its context ends, and Close by its deadline with the in-flight records
// failed.
func TestBrokerNotAnswering(t *testing.T) {
	cluster := kafkatest.New(t)
	kit := observabilitytest.New(t)
	topic := cluster.Topic(t, 1)
	stall := make(chan struct{})
	defer close(stall)
	cluster.Fake().ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		cluster.Fake().KeepControl()
		<-stall
		return nil, nil, false
	})
	p, err := kafka.NewProducer(cluster.Addrs(),
		kafka.WithTracerProvider(kit.TracerProvider), kafka.WithMeterProvider(kit.MeterProvider),
		kafka.WithClientOptions(kgo.MaxBufferedRecords(2)))
	if err != nil {
		t.Fatal(err)
	}
	var cbs callbacks
	for range 2 {
		if err := p.SendAsync(t.Context(), kafka.NewMessage(topic, []byte("v")), cbs.cb()); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := returns(t, "Send", func() error { return p.Send(ctx, kafka.NewMessage(topic, []byte("v"))) }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send = %v, want DeadlineExceeded", err)
	}
	closeCtx, cancelClose := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancelClose()
	if err := returns(t, "Close", func() error { return p.Close(closeCtx) }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close = %v, want the deadline reported", err)
	}
	assertClosedErrors(t, &cbs, 2)
}
