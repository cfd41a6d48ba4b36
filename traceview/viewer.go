package traceview

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"

	"github.com/patron-go/patron/internal/option"
)

// Default listen addresses: Jaeger's and OTLP's well-known ports, on the
// loopback interface only, because the viewer has no authentication.
const (
	DefaultUIAddr       = "127.0.0.1:16686"
	DefaultOTLPHTTPAddr = "127.0.0.1:4318"
	DefaultOTLPGRPCAddr = "127.0.0.1:4317"

	// DefaultShutdownTimeout bounds the graceful stop of Run.
	DefaultShutdownTimeout = 5 * time.Second
)

type config struct {
	uiAddr, httpAddr, grpcAddr string
	maxSpans                   int
	maxStoreBytes              int64
	maxLogs                    int
	maxLogBytes                int64
	maxPoints                  int
	maxPointBytes              int64
	maxBody                    int64
	lim                        limits
	shutdown                   time.Duration
	log                        *slog.Logger
}

// Option configures a Viewer. Options are checked by New, which returns the
// first error.
type Option func(*config) error

func checkAddr(what, addr string) error {
	if addr == "" {
		return nil
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("traceview: %s address %q: %w", what, addr, err)
	}
	return nil
}

// WithUIAddr sets the listen address of the web UI and query API (default
// 127.0.0.1:16686). Port 0 picks a free port; see Addrs. An empty address
// disables the listener (Handler still serves in-process).
func WithUIAddr(addr string) Option {
	return func(c *config) error { c.uiAddr = addr; return checkAddr("UI", addr) }
}

// WithOTLPHTTPAddr sets the listen address of the OTLP/HTTP receiver
// (default 127.0.0.1:4318). An empty address disables it.
func WithOTLPHTTPAddr(addr string) Option {
	return func(c *config) error { c.httpAddr = addr; return checkAddr("OTLP/HTTP", addr) }
}

// WithOTLPGRPCAddr sets the listen address of the OTLP/gRPC receiver
// (default 127.0.0.1:4317). An empty address disables it.
func WithOTLPGRPCAddr(addr string) Option {
	return func(c *config) error { c.grpcAddr = addr; return checkAddr("OTLP/gRPC", addr) }
}

// WithMaxSpans bounds the store (default DefaultMaxSpans); the oldest traces
// are evicted beyond it.
func WithMaxSpans(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("traceview: max spans must be positive, got %d", n)
		}
		c.maxSpans = n
		return nil
	}
}

// WithMaxStoreBytes bounds the span store by the memory its spans take
// (default DefaultMaxStoreBytes), as WithMaxSpans bounds it by count: the
// oldest traces are evicted beyond either. Large attribute values make a
// few spans cost what many small ones do.
func WithMaxStoreBytes(n int64) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("traceview: max store bytes must be positive, got %d", n)
		}
		c.maxStoreBytes = n
		return nil
	}
}

// WithMaxLogRecords bounds the log store (default DefaultMaxLogRecords);
// the oldest records are evicted beyond it.
func WithMaxLogRecords(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("traceview: max log records must be positive, got %d", n)
		}
		c.maxLogs = n
		return nil
	}
}

// WithMaxLogBytes bounds the log store by the memory of its records
// (default DefaultMaxLogBytes).
func WithMaxLogBytes(n int64) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("traceview: max log bytes must be positive, got %d", n)
		}
		c.maxLogBytes = n
		return nil
	}
}

// WithMaxMetricPoints bounds the metric store (default
// DefaultMaxMetricPoints); the oldest data points are evicted beyond it.
func WithMaxMetricPoints(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("traceview: max metric points must be positive, got %d", n)
		}
		c.maxPoints = n
		return nil
	}
}

// WithMaxMetricBytes bounds the metric store by the memory of its points
// (default DefaultMaxMetricBytes).
func WithMaxMetricBytes(n int64) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("traceview: max metric bytes must be positive, got %d", n)
		}
		c.maxPointBytes = n
		return nil
	}
}

// WithMaxExportItems caps the spans, log records or metric data points of
// one export request (default DefaultMaxExportItems); a request over it is
// refused with HTTP 413 or gRPC ResourceExhausted.
func WithMaxExportItems(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("traceview: max export items must be positive, got %d", n)
		}
		c.lim.maxItems = n
		return nil
	}
}

// WithMaxExportAttrBytes caps the attribute data of one export request, as
// held once decoded (default DefaultMaxExportAttrBytes); a request over it
// is refused with HTTP 413 or gRPC ResourceExhausted.
func WithMaxExportAttrBytes(n int64) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("traceview: max export attribute bytes must be positive, got %d", n)
		}
		c.lim.maxCost = n
		return nil
	}
}

// WithMaxBodyBytes limits the size of one OTLP export, after decompression
// (default DefaultMaxBodyBytes).
func WithMaxBodyBytes(n int64) Option {
	return func(c *config) error {
		if n <= 0 || n > 1<<30 {
			return fmt.Errorf("traceview: max body bytes must be in 1..1GiB, got %d", n)
		}
		c.maxBody = n
		return nil
	}
}

