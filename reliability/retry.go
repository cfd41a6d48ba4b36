// Package reliability holds the failure-handling policies shared by Patron's
// clients and consumers: retries with exponential backoff and full jitter,
// and circuit breakers.
package reliability

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Backoff computes exponential delays with full jitter (a uniform draw in
// [0, capped exponential]), which spreads retries of many clients that
// failed together. The zero value uses the defaults of DefaultBackoff.
type Backoff struct {
	Initial    time.Duration // first delay cap; default 100ms
	Max        time.Duration // largest delay; default 10s
	Multiplier float64       // growth per attempt; default 2
	NoJitter   bool          // exact delays, for tests and fixed schedules
}

// DefaultBackoff starts at 100ms and doubles up to 10s.
func DefaultBackoff() Backoff {
	return Backoff{Initial: 100 * time.Millisecond, Max: 10 * time.Second, Multiplier: 2}
}

// Delay returns the delay before retry number attempt (0 is the first retry).
func (b Backoff) Delay(attempt int) time.Duration {
	d := DefaultBackoff()
	if b.Initial > 0 {
		d.Initial = b.Initial
	}
	if b.Max > 0 {
		d.Max = b.Max
	}
	if b.Multiplier >= 1 {
		d.Multiplier = b.Multiplier
	}
	capped := float64(d.Initial)
	for i := 0; i < attempt && capped < float64(d.Max); i++ {
		capped *= d.Multiplier
	}
	capped = min(capped, float64(d.Max))
	if b.NoJitter {
		return time.Duration(capped)
	}
	return time.Duration(rand.Int64N(int64(capped) + 1))
}

// Sleep waits for Delay(attempt) or until ctx ends, whichever comes first,
// and returns ctx's error in the latter case.
func (b Backoff) Sleep(ctx context.Context, attempt int) error {
	t := time.NewTimer(b.Delay(attempt))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ErrPermanent marks an error that retrying cannot fix; Retry stops at once.
var ErrPermanent = errors.New("permanent error")

// Permanent wraps err so that Retry, and the consumers' failure strategies,
// do not retry it.
func Permanent(err error) error { return fmt.Errorf("%w: %w", ErrPermanent, err) }

// IsPermanent reports whether err is marked as one that retrying cannot fix:
// a Permanent error, or a malformed message body from package encoding.
func IsPermanent(err error) bool { return errors.Is(err, ErrPermanent) }

// Retry calls fn up to attempts times (at least once), sleeping b's delays in
// between, until fn returns nil, a Permanent error, or ctx ends. It returns
// fn's last error.
func Retry(ctx context.Context, attempts int, b Backoff, fn func(ctx context.Context) error) error {
	var err error
	for i := 0; i < max(attempts, 1); i++ {
		if i > 0 {
			if serr := b.Sleep(ctx, i-1); serr != nil {
				return errors.Join(err, serr)
			}
		}
		if err = fn(ctx); err == nil || errors.Is(err, ErrPermanent) {
			return err
		}
	}
	return err
}
