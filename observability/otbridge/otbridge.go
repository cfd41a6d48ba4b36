// Package otbridge lets code written against the OpenTracing API join a
// Patron service's OpenTelemetry traces, through the OpenTelemetry
// OpenTracing bridge (go.opentelemetry.io/otel/bridge/opentracing), so that a
// team can move one service, or one handler, at a time.
//
// New returns two halves bound to one tracer provider and propagator: an
// OpenTracing tracer for the OpenTracing code, and a tracer provider that
// wraps the given one, for Patron's components and clients. Both must be
// used together: spans started through the wrapper also become the active
// OpenTracing span of their context, which is what makes the two APIs nest
// both ways:
//
//   - opentracing.SpanFromContext(ctx) in a handler returns the route's
//     SERVER span or the message's CONSUMER span, and an OpenTracing span
//     started from that context is its child;
//   - a Patron client span started under an OpenTracing span is its child;
//   - Inject and Extract (opentracing.HTTPHeaders, opentracing.TextMap) use
//     the service's propagators, so the wire format is the same as the rest
//     of the service's (W3C trace context, B3 or Jaeger).
//
// patron.WithOpenTracing does all of this for a service and installs the
// OpenTracing global tracer; New is for processes that run several services
// on explicit providers, where OpenTracing code uses
// opentracing.StartSpanFromContextWithTracer with the tracer of its service.
//
// Beyond the bridge itself, the wrapper does two things so that a migrated
// service behaves as it did on an OpenTracing tracer such as Jaeger's:
//
//   - Baggage crosses the APIs at span starts. A span started through the
//     wrapper (a SERVER, CONSUMER or client span) takes the W3C baggage of
//     its context into its OpenTracing baggage, so that BaggageItem sees it
//     and an OpenTracing Inject sends it on; and the OpenTracing baggage of
//     the parent span (SetBaggageItem) is added to the context's W3C baggage,
//     so that Patron's clients send it on. The bridge alone does neither.
//   - A span whose only references are FollowsFrom stays in the trace it
//     follows: its first FollowsFrom reference becomes its parent, as in
//     OpenTracing tracers and the OpenTelemetry compatibility specification,
//     and every FollowsFrom reference also stays a link (attribute
//     ot-span-reference-type=follows-from-ref). The bridge alone makes such a
//     span the root of a new trace, with only the link.
package otbridge

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	ot "github.com/opentracing/opentracing-go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	bridge "go.opentelemetry.io/otel/bridge/opentracing"
	"go.opentelemetry.io/otel/bridge/opentracing/migration"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"

	"github.com/patron-go/patron/internal/option"
)

// Scope is the instrumentation scope of the spans that OpenTracing code
// starts: they come through the bridge, whatever code called it.
const Scope = "go.opentelemetry.io/otel/bridge/opentracing"

// Option configures New.
type Option func(*config) error

type config struct {
	logger *slog.Logger
}

// WithLogger logs the bridge's warnings (a foreign OpenTracing span in a
// context, a tracer that cannot defer its context set-up) through l at warn
// level, each distinct warning once. By default they go to the
// OpenTelemetry error handler, which a Patron service points at its logger.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("otbridge: logger is nil")
		}
		c.logger = l
		return nil
	}
}

// New returns an OpenTracing tracer whose spans are spans of tp, and the
// tracer provider that Patron's components and clients must use instead of
// tp for the two APIs to nest (see the package documentation). prop is the
// propagator of Inject and Extract; nil means the OpenTelemetry global
// propagator, read at each call. A nil tp means the global tracer provider
// as it is now.
func New(tp trace.TracerProvider, prop propagation.TextMapPropagator, opts ...Option) (*bridge.BridgeTracer, trace.TracerProvider, error) {
	var cfg config
	if err := option.Apply("otbridge", &cfg, opts); err != nil {
		return nil, nil, err
	}
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	bt := bridge.NewBridgeTracer()
	bt.SetWarningHandler(newWarner(cfg.logger))
	if prop != nil {
		bt.SetTextMapPropagator(prop)
	}
	inner := bridge.NewTracerProvider(bt, tp)
	wrapper, ok := inner.Tracer(Scope).(deferringTracer)
	if !ok {
		return nil, nil, errors.New("otbridge: the bridge's wrapper tracer cannot defer its context set-up")
	}
	bt.SetOpenTelemetryTracer(followsFromTracer{inner: wrapper})
	return bt, &provider{inner: inner, collectors: &sync.Pool{New: newCollector}}, nil
}

// newWarner reports each distinct warning of the bridge once: they describe
// a set-up or a usage pattern, which would otherwise repeat on every span.
func newWarner(l *slog.Logger) bridge.BridgeWarningHandler {
	var seen sync.Map
	return func(msg string) {
		if _, dup := seen.LoadOrStore(msg, struct{}{}); dup {
			return
		}
		if l != nil {
			l.Warn("opentracing bridge: " + msg)
			return
		}
		otel.Handle(errors.New("otbridge: " + msg))
	}
}

