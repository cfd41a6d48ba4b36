package observabilitytest_test

import (
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/patron-go/patron/observability"
	"github.com/patron-go/patron/observability/observabilitytest"
)

func TestMessagingTreeWithLink(t *testing.T) {
	k := observabilitytest.New(t)
	tr := k.TracerProvider.Tracer("test")
	ctx, server := tr.Start(t.Context(), "POST /orders", trace.WithSpanKind(trace.SpanKindServer))
	headers := propagation.MapCarrier{}
	_, producer := observability.StartProducerSpan(ctx, tr, k.Propagator, headers, attribute.String("messaging.system", "kafka"), "orders")
	producer.End()
	server.End()

	go func() {
		_, consumer := observability.StartConsumerSpan(t.Context(), tr, k.Propagator, headers, attribute.String("messaging.system", "kafka"), "orders")
		consumer.End()
	}()
	spans := k.WaitForSpanCount(t, 5*time.Second, "process orders", 1)

	observabilitytest.AssertTree(t, spans, observabilitytest.Want{
		Name: "POST /orders", Kind: trace.SpanKindServer,
		Children: []observabilitytest.Want{{
			Name: "publish orders", Kind: trace.SpanKindProducer,
			Attrs: []attribute.KeyValue{attribute.String("messaging.destination.name", "orders")},
			Children: []observabilitytest.Want{{
				Name: "process orders", Kind: trace.SpanKindConsumer, LinksTo: []string{"publish orders"},
			}},
		}},
	})
}

func TestAssertTreeCanFail(t *testing.T) {
	k := observabilitytest.New(t)
	_, s := k.TracerProvider.Tracer("t").Start(t.Context(), "root")
	s.End()
	ft := &fakeT{TB: t}
	observabilitytest.AssertTree(ft, k.Spans(), observabilitytest.Want{Name: "root", Children: []observabilitytest.Want{{Name: "missing"}}})
	if !ft.failed {
		t.Fatal("AssertTree accepted a missing child")
	}
}

func TestMalformedContextStartsNewTrace(t *testing.T) {
	k := observabilitytest.New(t)
	tr := k.TracerProvider.Tracer("test")
	carrier := propagation.MapCarrier{"traceparent": "00-zzzz-not-valid-01"}
	_, span := observability.StartConsumerSpan(t.Context(), tr, k.Propagator, carrier, attribute.String("messaging.system", "kafka"), "t")
	span.End()
	s := k.Span(t, "process t")
	if s.Parent().IsValid() || len(s.Links()) != 0 || !s.SpanContext().IsValid() {
		t.Fatalf("want a new root without links, got parent %v links %d", s.Parent(), len(s.Links()))
	}
}

type fakeT struct {
	testing.TB
	failed bool
}

func (f *fakeT) Fatalf(string, ...any) { f.failed = true }
func (f *fakeT) Helper()               {}

var _ sdktrace.SpanProcessor = (*observabilitytest.Kit)(nil)

// Recorded tells a metric that has data from one that has none yet, without
// failing the test, so that polling loops can wait for it.
func TestRecorded(t *testing.T) {
	kit := observabilitytest.New(t)
	c, err := kit.MeterProvider.Meter("test").Int64Counter("things")
	if err != nil {
		t.Fatal(err)
	}
	if kit.Recorded(t, "things") {
		t.Fatal("Recorded before any measurement")
	}
	c.Add(t.Context(), 2)
	if !kit.Recorded(t, "things") || kit.Sum(t, "things") != 2 {
		t.Fatalf("Recorded %v, Sum %v after adding 2", kit.Recorded(t, "things"), kit.Sum(t, "things"))
	}
}

// LogBuffer gives back the JSON records written to it, WaitRecord the
// first one that matches.
func TestLogBuffer(t *testing.T) {
	var logs observabilitytest.LogBuffer
	fmt.Fprintln(&logs, `{"msg":"first"}`)
	fmt.Fprintln(&logs, `{"msg":"second","n":2}`)
	r := logs.WaitRecord(t, 5*time.Second, func(r map[string]any) bool { return r["msg"] == "second" })
	if r["n"] != float64(2) {
		t.Fatalf("record %v", r)
	}
	if got := len(logs.Records(t)); got != 2 {
		t.Fatalf("%d records, want 2", got)
	}
}
