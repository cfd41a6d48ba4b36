// Package redis builds go-redis v9 clients instrumented with the official
// OpenTelemetry hooks (github.com/redis/go-redis/extra/redisotel) and
// Patron's conventions on top: Patron's providers and instrumentation scope,
// database semantic-convention attributes (db.system.name, db.operation.name,
// db.namespace, server.address and server.port), the
// db.client.operation.duration histogram, and statements whose values never
// reach spans.
//
// Span names follow the conventions: the command ("GET", "CLIENT SETNAME"),
// and "BATCH <commands>" for a pipeline or transaction ("BATCH GET SET").
// Dials are not traced: go-redis dials in the background, outside any
// request's trace. db.query.text keeps the command and
// replaces every argument with ? ("SET ? ?"), since keys and values are often
// user data; WithRawStatements keeps them. AUTH and HELLO ... AUTH are never
// traced (redisotel's default filter), so passwords cannot leak either.
//
// Pool metrics come from redisotel (db.client.connections.usage, .max,
// .idle.max, .waits, .timeouts, ...). Their registration lives as long as the
// MeterProvider: go-redis has no close hook, and redisotel's alternative
// costs a goroutine per client.
package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/patron-go/patron/observability"
)

// scope is the instrumentation scope of the spans and metrics.
const scope = observability.ModulePath + "/client/redis"

// Option configures New and NewUniversal.
type Option func(*config) error

type config struct {
	tracerProvider trace.TracerProvider
	meterProvider  metric.MeterProvider
	propagator     propagation.TextMapPropagator
	logger         *slog.Logger
	options        *redis.Options
	raw            bool
	caller         bool
}

// WithTracerProvider sets the provider of the spans; the default is the
// OpenTelemetry global one.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) error {
		if tp == nil {
			return errors.New("redis: nil tracer provider")
		}
		c.tracerProvider = tp
		return nil
	}
}

// WithMeterProvider sets the provider of the metrics; the default is the
// OpenTelemetry global one.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) error {
		if mp == nil {
			return errors.New("redis: nil meter provider")
		}
		c.meterProvider = mp
		return nil
	}
}

// WithPropagator is accepted for symmetry with every Patron client; Redis
// commands carry no trace context, so it is not used.
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(c *config) error {
		if p == nil {
			return errors.New("redis: nil propagator")
		}
		c.propagator = p
		return nil
	}
}

// WithLogger sets the logger of the instrumentation's own problems; the
// default is slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("redis: nil logger")
		}
		c.logger = l
		return nil
	}
}

// WithAddr sets the server address (host:port) of New; the default is
// go-redis's, localhost:6379.
func WithAddr(addr string) Option {
	return func(c *config) error {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("redis: address %q: %w", addr, err)
		}
		c.clientOptions().Addr = addr
		return nil
	}
}

// WithOptions sets every go-redis option of New (timeouts, pool size, TLS,
// credentials); it is copied, and a later WithAddr overrides its Addr.
func WithOptions(o *redis.Options) Option {
	return func(c *config) error {
		if o == nil {
			return errors.New("redis: nil options")
		}
		cp := *o
		c.options = &cp
		return nil
	}
}

// WithRawStatements puts whole commands, keys and values included, on spans
// as db.query.text. Only use it where keys and values are not sensitive.
func WithRawStatements() Option {
	return func(c *config) error {
		c.raw = true
		return nil
	}
}

// WithCaller adds the calling function, file and line to each span
// (code.* attributes). It is off by default: it walks the stack on every
// command.
func WithCaller() Option {
	return func(c *config) error {
		c.caller = true
		return nil
	}
}

func (c *config) clientOptions() *redis.Options {
	if c.options == nil {
		c.options = &redis.Options{}
	}
	return c.options
}

func newConfig(opts []Option) (*config, error) {
	c := &config{}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("redis: nil option")
		}
		if err := o(c); err != nil {
			return nil, err
		}
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	return c, nil
}

// New returns a traced and measured client of one Redis server. Like
// go-redis, it connects lazily: use Ping to check the server.
func New(opts ...Option) (*redis.Client, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	rdb := redis.NewClient(cfg.clientOptions())
	if err := instrument(rdb, cfg); err != nil {
		_ = rdb.Close()
		return nil, err
	}
	return rdb, nil
}

