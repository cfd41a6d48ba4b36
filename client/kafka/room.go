package kafka

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
)

// room bounds the records the producer has handed franz-go to the client's
// kgo.MaxBufferedRecords, so that a sender waits for buffer room here, where
// its own context and Close can end the wait. kgo.Client.Produce would wait
// on the context it is given, which franz-go also keeps as the record's
// cancellation context: a SendAsync record must outlive its caller's
// context, so Produce cannot be given that context, and without room a
// full buffer (no broker reachable) blocked SendAsync and Close forever.
//
// used counts every record handed over, also without a bound, so that Close
// knows when the last promise ran. The fast path is one atomic add per record
// and one per promise.
type room struct {
	max     int64        // 0: unbounded (with manual flushing franz-go fails a full buffer itself)
	used    atomic.Int64 // records handed over whose promise has not finished
	waiters atomic.Int32

	mu    sync.Mutex
	freed chan struct{} // closed (and replaced) when room frees while someone waits
}

func newRoom(cl *kgo.Client) *room {
	r := &room{freed: make(chan struct{})}
	if manual, _ := cl.OptValue(kgo.ManualFlushing).(bool); manual {
		return r
	}
	switch n := cl.OptValue(kgo.MaxBufferedRecords).(type) {
	case int64:
		r.max = n
	case int:
		r.max = int64(n)
	}
	return r
}

// acquire takes one record's room, waiting until there is some, ctx ends
// or closing is closed.
func (r *room) acquire(ctx context.Context, closing <-chan struct{}) error {
	if r.max <= 0 {
		r.used.Add(1)
		return nil
	}
	for {
		if r.used.Add(1) <= r.max {
			return nil
		}
		r.used.Add(-1)
		// Register before reading freed and re-checking used: a release
		// after the check then sees the waiter and closes the channel
		// held here (or a later one, after which used shows room).
		r.waiters.Add(1)
		r.mu.Lock()
		freed := r.freed
		r.mu.Unlock()
		if r.used.Load() < r.max {
			r.waiters.Add(-1)
			continue
		}
		select {
		case <-freed:
			r.waiters.Add(-1)
		case <-ctx.Done():
			r.waiters.Add(-1)
			return fmt.Errorf("kafka: waiting for buffer room: %w", ctx.Err())
		case <-closing:
			r.waiters.Add(-1)
			return ErrClosed
		}
	}
}

// release gives back one record's room and returns how many records are
// still out.
func (r *room) release() int64 {
	n := r.used.Add(-1)
	if r.max > 0 && r.waiters.Load() > 0 {
		r.mu.Lock()
		close(r.freed)
		r.freed = make(chan struct{})
		r.mu.Unlock()
	}
	return n
}

// idle reports whether no record is out.
func (r *room) idle() bool { return r.used.Load() == 0 }
