package http

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Defaults of the server's limits. They bound what a slow or hostile client
// can hold: headers must arrive within 10s, bodies are capped at 4 MiB.
const (
	DefaultPort              = 50000
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 60 * time.Second
	DefaultWriteTimeout      = 60 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultShutdownTimeout   = 30 * time.Second
	DefaultMaxHeaderBytes    = 1 << 20
	DefaultBodyLimit         = 4 << 20
)

// Option configures a Component (New) or a handler (NewHandler). The
// listener, TLS and timeout options only matter to New.
type Option func(*config) error

type config struct {
	name              string
	addr              string
	listener          net.Listener
	tls               *tls.Config
	readTimeout       time.Duration
	readHeaderTimeout time.Duration
	writeTimeout      time.Duration
	idleTimeout       time.Duration
	shutdownTimeout   time.Duration
	maxHeaderBytes    int

	routes      []*Route
	middlewares []Middleware

	tp        trace.TracerProvider
	mp        metric.MeterProvider
	prop      propagation.TextMapPropagator
	logger    *slog.Logger
	logLevel  slog.Level
	accessLog bool

	serverAddr bool

	compression bool
	threshold   int
	bodyLimit   int64
}

func defaultConfig() config {
	return config{
		name:              "http",
		addr:              fmt.Sprintf(":%d", DefaultPort),
		readTimeout:       DefaultReadTimeout,
		readHeaderTimeout: DefaultReadHeaderTimeout,
		writeTimeout:      DefaultWriteTimeout,
		idleTimeout:       DefaultIdleTimeout,
		shutdownTimeout:   DefaultShutdownTimeout,
		maxHeaderBytes:    DefaultMaxHeaderBytes,
		logLevel:          slog.LevelInfo,
		accessLog:         true,
		compression:       true,
		threshold:         DefaultCompressionThreshold,
		bodyLimit:         DefaultBodyLimit,
	}
}

// WithName names the component in the service's readiness report and logs.
func WithName(name string) Option {
	return func(c *config) error {
		if name == "" {
			return errors.New("http: WithName: name is empty")
		}
		c.name = name
		return nil
	}
}

// WithPort listens on all interfaces at port (0 picks a free one).
func WithPort(port int) Option {
	return func(c *config) error {
		if port < 0 || port > 65535 {
			return fmt.Errorf("http: WithPort(%d): port out of range", port)
		}
		c.addr = fmt.Sprintf(":%d", port)
		return nil
	}
}

// WithAddr listens on addr, e.g. "127.0.0.1:8080".
func WithAddr(addr string) Option {
	return func(c *config) error {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("http: WithAddr(%q): %w", addr, err)
		}
		c.addr = addr
		return nil
	}
}

// WithListener serves on l instead of listening itself (socket activation,
// tests that need the address before Run). Run closes l.
func WithListener(l net.Listener) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("http: WithListener: listener is nil")
		}
		c.listener = l
		return nil
	}
}

// WithTLS serves HTTPS with cfg, which must hold a certificate (Certificates
// or GetCertificate). HTTP/2 is negotiated through ALPN.
func WithTLS(cfg *tls.Config) Option {
	return func(c *config) error {
		if cfg == nil {
			return errors.New("http: WithTLS: config is nil")
		}
		if len(cfg.Certificates) == 0 && cfg.GetCertificate == nil && cfg.GetConfigForClient == nil {
			return errors.New("http: WithTLS: config has no certificate")
		}
		c.tls = cfg.Clone()
		return nil
	}
}

func positive(name string, d time.Duration, set func(time.Duration)) Option {
	return func(*config) error {
		if d <= 0 {
			return fmt.Errorf("http: %s(%s): must be positive", name, d)
		}
		set(d)
		return nil
	}
}

// WithReadTimeout bounds reading a whole request, body included.
func WithReadTimeout(d time.Duration) Option {
	return func(c *config) error {
		return positive("WithReadTimeout", d, func(d time.Duration) { c.readTimeout = d })(c)
	}
}

// WithReadHeaderTimeout bounds reading the request headers.
func WithReadHeaderTimeout(d time.Duration) Option {
	return func(c *config) error {
		return positive("WithReadHeaderTimeout", d, func(d time.Duration) { c.readHeaderTimeout = d })(c)
	}
}

