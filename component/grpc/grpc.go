// Package grpc is Patron's gRPC server component. It wraps a *grpc.Server
// that users register their services on, and adds what every Patron
// transport has: SERVER spans and RPC metrics (otelgrpc stats handler), the
// correlation ID from the x-correlation-id metadata in the context and its
// logger, one access log record per RPC, recovery of handler panics, the
// standard health service following the component's readiness and, run by
// a patron.Service, the service's (SetServiceReady), and a graceful stop
// bounded by a drain timeout.
package grpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/patron-go/patron/internal/option"
	"github.com/patron-go/patron/observability/log"
)

// ErrDrainTimeout is returned (wrapped) by Run when in-flight RPCs did not
// finish within the drain timeout and the server was stopped hard.
var ErrDrainTimeout = errors.New("grpc: drain timeout exceeded")

// ErrClosed is returned by Run when Close stopped the server.
var ErrClosed = errors.New("grpc: server closed")

// Component serves gRPC. Build it with New, register services on Server,
// then hand it to the service's Run (or call Run yourself).
type Component struct {
	cfg    config
	srv    *grpc.Server
	lis    net.Listener
	health *health.Server

	logger  atomic.Pointer[slog.Logger]
	started atomic.Bool
	ready   atomic.Bool
	closed  atomic.Bool

	// follows is set once the service tells its readiness
	// (SetServiceReady); health is then SERVING only while serviceReady
	// is true too. healthMu orders the status updates.
	follows      atomic.Bool
	serviceReady atomic.Bool
	healthMu     sync.Mutex

	// stopping is set before the health service turns NOT_SERVING, and
	// stopped is cancelled after; health watchers use both to end their
	// streams once they told the client (see health.go).
	stopping     atomic.Bool
	stopped      context.Context
	cancelHealth context.CancelFunc
}

// New builds a Component listening on addr ("host:port", ":port", or
// "127.0.0.1:0" for a free port). It listens at once, so that a port conflict
// fails here and Addr is known before Run; a Component that will not be Run
// must be Closed.
func New(addr string, opts ...Option) (*Component, error) {
	cfg := config{drainTimeout: DefaultDrainTimeout}
	if err := option.Apply("grpc", &cfg, opts); err != nil {
		return nil, err
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("grpc: invalid address %q: %w", addr, err)
	}

	c := &Component{cfg: cfg}
	c.stopped, c.cancelHealth = context.WithCancel(context.Background())
	c.logger.Store(cfg.logger)

	var otelOpts []otelgrpc.Option
	if cfg.tp != nil {
		otelOpts = append(otelOpts, otelgrpc.WithTracerProvider(cfg.tp))
	}
	if cfg.mp != nil {
		otelOpts = append(otelOpts, otelgrpc.WithMeterProvider(cfg.mp))
	}
	if cfg.prop != nil {
		otelOpts = append(otelOpts, otelgrpc.WithPropagators(cfg.prop))
	}
	// The stats handler starts the span before any interceptor runs, so the
	// access log and the recovery see it in the context.
	sopts := []grpc.ServerOption{
		grpc.StatsHandler(otelgrpc.NewServerHandler(otelOpts...)),
		grpc.ChainUnaryInterceptor(append([]grpc.UnaryServerInterceptor{c.observeUnary, c.recoverUnary}, cfg.unary...)...),
		grpc.ChainStreamInterceptor(append([]grpc.StreamServerInterceptor{c.observeStream, c.recoverStream}, cfg.stream...)...),
	}
	// gRPC accepts 16 MiB of metadata by default; like net/http, cap it at
	// 1 MiB (WithServerOptions(grpc.MaxHeaderListSize(...)) overrides it).
	sopts = append(sopts, grpc.MaxHeaderListSize(DefaultMaxHeaderListSize))
	if cfg.creds != nil {
		sopts = append(sopts, grpc.Creds(cfg.creds))
	}
	if cfg.maxRecv > 0 {
		sopts = append(sopts, grpc.MaxRecvMsgSize(cfg.maxRecv), grpc.MaxSendMsgSize(cfg.maxSend))
	}
	if cfg.keepalive != nil {
		sopts = append(sopts, grpc.KeepaliveParams(*cfg.keepalive), grpc.KeepaliveEnforcementPolicy(*cfg.enforcement))
	}
	sopts = append(sopts, cfg.serverOpts...)
	c.srv = grpc.NewServer(sopts...)

	if !cfg.withoutHealth {
		c.health = health.NewServer()
		// health.NewServer reports SERVING for ""; nothing is served yet.
		c.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
		healthpb.RegisterHealthServer(c.srv, &healthService{Server: c.health, c: c})
	}
	if cfg.reflection {
		reflection.Register(c.srv)
	}

	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("grpc: listening on %s: %w", addr, err)
	}
	c.lis = lis
	return c, nil
}

// Server returns the gRPC server to register services on, before Run.
func (c *Component) Server() *grpc.Server { return c.srv }

// Health returns the health service, to set the status of single services
// (nil with WithoutHealth). Run sets every registered service SERVING when it
// starts (and when the service turns ready, see SetServiceReady) and
// NOT_SERVING when the service stops being ready or shutdown starts; after
// that, changes are ignored.
func (c *Component) Health() *health.Server { return c.health }

