// Package telemetry builds the OpenTelemetry SDK pipeline of a Patron
// service: tracer, meter and logger providers, propagators from
// OTEL_PROPAGATORS, exporters from the OTEL_* variables (or the whole
// pipeline from OTEL_CONFIG_FILE), the resource and the Prometheus registry
// behind /metrics. Every exporter it builds hands the wire valid UTF-8 and
// turns a receiver's refusal of a signal into one warning. Only the service
// (package patron) and programs that assemble their own service need it;
// components and clients depend on the API-only helpers of package
// observability, so that they do not compile the SDK and its exporters.
//
// Built with the patron_nogrpcexport tag, the OTLP gRPC exporters and the
// configuration file (otelconf, which links them) are left out: the grpc
// protocol and OTEL_CONFIG_FILE then fail Setup with an error saying so.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.opentelemetry.io/contrib/instrumentation/runtime"
	"go.opentelemetry.io/otel"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	otellog "go.opentelemetry.io/otel/log"
	lognoop "go.opentelemetry.io/otel/log/noop"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// Provider owns the telemetry pipeline of one service. Its zero value is not
// usable; build one with Setup.
type Provider struct {
	tp trace.TracerProvider
	mp metric.MeterProvider
	lp otellog.LoggerProvider // nil when logs are not exported
	// fastLP shares lp's processors but does not deduplicate attribute
	// keys: the records of LogHandler's fast path have unique keys
	// already. It is lp itself when lp comes from OTEL_CONFIG_FILE.
	fastLP    otellog.LoggerProvider
	prop      propagation.TextMapPropagator
	registry  *prometheus.Registry
	resource  *resource.Resource
	shutdowns []func(context.Context) error
	flushes   []func(context.Context) error
}

type setupConfig struct {
	tp             trace.TracerProvider
	mp             metric.MeterProvider
	prop           propagation.TextMapPropagator
	spanExporters  []sdktrace.SpanExporter
	metricReaders  []sdkmetric.Reader
	logExporters   []sdklog.Exporter
	attrs          []attributeKV
	runtimeMetrics bool
	setGlobals     bool
	errorLogger    *slog.Logger
}

type attributeKV struct{ key, value string }

// SetupOption configures Setup.
type SetupOption func(*setupConfig) error

// WithTracerProvider uses tp instead of building an SDK tracer provider; the
// caller keeps ownership and shuts it down.
func WithTracerProvider(tp trace.TracerProvider) SetupOption {
	return func(c *setupConfig) error {
		if tp == nil {
			return errors.New("observability: tracer provider is nil")
		}
		c.tp = tp
		return nil
	}
}

// WithMeterProvider uses mp instead of building an SDK meter provider; the
// Prometheus registry then only holds process metrics.
func WithMeterProvider(mp metric.MeterProvider) SetupOption {
	return func(c *setupConfig) error {
		if mp == nil {
			return errors.New("observability: meter provider is nil")
		}
		c.mp = mp
		return nil
	}
}

// WithPropagator overrides OTEL_PROPAGATORS.
func WithPropagator(p propagation.TextMapPropagator) SetupOption {
	return func(c *setupConfig) error {
		if p == nil {
			return errors.New("observability: propagator is nil")
		}
		c.prop = p
		return nil
	}
}

// WithSpanExporter adds an exporter (batched) to the SDK tracer provider, on
// top of what the OTEL_* variables configure.
func WithSpanExporter(e sdktrace.SpanExporter) SetupOption {
	return func(c *setupConfig) error {
		if e == nil {
			return errors.New("observability: span exporter is nil")
		}
		c.spanExporters = append(c.spanExporters, e)
		return nil
	}
}

// WithLogExporter adds an exporter (batched) of the service's log records,
// on top of what OTEL_LOGS_EXPORTER configures; with one, the records go out
// through it as well as to the service's log output.
func WithLogExporter(e sdklog.Exporter) SetupOption {
	return func(c *setupConfig) error {
		if e == nil {
			return errors.New("observability: log exporter is nil")
		}
		c.logExporters = append(c.logExporters, e)
		return nil
	}
}

