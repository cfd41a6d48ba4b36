package http

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/httpconv"
	"go.opentelemetry.io/otel/trace"

	"github.com/patron-go/patron/correlation"
	"github.com/patron-go/patron/internal/option"
	"github.com/patron-go/patron/observability"
	patronlog "github.com/patron-go/patron/observability/log"
)

// scope is the instrumentation scope of the server's spans and metrics.
const scope = observability.ModulePath + "/component/http"

// server is the default chain around the routes' mux. Its middlewares
// (recovery, correlation, tracing, metrics, access log, compression) run in
// one function on one pooled writer rather than as nested handlers: the
// order is the same, but a request costs a handful of allocations instead
// of one closure and wrapper per layer. It stays one wrapper because that
// is faster: in bench/http (go test -bench Chain ./bench/http/, see
// bench/http/README.md) the chain adds ~3.3 µs and 8 allocations to a
// request where the nested otelhttp + correlation + access log middlewares
// of reference_otelhttp add ~10 µs and 49. The route is reported by the
// mux's routeEntry, which finds this writer under the server-wide
// middlewares; for a mux of the user's (NewMiddleware) it comes from
// r.Pattern instead.
type server struct {
	next        http.Handler
	tracer      trace.Tracer
	prop        propagation.TextMapPropagator
	logger      *slog.Logger
	logLevel    slog.Level
	accessLog   bool
	serverAddr  bool
	compression bool
	threshold   int
	compressors *compressors
	startOpts   []trace.SpanStartOption

	duration  metric.Float64Histogram
	active    activeRequests
	activeReg metric.Registration
	reqSize   metric.Int64Histogram
	respSize  metric.Int64Histogram
	cacheOps  metric.Int64Counter

	unmatched *routeState
	// patterns holds the route state of each r.Pattern seen, for a mux of
	// the user's (NewMiddleware); copied on write, as new patterns are
	// rare and reads are every request.
	patterns   atomic.Pointer[map[string]*routeState]
	patternsMu sync.Mutex
	pool       sync.Pool
	// ids makes the correlation IDs of requests that bring none; it reads
	// the random source in batches, not once per request.
	ids correlation.Generator
}

// NewHandler returns the routes behind the default middleware chain, as an
// http.Handler to mount anywhere (patron.WithRoutes uses it for the
// service's default server). Listener, TLS and timeout options are ignored.
//
// The handler also implements io.Closer: Close unregisters its
// http.server.active_requests callback from the meter provider, for a
// handler dropped while its provider lives on.
func NewHandler(opts ...Option) (http.Handler, error) {
	cfg := defaultConfig()
	if err := option.Apply("http", &cfg, opts); err != nil {
		return nil, err
	}
	return newServer(&cfg)
}

// NewMiddleware returns the default chain (recovery, correlation ID,
// SERVER span, metrics, access log, compression) as a middleware, for
// handlers Patron does not route: your own http.ServeMux, or a router that
// sets r.Pattern. The route of span names and http.route comes from
// r.Pattern, which net/http's ServeMux sets on the request it is given:
// wrap the mux itself, since a middleware in between that passes on a copy
// of the request (r.WithContext) keeps the pattern from the chain, and the
// request is then reported as unmatched. The route options (rate limit,
// auth, timeout, body limit, CORS, cache) belong to routes: use NewRoute
// with NewHandler or New for them. WithRoutes, WithMiddlewares and the
// listener, TLS and timeout options are ignored.
//
// The middleware registers its http.server.active_requests callback with
// the meter provider for as long as the provider lives; every handler it
// wraps shares its metrics.
func NewMiddleware(opts ...Option) (Middleware, error) {
	cfg := defaultConfig()
	if err := option.Apply("http", &cfg, opts); err != nil {
		return nil, err
	}
	cfg.routes, cfg.middlewares = nil, nil
	s, err := newServer(&cfg)
	if err != nil {
		return nil, err
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, next) })
	}, nil
}

