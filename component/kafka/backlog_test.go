package kafka_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/patron-go/patron/component/kafka"
)

// A backlog of at least the queue size on every partition is handled on all
// partitions at once: a full partition must not hold the others back. The
// first record of each partition waits in its handler until every partition
// has started one, which only happens when they are handled concurrently;
// one partition after another never gets there.
func TestBacklogHandledConcurrently(t *testing.T) {
	const (
		partitions = 6
		perPart    = 1000 // the default queue size: a full queue per partition
	)
	e := newEnv(t, partitions)
	cl := e.cluster.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	recs := make([]*kgo.Record, 0, partitions*perPart)
	for p := range int32(partitions) {
		for i := range perPart {
			recs = append(recs, &kgo.Record{Topic: e.topic, Partition: p, Value: fmt.Appendf(nil, "%d-%d", p, i)})
		}
	}
	if err := cl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	var (
		mu         sync.Mutex
		started    = map[int32]bool{}
		finished   = map[int32]int{}
		inFlight   int
		maxFlight  int
		anyDone    bool
		lateStarts []int32 // partitions whose first record started after one partition was done
		allStarted = make(chan struct{})
		done       = make(chan struct{})
	)
	c := e.consumer(t, func(ctx context.Context, msg *kafka.Message) error {
		mu.Lock()
		inFlight++
		maxFlight = max(maxFlight, inFlight)
		first := !started[msg.Partition]
		if first {
			started[msg.Partition] = true
			if anyDone {
				lateStarts = append(lateStarts, msg.Partition)
			}
			if len(started) == partitions {
				close(allStarted)
			}
		}
		mu.Unlock()
		if first {
			// A guard against hanging the suite, not a timing assertion:
			// sequential handling never releases this barrier.
			select {
			case <-allStarted:
			case <-time.After(wait):
			case <-ctx.Done():
			}
		}
		mu.Lock()
		inFlight--
		finished[msg.Partition]++
		if finished[msg.Partition] == perPart {
			anyDone = true
			if len(finished) == partitions && allFull(finished, perPart) {
				close(done)
			}
		}
		mu.Unlock()
		return nil
	})
	run(t, c)
	select {
	case <-done:
	case <-time.After(2 * wait):
		mu.Lock()
		n, f := len(started), fmt.Sprint(finished)
		mu.Unlock()
		t.Fatalf("backlog not handled: started %d partitions, finished %s", n, f)
	}
	mu.Lock()
	defer mu.Unlock()
	if maxFlight != partitions {
		t.Errorf("at most %d handlers ran at once, want %d (one per partition)", maxFlight, partitions)
	}
	if len(lateStarts) > 0 {
		t.Errorf("partitions %v started only after another partition had finished", lateStarts)
	}
}

func allFull(m map[int32]int, n int) bool {
	for _, v := range m {
		if v != n {
			return false
		}
	}
	return true
}
