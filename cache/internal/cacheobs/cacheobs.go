// Package cacheobs holds the instrumentation shared by Patron's caches: one
// span and one cache.operations increment per operation, with attribute sets
// built once so that the hot path does not allocate for them.
package cacheobs

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/patron-go/patron/cache"
	"github.com/patron-go/patron/observability"
)

// Op is a cache operation.
type Op int

// Operations, in the order of the cache.Operation* names.
const (
	Get Op = iota
	Set
	Delete
	Purge
	numOps
)

var opNames = [numOps]string{cache.OperationGet, cache.OperationSet, cache.OperationDelete, cache.OperationPurge}

// Result is an operation's outcome.
type Result int

// Results, in the order of the cache.Result* names.
const (
	Hit Result = iota
	Miss
	OK
	Error
	numResults
)

var resultNames = [numResults]string{cache.ResultHit, cache.ResultMiss, cache.ResultOK, cache.ResultError}

// Config describes one cache's instrumentation.
type Config struct {
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	Scope          string // instrumentation scope, the package path
	Name           string // cache.name
	Kind           trace.SpanKind
	// SampledOnly starts spans only under a sampled parent span: for an
	// in-memory cache a span per operation would otherwise cost more than
	// the operation, and a root span for a map lookup says nothing.
	SampledOnly bool
	Attrs       []attribute.KeyValue         // on every span
	OpAttrs     [numOps][]attribute.KeyValue // on the spans of one operation
}

// Instruments records the telemetry of one cache.
type Instruments struct {
	tracer      trace.Tracer
	counter     metric.Int64Counter
	sampledOnly bool
	name        string
	spanNames   [numOps]string
	startOpts   [numOps][]trace.SpanStartOption
	addOpts     [numOps][numResults][]metric.AddOption // slices, so Add's variadic does not allocate
	resultAttrs [numResults]attribute.KeyValue
}

// New builds the instruments of cfg.
func New(cfg Config) (*Instruments, error) {
	in := &Instruments{
		tracer:      observability.Tracer(cfg.TracerProvider, cfg.Scope),
		sampledOnly: cfg.SampledOnly,
		name:        cfg.Name,
	}
	var err error
	in.counter, err = observability.Meter(cfg.MeterProvider, cfg.Scope).Int64Counter(cache.OperationsMetric,
		metric.WithUnit("{operation}"),
		metric.WithDescription("Cache operations by operation and result (hit, miss, ok, error)."))
	if err != nil {
		return nil, err
	}
	for r := range numResults {
		in.resultAttrs[r] = cache.ResultKey.String(resultNames[r])
	}
	for op := range numOps {
		in.spanNames[op] = "cache." + opNames[op]
		attrs := make([]attribute.KeyValue, 0, 2+len(cfg.Attrs)+len(cfg.OpAttrs[op]))
		attrs = append(attrs, cache.NameKey.String(cfg.Name), cache.OperationKey.String(opNames[op]))
		attrs = append(attrs, cfg.Attrs...)
		attrs = append(attrs, cfg.OpAttrs[op]...)
		in.startOpts[op] = []trace.SpanStartOption{trace.WithSpanKind(cfg.Kind), trace.WithAttributes(attrs...)}
		for r := range numResults {
			in.addOpts[op][r] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(
				cache.NameKey.String(cfg.Name), cache.OperationKey.String(opNames[op]), in.resultAttrs[r]))}
		}
	}
	return in, nil
}

// Start starts the span of op.
func (in *Instruments) Start(ctx context.Context, op Op) (context.Context, trace.Span) {
	if in.sampledOnly && !trace.SpanContextFromContext(ctx).IsSampled() {
		return ctx, noop.Span{}
	}
	return in.tracer.Start(ctx, in.spanNames[op], in.startOpts[op]...)
}

// End counts op with its result and ends span; a non-nil err makes the
// result Error whatever res says.
func (in *Instruments) End(ctx context.Context, span trace.Span, op Op, res Result, err error) {
	if err != nil {
		res = Error
		in.counter.Add(ctx, 1, metric.WithAttributes(
			cache.NameKey.String(in.name), cache.OperationKey.String(opNames[op]), in.resultAttrs[Error],
			semconv.ErrorTypeKey.String(observability.ErrorType(err))))
	} else {
		in.counter.Add(ctx, 1, in.addOpts[op][res]...)
	}
	if span.IsRecording() {
		span.SetAttributes(in.resultAttrs[res])
		observability.RecordError(span, err)
		span.End()
	}
}
