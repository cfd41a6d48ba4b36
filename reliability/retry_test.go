package reliability

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestBackoffDelay(t *testing.T) {
	b := Backoff{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond, Multiplier: 2, NoJitter: true}
	want := []time.Duration{10, 20, 40, 50, 50}
	for i, w := range want {
		if got := b.Delay(i); got != w*time.Millisecond {
			t.Errorf("Delay(%d) = %s, want %s", i, got, w*time.Millisecond)
		}
	}
	j := Backoff{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond}
	for i := range 100 {
		if d := j.Delay(i % 6); d < 0 || d > 50*time.Millisecond {
			t.Fatalf("jittered delay %s out of [0, 50ms]", d)
		}
	}
}

func TestRetry(t *testing.T) {
	b := Backoff{Initial: time.Microsecond, Max: time.Microsecond}
	calls := 0
	err := Retry(t.Context(), 5, b, func(context.Context) error {
		calls++
		if calls < 3 {
			return errors.New("flaky")
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("Retry = %v after %d calls, want nil after 3", err, calls)
	}

	calls = 0
	boom := errors.New("boom")
	err = Retry(t.Context(), 5, b, func(context.Context) error { calls++; return Permanent(boom) })
	if !errors.Is(err, boom) || calls != 1 {
		t.Fatalf("permanent error: %v after %d calls", err, calls)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err = Retry(ctx, 3, Backoff{Initial: time.Hour, Max: time.Hour, NoJitter: true}, func(context.Context) error { return boom })
	if !errors.Is(err, context.Canceled) || !errors.Is(err, boom) {
		t.Fatalf("cancelled retry = %v, want both the last error and context.Canceled", err)
	}
}