// Addr returns the address the server listens on (with the port chosen for
// ":0").
func (c *Component) Addr() net.Addr { return c.lis.Addr() }

// Name names the component in the service's readiness report and logs.
func (c *Component) Name() string { return "grpc" }

// Ready returns nil while the server serves: from the start of Run until
// shutdown starts.
func (c *Component) Ready(context.Context) error {
	if c.ready.Load() {
		return nil
	}
	if c.started.Load() {
		return errors.New("grpc: shutting down")
	}
	return errors.New("grpc: not serving yet")
}

// Close releases the listener of a Component that will not be Run. While
// Run is running, it stops the server at once: in-flight RPCs fail and Run
// returns ErrClosed.
func (c *Component) Close() error {
	c.closed.Store(true)
	c.srv.Stop()
	if err := c.lis.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("grpc: closing listener: %w", err)
	}
	return nil
}

// Run serves until ctx is cancelled, then stops gracefully: the health
// service turns NOT_SERVING, the server stops accepting and waits for
// in-flight RPCs up to the drain timeout, then stops hard. It returns nil
// after a graceful stop, an error wrapping ErrDrainTimeout after a hard one,
// and an error when the server cannot serve. Run may be called once.
func (c *Component) Run(ctx context.Context) error {
	if !c.started.CompareAndSwap(false, true) {
		return errors.New("grpc: Run called twice")
	}
	if c.closed.Load() {
		return ErrClosed
	}
	logger := c.cfg.logger
	if logger == nil {
		logger = log.FromContext(ctx)
		c.logger.Store(logger)
	}

	// SERVING before Serve: no health check can be answered in between
	// and see the initial NOT_SERVING.
	c.setServing()
	served := make(chan error, 1)
	go func() { served <- c.srv.Serve(c.lis) }()
	logger.InfoContext(ctx, "grpc server serving", slog.String("addr", c.Addr().String()))

	select {
	case err := <-served:
		c.ready.Store(false)
		if c.health != nil {
			c.health.Shutdown()
		}
		c.cancelHealth()
		if err == nil || c.closed.Load() {
			return ErrClosed
		}
		return fmt.Errorf("grpc: serving on %s: %w", c.Addr(), err)
	case <-ctx.Done():
	}
	return c.shutdown(ctx, logger, served)
}

// setServing marks the server serving, and its health SERVING unless the
// service it follows is not ready.
func (c *Component) setServing() {
	c.ready.Store(true)
	c.updateHealth()
}

// SetServiceReady makes the health service follow the readiness of the
// service the component runs in: patron.Service calls it (the component is
// a patron.ReadinessListener) when it starts, whenever its readiness
// changes, and with false as soon as shutdown starts, while /ready turns
// 503. Health then says SERVING only while the server serves and ready is
// true. A component never told follows only its own state.
func (c *Component) SetServiceReady(ready bool) {
	c.serviceReady.Store(ready)
	c.follows.Store(true)
	c.updateHealth()
}

// updateHealth sets the server and every registered service SERVING or
// NOT_SERVING from the component's and the service's state. After shutdown
// started, health.Server ignores it.
func (c *Component) updateHealth() {
	if c.health == nil {
		return
	}
	c.healthMu.Lock()
	defer c.healthMu.Unlock()
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if c.ready.Load() && !c.stopping.Load() && (!c.follows.Load() || c.serviceReady.Load()) {
		st = healthpb.HealthCheckResponse_SERVING
	}
	for name := range c.srv.GetServiceInfo() {
		c.health.SetServingStatus(name, st)
	}
	c.health.SetServingStatus("", st)
}

func (c *Component) shutdown(ctx context.Context, logger *slog.Logger, served <-chan error) error {
	// Tell load balancers and health-checking clients first, so that new
	// calls go elsewhere while the in-flight ones finish.
	c.ready.Store(false)
	c.stopping.Store(true)
	if c.health != nil {
		c.healthMu.Lock()
		c.health.Shutdown()
		c.healthMu.Unlock()
	}
	c.cancelHealth()
	start := time.Now()
	logger.InfoContext(ctx, "grpc server draining", slog.Duration("timeout", c.cfg.drainTimeout))

	drained := make(chan struct{})
	go func() {
		c.srv.GracefulStop()
		close(drained)
	}()
	timer := time.NewTimer(c.cfg.drainTimeout)
	defer timer.Stop()

	var err error
	select {
	case <-drained:
		logger.InfoContext(ctx, "grpc server stopped", slog.Duration("drain", time.Since(start)))
	case <-timer.C:
		logger.WarnContext(ctx, "grpc server drain timed out; stopping hard, in-flight RPCs are cancelled",
			slog.Duration("timeout", c.cfg.drainTimeout))
		c.srv.Stop()
		<-drained
		err = fmt.Errorf("%w (%s)", ErrDrainTimeout, c.cfg.drainTimeout)
	}
	// Serve returns nil once GracefulStop or Stop has been called.
	if serveErr := <-served; serveErr != nil && err == nil {
		err = fmt.Errorf("grpc: serving on %s: %w", c.Addr(), serveErr)
	}
	return err
}
