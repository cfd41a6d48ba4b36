// Package observabilitytest is the test kit for Patron users and for Patron's
// own tests: an in-memory span recorder and metric reader wired into real SDK
// providers, and helpers that assert a span tree in one readable call.
package observabilitytest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Kit holds providers that record everything in memory. Pass TracerProvider,
// MeterProvider and Propagator to the component or client under test.
type Kit struct {
	TracerProvider *sdktrace.TracerProvider
	MeterProvider  *sdkmetric.MeterProvider
	Reader         *sdkmetric.ManualReader
	Propagator     propagation.TextMapPropagator

	mu    sync.Mutex
	cond  *sync.Cond
	spans []sdktrace.ReadOnlySpan
}

// New returns a Kit that samples every span; it is shut down when t ends.
func New(t testing.TB) *Kit {
	t.Helper()
	k := &Kit{
		Reader:     sdkmetric.NewManualReader(),
		Propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
	}
	k.cond = sync.NewCond(&k.mu)
	k.TracerProvider = sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(k))
	k.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(k.Reader))
	t.Cleanup(func() {
		_ = k.TracerProvider.Shutdown(context.Background())
		_ = k.MeterProvider.Shutdown(context.Background())
	})
	return k
}

// OnStart is part of sdktrace.SpanProcessor.
func (k *Kit) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

// OnEnd records s and wakes up waiters.
func (k *Kit) OnEnd(s sdktrace.ReadOnlySpan) {
	k.mu.Lock()
	k.spans = append(k.spans, s)
	k.mu.Unlock()
	k.cond.Broadcast()
}

// Shutdown is part of sdktrace.SpanProcessor.
func (k *Kit) Shutdown(context.Context) error { return nil }

// ForceFlush is part of sdktrace.SpanProcessor.
func (k *Kit) ForceFlush(context.Context) error { return nil }

// Spans returns the spans ended so far, in the order they ended.
func (k *Kit) Spans() []sdktrace.ReadOnlySpan {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]sdktrace.ReadOnlySpan(nil), k.spans...)
}

// Reset forgets the recorded spans.
func (k *Kit) Reset() {
	k.mu.Lock()
	k.spans = nil
	k.mu.Unlock()
}

// WaitForSpans blocks until match holds for the ended spans, or fails t after
// timeout. Asynchronous transports end their spans on other goroutines, so
// tests wait on this condition instead of sleeping.
func (k *Kit) WaitForSpans(t testing.TB, timeout time.Duration, match func([]sdktrace.ReadOnlySpan) bool) []sdktrace.ReadOnlySpan {
	t.Helper()
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, k.cond.Broadcast)
	defer timer.Stop()
	k.mu.Lock()
	defer k.mu.Unlock()
	for !match(k.spans) {
		if time.Now().After(deadline) {
			t.Fatalf("spans did not match within %s; have:\n%s", timeout, Describe(k.spans))
		}
		k.cond.Wait()
	}
	return append([]sdktrace.ReadOnlySpan(nil), k.spans...)
}

// WaitForSpanCount waits until at least n spans named name have ended.
func (k *Kit) WaitForSpanCount(t testing.TB, timeout time.Duration, name string, n int) []sdktrace.ReadOnlySpan {
	t.Helper()
	return k.WaitForSpans(t, timeout, func(ss []sdktrace.ReadOnlySpan) bool { return len(Named(ss, name)) >= n })
}

// Span returns the only ended span named name, failing t if there is not
// exactly one.
func (k *Kit) Span(t testing.TB, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	got := Named(k.Spans(), name)
	if len(got) != 1 {
		t.Fatalf("want exactly one span %q, have %d; all spans:\n%s", name, len(got), Describe(k.Spans()))
	}
	return got[0]
}

// Named filters spans by name.
func Named(spans []sdktrace.ReadOnlySpan, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

// Collect reads the current metrics.
func (k *Kit) Collect(t testing.TB) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := k.Reader.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("collecting metrics: %v", err)
	}
	return rm
}

// Recorded reports whether a metric named name has been recorded, for
// polling loops: Metric and Sum fail t when it is absent.
func (k *Kit) Recorded(t testing.TB, name string) bool {
	t.Helper()
	for _, sm := range k.Collect(t).ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				return true
			}
		}
	}
	return false
}

// Metric returns the metric named name, failing t when it is absent.
func (k *Kit) Metric(t testing.TB, name string) metricdata.Metrics {
	t.Helper()
	rm := k.Collect(t)
	var names []string
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				return m
			}
			names = append(names, m.Name)
		}
	}
	t.Fatalf("metric %q not recorded; have %v", name, names)
	return metricdata.Metrics{}
}

