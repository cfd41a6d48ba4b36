// Package patron runs a microservice: it sets up tracing, metrics and logs,
// serves health, readiness, metrics and profiling endpoints, runs the
// service's components and shuts them down gracefully on a signal.
package patron

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	patronlog "github.com/patron-go/patron/observability/log"
	"github.com/patron-go/patron/observability/telemetry"
)

// Component is a long-running part of a service: an HTTP or gRPC server, a
// message consumer. Run blocks until ctx is cancelled, then stops gracefully
// and returns nil; it returns an error when it cannot go on.
type Component interface {
	Run(ctx context.Context) error
}

// ReadyChecker is implemented by components that need time before they can
// serve (joining a consumer group, connecting to a broker). /ready answers
// 200 only when every such component returns nil.
type ReadyChecker interface {
	Ready(ctx context.Context) error
}

// Namer is implemented by components that want their own name in /ready and
// in logs.
type Namer interface {
	Name() string
}

// ErrForcedShutdown is returned by Run when a second signal arrives during a
// graceful shutdown: the caller should exit at once.
var ErrForcedShutdown = errors.New("patron: forced shutdown by a second signal")

// Defaults of the environment variables.
const (
	DefaultHTTPPort        = 50000
	DefaultShutdownTimeout = 30 * time.Second
)

// Service is a configured service, ready to Run.
type Service struct {
	name, version string
	cfg           config
	logger        *slog.Logger
	level         *slog.LevelVar
	obs           *telemetry.Provider
	tp            trace.TracerProvider // obs's, or the OpenTracing bridge's wrapper of it

	shuttingDown atomic.Bool
	mu           sync.Mutex
	running      []*runningComponent
	started      bool
	httpAddr     net.Addr
	httpReady    chan struct{}
}

type runningComponent struct {
	name string
	c    Component
	done atomic.Bool
}

// New configures service name at version from opts and the environment (see
// the README for the variables). It validates everything and sets up
// telemetry, but starts nothing: that is Run's job.
func New(name, version string, opts ...Option) (*Service, error) {
	if name == "" {
		return nil, errors.New("patron: service name is empty")
	}
	cfg := config{setOptions: map[string]bool{}}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if err := cfg.readEnv(os.Getenv); err != nil {
		return nil, err
	}
	s := &Service{name: name, version: version, cfg: cfg, level: new(slog.LevelVar), httpReady: make(chan struct{})}
	if cfg.logLevel != nil {
		s.level.Set(*cfg.logLevel)
	}
	s.logger = cfg.logger
	if s.logger == nil {
		format, _ := patronlog.ParseFormat(cfg.logFormat) // validated in readEnv
		s.logger = patronlog.New(os.Stderr, format, s.level,
			slog.String("service", name), slog.String("version", version), slog.String("instance", instanceName()))
	}
	obsOpts := append([]telemetry.SetupOption{telemetry.WithErrorLogger(s.logger)}, cfg.obsOpts...)
	obs, err := telemetry.Setup(context.Background(), name, version, obsOpts...)
	if err != nil {
		return nil, err
	}
	s.obs = obs
	s.tp = obs.TracerProvider()
	if cfg.openTracing {
		if err := s.setupOpenTracing(); err != nil {
			_ = obs.Shutdown(context.Background())
			return nil, err
		}
	}
	if err := s.buildRoutes(); err != nil {
		_ = obs.Shutdown(context.Background())
		return nil, err
	}
	return s, nil
}

func instanceName() string {
	h, err := os.Hostname()
	if err != nil {
		return strconv.Itoa(os.Getpid())
	}
	return h + "-" + strconv.Itoa(os.Getpid())
}