func newServer(cfg *config) (*server, error) {
	s := &server{
		tracer:      observability.Tracer(cfg.tp, scope),
		prop:        observability.Propagator(cfg.prop),
		logger:      cfg.logger,
		logLevel:    cfg.logLevel,
		accessLog:   cfg.accessLog,
		serverAddr:  cfg.serverAddr,
		compression: cfg.compression,
		threshold:   cfg.threshold,
		compressors: newCompressors(),
		// One shared slice: passing the option variadically would
		// allocate a new one per request (Start is an interface call).
		startOpts: []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)},
		unmatched: newRouteState(""),
	}
	s.patterns.Store(&map[string]*routeState{})
	s.pool.New = func() any {
		rw := &responseWriter{srv: s, buf: make([]byte, 0, cfg.threshold), attrs: make([]attribute.KeyValue, 0, 16)}
		rw.wire.rw = rw
		return rw
	}
	meter := observability.Meter(cfg.mp, scope)
	dur, err := httpconv.NewServerRequestDuration(meter, metric.WithExplicitBucketBoundaries(observability.DurationBuckets()...))
	if err != nil {
		return nil, fmt.Errorf("http: creating metrics: %w", err)
	}
	// Active requests are counted in atomics and observed when metrics
	// are collected: two SDK recordings per request would cost more than
	// the rest of the metrics together.
	s.active.init()
	active, err := httpconv.NewServerActiveRequestsObservable(meter)
	if err != nil {
		return nil, fmt.Errorf("http: creating metrics: %w", err)
	}
	// A registration rather than an instrument callback, so that Close can
	// let go of the server: the meter provider usually outlives it.
	if s.activeReg, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		return s.active.observe(o, active.Inst())
	}, active.Inst()); err != nil {
		return nil, fmt.Errorf("http: creating metrics: %w", err)
	}
	reqSize, err := httpconv.NewServerRequestBodySize(meter)
	if err != nil {
		return nil, fmt.Errorf("http: creating metrics: %w", err)
	}
	respSize, err := httpconv.NewServerResponseBodySize(meter)
	if err != nil {
		return nil, fmt.Errorf("http: creating metrics: %w", err)
	}
	cacheOps, err := meter.Int64Counter("http.server.cache.requests",
		metric.WithUnit("{request}"),
		metric.WithDescription("Requests to routes with a route cache, by cache.result (hit, miss, stale, bypass, error)."))
	if err != nil {
		return nil, fmt.Errorf("http: creating metrics: %w", err)
	}
	s.duration, s.reqSize, s.respSize, s.cacheOps = dur.Inst(), reqSize.Inst(), respSize.Inst(), cacheOps

	mux := http.NewServeMux()
	preflight := map[string]*corsPolicy{}
	var preflightOrder []string
	for _, rt := range cfg.routes {
		limit := rt.bodyLimit
		if limit == 0 {
			limit = cfg.bodyLimit
		}
		entry := &routeEntry{state: newRouteState(rt.path), next: rt.chain(s), bodyLimit: limit}
		if err := register(mux, rt.pattern, entry); err != nil {
			return nil, err
		}
		if rt.cors != nil && rt.method != "" && rt.method != http.MethodOptions {
			key := rt.pattern[len(rt.pattern)-len(rt.path)-hostLen(rt):]
			if p, ok := preflight[key]; ok {
				p.addMethod(rt.method)
			} else {
				p := rt.cors.forPreflight(rt.method)
				preflight[key] = p
				preflightOrder = append(preflightOrder, key)
			}
		}
	}
	for _, key := range preflightOrder {
		p := preflight[key]
		entry := &routeEntry{state: newRouteState(p.path(key)), next: p.preflightHandler(), bodyLimit: cfg.bodyLimit}
		if err := register(mux, http.MethodOptions+" "+key, entry); err != nil {
			return nil, fmt.Errorf("http: CORS preflight for %q: %w (register the OPTIONS route yourself or drop WithCORS)", key, err)
		}
	}
	var next http.Handler = mux
	for i := len(cfg.middlewares) - 1; i >= 0; i-- {
		next = cfg.middlewares[i](next)
	}
	s.next = next
	return s, nil
}

