package patron

import (
	"fmt"
	"reflect"

	"github.com/opentracing/opentracing-go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"

	"github.com/patron-go/patron/observability/otbridge"
)

// WithOpenTracing lets code written against the OpenTracing API join the
// service's traces through the OpenTelemetry OpenTracing bridge, so that a
// service can be migrated one handler at a time. New installs the OpenTracing
// global tracer (opentracing.SetGlobalTracer), bound to the service's tracer
// provider and propagators, and TracerProvider returns the bridge's wrapper
// of the service's provider, which the components and clients given it use:
// opentracing.SpanFromContext(ctx) in a handler then returns the route's or
// the message's span, OpenTracing spans started from that context are its
// children, Patron's client spans under an OpenTracing span are that span's
// children, and Inject and Extract speak the service's propagators. When
// the service's provider is the OpenTelemetry global one, the global becomes
// the wrapper too. See package observability/otbridge for what the bridge
// maps and how; a process that runs several services on explicit providers
// uses otbridge.New for each instead.
func WithOpenTracing() Option {
	return func(c *config) error { c.openTracing = true; return nil }
}

// setupOpenTracing wraps the service's tracer provider in the bridge and
// installs the OpenTracing global tracer.
func (s *Service) setupOpenTracing() error {
	tp := s.obs.TracerProvider()
	tracer, wrapped, err := otbridge.New(tp, s.obs.Propagator(), otbridge.WithLogger(s.logger))
	if err != nil {
		return fmt.Errorf("patron: WithOpenTracing: %w", err)
	}
	if sameProvider(otel.GetTracerProvider(), tp) {
		otel.SetTracerProvider(wrapped)
	}
	opentracing.SetGlobalTracer(tracer)
	s.tp = wrapped
	return nil
}

// sameProvider compares two providers without panicking on a provider type
// that cannot be compared.
func sameProvider(a, b trace.TracerProvider) bool {
	return a != nil && b != nil && reflect.TypeOf(a) == reflect.TypeOf(b) && reflect.TypeOf(a).Comparable() && a == b
}