// WithMetricReader adds a reader to the SDK meter provider.
func WithMetricReader(r sdkmetric.Reader) SetupOption {
	return func(c *setupConfig) error {
		if r == nil {
			return errors.New("observability: metric reader is nil")
		}
		c.metricReaders = append(c.metricReaders, r)
		return nil
	}
}

// WithResourceAttribute adds a string attribute to the service's resource.
func WithResourceAttribute(key, value string) SetupOption {
	return func(c *setupConfig) error {
		c.attrs = append(c.attrs, attributeKV{key, value})
		return nil
	}
}

// WithoutRuntimeMetrics turns off the Go runtime metrics, for tests that
// count instruments.
func WithoutRuntimeMetrics() SetupOption {
	return func(c *setupConfig) error { c.runtimeMetrics = false; return nil }
}

// WithoutGlobals keeps the OpenTelemetry globals untouched, so several
// services can run in one process (tests, demos).
func WithoutGlobals() SetupOption {
	return func(c *setupConfig) error { c.setGlobals = false; return nil }
}

// WithErrorLogger logs the OpenTelemetry SDK's own errors (an exporter that
// cannot reach its endpoint, a malformed baggage header from a peer) through
// l at warn level instead of the standard library logger. It takes effect
// with the globals, since the SDK's error handler is one of them.
func WithErrorLogger(l *slog.Logger) SetupOption {
	return func(c *setupConfig) error {
		if l == nil {
			return errors.New("observability: error logger is nil")
		}
		c.errorLogger = l
		return nil
	}
}

// Setup builds the telemetry pipeline of service name at version from opts
// and the OTEL_* environment variables, and (unless WithoutGlobals) installs
// it as the OpenTelemetry globals. Invalid variables make it fail with an
// error that names the variable and its value.
func Setup(ctx context.Context, name, version string, opts ...SetupOption) (*Provider, error) {
	cfg := setupConfig{runtimeMetrics: true, setGlobals: true}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	env, err := readEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	warn := func() *slog.Logger {
		if cfg.errorLogger != nil {
			return cfg.errorLogger
		}
		return slog.Default()
	}
	if env.disabledValueUnknown != "" {
		warn().Warn("observability: OTEL_SDK_DISABLED is neither true nor false; telemetry stays on", "value", env.disabledValueUnknown)
	}
	if env.jaegerDeprecated && cfg.prop == nil {
		warn().Warn("observability: the jaeger propagator is deprecated by the OpenTelemetry specification; it is kept for old peers, prefer tracecontext", "env", "OTEL_PROPAGATORS")
	}

	res, err := newResource(ctx, name, version, cfg.attrs)
	if err != nil {
		return nil, err
	}
	p := &Provider{resource: res, registry: prometheus.NewRegistry()}
	p.registry.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	p.prop = cfg.prop
	if p.prop == nil {
		p.prop = env.propagator
	}

	if env.configFile != "" && !env.disabled {
		if err := p.fromConfigFile(ctx, &cfg, env); err != nil {
			_ = p.Shutdown(ctx)
			return nil, err
		}
		return p.finish(cfg)
	}

	switch {
	case cfg.tp != nil:
		p.tp = cfg.tp
	case env.disabled:
		p.tp = tracenoop.NewTracerProvider()
	default:
		tp, err := p.newTracerProvider(ctx, env.traces, cfg.spanExporters, warn)
		if err != nil {
			return nil, err
		}
		p.tp = tp
	}

	switch {
	case cfg.mp != nil:
		p.mp = cfg.mp
	case env.disabled:
		p.mp = metricnoop.NewMeterProvider()
	default:
		mp, err := p.newMeterProvider(ctx, env.metrics, cfg.metricReaders, warn)
		if err != nil {
			_ = p.Shutdown(ctx)
			return nil, err
		}
		p.mp = mp
	}

	if !env.disabled {
		if err := p.newLoggerProvider(ctx, env.logs, cfg.logExporters, warn); err != nil {
			_ = p.Shutdown(ctx)
			return nil, err
		}
	}

	if env.disabled {
		cfg.runtimeMetrics = false
	}
	return p.finish(cfg)
}

