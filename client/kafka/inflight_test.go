package kafka

import (
	"context"
	"testing"
	"time"
)

// Callbacks run once each, in push order, also when pushes race with the
// runner going to sleep, and close waits for every one of them.
func TestCallbackQueueOrder(t *testing.T) {
	q := newCallbackQueue(func() bool { return true })
	const n = 20000
	got := make([]int, 0, n)
	for i := range n {
		q.push(func(m *Message, _ error) { got = append(got, int(m.Offset)) }, &Message{Offset: int64(i)}, nil)
		if i%1000 == 0 {
			time.Sleep(time.Millisecond) // let the runner sleep now and then
		}
	}
	if err := q.close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("%d callbacks ran, want %d", len(got), n)
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("callback %d ran for message %d: out of order", i, v)
		}
	}
}

// An asynchronous message's context is never done, whatever the caller's
// context does, and still carries the caller's values; a synchronous one
// follows the caller's context.
func TestInflightContext(t *testing.T) {
	type key struct{}
	parent, cancel := context.WithTimeout(context.WithValue(t.Context(), key{}, "v"), time.Hour)
	cancel()
	async := &inflight{Context: parent, async: true}
	if async.Done() != nil || async.Err() != nil {
		t.Fatal("async message context is cancellable")
	}
	if _, ok := async.Deadline(); ok {
		t.Fatal("async message context has a deadline")
	}
	if async.Value(key{}) != "v" {
		t.Fatal("async message context lost the caller's values")
	}
	sync := &inflight{Context: parent}
	if sync.Err() == nil || sync.Done() == nil {
		t.Fatal("sync message context ignores the caller's cancellation")
	}
	if _, ok := sync.Deadline(); !ok {
		t.Fatal("sync message context lost the caller's deadline")
	}
}
