package grpc

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
)

// DefaultDrainTimeout bounds the graceful stop. It is below the service's
// default shutdown timeout (30s) so that the server is stopped, and the
// forced stop logged, before the service gives up on the component.
const DefaultDrainTimeout = 25 * time.Second

// DefaultMaxHeaderListSize caps the metadata of a request, in bytes.
const DefaultMaxHeaderListSize = 1 << 20

// Option configures a Component; New validates it.
type Option func(*config) error

type config struct {
	tp     trace.TracerProvider
	mp     metric.MeterProvider
	prop   propagation.TextMapPropagator
	logger *slog.Logger

	creds         credentials.TransportCredentials
	maxRecv       int
	maxSend       int
	keepalive     *keepalive.ServerParameters
	enforcement   *keepalive.EnforcementPolicy
	serverOpts    []grpc.ServerOption
	unary         []grpc.UnaryServerInterceptor
	stream        []grpc.StreamServerInterceptor
	reflection    bool
	withoutHealth bool
	drainTimeout  time.Duration
}

// WithTracerProvider sets the tracer provider of the SERVER spans; the
// default is the global provider.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) error {
		if tp == nil {
			return errors.New("grpc: WithTracerProvider: tracer provider is nil")
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
			return errors.New("grpc: WithMeterProvider: meter provider is nil")
		}
		c.mp = mp
		return nil
	}
}

// WithPropagator sets the propagator that extracts the caller's trace
// context from the request metadata; the default is the global propagator.
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(c *config) error {
		if p == nil {
			return errors.New("grpc: WithPropagator: propagator is nil")
		}
		c.prop = p
		return nil
	}
}

// WithLogger sets the logger of access logs and panics, and the logger that
// handlers find with log.FromContext. The default is the logger in the
// context given to Run, which the service sets.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("grpc: WithLogger: logger is nil")
		}
		c.logger = l
		return nil
	}
}

// WithTLS serves TLS with cfg (cloned; TLS 1.2 at least). Use
// WithCredentials for other transport security such as mTLS helpers or
// ALTS.
func WithTLS(cfg *tls.Config) Option {
	return func(c *config) error {
		if cfg == nil {
			return errors.New("grpc: WithTLS: TLS config is nil")
		}
		if len(cfg.Certificates) == 0 && cfg.GetCertificate == nil && cfg.GetConfigForClient == nil {
			return errors.New("grpc: WithTLS: TLS config has no certificate (set Certificates, GetCertificate or GetConfigForClient)")
		}
		cfg = cfg.Clone()
		if cfg.MinVersion < tls.VersionTLS12 {
			cfg.MinVersion = tls.VersionTLS12
		}
		return setCredentials(c, credentials.NewTLS(cfg))
	}
}

// WithCredentials serves with the given transport credentials.
func WithCredentials(creds credentials.TransportCredentials) Option {
	return func(c *config) error {
		if creds == nil {
			return errors.New("grpc: WithCredentials: transport credentials are nil")
		}
		return setCredentials(c, creds)
	}
}

func setCredentials(c *config, creds credentials.TransportCredentials) error {
	if c.creds != nil {
		return errors.New("grpc: transport credentials set twice (WithTLS and WithCredentials are exclusive)")
	}
	c.creds = creds
	return nil
}

// WithMaxMessageSize limits the size in bytes of a received and of a sent
// message. gRPC's defaults are 4 MiB received and 2 GiB sent.
func WithMaxMessageSize(recv, send int) Option {
	return func(c *config) error {
		if recv <= 0 || send <= 0 {
			return errors.New("grpc: WithMaxMessageSize: max message sizes must be positive")
		}
		c.maxRecv, c.maxSend = recv, send
		return nil
	}
}

// WithKeepalive sets the server's keepalive parameters and the policy it
// enforces on clients' pings.
func WithKeepalive(params keepalive.ServerParameters, policy keepalive.EnforcementPolicy) Option {
	return func(c *config) error {
		if params.Time < 0 || params.Timeout < 0 || params.MaxConnectionIdle < 0 ||
			params.MaxConnectionAge < 0 || params.MaxConnectionAgeGrace < 0 || policy.MinTime < 0 {
			return errors.New("grpc: WithKeepalive: keepalive durations must not be negative")
		}
		c.keepalive, c.enforcement = &params, &policy
		return nil
	}
}

// WithServerOptions passes options to grpc.NewServer after Patron's own, so
// they win where both set the same thing. Do not pass grpc.StatsHandler
// unless a second handler is meant: Patron already installs otelgrpc's.
func WithServerOptions(opts ...grpc.ServerOption) Option {
	return func(c *config) error {
		for _, o := range opts {
			if o == nil {
				return errors.New("grpc: WithServerOptions: server option is nil")
			}
		}
		c.serverOpts = append(c.serverOpts, opts...)
		return nil
	}
}

// WithUnaryInterceptors adds interceptors that run, in order, inside
// Patron's: they see the correlation ID, the span and the context logger, and
// their panics are recovered.
func WithUnaryInterceptors(is ...grpc.UnaryServerInterceptor) Option {
	return func(c *config) error {
		for _, i := range is {
			if i == nil {
				return errors.New("grpc: WithUnaryInterceptors: unary interceptor is nil")
			}
		}
		c.unary = append(c.unary, is...)
		return nil
	}
}

// WithStreamInterceptors adds stream interceptors, like
// WithUnaryInterceptors.
func WithStreamInterceptors(is ...grpc.StreamServerInterceptor) Option {
	return func(c *config) error {
		for _, i := range is {
			if i == nil {
				return errors.New("grpc: WithStreamInterceptors: stream interceptor is nil")
			}
		}
		c.stream = append(c.stream, is...)
		return nil
	}
}

// WithReflection registers the server reflection service (v1 and
// v1alpha), which tools such as grpcurl use to discover the services.
func WithReflection() Option {
	return func(c *config) error { c.reflection = true; return nil }
}

// WithoutHealth leaves the grpc.health.v1.Health service out, for users who
// register their own (registering it twice would stop the process).
func WithoutHealth() Option {
	return func(c *config) error { c.withoutHealth = true; return nil }
}

// WithDrainTimeout bounds how long Run waits for in-flight RPCs after its
// context is cancelled before it stops the server hard; the default is
// DefaultDrainTimeout. Keep it below the service's shutdown timeout.
func WithDrainTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return errors.New("grpc: WithDrainTimeout: drain timeout must be positive")
		}
		c.drainTimeout = d
		return nil
	}
}