// WithShutdownTimeout bounds how long Run waits for in-flight requests after
// its context is cancelled (default DefaultShutdownTimeout).
func WithShutdownTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("traceview: shutdown timeout must be positive, got %v", d)
		}
		c.shutdown = d
		return nil
	}
}

// WithLogger sets the logger for rejected payloads and server errors
// (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("traceview: nil logger")
		}
		c.log = l
		return nil
	}
}

// Addrs are the addresses the listeners are bound to, empty for a disabled
// listener or before Run has bound them.
type Addrs struct {
	UI       string
	OTLPHTTP string
	OTLPGRPC string
}

// Viewer is the trace viewer: OTLP receivers feeding a bounded store, and a
// Jaeger-compatible query API with a web UI on top. It is a Patron
// component: Run serves until its context is cancelled.
type Viewer struct {
	cfg     config
	store   *Store
	logs    *LogStore
	metrics *MetricStore
	ui      http.Handler
	otlp    *otlpHTTP
	grpc    *otlpGRPC

	mu      sync.Mutex
	started bool
	addrs   Addrs
	ready   chan struct{} // closed once bound, or once Run has failed
	runErr  error         // why Run failed before ready
}

// New returns a Viewer configured by opts. Nothing listens until Run.
func New(opts ...Option) (*Viewer, error) {
	cfg := config{
		uiAddr:        DefaultUIAddr,
		httpAddr:      DefaultOTLPHTTPAddr,
		grpcAddr:      DefaultOTLPGRPCAddr,
		maxSpans:      DefaultMaxSpans,
		maxStoreBytes: DefaultMaxStoreBytes,
		maxLogs:       DefaultMaxLogRecords,
		maxLogBytes:   DefaultMaxLogBytes,
		maxPoints:     DefaultMaxMetricPoints,
		maxPointBytes: DefaultMaxMetricBytes,
		maxBody:       DefaultMaxBodyBytes,
		lim:           defaultLimits(),
		shutdown:      DefaultShutdownTimeout,
		log:           slog.Default(),
	}
	if err := option.Apply("traceview", &cfg, opts); err != nil {
		return nil, err
	}
	if cfg.uiAddr == "" && cfg.httpAddr == "" && cfg.grpcAddr == "" {
		return nil, errors.New("traceview: every listener is disabled")
	}
	store, err := NewStore(cfg.maxSpans, WithStoreMaxBytes(cfg.maxStoreBytes))
	if err != nil {
		return nil, err
	}
	logs, err := NewLogStore(cfg.maxLogs, WithLogStoreMaxBytes(cfg.maxLogBytes))
	if err != nil {
		return nil, err
	}
	metrics, err := NewMetricStore(cfg.maxPoints, WithMetricStoreMaxBytes(cfg.maxPointBytes))
	if err != nil {
		return nil, err
	}
	ui, err := newUIHandler(stores{spans: store, logs: logs, metrics: metrics}, cfg.log)
	if err != nil {
		return nil, err
	}
	return &Viewer{
		cfg:     cfg,
		store:   store,
		logs:    logs,
		metrics: metrics,
		ui:      ui,
		otlp:    &otlpHTTP{store: store, logs: logs, metrics: metrics, log: cfg.log, maxBody: cfg.maxBody, lim: cfg.lim},
		grpc:    &otlpGRPC{store: store, logs: logs, metrics: metrics, log: cfg.log, lim: cfg.lim},
		ready:   make(chan struct{}),
	}, nil
}

// Store returns the viewer's span store, for in-process ingestion and
// queries.
func (v *Viewer) Store() *Store { return v.store }

// Logs returns the viewer's log store.
func (v *Viewer) Logs() *LogStore { return v.logs }

// Metrics returns the viewer's metric store.
func (v *Viewer) Metrics() *MetricStore { return v.metrics }

// Handler returns the web UI and query API handler, to mount elsewhere.
func (v *Viewer) Handler() http.Handler { return v.ui }

// OTLPHandler returns the OTLP/HTTP receiver (POST /v1/traces, /v1/logs
// and /v1/metrics), to mount elsewhere.
func (v *Viewer) OTLPHandler() http.Handler { return v.otlp }

// RegisterGRPC registers the OTLP TraceService, LogsService and
// MetricsService on another gRPC server, for processes that already run
// one.
func (v *Viewer) RegisterGRPC(s grpc.ServiceRegistrar) {
	coltracepb.RegisterTraceServiceServer(s, v.grpc)
	collogspb.RegisterLogsServiceServer(s, otlpLogsGRPC{g: v.grpc})
	colmetricspb.RegisterMetricsServiceServer(s, otlpMetricsGRPC{g: v.grpc})
}

// Ready blocks until Run has bound every listener, and returns the error
// that stopped Run from doing so, or ctx's error.
func (v *Viewer) Ready(ctx context.Context) error {
	select {
	case <-v.ready:
		v.mu.Lock()
		defer v.mu.Unlock()
		return v.runErr
	case <-ctx.Done():
		return fmt.Errorf("traceview: waiting for listeners: %w", ctx.Err())
	}
}

