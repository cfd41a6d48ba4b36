package reliability

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/sony/gobreaker/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/patron-go/patron/internal/option"
	"github.com/patron-go/patron/observability"
)

// ErrBreakerOpen is returned (wrapped) when a circuit breaker rejects a call
// without trying it: the breaker is open, or half-open with all its trial
// calls in flight.
var ErrBreakerOpen = errors.New("circuit breaker is open")

// BreakerState is the state of a circuit breaker.
type BreakerState int

// States of a circuit breaker. Closed lets calls through and counts
// failures; Open rejects calls until its timeout passes; HalfOpen lets a few
// trial calls through, which close the breaker if they succeed and open it
// again if one fails.
const (
	BreakerClosed BreakerState = iota
	BreakerHalfOpen
	BreakerOpen
)

// String returns "closed", "half_open" or "open", the values of the state
// metric's attribute.
func (s BreakerState) String() string {
	switch s {
	case BreakerClosed:
		return "closed"
	case BreakerHalfOpen:
		return "half_open"
	case BreakerOpen:
		return "open"
	default:
		return fmt.Sprintf("unknown(%d)", int(s))
	}
}

func stateOf(s gobreaker.State) BreakerState {
	switch s {
	case gobreaker.StateHalfOpen:
		return BreakerHalfOpen
	case gobreaker.StateOpen:
		return BreakerOpen
	default:
		return BreakerClosed
	}
}

// Metric and attribute names of the breaker's state gauge. The gauge has one
// series per state, 1 for the current state and 0 for the others, so that a
// dashboard can plot or alert on circuit_breaker_state{state="open"} == 1.
const (
	BreakerStateMetric = "circuit_breaker.state"
	BreakerNameKey     = attribute.Key("circuit_breaker.name")
	BreakerStateKey    = attribute.Key("circuit_breaker.state")
)

type breakerConfig struct {
	failures    uint32
	openTimeout time.Duration
	halfOpen    uint32
	interval    time.Duration
	isFailure   func(error) bool
	onChange    func(name string, from, to BreakerState)
	mp          metric.MeterProvider
	logger      *slog.Logger
}

// BreakerOption configures NewBreaker.
type BreakerOption func(*breakerConfig) error

// WithFailureThreshold opens the breaker after n consecutive failures
// (default 5).
func WithFailureThreshold(n int) BreakerOption {
	return func(c *breakerConfig) error {
		if n < 1 {
			return fmt.Errorf("reliability: failure threshold %d must be at least 1", n)
		}
		c.failures = uint32(n)
		return nil
	}
}

// WithOpenTimeout sets how long the breaker stays open before it lets trial
// calls through (default 30s).
func WithOpenTimeout(d time.Duration) BreakerOption {
	return func(c *breakerConfig) error {
		if d <= 0 {
			return fmt.Errorf("reliability: open timeout %s must be positive", d)
		}
		c.openTimeout = d
		return nil
	}
}

// WithHalfOpenCalls sets how many trial calls the half-open breaker lets
// through at once; that many successes close it (default 1).
func WithHalfOpenCalls(n int) BreakerOption {
	return func(c *breakerConfig) error {
		if n < 1 {
			return fmt.Errorf("reliability: half-open calls %d must be at least 1", n)
		}
		c.halfOpen = uint32(n)
		return nil
	}
}

// WithCountInterval clears the failure counts of the closed breaker every d,
// so that rare failures spread over a long time never add up (default: the
// counts only reset on a success, since the threshold is of consecutive
// failures).
func WithCountInterval(d time.Duration) BreakerOption {
	return func(c *breakerConfig) error {
		if d <= 0 {
			return fmt.Errorf("reliability: count interval %s must be positive", d)
		}
		c.interval = d
		return nil
	}
}

// WithFailurePredicate decides which errors count as failures. By default
// every error does except context.Canceled, which says the caller gave up,
// not that the dependency is unwell; errors for which isFailure returns false
// count as successes.
func WithFailurePredicate(isFailure func(error) bool) BreakerOption {
	return func(c *breakerConfig) error {
		if isFailure == nil {
			return errors.New("reliability: failure predicate is nil")
		}
		c.isFailure = isFailure
		return nil
	}
}

// WithStateChange calls f on every state change. f runs while the breaker
// holds its lock: it must be quick and must not call the breaker.
func WithStateChange(f func(name string, from, to BreakerState)) BreakerOption {
	return func(c *breakerConfig) error {
		if f == nil {
			return errors.New("reliability: state change callback is nil")
		}
		c.onChange = f
		return nil
	}
}

// WithMeterProvider sets the meter provider of the state gauge (default: the
// global one).
func WithMeterProvider(mp metric.MeterProvider) BreakerOption {
	return func(c *breakerConfig) error {
		if mp == nil {
			return errors.New("reliability: meter provider is nil")
		}
		c.mp = mp
		return nil
	}
}

// WithLogger logs state changes to l (default: slog.Default()), at warn when
// the breaker opens and at info otherwise.
func WithLogger(l *slog.Logger) BreakerOption {
	return func(c *breakerConfig) error {
		if l == nil {
			return errors.New("reliability: logger is nil")
		}
		c.logger = l
		return nil
	}
}