// Close unregisters the server's metric callback; the handler keeps
// serving, without reporting active requests.
func (s *server) Close() error {
	if err := s.activeReg.Unregister(); err != nil {
		return fmt.Errorf("http: unregistering metrics: %w", err)
	}
	return nil
}

// hostLen is the length of the host part of the route's pattern.
func hostLen(rt *Route) int {
	rest := rt.pattern
	if rt.method != "" {
		rest = rest[len(rt.method):]
	}
	for len(rest) > 0 && (rest[0] == ' ' || rest[0] == '\t') {
		rest = rest[1:]
	}
	return len(rest) - len(rt.path)
}

// ServeHTTP runs the default chain around the routes.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.serve(w, r, s.next) }

// serve runs the default chain around next. Outermost first: recovery (the
// deferred done), correlation ID, tracing, metrics, access log (in done)
// and compression (the writer).
func (s *server) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	rw := s.pool.Get().(*responseWriter)
	rw.w = w
	rw.method = methodOf(r.Method)
	rw.isHead = r.Method == http.MethodHead
	if s.compression {
		if rw.accept = negotiateEncoding(firstValue(r.Header, "Accept-Encoding")); rw.accept != encIdentity {
			rw.state = stUndecided
		}
	}
	defer s.done(rw)

	ctx, id := s.ids.Ensure(r.Context(), firstValue(r.Header, correlation.HeaderKey))
	w.Header()[correlation.HeaderKey] = []string{id}

	ctx = s.prop.Extract(ctx, headerCarrier(r.Header))
	tls := r.TLS != nil
	// The attributes go on in one call when the span ends: given at start
	// too they cost three more allocations and copies per request, and the
	// samplers Patron configures (parent-based, ratio) do not read them.
	ctx, rw.span = s.tracer.Start(ctx, s.unmatched.spanNames[rw.method], s.startOpts...)
	rw.start = observability.SpanStartTime(rw.span)
	s.active.add(rw.method, tls, 1)

	r = r.WithContext(ctx)
	if r.ContentLength < 0 && r.Body != nil && r.Body != http.NoBody {
		rw.body.ReadCloser = r.Body
		r.Body = &rw.body
	}
	rw.req = r
	next.ServeHTTP(rw, r)
}

// maxPatterns bounds the route states kept for r.Pattern values: a router
// that makes up patterns cannot grow the map without end.
const maxPatterns = 1024

// patternRoute is the route state of the ServeMux pattern that matched r
// (r.Pattern, set by net/http's ServeMux on the request it routes).
func (s *server) patternRoute(pattern string) *routeState {
	if pattern == "" {
		return s.unmatched
	}
	if rs, ok := (*s.patterns.Load())[pattern]; ok {
		return rs
	}
	s.patternsMu.Lock()
	defer s.patternsMu.Unlock()
	cur := *s.patterns.Load()
	if rs, ok := cur[pattern]; ok {
		return rs
	}
	if len(cur) >= maxPatterns {
		return s.unmatched
	}
	_, path := splitPattern(pattern)
	rs := newRouteState(path)
	next := make(map[string]*routeState, len(cur)+1)
	maps.Copy(next, cur)
	next[pattern] = rs
	s.patterns.Store(&next)
	return rs
}