// Addrs returns the bound addresses; they are set once Ready returns nil.
func (v *Viewer) Addrs() Addrs {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.addrs
}

// Run binds the UI, OTLP/HTTP and OTLP/gRPC listeners and serves until ctx
// is cancelled, then stops gracefully and returns nil. It returns an error
// if a listener cannot be bound or a server fails. A Viewer runs once.
func (v *Viewer) Run(ctx context.Context) (err error) {
	v.mu.Lock()
	if v.started {
		v.mu.Unlock()
		return errors.New("traceview: viewer already started")
	}
	v.started = true
	v.mu.Unlock()

	lns, err := v.listen(ctx)
	if err != nil {
		v.mu.Lock()
		v.runErr = err
		v.mu.Unlock()
		close(v.ready)
		return err
	}
	v.mu.Lock()
	v.addrs = Addrs{UI: addrOf(lns.ui), OTLPHTTP: addrOf(lns.http), OTLPGRPC: addrOf(lns.grpc)}
	v.mu.Unlock()

	var (
		wg      sync.WaitGroup
		errOnce sync.Once
		failed  = make(chan error, 1)
	)
	fail := func(e error) { errOnce.Do(func() { failed <- e }) }
	serveHTTP := func(name string, ln net.Listener, h http.Handler) *http.Server {
		if ln == nil {
			return nil
		}
		srv := &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       time.Minute,
			WriteTimeout:      time.Minute,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    1 << 20,
			ErrorLog:          slog.NewLogLogger(v.cfg.log.Handler(), slog.LevelWarn),
		}
		wg.Go(func() {
			if e := srv.Serve(ln); !errors.Is(e, http.ErrServerClosed) {
				fail(fmt.Errorf("traceview: %s server: %w", name, e))
			}
		})
		return srv
	}
	uiSrv := serveHTTP("UI", lns.ui, v.ui)
	otlpSrv := serveHTTP("OTLP/HTTP", lns.http, v.otlp)
	var gs *grpc.Server
	if lns.grpc != nil {
		gs = grpc.NewServer(
			grpc.MaxRecvMsgSize(int(v.cfg.maxBody)),
			grpc.ForceServerCodecV2(rawCodec{proto: encoding.GetCodecV2(grpcproto.Name)}),
		)
		gs.RegisterService(v.grpc.serviceDesc(), v.grpc)
		gs.RegisterService(v.grpc.logsDesc(), otlpLogsGRPC{g: v.grpc})
		gs.RegisterService(v.grpc.metricsDesc(), otlpMetricsGRPC{g: v.grpc})
		wg.Go(func() {
			if e := gs.Serve(lns.grpc); e != nil && !errors.Is(e, grpc.ErrServerStopped) {
				fail(fmt.Errorf("traceview: OTLP/gRPC server: %w", e))
			}
		})
	}
	close(v.ready)
	v.cfg.log.Info("traceview: listening", "ui", v.addrs.UI, "otlp_http", v.addrs.OTLPHTTP, "otlp_grpc", v.addrs.OTLPGRPC)

	select {
	case <-ctx.Done():
	case err = <-failed:
	}

	// Stop gracefully, but never longer than the shutdown timeout.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), v.cfg.shutdown)
	defer cancel()
	for _, srv := range []*http.Server{uiSrv, otlpSrv} {
		if srv == nil {
			continue
		}
		if e := srv.Shutdown(sctx); e != nil {
			_ = srv.Close() // the deadline passed: cut the stragglers
		}
	}
	if gs != nil {
		stopped := make(chan struct{})
		go func() { gs.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-sctx.Done():
			gs.Stop()
			<-stopped
		}
	}
	wg.Wait()
	return err
}

type listeners struct{ ui, http, grpc net.Listener }

func (v *Viewer) listen(ctx context.Context) (listeners, error) {
	var (
		lns listeners
		lc  net.ListenConfig
	)
	closeAll := func() {
		for _, l := range []net.Listener{lns.ui, lns.http, lns.grpc} {
			if l != nil {
				_ = l.Close()
			}
		}
	}
	for _, x := range []struct {
		what string
		addr string
		dst  *net.Listener
	}{
		{"UI", v.cfg.uiAddr, &lns.ui},
		{"OTLP/HTTP", v.cfg.httpAddr, &lns.http},
		{"OTLP/gRPC", v.cfg.grpcAddr, &lns.grpc},
	} {
		if x.addr == "" {
			continue
		}
		l, err := lc.Listen(ctx, "tcp", x.addr)
		if err != nil {
			closeAll()
			return listeners{}, fmt.Errorf("traceview: listening for %s on %s: %w", x.what, x.addr, err)
		}
		*x.dst = l
	}
	return lns, nil
}

func addrOf(l net.Listener) string {
	if l == nil {
		return ""
	}
	return l.Addr().String()
}
