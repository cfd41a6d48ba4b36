package sqs_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/patron-go/patron/component/sqs"
	"github.com/patron-go/patron/observability/observabilitytest"
	"github.com/patron-go/patron/patrontest/sqstest"
)

// WithBatch hands messages over in batches under one span per batch, and a
// handled batch is deleted.
func TestBatchHandler(t *testing.T) {
	f := newFixture(t)
	name := sqstest.UniqueName("batch")
	url, _ := sqstest.CreateQueue(t, f.sqs, name, nil)
	const total = 12
	bodies := make([]string, total)
	for i := range bodies {
		bodies[i] = `{"n":1}`
	}
	send(t, f.sqs, url, bodies...)

	var mu sync.Mutex
	var sizes []int
	handled := 0
	c, err := sqs.New("consumer", url, nil, f.opts(
		sqs.WithWaitTime(time.Second),
		sqs.WithBatch(func(_ context.Context, msgs []*sqs.Message) error {
			for _, m := range msgs {
				var v struct{ N int }
				if err := m.Decode(&v); err != nil || v.N != 1 {
					t.Errorf("decode %q: %v", m.Body, err)
				}
			}
			mu.Lock()
			sizes = append(sizes, len(msgs))
			handled += len(msgs)
			mu.Unlock()
			return nil
		}, 5, 200*time.Millisecond))...)
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, c)
	sqstest.WaitFor(t, 30*time.Second, "every message handled and deleted", func() bool {
		mu.Lock()
		n := handled
		mu.Unlock()
		return n == total && sqstest.QueueDepth(t, f.sqs, url) == 0
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, s := range sizes {
		if s < 1 || s > 5 {
			t.Fatalf("batch sizes %v, want 1 to 5", sizes)
		}
	}
	if spans := observabilitytest.Named(f.kit.Spans(), "process "+name); len(spans) != len(sizes) {
		t.Errorf("%d spans for %d batches, want one per batch", len(spans), len(sizes))
	}
	if _, err := sqs.New("c", "q", func(context.Context, *sqs.Message) error { return nil },
		sqs.WithBatch(func(context.Context, []*sqs.Message) error { return nil }, 1, time.Second)); err == nil {
		t.Error("a handler and a batch handler accepted")
	}
}