// requestAttributes fills rw's attribute array with the request's semconv
// attributes; the caller appends the response's.
func requestAttributes(rw *responseWriter, r *http.Request, tls bool) []attribute.KeyValue {
	a := rw.attrs[:0]
	a = append(a, methodAttrs[rw.method])
	if rw.method == mOther {
		a = append(a, semconv.HTTPRequestMethodOriginal(r.Method))
	}
	a = append(a, semconv.URLPath(r.URL.Path), schemeAttr(tls))
	// server.address and server.port only on request: on a server span they
	// repeat the service's own host name on every request, and two more
	// attributes cost about a microsecond per span (past eight attributes
	// the SDK's de-duplication map at End leaves Go's small-map layout).
	if rw.srv.serverAddr {
		if host, port := splitHostPort(r.Host); host != "" {
			a = append(a, semconv.ServerAddress(host))
			if port > 0 {
				a = append(a, semconv.ServerPort(port))
			}
		}
	}
	// client.address only: network.peer.* would repeat it without a proxy,
	// and each attribute costs on every sampled span.
	if host, _ := splitHostPort(r.RemoteAddr); host != "" {
		a = append(a, semconv.ClientAddress(host))
	}
	if v := protoVersion(r); v != "" {
		a = append(a, semconv.NetworkProtocolVersion(v))
	}
	if ua := r.Header["User-Agent"]; len(ua) > 0 && ua[0] != "" {
		a = append(a, semconv.UserAgentOriginal(ua[0]))
	}
	return a
}

// splitHostPort splits without allocating and without failing: a host
// without a port gives port 0, garbage gives "".
func splitHostPort(hp string) (string, int) {
	if hp == "" {
		return "", 0
	}
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		return hp, 0
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		p = 0
	}
	return host, p
}

// done is deferred by ServeHTTP: it recovers a panic (500 problem+json,
// span error, stack logged), finishes the response and records the span,
// the metrics and the access log.
func (s *server) done(rw *responseWriter) {
	p := recover()
	r := rw.req
	if r == nil { // panicked before the chain started: nothing to report
		rw.release()
		rw.reset()
		s.pool.Put(rw)
		if p != nil {
			panic(p)
		}
		return
	}
	ctx := r.Context()
	aborted := false
	if p != nil {
		rw.release()
		if p == http.ErrAbortHandler { //nolint:errorlint // sentinel panic value
			rw.span.End()
			s.active.add(rw.method, r.TLS != nil, -1)
			rw.reset()
			s.pool.Put(rw)
			panic(p)
		}
		aborted = !s.recovered(ctx, rw, r, p)
	} else {
		rw.finish()
	}

	status := rw.status
	if status == 0 {
		status = http.StatusOK
	}
	rs := rw.route
	if rs == nil {
		rs = s.patternRoute(r.Pattern)
	}
	tls := r.TLS != nil
	if rw.span.IsRecording() {
		a := append(requestAttributes(rw, r, tls), semconv.HTTPResponseStatusCode(status))
		if rs.route != "" {
			rw.span.SetName(rs.spanNames[rw.method])
			a = append(a, semconv.HTTPRoute(rs.route))
		}
		if status >= 500 {
			a = append(a, semconv.ErrorTypeKey.String(statusText(status)))
			rw.span.SetStatus(codes.Error, "")
		}
		rw.span.SetAttributes(a...)
		clear(a) // the span has its copy; drop the request's strings
		rw.attrs = a[:0]
	}
	rw.span.End()

	end := endTime(rw.span, rw.start)
	elapsed := end.Sub(rw.start)
	opts := rs.recordOptions(metricKey{method: rw.method, status: status, tls: tls, proto: protoVersion(r)})
	s.duration.Record(ctx, elapsed.Seconds(), opts...)
	reqBytes := r.ContentLength
	if reqBytes < 0 {
		reqBytes = rw.body.n
	}
	// Exemplars (a sampled span's IDs kept with a measurement) are left to
	// the duration histogram, where they lead from a slow bucket to its
	// trace: given the request's context, the body size histograms would
	// each read the clock and the span context per request for exemplars
	// nobody looks at.
	noExemplar := context.Background()
	s.reqSize.Record(noExemplar, reqBytes, opts...)
	s.respSize.Record(noExemplar, rw.bytes, opts...)
	s.active.add(rw.method, tls, -1)

	if s.accessLog {
		s.logAccess(ctx, rw, r, rs, status, end, elapsed)
	}

	rw.reset()
	s.pool.Put(rw)
	if aborted {
		// The response was under way: cut the connection so the client
		// sees a broken response instead of a short one that looks whole.
		panic(http.ErrAbortHandler)
	}
}

