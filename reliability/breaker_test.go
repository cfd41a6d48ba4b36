package reliability

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/patron-go/patron/observability/observabilitytest"
	"github.com/patron-go/patron/patrontest/testenv"
)

func waitState(t *testing.T, b *Breaker, want BreakerState) {
	t.Helper()
	testenv.WaitFor(t, 10*time.Second, "breaker state "+want.String(), func() bool { return b.State() == want })
}

func stateGauge(t *testing.T, kit *observabilitytest.Kit, name string, s BreakerState) float64 {
	t.Helper()
	return kit.Sum(t, BreakerStateMetric, BreakerNameKey.String(name), BreakerStateKey.String(s.String()))
}

func TestBreakerOpensFailsFastAndRecovers(t *testing.T) {
	kit := observabilitytest.New(t)
	var changes []string
	b, err := NewBreaker("dep",
		WithFailureThreshold(3),
		WithOpenTimeout(50*time.Millisecond),
		WithMeterProvider(kit.MeterProvider),
		WithStateChange(func(_ string, from, to BreakerState) { changes = append(changes, from.String()+"->"+to.String()) }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	if g := stateGauge(t, kit, "dep", BreakerClosed); g != 1 {
		t.Fatalf("closed gauge = %v, want 1", g)
	}

	boom := errors.New("boom")
	for range 3 {
		if err := b.Execute(t.Context(), func(context.Context) error { return boom }); !errors.Is(err, boom) {
			t.Fatalf("Execute = %v, want boom", err)
		}
	}
	if b.State() != BreakerOpen {
		t.Fatalf("state after 3 failures = %s, want open", b.State())
	}
	if g := stateGauge(t, kit, "dep", BreakerOpen); g != 1 {
		t.Fatalf("open gauge = %v, want 1", g)
	}
	called := false
	err = b.Execute(t.Context(), func(context.Context) error { called = true; return nil })
	if !errors.Is(err, ErrBreakerOpen) || called {
		t.Fatalf("open breaker: err = %v, called = %v; want ErrBreakerOpen without a call", err, called)
	}

	waitState(t, b, BreakerHalfOpen)
	// One trial call at a time while half-open.
	done, err := b.Allow()
	if err != nil {
		t.Fatalf("half-open Allow = %v", err)
	}
	if _, err := b.Allow(); !errors.Is(err, ErrBreakerOpen) {
		t.Fatalf("second half-open Allow = %v, want ErrBreakerOpen", err)
	}
	done(nil)
	if b.State() != BreakerClosed {
		t.Fatalf("state after a successful trial = %s, want closed", b.State())
	}
	if g := stateGauge(t, kit, "dep", BreakerClosed); g != 1 {
		t.Fatalf("closed gauge after recovery = %v, want 1", g)
	}
	want := []string{"closed->open", "open->half_open", "half_open->closed"}
	if len(changes) != len(want) {
		t.Fatalf("state changes %v, want %v", changes, want)
	}
	for i := range want {
		if changes[i] != want[i] {
			t.Fatalf("state changes %v, want %v", changes, want)
		}
	}
}

func TestBreakerHalfOpenFailureReopens(t *testing.T) {
	b, err := NewBreaker("reopen", WithFailureThreshold(1), WithOpenTimeout(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	_ = b.Execute(t.Context(), func(context.Context) error { return errors.New("x") })
	waitState(t, b, BreakerHalfOpen)
	_ = b.Execute(t.Context(), func(context.Context) error { return errors.New("still down") })
	if s := b.State(); s != BreakerOpen {
		t.Fatalf("state = %s, want open", s)
	}
}

func TestBreakerIgnoresCallerCancellation(t *testing.T) {
	b, err := NewBreaker("cancel", WithFailureThreshold(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	for range 3 {
		_ = b.Execute(t.Context(), func(context.Context) error { return context.Canceled })
	}
	if s := b.State(); s != BreakerClosed {
		t.Fatalf("state after cancellations = %s, want closed", s)
	}
}

func TestBreakerPanicCountsAsFailure(t *testing.T) {
	b, err := NewBreaker("panic", WithFailureThreshold(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	func() {
		defer func() { _ = recover() }()
		_ = b.Execute(t.Context(), func(context.Context) error { panic("bad") })
	}()
	if s := b.State(); s != BreakerOpen {
		t.Fatalf("state after a panic = %s, want open", s)
	}
}

func TestBreakerFailurePredicate(t *testing.T) {
	notFound := errors.New("not found")
	b, err := NewBreaker("pred", WithFailureThreshold(1),
		WithFailurePredicate(func(err error) bool { return !errors.Is(err, notFound) }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	_ = b.Execute(t.Context(), func(context.Context) error { return notFound })
	if s := b.State(); s != BreakerClosed {
		t.Fatalf("state = %s, want closed", s)
	}
}

func TestBreakerOptionsValidated(t *testing.T) {
	for name, opt := range map[string]BreakerOption{
		"threshold": WithFailureThreshold(0),
		"timeout":   WithOpenTimeout(0),
		"half-open": WithHalfOpenCalls(0),
		"interval":  WithCountInterval(-time.Second),
		"predicate": WithFailurePredicate(nil),
		"callback":  WithStateChange(nil),
		"meter":     WithMeterProvider(nil),
		"logger":    WithLogger(nil),
	} {
		if _, err := NewBreaker("x", opt); err == nil {
			t.Errorf("%s: NewBreaker accepted an invalid option", name)
		}
	}
	if _, err := NewBreaker(""); err == nil {
		t.Error("NewBreaker accepted an empty name")
	}
}

func ExampleBreaker() {
	b, err := NewBreaker("payments", WithFailureThreshold(3), WithOpenTimeout(10*time.Second))
	if err != nil {
		panic(err)
	}
	defer b.Close()
	err = b.Execute(context.Background(), func(ctx context.Context) error {
		return nil // call the dependency here
	})
	fmt.Println(err, b.State())
	// Output: <nil> closed
}