func (c *config) readEnv(getenv func(string) string) error {
	if c.logLevel == nil {
		lvl, err := patronlog.ParseLevel(getenv("PATRON_LOG_LEVEL"))
		if err != nil {
			return fmt.Errorf("patron: PATRON_LOG_LEVEL=%q: %w", getenv("PATRON_LOG_LEVEL"), err)
		}
		c.logLevel = &lvl
	}
	c.logFormat = getenv("PATRON_LOG_FORMAT")
	if _, err := patronlog.ParseFormat(c.logFormat); err != nil {
		return fmt.Errorf("patron: PATRON_LOG_FORMAT=%q: %w", c.logFormat, err)
	}
	if !c.setOptions["addr"] {
		c.httpAddr = fmt.Sprintf(":%d", DefaultHTTPPort)
		if v := getenv("PATRON_HTTP_DEFAULT_PORT"); v != "" {
			p, err := strconv.Atoi(v)
			if err != nil || p < 0 || p > 65535 {
				return fmt.Errorf("patron: PATRON_HTTP_DEFAULT_PORT=%q: want a port number from 0 to 65535", v)
			}
			c.httpAddr = fmt.Sprintf(":%d", p)
		}
		if v := getenv("PATRON_HTTP_DEFAULT_ADDR"); v != "" {
			if _, _, err := net.SplitHostPort(v); err != nil {
				return fmt.Errorf("patron: PATRON_HTTP_DEFAULT_ADDR=%q: want host:port: %w", v, err)
			}
			c.httpAddr = v
		}
	}
	if !c.setOptions["debug"] {
		if v := getenv("PATRON_DEBUG_ADDR"); v != "" {
			if v == "off" {
				c.debugOff = true
			} else if _, _, err := net.SplitHostPort(v); err != nil {
				return fmt.Errorf("patron: PATRON_DEBUG_ADDR=%q: want host:port or off: %w", v, err)
			} else {
				c.debugAddr = v
			}
		}
	}
	var err error
	if !c.setOptions["timeout"] {
		if c.shutdownTimeout, err = envDuration(getenv, "PATRON_SHUTDOWN_TIMEOUT", DefaultShutdownTimeout, false); err != nil {
			return err
		}
	}
	if !c.setOptions["delay"] {
		if c.shutdownDelay, err = envDuration(getenv, "PATRON_SHUTDOWN_DELAY", 0, true); err != nil {
			return err
		}
	}
	return nil
}

func envDuration(getenv func(string) string, key string, def time.Duration, zeroOK bool) (time.Duration, error) {
	v := getenv(key)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || (d == 0 && !zeroOK) {
		return 0, fmt.Errorf("patron: %s=%q: want a positive duration such as 30s", key, v)
	}
	return d, nil
}

// Name returns the service name.
func (s *Service) Name() string { return s.name }

// Logger returns the service's logger; Run also puts it in the context that
// components receive (observability/log.FromContext).
func (s *Service) Logger() *slog.Logger { return s.logger }

// TracerProvider returns the service's tracer provider, to pass to components
// and clients.
func (s *Service) TracerProvider() trace.TracerProvider { return s.tp }

// MeterProvider returns the service's meter provider.
func (s *Service) MeterProvider() metric.MeterProvider { return s.obs.MeterProvider() }

// Propagator returns the service's propagator.
func (s *Service) Propagator() propagation.TextMapPropagator { return s.obs.Propagator() }