// finish starts the runtime metrics and installs the globals, once the
// providers are built.
func (p *Provider) finish(cfg setupConfig) (*Provider, error) {
	if cfg.runtimeMetrics {
		if err := runtime.Start(runtime.WithMeterProvider(p.mp)); err != nil {
			_ = p.Shutdown(context.Background())
			return nil, fmt.Errorf("observability: starting runtime metrics: %w", err)
		}
	}

	if cfg.setGlobals {
		otel.SetTracerProvider(p.tp)
		otel.SetMeterProvider(p.mp)
		otel.SetTextMapPropagator(p.prop)
		if l := cfg.errorLogger; l != nil {
			otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
				l.Warn("opentelemetry error", "error", err)
			}))
		}
	}
	return p, nil
}

func newResource(ctx context.Context, name, version string, extra []attributeKV) (*resource.Resource, error) {
	kvs := []resource.Option{
		resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithAttributes(
			semconv.ServiceName(name),
			semconv.ServiceVersion(version),
			semconv.ServiceInstanceID(uuid.NewString()),
		),
		resource.WithHost(),
		resource.WithProcessPID(),
		resource.WithProcessExecutableName(),
		resource.WithProcessRuntimeName(),
		resource.WithProcessRuntimeVersion(),
		resource.WithTelemetrySDK(),
		// Last, so that OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win.
		resource.WithFromEnv(),
	}
	for _, a := range extra {
		kvs = append(kvs, resource.WithAttributes(attributeString(a.key, a.value)))
	}
	res, err := resource.New(ctx, kvs...)
	if err != nil {
		return nil, fmt.Errorf("observability: building resource (check OTEL_RESOURCE_ATTRIBUTES): %w", err)
	}
	return res, nil
}

func (p *Provider) newTracerProvider(ctx context.Context, e export, extra []sdktrace.SpanExporter, warn func() *slog.Logger) (*sdktrace.TracerProvider, error) {
	// No WithSampler: the SDK reads OTEL_TRACES_SAMPLER(_ARG) itself, after
	// readEnv has checked them.
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(p.resource)}
	if e.kind != kindNone {
		exp, err := newSpanExporter(ctx, e)
		if err != nil {
			return nil, fmt.Errorf("observability: creating span exporter from OTEL_TRACES_EXPORTER/OTEL_EXPORTER_OTLP_*: %w", err)
		}
		r := &refusals{sig: tracesSignal, endpoint: e.endpoint, logger: warn}
		opts = append(opts, sdktrace.WithBatcher(newUTF8SpanExporter(refusingSpanExporter{exp, r})))
	}
	for _, x := range extra {
		opts = append(opts, sdktrace.WithBatcher(newUTF8SpanExporter(x)))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	p.shutdowns = append(p.shutdowns, tp.Shutdown)
	p.flushes = append(p.flushes, tp.ForceFlush)
	return tp, nil
}

func (p *Provider) newMeterProvider(ctx context.Context, e export, extra []sdkmetric.Reader, warn func() *slog.Logger) (*sdkmetric.MeterProvider, error) {
	promExp, err := otelprom.New(otelprom.WithRegisterer(p.registry))
	if err != nil {
		return nil, fmt.Errorf("observability: creating Prometheus exporter: %w", err)
	}
	opts := []sdkmetric.Option{
		sdkmetric.WithResource(p.resource),
		sdkmetric.WithReader(promExp),
	}
	if e.kind != kindNone {
		exp, err := newMetricExporter(ctx, e)
		if err != nil {
			return nil, fmt.Errorf("observability: creating metric exporter from OTEL_METRICS_EXPORTER/OTEL_EXPORTER_OTLP_*: %w", err)
		}
		r := &refusals{sig: metricsSignal, endpoint: e.endpoint, logger: warn}
		// The periodic reader reads OTEL_METRIC_EXPORT_INTERVAL and _TIMEOUT.
		opts = append(opts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(refusingMetricExporter{exp, r})))
	}
	for _, r := range extra {
		opts = append(opts, sdkmetric.WithReader(r))
	}
	mp := sdkmetric.NewMeterProvider(opts...)
	p.shutdowns = append(p.shutdowns, mp.Shutdown)
	p.flushes = append(p.flushes, mp.ForceFlush)
	return mp, nil
}