// NewUniversal returns a traced and measured client for uo, which go-redis
// turns into a cluster client (several addresses or IsClusterMode), a
// sentinel-backed failover client (MasterName) or a simple client. Cluster
// nodes are instrumented as they are discovered.
func NewUniversal(uo *redis.UniversalOptions, opts ...Option) (redis.UniversalClient, error) {
	if uo == nil {
		return nil, errors.New("redis: nil universal options")
	}
	if len(uo.Addrs) == 0 {
		return nil, errors.New("redis: universal options need at least one address")
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	if cfg.options != nil {
		return nil, errors.New("redis: WithAddr and WithOptions are for New; NewUniversal takes its addresses from UniversalOptions")
	}
	rdb := redis.NewUniversalClient(uo)
	if err := instrument(rdb, cfg); err != nil {
		_ = rdb.Close()
		return nil, err
	}
	return rdb, nil
}

func instrument(rdb redis.UniversalClient, cfg *config) error {
	h, err := newSemconvHooks(cfg)
	if err != nil {
		return err
	}
	// redisotel's hook must be added first: hooks added earlier wrap later
	// ones, so Patron's hook runs inside redisotel's span and completes it.
	if err := redisotel.InstrumentTracing(rdb,
		redisotel.WithTracerProvider(scopedTracerProvider{tp: cfg.tracerProvider}),
		redisotel.WithDBStatement(cfg.raw),
		redisotel.WithCallerEnabled(cfg.caller),
		// go-redis dials from background goroutines, without the caller's
		// context: dial spans would be parentless traces, one per retry.
		// A failed dial still shows as the command span's error.
		redisotel.WithDialFilter(true),
		redisotel.WithCommandFilter(handshake),
		redisotel.WithCommandsFilter(allHandshake),
	); err != nil {
		return fmt.Errorf("redis: tracing: %w", err)
	}
	if err := redisotel.InstrumentMetrics(rdb,
		redisotel.WithMeterProvider(scopedMeterProvider{mp: cfg.meterProvider}),
		redisotel.WithSemConvCompliantMetrics(true),
	); err != nil {
		return fmt.Errorf("redis: metrics: %w", err)
	}
	switch c := rdb.(type) {
	case *redis.Client:
		c.AddHook(h.forClient(c.Options()))
	case *redis.ClusterClient:
		c.OnNewNode(func(node *redis.Client) { node.AddHook(h.forClient(node.Options())) })
	default:
		return fmt.Errorf("redis: %T not supported", rdb)
	}
	return nil
}

// semconvHooks is shared by the per-server hooks of one client.
type semconvHooks struct {
	duration metric.Float64Histogram
	raw      bool
}

func newSemconvHooks(cfg *config) (*semconvHooks, error) {
	d, err := observability.DurationHistogram(observability.Meter(cfg.meterProvider, scope),
		"db.client.operation.duration", "Duration of database client operations.")
	if err != nil {
		return nil, fmt.Errorf("redis: metrics: %w", err)
	}
	return &semconvHooks{duration: d, raw: cfg.raw}, nil
}

// hook completes redisotel's spans with the current semantic conventions
// and records db.client.operation.duration, for one server.
type hook struct {
	*semconvHooks
	attrs []attribute.KeyValue // db.system.name, db.namespace, server.*
}

func (h *semconvHooks) forClient(o *redis.Options) *hook {
	attrs := []attribute.KeyValue{semconv.DBSystemNameRedis, semconv.DBNamespace(strconv.Itoa(o.DB))}
	if host, port, err := net.SplitHostPort(o.Addr); err == nil {
		attrs = append(attrs, semconv.ServerAddress(host))
		if p, err := strconv.Atoi(port); err == nil {
			attrs = append(attrs, semconv.ServerPort(p))
		}
	}
	return &hook{semconvHooks: h, attrs: attrs}
}

var _ redis.Hook = (*hook)(nil)

// DialHook is part of redis.Hook.
func (h *hook) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook is part of redis.Hook.
func (h *hook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if handshake(cmd) {
			// Not traced by redisotel: the span in ctx is the caller's.
			return next(ctx, cmd)
		}
		start := time.Now()
		err := next(ctx, cmd)
		op := strings.ToUpper(cmd.FullName())
		h.finish(ctx, start, op, op, err, func() string { return h.statement(cmd) })
		return err
	}
}

// ProcessPipelineHook is part of redis.Hook.
func (h *hook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if allHandshake(cmds) {
			return next(ctx, cmds)
		}
		start := time.Now()
		err := next(ctx, cmds)
		op, summary := batchNames(cmds)
		h.finish(ctx, start, op, summary, err, func() string {
			parts := make([]string, len(cmds))
			for i, cmd := range cmds {
				parts[i] = h.statement(cmd)
			}
			return strings.Join(parts, "\n")
		}, semconv.DBOperationBatchSize(len(cmds)))
		return err
	}
}