// provider is the wrapper tracer provider: the bridge's, with tracers that
// carry baggage across the APIs.
type provider struct {
	embedded.TracerProvider
	inner      *bridge.TracerProvider
	collectors *sync.Pool // of *collector
}

// Tracer returns a tracer of the wrapped provider whose spans are also the
// active OpenTracing span of the contexts it returns.
func (p *provider) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return &tracer{inner: p.inner.Tracer(name, opts...), collectors: p.collectors}
}

type tracer struct {
	embedded.Tracer
	inner      trace.Tracer // a *bridge.WrapperTracer
	collectors *sync.Pool
}

// Start starts the span as the bridge's wrapper does, and carries baggage
// across the APIs: the span's OpenTracing baggage gets the context's W3C
// baggage, and the context's W3C baggage gets the OpenTracing baggage of the
// parent span. Without baggage this costs two context lookups and, under a
// parent span, a pooled collector.
func (t *tracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	bag := baggage.FromContext(ctx)
	changed := false
	if parent := ot.SpanFromContext(ctx); parent != nil {
		bag, changed = t.withOpenTracingBaggage(bag, parent.Context())
	}
	ctx, span := t.inner.Start(ctx, name, opts...)
	if bag.Len() == 0 {
		return ctx, span
	}
	if s := ot.SpanFromContext(ctx); s != nil {
		for _, m := range bag.Members() {
			if s.BaggageItem(m.Key()) != m.Value() {
				s.SetBaggageItem(m.Key(), m.Value())
			}
		}
	}
	if changed {
		ctx = baggage.ContextWithBaggage(ctx, bag)
	}
	return ctx, span
}

// withOpenTracingBaggage adds the baggage items of sc to bag; an item of the
// same key wins over bag's member, as the bridge has it.
func (t *tracer) withOpenTracingBaggage(bag baggage.Baggage, sc ot.SpanContext) (baggage.Baggage, bool) {
	c := t.collectors.Get().(*collector)
	defer func() {
		clear(c.items)
		c.items = c.items[:0]
		t.collectors.Put(c)
	}()
	// Most spans have no baggage: collecting through a pooled function
	// keeps those free of the closure a ForeachBaggageItem call allocates.
	sc.ForeachBaggageItem(c.add)
	changed := false
	for _, it := range c.items {
		if bag.Member(it[0]).Value() == it[1] {
			continue
		}
		if m, err := baggage.NewMemberRaw(it[0], it[1]); err == nil {
			if b, err := bag.SetMember(m); err == nil {
				bag, changed = b, true
			}
		}
	}
	return bag, changed
}

// collector gathers the baggage items of a span context; its add is bound
// once, by newCollector.
type collector struct {
	items [][2]string
	add   func(k, v string) bool
}

func newCollector() any {
	c := &collector{}
	c.add = func(k, v string) bool {
		c.items = append(c.items, [2]string{k, v})
		return true
	}
	return c
}

// The bridge marks the link it makes of a FollowsFrom reference with this
// attribute.
const (
	referenceTypeKey = attribute.Key("ot-span-reference-type")
	followsFromRef   = "follows-from-ref"
)

// followsFromTracer is the OpenTelemetry tracer of the bridge tracer: the
// bridge's wrapper tracer, except that a span without a ChildOf reference
// takes its first FollowsFrom reference as parent, so that it stays in the
// trace it follows.
type followsFromTracer struct {
	embedded.Tracer
	inner deferringTracer
}

// deferringTracer is what the bridge's wrapper tracer is.
type deferringTracer interface {
	trace.Tracer
	migration.DeferredContextSetupTracerExtension
}

// Start is called by the bridge tracer's StartSpan with a context that
// carries the ChildOf parent, if any, and the references as links.
func (t followsFromTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		cfg := trace.NewSpanStartConfig(opts...)
		for _, l := range cfg.Links() {
			if isFollowsFrom(l) && l.SpanContext.IsValid() {
				ctx = trace.ContextWithRemoteSpanContext(ctx, l.SpanContext)
				break
			}
		}
	}
	return t.inner.Start(ctx, name, opts...)
}

// DeferredContextSetupHook lets opentracing.ContextWithSpan make the
// OpenTracing span the context's OpenTelemetry span too.
func (t followsFromTracer) DeferredContextSetupHook(ctx context.Context, span trace.Span) context.Context {
	return t.inner.DeferredContextSetupHook(ctx, span)
}

var _ migration.DeferredContextSetupTracerExtension = followsFromTracer{}

func isFollowsFrom(l trace.Link) bool {
	for _, a := range l.Attributes {
		if a.Key == referenceTypeKey && a.Value.AsString() == followsFromRef {
			return true
		}
	}
	return false
}
