package traceview

import (
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// demoSpan describes one span of a hand-made, realistic trace for UI tests.
type demoSpan struct {
	svc, name string
	kind      tracepb.Span_SpanKind
	parent    int // index of the parent span, -1 for the root
	start     time.Duration
	dur       time.Duration
	attrs     []*commonpb.KeyValue
	errMsg    string
	events    []string
	link      []byte // span ID in linkTrace
}

// demoTraces returns OTLP resource spans of two traces: a checkout flowing
// through five services, with a failed payment and a Kafka message; and the
// shipping consumer's trace that links to the producer. It also returns the
// checkout trace's ID and its span count.
func demoTraces(now time.Time, n uint64) ([]*tracepb.ResourceSpans, []byte, int) {
	checkout := tid(0x1000 + n)
	shipping := tid(0x2000 + n)
	spans := []demoSpan{
		{svc: "frontend", name: "GET /checkout", kind: tracepb.Span_SPAN_KIND_SERVER, parent: -1, start: 0, dur: 182 * time.Millisecond,
			attrs:  []*commonpb.KeyValue{kv("http.request.method", "GET"), kv("url.path", "/checkout"), kvInt("http.response.status_code", 502)},
			errMsg: "upstream payment failed"},
		{svc: "frontend", name: "GET /cart", kind: tracepb.Span_SPAN_KIND_CLIENT, parent: 0, start: 3 * time.Millisecond, dur: 21 * time.Millisecond,
			attrs: []*commonpb.KeyValue{kv("http.request.method", "GET"), kv("server.address", "cart")}},
		{svc: "cart", name: "GET /cart", kind: tracepb.Span_SPAN_KIND_SERVER, parent: 1, start: 5 * time.Millisecond, dur: 17 * time.Millisecond,
			attrs: []*commonpb.KeyValue{kv("http.route", "/cart"), kv("user.id", "u-42")}},
		{svc: "cart", name: "GET", kind: tracepb.Span_SPAN_KIND_CLIENT, parent: 2, start: 6 * time.Millisecond, dur: 2 * time.Millisecond,
			attrs: []*commonpb.KeyValue{kv("db.system.name", "redis"), kv("db.operation.name", "GET")}},
		{svc: "cart", name: "SELECT cart_items", kind: tracepb.Span_SPAN_KIND_CLIENT, parent: 2, start: 9 * time.Millisecond, dur: 11 * time.Millisecond,
			attrs: []*commonpb.KeyValue{kv("db.system.name", "postgresql"), kv("db.query.text", "SELECT * FROM cart_items WHERE user_id = ?")}},
		{svc: "frontend", name: "POST /payments", kind: tracepb.Span_SPAN_KIND_CLIENT, parent: 0, start: 30 * time.Millisecond, dur: 120 * time.Millisecond,
			attrs: []*commonpb.KeyValue{kv("http.request.method", "POST"), kvInt("http.response.status_code", 402)}},
		{svc: "payment", name: "POST /payments", kind: tracepb.Span_SPAN_KIND_SERVER, parent: 5, start: 33 * time.Millisecond, dur: 114 * time.Millisecond,
			attrs:  []*commonpb.KeyValue{kv("payment.method", "card"), kvInt("http.response.status_code", 402)},
			errMsg: "card declined", events: []string{"fraud check passed", "card declined"}},
		{svc: "payment", name: "fraud.score", kind: tracepb.Span_SPAN_KIND_INTERNAL, parent: 6, start: 36 * time.Millisecond, dur: 48 * time.Millisecond,
			attrs: []*commonpb.KeyValue{kvInt("fraud.score", 12)}},
		{svc: "frontend", name: "orders publish", kind: tracepb.Span_SPAN_KIND_PRODUCER, parent: 0, start: 155 * time.Millisecond, dur: 9 * time.Millisecond,
			attrs: []*commonpb.KeyValue{kv("messaging.system", "kafka"), kv("messaging.destination.name", "orders")}},
		{svc: "inventory", name: "reserve", kind: tracepb.Span_SPAN_KIND_SERVER, parent: 0, start: 166 * time.Millisecond, dur: 12 * time.Millisecond,
			attrs: []*commonpb.KeyValue{kv("rpc.system", "grpc"), kv("rpc.service", "inventory.Inventory")}},
	}
	shippingSpans := []demoSpan{
		{svc: "shipping", name: "orders process", kind: tracepb.Span_SPAN_KIND_CONSUMER, parent: -1, start: 190 * time.Millisecond, dur: 35 * time.Millisecond,
			attrs: []*commonpb.KeyValue{kv("messaging.system", "kafka"), kv("messaging.consumer.group.name", "shipping")}, link: sid(0x100*n + 8)},
	}
	byService := map[string]*tracepb.ScopeSpans{}
	var out []*tracepb.ResourceSpans
	add := func(traceID []byte, idBase uint64, list []demoSpan) {
		for i, d := range list {
			ss := byService[d.svc]
			if ss == nil {
				ss = &tracepb.ScopeSpans{Scope: &commonpb.InstrumentationScope{Name: "github.com/patron-go/patron", Version: "0.1.0"}}
				byService[d.svc] = ss
				out = append(out, &tracepb.ResourceSpans{
					Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
						kv("service.name", d.svc), kv("service.version", "1.4.2"), kv("deployment.environment.name", "dev"),
						kv("telemetry.sdk.language", "go"), kvInt("process.pid", 4000+int64(len(byService))),
					}},
					ScopeSpans: []*tracepb.ScopeSpans{ss},
				})
			}
			sp := &tracepb.Span{
				TraceId: traceID, SpanId: sid(idBase + uint64(i)), Name: d.name, Kind: d.kind,
				StartTimeUnixNano: uint64(now.Add(d.start).UnixNano()),
				EndTimeUnixNano:   uint64(now.Add(d.start + d.dur).UnixNano()),
				Attributes:        d.attrs,
			}
			if d.parent >= 0 {
				sp.ParentSpanId = sid(idBase + uint64(d.parent))
			}
			if d.errMsg != "" {
				sp.Status = &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: d.errMsg}
			}
			for k, e := range d.events {
				sp.Events = append(sp.Events, &tracepb.Span_Event{Name: e, TimeUnixNano: uint64(now.Add(d.start + d.dur*time.Duration(k+1)/time.Duration(len(d.events)+1)).UnixNano()),
					Attributes: []*commonpb.KeyValue{kv("detail", e)}})
			}
			if d.link != nil {
				sp.Links = []*tracepb.Span_Link{{TraceId: checkout, SpanId: d.link, Attributes: []*commonpb.KeyValue{kv("messaging.message.id", "m-1")}}}
			}
			ss.Spans = append(ss.Spans, sp)
		}
	}
	add(checkout, 0x100*n, spans)
	add(shipping, 0x100*n+0x80, shippingSpans)
	return out, checkout, len(spans)
}