func (h *hook) finish(ctx context.Context, start time.Time, op, name string, err error, text func() string, extra ...attribute.KeyValue) {
	failed := err != nil && !errors.Is(err, redis.Nil)
	metricAttrs := make([]attribute.KeyValue, 0, len(h.attrs)+3)
	metricAttrs = append(metricAttrs, h.attrs...)
	metricAttrs = append(metricAttrs, semconv.DBOperationName(op))
	if name != op {
		metricAttrs = append(metricAttrs, semconv.DBQuerySummary(name))
	}
	if failed {
		metricAttrs = append(metricAttrs, semconv.ErrorTypeKey.String(errorType(err)))
	}
	span := trace.SpanFromContext(ctx)
	if span.IsRecording() {
		span.SetName(name)
		span.SetAttributes(metricAttrs...)
		span.SetAttributes(extra...)
		span.SetAttributes(semconv.DBQueryText(text()))
	}
	h.duration.Record(ctx, time.Since(start).Seconds(), metric.WithAttributes(metricAttrs...))
}

// handshake reports the commands go-redis sends by itself on every new
// connection (HELLO, CLIENT SETINFO, CLIENT MAINT_NOTIFICATIONS) and AUTH: tracing them would put
// connection set-up, and the errors of servers older than Redis 7.2 that do
// not know CLIENT SETINFO, inside the first user command's span.
func handshake(cmd redis.Cmder) bool {
	if redisotel.DefaultCommandFilter(cmd) {
		return true
	}
	switch strings.ToLower(cmd.Name()) {
	case "hello":
		return true
	case "client":
		args := cmd.Args()
		if len(args) > 1 {
			sub, _ := args[1].(string)
			return strings.EqualFold(sub, "setinfo") || strings.EqualFold(sub, "maint_notifications")
		}
	}
	return false
}

// allHandshake reports a pipeline that must not be traced: one made only of
// handshake commands, or one that carries AUTH and so a password.
func allHandshake(cmds []redis.Cmder) bool {
	all := len(cmds) > 0
	for _, cmd := range cmds {
		if redisotel.DefaultCommandFilter(cmd) {
			return true
		}
		all = all && handshake(cmd)
	}
	return all
}

// statement is the command with its arguments replaced by ?, or the raw
// command with WithRawStatements.
func (h *hook) statement(cmd redis.Cmder) string {
	args := cmd.Args()
	name := cmd.FullName()
	if h.raw {
		var b strings.Builder
		for i, a := range args {
			if i > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprint(&b, a)
		}
		return b.String()
	}
	words := strings.Count(name, " ") + 1
	var b strings.Builder
	b.Grow(len(name) + 2*len(args))
	b.WriteString(strings.ToUpper(name))
	for i := words; i < len(args); i++ {
		b.WriteString(" ?")
	}
	return b.String()
}

// batchNames returns db.operation.name ("BATCH GET" when every command is a
// GET, else "BATCH") and the summary ("BATCH GET SET", first ten distinct
// commands) of a pipeline.
func batchNames(cmds []redis.Cmder) (op, summary string) {
	const limit = 10
	var names []string
	same := true
	for i, cmd := range cmds {
		n := strings.ToUpper(cmd.FullName())
		if i > 0 && n != names[0] {
			same = false
		}
		if len(names) < limit && !contains(names, n) {
			names = append(names, n)
		}
	}
	summary = "BATCH"
	if len(names) > 0 {
		summary += " " + strings.Join(names, " ")
	}
	if same && len(names) == 1 {
		return summary, summary
	}
	return "BATCH", summary
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// errorType names the class of a Redis failure: the error prefix the server
// sends (WRONGTYPE, ERR, ...) or the Go type of a transport error.
func errorType(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "context.DeadlineExceeded"
	case errors.Is(err, context.Canceled):
		return "context.Canceled"
	}
	var rerr redis.Error
	if errors.As(err, &rerr) {
		if prefix, _, ok := strings.Cut(rerr.Error(), " "); ok && prefix == strings.ToUpper(prefix) {
			return prefix
		}
	}
	return fmt.Sprintf("%T", err)
}

// scopedTracerProvider gives redisotel Patron's tracer (scope and schema).
type scopedTracerProvider struct {
	trace.TracerProvider
	tp trace.TracerProvider
}

func (p scopedTracerProvider) Tracer(string, ...trace.TracerOption) trace.Tracer {
	return quietTracer{Tracer: observability.Tracer(p.tp, scope)}
}

// scopedMeterProvider gives redisotel Patron's meter.
type scopedMeterProvider struct {
	metric.MeterProvider
	mp metric.MeterProvider
}

func (p scopedMeterProvider) Meter(string, ...metric.MeterOption) metric.Meter {
	return observability.Meter(p.mp, scope)
}
