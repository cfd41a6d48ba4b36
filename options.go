package patron

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	patronhttp "github.com/patron-go/patron/component/http"
	"github.com/patron-go/patron/observability/telemetry"
)

// Option configures a Service. Options win over environment variables.
type Option func(*config) error

type config struct {
	logger          *slog.Logger
	logLevel        *slog.Level
	logFormat       string
	httpAddr        string
	httpListener    net.Listener
	debugAddr       string
	debugOff        bool
	shutdownTimeout time.Duration
	shutdownDelay   time.Duration
	sighup          func()
	obsOpts         []telemetry.SetupOption
	handler         http.Handler
	routes          []*patronhttp.Route
	openTracing     bool
	setOptions      map[string]bool
}

func (c *config) set(name string) { c.setOptions[name] = true }

// WithLogger makes the service log through l instead of building a logger
// from PATRON_LOG_LEVEL and PATRON_LOG_FORMAT; wrap l's handler in
// observability/log.NewHandler to keep the trace fields.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("patron: WithLogger: logger is nil")
		}
		c.logger = l
		return nil
	}
}

// WithLogLevel overrides PATRON_LOG_LEVEL.
func WithLogLevel(l slog.Level) Option {
	return func(c *config) error { c.logLevel = &l; return nil }
}

// WithHTTPAddr overrides PATRON_HTTP_DEFAULT_ADDR and PATRON_HTTP_DEFAULT_PORT
// for the default HTTP server, e.g. "127.0.0.1:0".
func WithHTTPAddr(addr string) Option {
	return func(c *config) error {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("patron: WithHTTPAddr(%q): %w", addr, err)
		}
		c.httpAddr = addr
		c.set("addr")
		return nil
	}
}

// WithHTTPPort overrides PATRON_HTTP_DEFAULT_PORT.
func WithHTTPPort(port int) Option {
	return func(c *config) error {
		if port < 0 || port > 65535 {
			return fmt.Errorf("patron: WithHTTPPort(%d): port out of range", port)
		}
		c.httpAddr = fmt.Sprintf(":%d", port)
		c.set("addr")
		return nil
	}
}

// WithHTTPListener serves the default HTTP endpoints on l (socket activation,
// tests that need the port before Run).
func WithHTTPListener(l net.Listener) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("patron: WithHTTPListener: listener is nil")
		}
		c.httpListener = l
		return nil
	}
}

// WithDebugAddr serves /debug/pprof and /debug/log-level on a separate
// address instead of the default server (overrides PATRON_DEBUG_ADDR).
func WithDebugAddr(addr string) Option {
	return func(c *config) error {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("patron: WithDebugAddr(%q): %w", addr, err)
		}
		c.debugAddr = addr
		c.set("debug")
		return nil
	}
}

// WithoutDebugEndpoints switches /debug/pprof and /debug/log-level off.
func WithoutDebugEndpoints() Option {
	return func(c *config) error { c.debugOff = true; c.set("debug"); return nil }
}

// WithShutdownTimeout overrides PATRON_SHUTDOWN_TIMEOUT: how long components
// get to finish after shutdown starts.
func WithShutdownTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("patron: WithShutdownTimeout(%s): must be positive", d)
		}
		c.shutdownTimeout = d
		c.set("timeout")
		return nil
	}
}

// WithShutdownDelay overrides PATRON_SHUTDOWN_DELAY: how long /ready answers
// 503 before components are told to stop, so that load balancers notice.
func WithShutdownDelay(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("patron: WithShutdownDelay(%s): must not be negative", d)
		}
		c.shutdownDelay = d
		c.set("delay")
		return nil
	}
}

// WithSIGHUP runs fn on SIGHUP (typically to reload configuration); the
// service keeps running.
func WithSIGHUP(fn func()) Option {
	return func(c *config) error {
		if fn == nil {
			return errors.New("patron: WithSIGHUP: func is nil")
		}
		c.sighup = fn
		return nil
	}
}

// WithTracerProvider makes the service use tp (owned by the caller) instead
// of an SDK provider built from OTEL_* variables.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) error {
		c.obsOpts = append(c.obsOpts, telemetry.WithTracerProvider(tp))
		return nil
	}
}

// WithMeterProvider makes the service use mp (owned by the caller).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) error {
		c.obsOpts = append(c.obsOpts, telemetry.WithMeterProvider(mp))
		return nil
	}
}

// WithPropagator overrides OTEL_PROPAGATORS.
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(c *config) error {
		c.obsOpts = append(c.obsOpts, telemetry.WithPropagator(p))
		return nil
	}
}

// WithSpanExporter adds a span exporter to the service's tracer provider.
func WithSpanExporter(e sdktrace.SpanExporter) Option {
	return func(c *config) error {
		c.obsOpts = append(c.obsOpts, telemetry.WithSpanExporter(e))
		return nil
	}
}

// WithObservability passes options straight to telemetry.Setup.
func WithObservability(opts ...telemetry.SetupOption) Option {
	return func(c *config) error {
		c.obsOpts = append(c.obsOpts, opts...)
		return nil
	}
}

// WithHandler mounts h under "/" on the default HTTP server, behind the
// service's own endpoints. WithRoutes is the usual way; this one takes any
// handler (a router, a gRPC-gateway mux).
func WithHandler(h http.Handler) Option {
	return func(c *config) error {
		if h == nil {
			return errors.New("patron: WithHandler: handler is nil")
		}
		if c.handler != nil || len(c.routes) > 0 {
			return errors.New("patron: a handler is already mounted on the default server (WithHandler or WithRoutes given twice)")
		}
		c.handler = h
		return nil
	}
}