// newLoggerProvider builds the provider behind the slog bridge when logs
// are exported; otherwise p.lp stays nil and the service's logger is left
// exactly as it is, allocation-free.
func (p *Provider) newLoggerProvider(ctx context.Context, e export, extra []sdklog.Exporter, warn func() *slog.Logger) error {
	var procs []sdklog.Processor
	if e.kind != kindNone {
		exp, err := newLogExporter(ctx, e)
		if err != nil {
			return fmt.Errorf("observability: creating log exporter from OTEL_LOGS_EXPORTER/OTEL_EXPORTER_OTLP_*: %w", err)
		}
		r := &refusals{sig: logsSignal, endpoint: e.endpoint, logger: warn}
		// The batch processor reads OTEL_BLRP_*.
		procs = append(procs, sdklog.NewBatchProcessor(newUTF8LogExporter(refusingLogExporter{exp, r})))
	}
	for _, x := range extra {
		procs = append(procs, sdklog.NewBatchProcessor(newUTF8LogExporter(x)))
	}
	if len(procs) == 0 {
		return nil
	}
	opts := []sdklog.LoggerProviderOption{sdklog.WithResource(p.resource)}
	for _, proc := range procs {
		opts = append(opts, sdklog.WithProcessor(proc))
	}
	lp := sdklog.NewLoggerProvider(opts...)
	// The same processors behind a provider that skips the SDK's key
	// deduplication, for the records LogHandler has made unique itself;
	// lp, which deduplicates, serves everyone else (LoggerProvider, the
	// bridge's records). fast's Shutdown flushes and shuts the shared
	// processors; lp's then finds them shut (a second Shutdown of a
	// BatchProcessor returns at once) and only stops lp's loggers.
	fast := sdklog.NewLoggerProvider(append(opts, sdklog.WithAllowKeyDuplication())...)
	p.lp, p.fastLP = lp, fast
	p.shutdowns = append(p.shutdowns, fast.Shutdown, lp.Shutdown)
	p.flushes = append(p.flushes, lp.ForceFlush)
	return nil
}

// TracerProvider returns the service's tracer provider.
func (p *Provider) TracerProvider() trace.TracerProvider { return p.tp }

// MeterProvider returns the service's meter provider.
func (p *Provider) MeterProvider() metric.MeterProvider { return p.mp }

// LogsExported reports whether the service's log records are exported
// (OTEL_LOGS_EXPORTER, an OTLP endpoint, or WithLogExporter).
func (p *Provider) LogsExported() bool { return p.lp != nil }

// LoggerProvider returns the provider that exports log records, a no-op one
// when they are not exported (see LogsExported).
func (p *Provider) LoggerProvider() otellog.LoggerProvider {
	if p.lp == nil {
		return lognoop.NewLoggerProvider()
	}
	return p.lp
}

// LogHandler returns the slog handler that exports records as the contrib
// slog bridge does (trace and span IDs come from each record's context),
// with the context's correlation ID as attribute correlation_id, or nil
// when logs are not exported. The service tees its logger into it (see
// observability/log.NewTee), so records keep going to stderr too.
func (p *Provider) LogHandler() slog.Handler {
	if p.lp == nil {
		return nil
	}
	fast := p.fastLP
	if fast == nil {
		fast = p.lp
	}
	return newLogHandler(fast.Logger(logScope), p.lp)
}

// logScope is the instrumentation scope of exported log records.
const logScope = "github.com/patron-go/patron"

// Propagator returns the configured propagator.
func (p *Provider) Propagator() propagation.TextMapPropagator { return p.prop }

// Gatherer returns the Prometheus registry that /metrics serves.
func (p *Provider) Gatherer() prometheus.Gatherer { return p.registry }

// Resource returns the resource that describes the service.
func (p *Provider) Resource() *resource.Resource { return p.resource }

// ForceFlush exports what the providers built by Setup still buffer.
func (p *Provider) ForceFlush(ctx context.Context) error {
	var errs []error
	for _, f := range p.flushes {
		errs = append(errs, f(ctx))
	}
	return errors.Join(errs...)
}

// Shutdown flushes and stops the providers built by Setup; injected
// providers are left to their owner.
func (p *Provider) Shutdown(ctx context.Context) error {
	var errs []error
	for _, f := range p.shutdowns {
		if err := f(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("observability: shutdown: %w", err)
	}
	return nil
}
