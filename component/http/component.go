// Package http is Patron's HTTP server component: routes on Go ServeMux
// patterns behind a default middleware chain (recovery, correlation ID,
// tracing, metrics, access log, compression), route options (rate limit,
// auth, timeout, body limit, CORS, route cache), RFC 9457 problem
// responses and JSON/protobuf bodies with content negotiation.
//
// Routes run on their own server (New) or on the service's default server
// (patron.WithRoutes, which uses NewHandler).
package http

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"

	"github.com/patron-go/patron/internal/option"
	patronlog "github.com/patron-go/patron/observability/log"
)

// Component is an HTTP server; run it with the service (or on its own with
// Run).
type Component struct {
	cfg     config
	handler *server

	mu     sync.Mutex
	addr   net.Addr
	ready  chan struct{}
	closed bool
}

// New builds an HTTP server component from opts: validated here, listening
// only in Run.
func New(opts ...Option) (*Component, error) {
	cfg := defaultConfig()
	if err := option.Apply("http", &cfg, opts); err != nil {
		return nil, err
	}
	if len(cfg.routes) == 0 {
		return nil, errors.New("http: no routes (use WithRoutes)")
	}
	h, err := newServer(&cfg)
	if err != nil {
		return nil, err
	}
	return &Component{cfg: cfg, handler: h, ready: make(chan struct{})}, nil
}

// Name returns the component's name (WithName, "http" by default).
func (c *Component) Name() string { return c.cfg.name }

// Handler returns the routes behind the default chain, e.g. to test them
// with httptest.
func (c *Component) Handler() http.Handler { return c.handler }

// Ready reports whether the server is listening.
func (c *Component) Ready(context.Context) error {
	select {
	case <-c.ready:
		return nil
	default:
		return errors.New("http: not listening yet")
	}
}

// Addr waits until the server listens (or ctx ends) and returns its
// address, which tells the port picked for ":0".
func (c *Component) Addr(ctx context.Context) (net.Addr, error) {
	select {
	case <-c.ready:
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.addr, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Run serves until ctx is cancelled, then drains: it stops accepting,
// lets in-flight requests finish within the shutdown timeout, and returns
// nil. Requests still running at the deadline get their contexts cancelled
// and their connections closed. It returns an error when it cannot listen or
// the server fails. Run may be called once; when it returns, the server
// stops reporting http.server.active_requests.
func (c *Component) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return errors.New("http: Run called twice")
	}
	c.closed = true
	c.mu.Unlock()
	defer func() { _ = c.handler.Close() }()

	ln := c.cfg.listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", c.cfg.addr); err != nil {
			return fmt.Errorf("http: listening on %s: %w", c.cfg.addr, err)
		}
	}
	logger := c.cfg.logger
	if logger == nil {
		logger = patronlog.FromContext(ctx)
	}
	// Requests get a context that carries the service's logger and outlives
	// ctx, so that cancelling Run drains them instead of aborting them.
	baseCtx, cancelRequests := context.WithCancel(patronlog.WithContext(context.WithoutCancel(ctx), logger))
	defer cancelRequests()
	srv := &http.Server{
		Handler:           c.handler,
		ReadHeaderTimeout: c.cfg.readHeaderTimeout,
		ReadTimeout:       c.cfg.readTimeout,
		WriteTimeout:      c.cfg.writeTimeout,
		IdleTimeout:       c.cfg.idleTimeout,
		MaxHeaderBytes:    c.cfg.maxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
		ErrorLog:          nil,
	}
	if c.cfg.tls != nil {
		cfg := c.cfg.tls.Clone()
		if len(cfg.NextProtos) == 0 {
			cfg.NextProtos = []string{"h2", "http/1.1"}
		}
		srv.TLSConfig = cfg
		ln = tls.NewListener(ln, cfg)
	}
	c.mu.Lock()
	c.addr = ln.Addr()
	c.mu.Unlock()
	close(c.ready)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	logger.InfoContext(ctx, "HTTP server listening", "addr", ln.Addr().String(), "component", c.cfg.name)

	select {
	case err := <-errc:
		return fmt.Errorf("http: server on %s stopped: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	logger.InfoContext(ctx, "HTTP server draining", "addr", ln.Addr().String(), "timeout", c.cfg.shutdownTimeout)
	drainCtx, cancel := context.WithTimeout(context.Background(), c.cfg.shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(drainCtx)
	if err != nil {
		// The deadline passed: tell the stragglers, then cut them off.
		cancelRequests()
		_ = srv.Close()
		err = fmt.Errorf("http: draining %s: in-flight requests outlived the %s shutdown timeout: %w",
			ln.Addr(), c.cfg.shutdownTimeout, err)
	}
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
