// Package patron runs a microservice: it sets up tracing, metrics and logs,
// serves health, readiness, metrics and profiling endpoints, runs the
// service's components and shuts them down gracefully on a signal.
package patron

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
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

	"github.com/patron-go/patron/internal/option"
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
	logOut        *patronlog.BufferedWriter // the default logger's buffer; nil with WithLogger or text
	level         *slog.LevelVar
	levelFloor    slog.Level // the lowest level the logger can handle
	obs           *telemetry.Provider
	tp            trace.TracerProvider // obs's, or the OpenTracing bridge's wrapper of it

	shuttingDown atomic.Bool
	mu           sync.Mutex
	running      []*runningComponent
	started      bool
	httpAddr     net.Addr
	debugAddr    net.Addr
	httpReady    chan struct{}
}

type runningComponent struct {
	name string
	c    Component
	done atomic.Bool
}

// New configures service name at version from opts and the environment (see
// the README for the variables). It validates everything, sets up telemetry
// (and, unless WithoutGlobals and WithoutSlogDefault say otherwise, makes it
// and the service's logger the process's defaults), but starts nothing:
// that is Run's job.
func New(name, version string, opts ...Option) (*Service, error) {
	if name == "" {
		return nil, errors.New("patron: service name is empty")
	}
	cfg := config{setOptions: map[string]bool{}, readyCheckTimeout: DefaultReadyCheckTimeout}
	if err := option.Apply("patron", &cfg, opts); err != nil {
		return nil, err
	}
	if err := cfg.readEnv(os.Getenv); err != nil {
		return nil, err
	}
	s := &Service{name: name, version: version, cfg: cfg, level: new(slog.LevelVar), httpReady: make(chan struct{})}
	s.setupLogger()
	obsOpts := append([]telemetry.SetupOption{telemetry.WithErrorLogger(s.logger)}, cfg.obsOpts...)
	obs, err := telemetry.Setup(context.Background(), name, version, obsOpts...)
	if err != nil {
		s.closeLog()
		return nil, err
	}
	s.obs = obs
	s.tp = obs.TracerProvider()
	// Records also go out over OTLP when logs are exported; the SDK's own
	// errors keep the stderr-only logger given above, so that an export
	// failure never feeds the export.
	if h := obs.LogHandler(); h != nil {
		s.logger = slog.New(patronlog.NewTee(s.logger.Handler(), h))
	}
	if cfg.openTracing {
		if err := s.setupOpenTracing(); err != nil {
			_ = obs.Shutdown(context.Background())
			s.closeLog()
			return nil, err
		}
	}
	if err := s.buildRoutes(); err != nil {
		_ = obs.Shutdown(context.Background())
		s.closeLog()
		return nil, err
	}
	if !cfg.keepSlogDefault {
		slog.SetDefault(s.logger)
		if s.logOut != nil {
			log.SetOutput(flushingWriter{w: log.Writer(), flush: s.logOut.Flush})
		}
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

// Name returns the service name.
func (s *Service) Name() string { return s.name }

// Logger returns the service's logger; Run also puts it in the context that
// components and the default server's requests receive
// (observability/log.FromContext).
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

// DebugAddr waits until the servers listen (or ctx ends) and returns the
// address of the debug server, which serves /debug/pprof and
// /debug/log-level (and /alive, /ready and /metrics with
// WithEndpointsOnDebugAddr). It fails when the debug endpoints have no
// server of their own.
func (s *Service) DebugAddr(ctx context.Context) (net.Addr, error) {
	select {
	case <-s.httpReady:
		if s.debugAddr == nil {
			return nil, errNoDebugAddr
		}
		return s.debugAddr, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type componentResult struct {
	rc  *runningComponent
	err error
}

// Run serves the default HTTP endpoints and runs components until ctx is
// cancelled, SIGINT or SIGTERM arrives, or a component fails (wait). Then
// it shuts down gracefully (drain): /ready answers 503 and the components
// that follow readiness are told, the shutdown delay passes, components are
// cancelled and given the shutdown timeout to finish, and the HTTP servers
// drain. Last, telemetry is flushed (flush); a flush that fails is logged
// and does not change the result. Run returns the components' errors
// joined, nil after a clean stop, or ErrForcedShutdown after a second
// signal. Run may be called once.
func (s *Service) Run(ctx context.Context, components ...Component) error {
	if err := s.register(components); err != nil {
		return err
	}
	s.startLog()
	defer s.closeLog() // last: after the final records below
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(signals)

	srv, err := s.startHTTP(ctx)
	if err != nil {
		s.flush(time.Now().Add(time.Second))
		return err
	}
	lc := &lifecycle{svc: s, signals: signals, servers: srv, results: make(chan componentResult, len(s.running))}
	lc.start(ctx)
	defer lc.cancelComponents() // also after a forced exit
	reason := lc.wait(ctx)
	if err := lc.drain(reason); err != nil {
		return err
	}
	s.flush(lc.deadline)
	err = errors.Join(lc.errs...)
	if err != nil {
		s.logger.Error("service stopped with errors", "error", err)
	} else {
		s.logger.Info("service stopped")
	}
	return err
}

func (s *Service) register(components []Component) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("patron: Run called twice")
	}
	s.started = true
	for i, c := range components {
		if c == nil {
			s.running = nil
			return fmt.Errorf("patron: component %d is nil", i)
		}
		s.running = append(s.running, &runningComponent{name: componentName(c, i), c: c})
	}
	return nil
}

// lifecycle is one Run: what wait, drain and flush share.
type lifecycle struct {
	svc     *Service
	signals <-chan os.Signal
	servers *servers
	results chan componentResult
	pending int
	errs    []error

	cancelComponents context.CancelFunc
	stopReadiness    func()
	listeners        []ReadinessListener
	deadline         time.Time
	// signalled counts the stop signals seen (SIGHUP aside): only the
	// second one forces the exit. A shutdown begun by ctx (an application
	// that wraps Run in signal.NotifyContext) has seen none yet, though the
	// same Ctrl-C reaches Patron's own channel a moment later.
	signalled int
}

// start runs every component with the service's logger in its context,
// and starts telling the readiness listeners.
func (lc *lifecycle) start(ctx context.Context) {
	s := lc.svc
	compCtx, cancel := context.WithCancel(patronlog.WithContext(context.WithoutCancel(ctx), s.logger))
	lc.cancelComponents = cancel
	lc.listeners = s.readinessListeners()
	lc.stopReadiness = s.followReadiness(compCtx, lc.listeners)
	for _, rc := range s.running {
		go func() {
			err := runSafely(compCtx, rc.c)
			rc.done.Store(true)
			lc.results <- componentResult{rc, err}
		}()
	}
	lc.pending = len(s.running)
	s.logger.Info("service started", "components", len(s.running), "http", s.httpAddr.String())
}

// wait blocks until shutdown must start and says why: ctx ended, a signal
// came, or a component failed. SIGHUP runs the WithSIGHUP function and
// waits on.
func (lc *lifecycle) wait(ctx context.Context) string {
	s := lc.svc
	for {
		select {
		case <-ctx.Done():
			return "context cancelled"
		case sig := <-lc.signals:
			if sig == syscall.SIGHUP {
				if s.cfg.sighup != nil {
					s.logger.Info("SIGHUP received, running handler")
					s.cfg.sighup()
				} else {
					s.logger.Info("SIGHUP received, no handler configured: ignored")
				}
				continue
			}
			lc.signalled++
			return "signal " + sig.String()
		case r := <-lc.results:
			lc.pending--
			if r.err != nil {
				lc.errs = append(lc.errs, fmt.Errorf("component %s: %w", r.rc.name, r.err))
				return "component " + r.rc.name + " failed"
			}
			s.logger.Warn("component stopped before shutdown; the others keep running", "component", r.rc.name)
		}
	}
}

// drain shuts down gracefully: not ready at once (to /ready and to the
// readiness listeners), the shutdown delay, the components cancelled and
// waited for within the shutdown timeout, the HTTP servers drained last.
// It returns ErrForcedShutdown when a second signal cuts it short.
func (lc *lifecycle) drain(reason string) error {
	s := lc.svc
	s.shuttingDown.Store(true)
	lc.stopReadiness()
	for _, l := range lc.listeners {
		l.SetServiceReady(false)
	}
	s.logger.Info("shutdown started", "reason", reason, "timeout", s.cfg.shutdownTimeout.String(), "delay", s.cfg.shutdownDelay.String())

	if s.cfg.shutdownDelay > 0 {
		delay := time.NewTimer(s.cfg.shutdownDelay)
		defer delay.Stop()
	delayed:
		for {
			select {
			case <-delay.C:
				break delayed
			case sig := <-lc.signals:
				if lc.forcedBy(sig) {
					return lc.forced()
				}
			}
		}
	}

	lc.deadline = time.Now().Add(s.cfg.shutdownTimeout)
	deadline, cancelDeadline := context.WithDeadline(context.Background(), lc.deadline)
	defer cancelDeadline()
	// Components stop first while the default server keeps answering /ready
	// with 503 and serving in-flight requests; it drains afterwards.
	lc.cancelComponents()
	for lc.pending > 0 {
		select {
		case r := <-lc.results:
			lc.pending--
			if r.err != nil && !errors.Is(r.err, context.Canceled) {
				lc.errs = append(lc.errs, fmt.Errorf("component %s: %w", r.rc.name, r.err))
			}
		case sig := <-lc.signals:
			if lc.forcedBy(sig) {
				return lc.forced()
			}
		case <-deadline.Done():
			var stuck []string
			for _, rc := range s.running {
				if !rc.done.Load() {
					stuck = append(stuck, rc.name)
				}
			}
			lc.errs = append(lc.errs, fmt.Errorf("patron: shutdown timeout %s exceeded, components still running: %v: %w",
				s.cfg.shutdownTimeout, stuck, context.DeadlineExceeded))
			lc.pending = 0
		}
	}
	if err := lc.servers.shutdown(deadline); err != nil {
		lc.errs = append(lc.errs, err)
	}
	return nil
}

// forcedBy reports whether sig, arriving during the drain, forces the exit:
// it does when it is the second stop signal. SIGHUP does not: the WithSIGHUP function is not run during a shutdown,
// and the log says so rather than dropping the signal silently.
func (lc *lifecycle) forcedBy(sig os.Signal) bool {
	if sig == syscall.SIGHUP {
		lc.svc.logger.Warn("SIGHUP received during shutdown: ignored, the shutdown goes on")
		return false
	}
	lc.signalled++
	if lc.signalled < 2 {
		lc.svc.logger.Info("signal received, shutdown already in progress; a second one forces the exit", "signal", sig.String())
		return false
	}
	return true
}

func (lc *lifecycle) forced() error {
	lc.svc.logger.Error("second signal received, forcing exit")
	lc.servers.close()
	return ErrForcedShutdown
}

// flush shuts telemetry down last, so that the shutdown's own spans and
// logs are in it; it gets what is left of the deadline, and at least a
// moment. A telemetry backend that refuses the last export (a
// traces-only receiver answering 404 on /v1/metrics) is logged: it must not
// turn a clean stop into a failed one, and an exit status of 1.
func (s *Service) flush(deadline time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), max(time.Until(deadline), time.Second))
	defer cancel()
	if err := s.obs.Shutdown(ctx); err != nil {
		s.logger.Warn("telemetry flush failed; the last spans or metrics may be lost", "error", err)
	}
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
