package grpc

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// Option configures NewClient, which validates it.
type Option func(*config) error

type config struct {
	tp     trace.TracerProvider
	mp     metric.MeterProvider
	prop   propagation.TextMapPropagator
	logger *slog.Logger

	creds         credentials.TransportCredentials
	retry         RetryPolicy
	retrySet      bool
	noRetry       bool
	serviceConfig string
	dialOpts      []grpc.DialOption
	unary         []grpc.UnaryClientInterceptor
	stream        []grpc.StreamClientInterceptor
}

// RetryPolicy is the retry policy that NewClient writes into the channel's
// default service config, so that gRPC itself retries: transparently, per
// attempt, and only while no response has been received. Every attempt gets
// its own CLIENT span.
type RetryPolicy struct {
	// MaxAttempts counts the first call; 2 to 5 (gRPC caps it at 5).
	MaxAttempts int
	// InitialBackoff, MaxBackoff and BackoffMultiplier shape the random
	// delay before attempt n: up to min(Initial*Multiplier^(n-1), Max).
	InitialBackoff    time.Duration
	MaxBackoff        time.Duration
	BackoffMultiplier float64
	// RetryableCodes are the statuses worth another attempt. Only retry
	// what is safe for the methods of the channel: UNAVAILABLE means the
	// server did not process the call.
	RetryableCodes []codes.Code
}

// DefaultRetryPolicy retries UNAVAILABLE up to 3 attempts, 100ms to 1s
// apart.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{
		MaxAttempts:       3,
		InitialBackoff:    100 * time.Millisecond,
		MaxBackoff:        time.Second,
		BackoffMultiplier: 2,
		RetryableCodes:    []codes.Code{codes.Unavailable},
	}
}

func (p RetryPolicy) validate() error {
	switch {
	case p.MaxAttempts < 2 || p.MaxAttempts > 5:
		return fmt.Errorf("grpc client: retry MaxAttempts %d out of range 2..5 (use WithoutRetries for none)", p.MaxAttempts)
	case p.InitialBackoff <= 0 || p.MaxBackoff <= 0:
		return errors.New("grpc client: retry backoffs must be positive")
	case p.MaxBackoff < p.InitialBackoff:
		return errors.New("grpc client: retry MaxBackoff is below InitialBackoff")
	case p.BackoffMultiplier < 1:
		return errors.New("grpc client: retry BackoffMultiplier must be at least 1")
	case len(p.RetryableCodes) == 0:
		return errors.New("grpc client: retry policy has no RetryableCodes")
	}
	for _, c := range p.RetryableCodes {
		if c == codes.OK || c > codes.Unauthenticated {
			return fmt.Errorf("grpc client: retry code %d is not a retryable status", c)
		}
	}
	return nil
}

// WithTracerProvider sets the tracer provider of the CLIENT spans; the
// default is the global provider.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) error {
		if tp == nil {
			return errors.New("grpc client: tracer provider is nil")
		}
		c.tp = tp
		return nil
	}
}

// WithMeterProvider sets the meter provider of the RPC metrics; the default
// is the global provider.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) error {
		if mp == nil {
			return errors.New("grpc client: meter provider is nil")
		}
		c.mp = mp
		return nil
	}
}

// WithPropagator sets the propagator that writes the trace context into the
// request metadata; the default is the global propagator.
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(c *config) error {
		if p == nil {
			return errors.New("grpc client: propagator is nil")
		}
		c.prop = p
		return nil
	}
}

// WithLogger sets the logger of failed calls (debug level: the caller gets
// the error and the span has it). The default is slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("grpc client: logger is nil")
		}
		c.logger = l
		return nil
	}
}

// WithTLS connects over TLS with cfg (cloned; TLS 1.2 at least). A nil
// RootCAs means the system roots.
func WithTLS(cfg *tls.Config) Option {
	return func(c *config) error {
		if cfg == nil {
			return errors.New("grpc client: TLS config is nil")
		}
		cfg = cfg.Clone()
		if cfg.MinVersion < tls.VersionTLS12 {
			cfg.MinVersion = tls.VersionTLS12
		}
		return setCredentials(c, credentials.NewTLS(cfg))
	}
}

// WithCredentials connects with the given transport credentials.
func WithCredentials(creds credentials.TransportCredentials) Option {
	return func(c *config) error {
		if creds == nil {
			return errors.New("grpc client: transport credentials are nil")
		}
		return setCredentials(c, creds)
	}
}

// WithInsecure connects in plaintext. It must be asked for: NewClient has no
// default transport security, so that plaintext is never an accident.
func WithInsecure() Option {
	return func(c *config) error { return setCredentials(c, insecure.NewCredentials()) }
}

func setCredentials(c *config, creds credentials.TransportCredentials) error {
	if c.creds != nil {
		return errors.New("grpc client: transport security set twice (WithTLS, WithCredentials and WithInsecure are exclusive)")
	}
	c.creds = creds
	return nil
}

// WithRetryPolicy replaces DefaultRetryPolicy.
func WithRetryPolicy(p RetryPolicy) Option {
	return func(c *config) error {
		if err := p.validate(); err != nil {
			return err
		}
		p.RetryableCodes = append([]codes.Code(nil), p.RetryableCodes...)
		c.retry, c.retrySet, c.noRetry = p, true, false
		return nil
	}
}

// WithoutRetries turns gRPC retries off, including those a service config
// from the name resolver asks for: every call makes one attempt.
func WithoutRetries() Option {
	return func(c *config) error { c.noRetry = true; return nil }
}

// WithServiceConfig sets the channel's default service config (JSON, see
// https://github.com/grpc/grpc/blob/master/doc/service_config.md) instead
// of the one built from the retry policy (so it excludes WithRetryPolicy):
// for per-method policies, timeouts or load balancing. A service config from
// the name resolver wins over it.
func WithServiceConfig(json string) Option {
	return func(c *config) error {
		if json == "" {
			return errors.New("grpc client: service config is empty")
		}
		c.serviceConfig = json
		return nil
	}
}

// WithDialOptions passes options to grpc.NewClient after Patron's own, so
// they win where both set the same thing.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(c *config) error {
		for _, o := range opts {
			if o == nil {
				return errors.New("grpc client: dial option is nil")
			}
		}
		c.dialOpts = append(c.dialOpts, opts...)
		return nil
	}
}

// WithUnaryInterceptors adds interceptors that run, in order, after
// Patron's: they see the correlation ID in the outgoing metadata.
func WithUnaryInterceptors(is ...grpc.UnaryClientInterceptor) Option {
	return func(c *config) error {
		for _, i := range is {
			if i == nil {
				return errors.New("grpc client: unary interceptor is nil")
			}
		}
		c.unary = append(c.unary, is...)
		return nil
	}
}

// WithStreamInterceptors adds stream interceptors, like
// WithUnaryInterceptors.
func WithStreamInterceptors(is ...grpc.StreamClientInterceptor) Option {
	return func(c *config) error {
		for _, i := range is {
			if i == nil {
				return errors.New("grpc client: stream interceptor is nil")
			}
		}
		c.stream = append(c.stream, is...)
		return nil
	}
}
