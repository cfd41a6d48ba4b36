package patron

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
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
	logger            *slog.Logger
	logLevel          *slog.Level // nil unless set by an option or PATRON_LOG_LEVEL
	logFormat         string
	keepSlogDefault   bool
	httpAddr          string
	httpListener      net.Listener
	debugMode         debugMode
	debugAddr         string
	debugAPIKey       string
	endpointsOnDebug  bool
	shutdownTimeout   time.Duration
	shutdownDelay     time.Duration
	sighup            func()
	readyChecks       []readyCheck
	readyCheckTimeout time.Duration
	obsOpts           []telemetry.SetupOption
	handler           http.Handler
	routes            []*patronhttp.Route
	openTracing       bool
	setOptions        map[string]bool
}

// debugMode says where /debug/pprof and /debug/log-level are served.
type debugMode uint8

const (
	// debugDefault: a server of their own on loopback, at the service
	// port + 99 (see defaultDebugAddr).
	debugDefault debugMode = iota
	debugSeparate
	debugOnService
	debugOff
)

func (c *config) set(name string) { c.setOptions[name] = true }

// WithLogger makes the service log through l instead of building a logger
// from PATRON_LOG_FORMAT. The service wraps l's handler: records get the
// trace_id, span_id and correlation_id of their context (as with
// observability/log.NewHandler, which is not applied twice), and the
// service's level (PATRON_LOG_LEVEL, WithLogLevel, PUT /debug/log-level)
// filters on top of the handler's own, which it can raise but not lower.
// Without an explicit level the service starts at the lowest level l's
// handler enables.
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

// WithoutSlogDefault leaves slog's default logger alone. By default New
// makes the service's logger slog's default (and so the log package's
// output), so that slog.InfoContext(ctx, ...) anywhere in the process
// carries the service's attributes and the context's trace and
// correlation IDs.
func WithoutSlogDefault() Option {
	return func(c *config) error { c.keepSlogDefault = true; return nil }
}

// WithDebugAddr serves /debug/pprof and /debug/log-level on addr (overrides
// PATRON_DEBUG_ADDR). By default they are on a server of their own on
// loopback at the service port + 99 (127.0.0.1:50099 for the default port
// 50000, a free port when the service port is 0). Anyone who can reach the
// address can profile the process and change its log level: keep it on
// loopback or a private network, or add WithDebugAPIKey.
func WithDebugAddr(addr string) Option {
	return func(c *config) error {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("patron: WithDebugAddr(%q): %w", addr, err)
		}
		c.debugMode, c.debugAddr = debugSeparate, addr
		c.set("debug")
		return nil
	}
}

// WithDebugOnServicePort serves /debug/pprof and /debug/log-level on the
// default HTTP server, next to the routes, as before Patron moved them off
// it (PATRON_DEBUG_ADDR=service). Pair it with WithDebugAPIKey unless the
// service port is private.
func WithDebugOnServicePort() Option {
	return func(c *config) error { c.debugMode = debugOnService; c.set("debug"); return nil }
}

// WithoutDebugEndpoints switches /debug/pprof and /debug/log-level off
// (PATRON_DEBUG_ADDR=off).
func WithoutDebugEndpoints() Option {
	return func(c *config) error { c.debugMode = debugOff; c.set("debug"); return nil }
}

// WithDebugAPIKey makes /debug/pprof and /debug/log-level answer 401
// unless the request carries key, as "X-API-Key: <key>" or
// "Authorization: Apikey <key>" (overrides PATRON_DEBUG_API_KEY). The key
// is compared in constant time.
func WithDebugAPIKey(key string) Option {
	return func(c *config) error {
		if strings.TrimSpace(key) == "" {
			return errors.New("patron: WithDebugAPIKey: key is empty")
		}
		c.debugAPIKey = key
		c.set("debugkey")
		return nil
	}
}

// WithEndpointsOnDebugAddr moves /alive, /ready and /metrics from the
// service port to the debug address (PATRON_ENDPOINTS_ON_DEBUG_ADDR=true),
// so that the service port serves the routes only. The debug API key does
// not apply to them: probes and scrapers reach them as before, on the other
// port.
func WithEndpointsOnDebugAddr() Option {
	return func(c *config) error { c.endpointsOnDebug = true; c.set("endpoints"); return nil }
}

// WithReadyCheck adds a readiness check: /ready answers 503 while check
// returns an error, and shows it by name; the gRPC health service follows.
// Typical checks ping the databases and brokers the service cannot work
// without. Each check gets the ready check timeout (WithReadyCheckTimeout,
// DefaultReadyCheckTimeout by default) and runs concurrently with the
// others, each time /ready is asked and once a second while a component
// follows readiness (ReadinessListener).
func WithReadyCheck(name string, check func(ctx context.Context) error) Option {
	return func(c *config) error {
		if name == "" {
			return errors.New("patron: WithReadyCheck: name is empty")
		}
		if check == nil {
			return fmt.Errorf("patron: WithReadyCheck(%q): check is nil", name)
		}
		for _, rc := range c.readyChecks {
			if rc.name == name {
				return fmt.Errorf("patron: WithReadyCheck(%q): a check of that name exists", name)
			}
		}
		c.readyChecks = append(c.readyChecks, readyCheck{name: name, check: check})
		return nil
	}
}

// WithReadyCheckTimeout bounds each readiness check and each component's
// Ready call (DefaultReadyCheckTimeout by default); a check that has not
// answered by then counts as failed.
func WithReadyCheckTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("patron: WithReadyCheckTimeout(%s): must be positive", d)
		}
		c.readyCheckTimeout = d
		return nil
	}
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