// Sum returns the total of a counter or the count of a histogram named name
// over the data points whose attributes include attrs.
func (k *Kit) Sum(t testing.TB, name string, attrs ...attribute.KeyValue) float64 {
	t.Helper()
	m := k.Metric(t, name)
	var total float64
	has := func(set attribute.Set) bool {
		for _, a := range attrs {
			if v, ok := set.Value(a.Key); !ok || v != a.Value {
				return false
			}
		}
		return true
	}
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			if has(p.Attributes) {
				total += float64(p.Value)
			}
		}
	case metricdata.Sum[float64]:
		for _, p := range d.DataPoints {
			if has(p.Attributes) {
				total += p.Value
			}
		}
	case metricdata.Gauge[int64]:
		for _, p := range d.DataPoints {
			if has(p.Attributes) {
				total += float64(p.Value)
			}
		}
	case metricdata.Gauge[float64]:
		for _, p := range d.DataPoints {
			if has(p.Attributes) {
				total += p.Value
			}
		}
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			if has(p.Attributes) {
				total += float64(p.Count)
			}
		}
	case metricdata.Histogram[int64]:
		for _, p := range d.DataPoints {
			if has(p.Attributes) {
				total += float64(p.Count)
			}
		}
	default:
		t.Fatalf("metric %q has unsupported data %T", name, m.Data)
	}
	return total
}

// Describe renders spans as an indented list for failure messages.
func Describe(spans []sdktrace.ReadOnlySpan) string {
	var b strings.Builder
	for _, s := range spans {
		fmt.Fprintf(&b, "  %q kind=%s trace=%s span=%s parent=%s links=%d status=%s\n",
			s.Name(), s.SpanKind(), s.SpanContext().TraceID(), s.SpanContext().SpanID(),
			s.Parent().SpanID(), len(s.Links()), s.Status().Code)
	}
	return b.String()
}

// Attr returns the value of attribute key on s.
func Attr(s sdktrace.ReadOnlySpan, key attribute.Key) (attribute.Value, bool) {
	for _, a := range s.Attributes() {
		if a.Key == key {
			return a.Value, true
		}
	}
	return attribute.Value{}, false
}

// Want describes an expected span in a tree: its name, kind, a subset of
// attributes, the names of spans it links to, and its children.
type Want struct {
	Name     string
	Kind     trace.SpanKind
	Attrs    []attribute.KeyValue
	Error    bool
	LinksTo  []string
	Children []Want
}

// AssertTree checks that spans contain root and its descendants: each
// child's parent is the matched span and all share the root's trace ID.
// The root may itself have a remote parent.
func AssertTree(t testing.TB, spans []sdktrace.ReadOnlySpan, root Want) {
	t.Helper()
	var problems []string
	for _, cand := range Named(spans, root.Name) {
		problems = problems[:0]
		if matchTree(spans, cand, root, &problems) {
			return
		}
	}
	if len(problems) == 0 {
		problems = append(problems, fmt.Sprintf("no span named %q", root.Name))
	}
	t.Fatalf("span tree mismatch:\n  %s\nspans:\n%s", strings.Join(problems, "\n  "), Describe(spans))
}

func matchTree(all []sdktrace.ReadOnlySpan, s sdktrace.ReadOnlySpan, w Want, problems *[]string) bool {
	ok := true
	fail := func(format string, args ...any) {
		*problems = append(*problems, fmt.Sprintf("%q: ", w.Name)+fmt.Sprintf(format, args...))
		ok = false
	}
	if w.Kind != trace.SpanKindUnspecified && s.SpanKind() != w.Kind {
		fail("kind %s, want %s", s.SpanKind(), w.Kind)
	}
	for _, a := range w.Attrs {
		if v, found := Attr(s, a.Key); !found || v != a.Value {
			fail("attribute %s = %v (present %v), want %v", a.Key, v.String(), found, a.Value.String())
		}
	}
	if w.Error && s.Status().Code.String() != "Error" {
		fail("status %s, want Error", s.Status().Code)
	}
	for _, ln := range w.LinksTo {
		if !linksTo(all, s, ln) {
			fail("no link to a span named %q", ln)
		}
	}
	for _, cw := range w.Children {
		matched := false
		for _, c := range Named(all, cw.Name) {
			if c.Parent().SpanID() != s.SpanContext().SpanID() || c.SpanContext().TraceID() != s.SpanContext().TraceID() {
				continue
			}
			var sub []string
			if matchTree(all, c, cw, &sub) {
				matched = true
				break
			}
			*problems = append(*problems, sub...)
		}
		if !matched {
			fail("no matching child %q", cw.Name)
		}
	}
	return ok
}

func linksTo(all []sdktrace.ReadOnlySpan, s sdktrace.ReadOnlySpan, name string) bool {
	for _, l := range s.Links() {
		for _, o := range Named(all, name) {
			if o.SpanContext().SpanID() == l.SpanContext.SpanID() && o.SpanContext().TraceID() == l.SpanContext.TraceID() {
				return true
			}
		}
	}
	return false
}