// WithWriteTimeout bounds writing a response. Streaming handlers extend it
// per response with http.ResponseController.SetWriteDeadline; 0 is refused
// (no timeout at all is what lets slow clients exhaust a server).
func WithWriteTimeout(d time.Duration) Option {
	return func(c *config) error {
		return positive("WithWriteTimeout", d, func(d time.Duration) { c.writeTimeout = d })(c)
	}
}

// WithIdleTimeout bounds keep-alive connections between requests.
func WithIdleTimeout(d time.Duration) Option {
	return func(c *config) error {
		return positive("WithIdleTimeout", d, func(d time.Duration) { c.idleTimeout = d })(c)
	}
}

// WithShutdownTimeout bounds the graceful drain after Run's context is
// cancelled; requests still running then have their contexts cancelled and
// connections closed.
func WithShutdownTimeout(d time.Duration) Option {
	return func(c *config) error {
		return positive("WithShutdownTimeout", d, func(d time.Duration) { c.shutdownTimeout = d })(c)
	}
}

// WithMaxHeaderBytes bounds the size of request headers.
func WithMaxHeaderBytes(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("http: WithMaxHeaderBytes(%d): must be positive", n)
		}
		c.maxHeaderBytes = n
		return nil
	}
}

// WithRoutes adds routes to the server.
func WithRoutes(routes ...*Route) Option {
	return func(c *config) error {
		for i, r := range routes {
			if r == nil {
				return fmt.Errorf("http: WithRoutes: route %d is nil", i)
			}
		}
		c.routes = append(c.routes, routes...)
		return nil
	}
}

// WithMiddlewares adds server-wide middlewares, inside the default chain
// (so they see the span, correlation ID and logger) and around routing;
// the first is the outermost.
func WithMiddlewares(mws ...Middleware) Option {
	return func(c *config) error {
		for i, m := range mws {
			if m == nil {
				return fmt.Errorf("http: WithMiddlewares: middleware %d is nil", i)
			}
		}
		c.middlewares = append(c.middlewares, mws...)
		return nil
	}
}

// WithTracerProvider uses tp instead of the global tracer provider.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) error {
		if tp == nil {
			return errors.New("http: WithTracerProvider: provider is nil")
		}
		c.tp = tp
		return nil
	}
}

// WithMeterProvider uses mp instead of the global meter provider.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) error {
		if mp == nil {
			return errors.New("http: WithMeterProvider: provider is nil")
		}
		c.mp = mp
		return nil
	}
}

// WithPropagator uses p instead of the global propagator to read the remote
// trace context.
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(c *config) error {
		if p == nil {
			return errors.New("http: WithPropagator: propagator is nil")
		}
		c.prop = p
		return nil
	}
}

// WithLogger logs through l; by default the logger of Run's context (the
// service's), or slog.Default() for a bare handler.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("http: WithLogger: logger is nil")
		}
		c.logger = l
		return nil
	}
}

// WithAccessLogLevel sets the level of the access log record of successful
// requests (info by default); 5xx responses are always logged at error.
func WithAccessLogLevel(l slog.Level) Option {
	return func(c *config) error { c.logLevel = l; return nil }
}

// WithoutAccessLog turns the access log off.
func WithoutAccessLog() Option {
	return func(c *config) error { c.accessLog = false; return nil }
}

// WithoutCompression turns response compression off.
func WithoutCompression() Option {
	return func(c *config) error { c.compression = false; return nil }
}

// WithCompressionThreshold sets the body size under which responses are
// not compressed (DefaultCompressionThreshold by default).
func WithCompressionThreshold(n int) Option {
	return func(c *config) error {
		if n < 0 || n > 1<<20 {
			return fmt.Errorf("http: WithCompressionThreshold(%d): want 0 to 1 MiB", n)
		}
		c.threshold = n
		return nil
	}
}

// WithDefaultBodyLimit caps request bodies of routes without their own
// WithBodyLimit (DefaultBodyLimit by default).
func WithDefaultBodyLimit(n int64) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("http: WithDefaultBodyLimit(%d): must be positive", n)
		}
		c.bodyLimit = n
		return nil
	}
}

// WithServerAddressAttributes adds server.address and server.port, read
// from the request's Host, to every server span. They are off by default:
// behind a load balancer they repeat the service's own name on every span,
// and they make each sampled span about a microsecond dearer.
func WithServerAddressAttributes() Option {
	return func(c *config) error {
		c.serverAddr = true
		return nil
	}
}