func (s *server) loggerFor(ctx context.Context) *slog.Logger {
	if s.logger != nil {
		return s.logger
	}
	return patronlog.FromContext(ctx)
}

// endTime is the sampled span's recorded end time, or start plus the time
// elapsed on the monotonic clock: time.Since reads one clock where
// time.Now reads two.
func endTime(span trace.Span, start time.Time) time.Time {
	if ro, ok := span.(interface{ EndTime() time.Time }); ok {
		if t := ro.EndTime(); !t.IsZero() {
			return t
		}
	}
	return start.Add(time.Since(start))
}

// accessMsg is the message of every access log record.
const accessMsg = "http request"

func (s *server) logAccess(ctx context.Context, rw *responseWriter, r *http.Request, rs *routeState, status int, end time.Time, elapsed time.Duration) {
	level := s.logLevel
	if status >= 500 {
		level = slog.LevelError
	}
	h := s.loggerFor(ctx).Handler()
	if !h.Enabled(ctx, level) {
		return
	}
	route := rs.route
	if route == "" {
		route = r.URL.Path
	}
	// Straight to the handler with no caller PC: Logger.LogAttrs would walk
	// the stack for a source location that points here anyway.
	rec := slog.NewRecord(end, level, accessMsg, 0)
	rec.AddAttrs(
		slog.String("method", r.Method),
		slog.String("route", route),
		slog.Int("status", status),
		slog.Duration("duration", elapsed),
		slog.Int64("size", rw.bytes))
	_ = h.Handle(ctx, rec)
}

// recovered turns a panic into a 500 problem when nothing was sent yet; it
// reports false when the response was already under way (the connection
// must then be cut).
func (s *server) recovered(ctx context.Context, rw *responseWriter, r *http.Request, p any) bool {
	stack := debug.Stack()
	if hp, ok := p.(*handlerPanic); ok { // from a handler under a route timeout
		p, stack = hp.value, hp.stack
	}
	err := fmt.Errorf("panic: %v", p)
	observability.RecordError(rw.span, err)
	s.loggerFor(ctx).LogAttrs(ctx, slog.LevelError, "panic in HTTP handler",
		slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.Any("error", err), slog.String("stack", string(stack)))
	if rw.hijacked {
		return true // the connection is the handler's; nothing to cut
	}
	if rw.wroteHeader {
		rw.status = http.StatusInternalServerError
		return false
	}
	h := rw.w.Header()
	for _, k := range []string{"Content-Length", "Content-Encoding", "Etag", "Last-Modified", "Cache-Control"} {
		delete(h, k)
	}
	rw.buf = rw.buf[:0]
	rw.state = stIdentity
	rw.headerSet = false
	rw.status = 0
	writeProblem(rw, &Problem{Status: http.StatusInternalServerError, Title: http.StatusText(http.StatusInternalServerError),
		Detail: "the server failed to handle the request"})
	rw.finish()
	return true
}

// firstValue is Header.Get for a key already in canonical form, without
// the canonicalization check Get makes.
func firstValue(h http.Header, canonicalKey string) string {
	if v := h[canonicalKey]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// headerCarrier reads propagation headers without the allocation that
// http.Header.Get makes to canonicalize lower-case keys.
type headerCarrier http.Header

func (h headerCarrier) Get(key string) string {
	var v []string
	switch key {
	case "traceparent":
		v = h["Traceparent"]
	case "tracestate":
		v = h["Tracestate"]
	case "baggage":
		v = h["Baggage"]
	default:
		return http.Header(h).Get(key)
	}
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

func (h headerCarrier) Set(key, value string) { http.Header(h).Set(key, value) }

func (h headerCarrier) Keys() []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	return keys
}

// Values returns every value of key, for propagators (baggage) that accept
// repeated headers.
func (h headerCarrier) Values(key string) []string {
	if key == "baggage" {
		return h["Baggage"]
	}
	return http.Header(h).Values(key)
}