// Breaker is a circuit breaker (sony/gobreaker) that stops calling a
// dependency after consecutive failures, so that a failing dependency gets
// time to recover and callers fail fast instead of piling up. It is safe for
// concurrent use. Its state is exported as the BreakerStateMetric gauge.
type Breaker struct {
	name string
	cb   *gobreaker.TwoStepCircuitBreaker[struct{}]
	reg  metric.Registration
}

// NewBreaker returns a closed breaker. name identifies it in the state
// metric and logs; keep it low-cardinality (a dependency, not a URL).
func NewBreaker(name string, opts ...BreakerOption) (*Breaker, error) {
	if name == "" {
		return nil, errors.New("reliability: breaker name is empty")
	}
	cfg := breakerConfig{failures: 5, openTimeout: 30 * time.Second, halfOpen: 1}
	if err := option.Apply("reliability", &cfg, opts); err != nil {
		return nil, err
	}
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	isFailure := cfg.isFailure
	if isFailure == nil {
		isFailure = func(err error) bool { return !errors.Is(err, context.Canceled) }
	}
	logger := cfg.logger.With(slog.String(string(BreakerNameKey), name))
	settings := gobreaker.Settings{
		Name:        name,
		MaxRequests: cfg.halfOpen,
		Interval:    cfg.interval,
		Timeout:     cfg.openTimeout,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= cfg.failures },
		// A caller that gave up tells nothing about the dependency's health
		// either way, so it neither closes a half-open breaker nor counts.
		IsExcluded:   func(err error) bool { return errors.Is(err, context.Canceled) && cfg.isFailure == nil },
		IsSuccessful: func(err error) bool { return err == nil || !isFailure(err) },
		OnStateChange: func(name string, from, to gobreaker.State) {
			f, t := stateOf(from), stateOf(to)
			level := slog.LevelInfo
			if t == BreakerOpen {
				level = slog.LevelWarn
			}
			logger.Log(context.Background(), level, "circuit breaker state changed",
				slog.String("from", f.String()), slog.String("to", t.String()))
			if cfg.onChange != nil {
				cfg.onChange(name, f, t)
			}
		},
	}
	b := &Breaker{name: name, cb: gobreaker.NewTwoStepCircuitBreaker[struct{}](settings)}

	meter := observability.Meter(cfg.mp, observability.ModulePath+"/reliability")
	gauge, err := meter.Int64ObservableGauge(BreakerStateMetric,
		metric.WithUnit("{state}"),
		metric.WithDescription("State of a circuit breaker: 1 for the current state, 0 for the others."))
	if err != nil {
		return nil, fmt.Errorf("reliability: creating %s gauge: %w", BreakerStateMetric, err)
	}
	states := [...]BreakerState{BreakerClosed, BreakerHalfOpen, BreakerOpen}
	var sets [len(states)]metric.ObserveOption
	for i, s := range states {
		sets[i] = metric.WithAttributes(BreakerNameKey.String(name), BreakerStateKey.String(s.String()))
	}
	b.reg, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		// State() also moves an expired open breaker to half-open, so the
		// gauge does not report "open" after the timeout when no call came.
		cur := b.State()
		for i, s := range states {
			var v int64
			if s == cur {
				v = 1
			}
			o.ObserveInt64(gauge, v, sets[i])
		}
		return nil
	}, gauge)
	if err != nil {
		return nil, fmt.Errorf("reliability: registering %s callback: %w", BreakerStateMetric, err)
	}
	return b, nil
}

// Name returns the breaker's name.
func (b *Breaker) Name() string { return b.name }

// State returns the current state.
func (b *Breaker) State() BreakerState { return stateOf(b.cb.State()) }

// Allow asks the breaker for permission to make one call. When it is given,
// the caller makes the call and must then call done exactly once with the
// outcome (nil for success). Otherwise err wraps ErrBreakerOpen.
func (b *Breaker) Allow() (done func(err error), err error) {
	done, err = b.cb.Allow()
	if err != nil {
		return nil, fmt.Errorf("reliability: breaker %q: %w (%w)", b.name, ErrBreakerOpen, err)
	}
	return done, nil
}

// Execute calls fn when the breaker allows it and reports fn's outcome. It
// returns fn's error, or an error wrapping ErrBreakerOpen without calling fn.
func (b *Breaker) Execute(ctx context.Context, fn func(ctx context.Context) error) error {
	done, err := b.Allow()
	if err != nil {
		return err
	}
	// A panic in fn is a failure too; without this, a half-open breaker
	// would wait for a done that never comes and reject calls forever.
	reported := false
	defer func() {
		if !reported {
			done(errors.New("reliability: call panicked"))
		}
	}()
	err = fn(ctx)
	reported = true
	done(err)
	return err
}

// Close unregisters the state gauge's callback, so that a breaker that is no
// longer used can be garbage-collected. The breaker still works after Close.
func (b *Breaker) Close() error {
	if err := b.reg.Unregister(); err != nil {
		return fmt.Errorf("reliability: breaker %q: unregistering metric: %w", b.name, err)
	}
	return nil
}