// HTTPAddr waits until the default HTTP server listens (or ctx ends) and
// returns its address, which tells the port chosen for ":0".
func (s *Service) HTTPAddr(ctx context.Context) (net.Addr, error) {
	select {
	case <-s.httpReady:
		return s.httpAddr, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type componentResult struct {
	rc  *runningComponent
	err error
}

// Run serves the default HTTP endpoints and runs components until ctx is
// cancelled, SIGINT or SIGTERM arrives, or a component fails. Then it
// shuts down gracefully: /ready answers 503, the shutdown delay passes,
// components are cancelled and given the shutdown timeout to finish, the
// HTTP server drains, and telemetry is flushed. It returns the components'
// errors joined, nil after a clean stop, or ErrForcedShutdown after a
// second signal. Run may be called once.
func (s *Service) Run(ctx context.Context, components ...Component) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("patron: Run called twice")
	}
	s.started = true
	for i, c := range components {
		if c == nil {
			s.mu.Unlock()
			return fmt.Errorf("patron: component %d is nil", i)
		}
		s.running = append(s.running, &runningComponent{name: componentName(c, i), c: c})
	}
	s.mu.Unlock()

	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(signals)

	servers, err := s.startHTTP()
	if err != nil {
		_ = s.obs.Shutdown(context.Background())
		return err
	}

	compCtx, cancelComponents := context.WithCancel(patronlog.WithContext(context.WithoutCancel(ctx), s.logger))
	defer cancelComponents()
	results := make(chan componentResult, len(s.running))
	for _, rc := range s.running {
		go func() {
			err := runSafely(compCtx, rc.c)
			rc.done.Store(true)
			results <- componentResult{rc, err}
		}()
	}
	s.logger.Info("service started", "components", len(s.running), "http", s.httpAddr.String())

	var errs []error
	pending := len(s.running)
	reason := ""
wait:
	for {
		select {
		case <-ctx.Done():
			reason = "context cancelled"
			break wait
		case sig := <-signals:
			if sig == syscall.SIGHUP {
				if s.cfg.sighup != nil {
					s.logger.Info("SIGHUP received, running handler")
					s.cfg.sighup()
				} else {
					s.logger.Info("SIGHUP received, no handler configured: ignored")
				}
				continue
			}
			reason = "signal " + sig.String()
			break wait
		case r := <-results:
			pending--
			if r.err != nil {
				errs = append(errs, fmt.Errorf("component %s: %w", r.rc.name, r.err))
				reason = "component " + r.rc.name + " failed"
				break wait
			}
			s.logger.Warn("component stopped before shutdown; the others keep running", "component", r.rc.name)
		}
	}

	s.shuttingDown.Store(true)
	s.logger.Info("shutdown started", "reason", reason, "timeout", s.cfg.shutdownTimeout, "delay", s.cfg.shutdownDelay)

	if s.cfg.shutdownDelay > 0 {
		delay := time.NewTimer(s.cfg.shutdownDelay)
		select {
		case <-delay.C:
		case sig := <-signals:
			delay.Stop()
			if sig != syscall.SIGHUP {
				return s.forced(servers)
			}
		}
	}

	deadline, cancelDeadline := context.WithTimeout(context.Background(), s.cfg.shutdownTimeout)
	defer cancelDeadline()
	// Components stop first while the default server keeps answering /ready
	// with 503 and serving in-flight requests; it drains afterwards.
	cancelComponents()

	for pending > 0 {
		select {
		case r := <-results:
			pending--
			if r.err != nil && !errors.Is(r.err, context.Canceled) {
				errs = append(errs, fmt.Errorf("component %s: %w", r.rc.name, r.err))
			}
		case sig := <-signals:
			if sig != syscall.SIGHUP {
				return s.forced(servers)
			}
		case <-deadline.Done():
			var stuck []string
			for _, rc := range s.running {
				if !rc.done.Load() {
					stuck = append(stuck, rc.name)
				}
			}
			errs = append(errs, fmt.Errorf("patron: shutdown timeout %s exceeded, components still running: %v: %w",
				s.cfg.shutdownTimeout, stuck, context.DeadlineExceeded))
			pending = 0
		}
	}
	if err := shutdownServers(deadline, servers); err != nil {
		errs = append(errs, err)
	}
	// Telemetry goes last so that the shutdown's own spans and logs are in it;
	// it gets what is left of the deadline, and at least a moment.
	flushCtx, cancelFlush := context.WithTimeout(context.Background(), max(time.Until(deadlineOf(deadline)), time.Second))
	defer cancelFlush()
	if err := s.obs.Shutdown(flushCtx); err != nil {
		errs = append(errs, err)
	}
	err = errors.Join(errs...)
	if err != nil {
		s.logger.Error("service stopped with errors", "error", err)
	} else {
		s.logger.Info("service stopped")
	}
	return err
}

func deadlineOf(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}

func (s *Service) forced(servers []*http.Server) error {
	s.logger.Error("second signal received, forcing exit")
	for _, srv := range servers {
		_ = srv.Close()
	}
	return ErrForcedShutdown
}

// runSafely turns a component's panic into an error, so one broken component
// shuts the service down cleanly instead of killing the process mid-flight.
func runSafely(ctx context.Context, c Component) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return c.Run(ctx)
}

func componentName(c Component, i int) string {
	if n, ok := c.(Namer); ok && n.Name() != "" {
		return n.Name()
	}
	return fmt.Sprintf("%T#%d", c, i)
}
