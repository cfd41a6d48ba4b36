package traceview

import (
	"crypto/sha256"
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
	var b demoBuilder
	b.add(now, checkout, 0x100*n, spans, nil)
	b.add(now, shipping, 0x100*n+0x80, shippingSpans, checkout)
	return b.out, checkout, len(spans)
}

// demoBuilder turns demo spans into OTLP resource spans, one resource per
// service, as separate SDKs would export them.
type demoBuilder struct {
	byService map[string]*tracepb.ScopeSpans
	out       []*tracepb.ResourceSpans
}

// add appends the spans of one trace; a span's link points to linkTrace, or
// to its own trace when linkTrace is nil.
func (b *demoBuilder) add(now time.Time, traceID []byte, idBase uint64, list []demoSpan, linkTrace []byte) {
	if b.byService == nil {
		b.byService = map[string]*tracepb.ScopeSpans{}
	}
	if linkTrace == nil {
		linkTrace = traceID
	}
	for i, d := range list {
		ss := b.byService[d.svc]
		if ss == nil {
			ss = &tracepb.ScopeSpans{Scope: &commonpb.InstrumentationScope{Name: "github.com/patron-go/patron", Version: "0.1.0"}}
			b.byService[d.svc] = ss
			b.out = append(b.out, &tracepb.ResourceSpans{
				Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
					kv("service.name", d.svc), kv("service.version", "1.4.2"), kv("deployment.environment.name", "dev"),
					kv("telemetry.sdk.language", "go"), kvInt("process.pid", 4000+int64(len(b.byService))),
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
			sp.Links = []*tracepb.Span_Link{{TraceId: linkTrace, SpanId: d.link, Attributes: []*commonpb.KeyValue{kv("messaging.message.id", "m-1")}}}
		}
		ss.Spans = append(ss.Spans, sp)
	}
}

// demoChain returns one trace of the seven-service messaging chain: an HTTP
// request through gateway (which also asks auth) to orders, then Kafka to
// inventory, RabbitMQ to billing, SQS to shipping and gRPC to notifier. Each
// consumer's parent is the producer, and it also links to it, as
// observability.StartConsumerSpan does. It returns the trace ID and the span
// count.
func demoChain(now time.Time, n uint64) ([]*tracepb.ResourceSpans, []byte, int) {
	trace := tid(0x3000 + n)
	base := 0x100*n + 0x4000
	ms := time.Millisecond
	msg := func(system, dest string) []*commonpb.KeyValue {
		return []*commonpb.KeyValue{kv("messaging.system", system), kv("messaging.destination.name", dest), kvInt("messaging.message.body.size", 412)}
	}
	spans := []demoSpan{
		{svc: "gateway", name: "POST /orders", kind: tracepb.Span_SPAN_KIND_SERVER, parent: -1, dur: 48 * ms,
			attrs: []*commonpb.KeyValue{kv("http.request.method", "POST"), kv("http.route", "/orders"), kvInt("http.response.status_code", 202)}},
		{svc: "gateway", name: "GET", kind: tracepb.Span_SPAN_KIND_CLIENT, parent: 0, start: 1 * ms, dur: 6 * ms,
			attrs: []*commonpb.KeyValue{kv("http.request.method", "GET"), kv("server.address", "auth")}},
		{svc: "auth", name: "GET /verify", kind: tracepb.Span_SPAN_KIND_SERVER, parent: 1, start: 2 * ms, dur: 4 * ms,
			attrs: []*commonpb.KeyValue{kv("http.route", "/verify")}},
		{svc: "gateway", name: "POST", kind: tracepb.Span_SPAN_KIND_CLIENT, parent: 0, start: 8 * ms, dur: 38 * ms,
			attrs: []*commonpb.KeyValue{kv("http.request.method", "POST"), kv("server.address", "orders")}},
		{svc: "orders", name: "POST /orders", kind: tracepb.Span_SPAN_KIND_SERVER, parent: 3, start: 9 * ms, dur: 36 * ms,
			attrs: []*commonpb.KeyValue{kv("http.route", "/orders"), kvInt("http.response.status_code", 202)}},
		{svc: "orders", name: "INSERT orders", kind: tracepb.Span_SPAN_KIND_CLIENT, parent: 4, start: 10 * ms, dur: 14 * ms,
			attrs: []*commonpb.KeyValue{kv("db.system.name", "postgresql"), kv("db.query.text", "INSERT INTO orders (id, total) VALUES ($1, $2)")}},
		{svc: "orders", name: "publish orders", kind: tracepb.Span_SPAN_KIND_PRODUCER, parent: 4, start: 26 * ms, dur: 17 * ms, attrs: msg("kafka", "orders")},
		{svc: "inventory", name: "process orders", kind: tracepb.Span_SPAN_KIND_CONSUMER, parent: 6, start: 52 * ms, dur: 40 * ms, attrs: msg("kafka", "orders"), link: sid(base + 6)},
		{svc: "inventory", name: "publish stock.reserved", kind: tracepb.Span_SPAN_KIND_PRODUCER, parent: 7, start: 80 * ms, dur: 9 * ms, attrs: msg("rabbitmq", "stock.reserved")},
		{svc: "billing", name: "process stock.reserved", kind: tracepb.Span_SPAN_KIND_CONSUMER, parent: 8, start: 95 * ms, dur: 60 * ms, attrs: msg("rabbitmq", "stock.reserved"), link: sid(base + 8),
			events: []string{"invoice created"}},
		{svc: "billing", name: "publish invoices", kind: tracepb.Span_SPAN_KIND_PRODUCER, parent: 9, start: 140 * ms, dur: 12 * ms, attrs: msg("aws_sqs", "invoices")},
		{svc: "shipping", name: "process invoices", kind: tracepb.Span_SPAN_KIND_CONSUMER, parent: 10, start: 170 * ms, dur: 45 * ms, attrs: msg("aws_sqs", "invoices"), link: sid(base + 10)},
		{svc: "shipping", name: "notify.Notifier/Send", kind: tracepb.Span_SPAN_KIND_CLIENT, parent: 11, start: 180 * ms, dur: 30 * ms,
			attrs: []*commonpb.KeyValue{kv("rpc.system", "grpc"), kv("rpc.service", "notify.Notifier"), kv("rpc.method", "Send")}},
		{svc: "notifier", name: "notify.Notifier/Send", kind: tracepb.Span_SPAN_KIND_SERVER, parent: 12, start: 182 * ms, dur: 26 * ms,
			attrs: []*commonpb.KeyValue{kv("rpc.system", "grpc"), kv("rpc.service", "notify.Notifier"), kv("rpc.method", "Send"), kvInt("rpc.grpc.status_code", 0)}},
	}
	var b demoBuilder
	b.add(now, trace, base, spans, nil)
	return b.out, trace, len(spans)
}

// demoApp returns one trace shaped like the demo's (examples/demo), with its
// seven service names: http-svc calls http-cache-svc and http-sec-svc, which
// publishes to Kafka; kafka-svc writes SQL and publishes to RabbitMQ;
// amqp-svc publishes to SNS (which feeds the queue) and to SQS directly, so
// sqs-svc processes two deliveries and calls grpc-svc twice. The delivery
// through SNS finishes first, so its branch is off the critical path. It
// returns the trace ID, the span count and the indexes of the spans off the
// critical path.
func demoApp(now time.Time, n uint64) ([]*tracepb.ResourceSpans, []byte, int, []int) {
	// A random-looking trace ID, as a real SDK makes, so screenshots look
	// like the real thing.
	sum := sha256.Sum256([]byte{byte(n >> 8), byte(n)})
	trace := sum[:16]
	base := 0x100*n + 0x6000
	ms := time.Millisecond
	msg := func(system, dest string) []*commonpb.KeyValue {
		return []*commonpb.KeyValue{kv("messaging.system", system), kv("messaging.destination.name", dest)}
	}
	greet := []*commonpb.KeyValue{kv("rpc.system", "grpc"), kv("rpc.service", "patron.examples.demo.Greeter"), kv("rpc.method", "SayHello")}
	const sayHello = "patron.examples.demo.Greeter/SayHello"
	spans := []demoSpan{
		{svc: "http-svc", name: "POST /api", kind: tracepb.Span_SPAN_KIND_SERVER, parent: -1, dur: 60 * ms,
			attrs: []*commonpb.KeyValue{kv("http.request.method", "POST"), kv("http.route", "/api"), kvInt("http.response.status_code", 201)}},
		{svc: "http-svc", name: "GET", kind: tracepb.Span_SPAN_KIND_CLIENT, parent: 0, start: 2 * ms, dur: 6 * ms,
			attrs: []*commonpb.KeyValue{kv("http.request.method", "GET"), kv("server.address", "127.0.0.1")}},
		{svc: "http-cache-svc", name: "GET /greeting/{name}", kind: tracepb.Span_SPAN_KIND_SERVER, parent: 1, start: 3 * ms, dur: 4 * ms,
			attrs: []*commonpb.KeyValue{kv("http.route", "/greeting/{name}")}},
		{svc: "http-cache-svc", name: "GET", kind: tracepb.Span_SPAN_KIND_CLIENT, parent: 2, start: 4 * ms, dur: 1 * ms,
			attrs: []*commonpb.KeyValue{kv("db.system.name", "redis"), kv("db.operation.name", "GET")}},
		{svc: "http-svc", name: "POST", kind: tracepb.Span_SPAN_KIND_CLIENT, parent: 0, start: 10 * ms, dur: 30 * ms,
			attrs: []*commonpb.KeyValue{kv("http.request.method", "POST"), kv("server.address", "127.0.0.1")}},
		{svc: "http-sec-svc", name: "POST /users", kind: tracepb.Span_SPAN_KIND_SERVER, parent: 4, start: 11 * ms, dur: 28 * ms,
			attrs: []*commonpb.KeyValue{kv("http.route", "/users"), kvInt("http.response.status_code", 201)}},
		{svc: "http-sec-svc", name: "publish patron-topic", kind: tracepb.Span_SPAN_KIND_PRODUCER, parent: 5, start: 20 * ms, dur: 15 * ms, attrs: msg("kafka", "patron-topic")},
		{svc: "kafka-svc", name: "process patron-topic", kind: tracepb.Span_SPAN_KIND_CONSUMER, parent: 6, start: 45 * ms, dur: 45 * ms, attrs: msg("kafka", "patron-topic"), link: sid(base + 6)},
		{svc: "kafka-svc", name: "INSERT patron_users", kind: tracepb.Span_SPAN_KIND_CLIENT, parent: 7, start: 50 * ms, dur: 12 * ms,
			attrs: []*commonpb.KeyValue{kv("db.system.name", "postgresql"), kv("db.query.text", "INSERT INTO patron_users (name) VALUES ($1)")}},
		{svc: "kafka-svc", name: "publish patron", kind: tracepb.Span_SPAN_KIND_PRODUCER, parent: 7, start: 65 * ms, dur: 15 * ms, attrs: msg("rabbitmq", "patron")},
		{svc: "amqp-svc", name: "process patron", kind: tracepb.Span_SPAN_KIND_CONSUMER, parent: 9, start: 85 * ms, dur: 45 * ms, attrs: msg("rabbitmq", "patron"), link: sid(base + 9)},
		{svc: "amqp-svc", name: "publish patron-topic", kind: tracepb.Span_SPAN_KIND_PRODUCER, parent: 10, start: 90 * ms, dur: 10 * ms, attrs: msg("aws_sns", "patron-topic")},
		{svc: "amqp-svc", name: "publish patron", kind: tracepb.Span_SPAN_KIND_PRODUCER, parent: 10, start: 102 * ms, dur: 10 * ms, attrs: msg("aws_sqs", "patron")},
		{svc: "sqs-svc", name: "process patron", kind: tracepb.Span_SPAN_KIND_CONSUMER, parent: 11, start: 115 * ms, dur: 35 * ms, attrs: msg("aws_sqs", "patron"), link: sid(base + 11)},
		{svc: "sqs-svc", name: sayHello, kind: tracepb.Span_SPAN_KIND_CLIENT, parent: 13, start: 120 * ms, dur: 20 * ms, attrs: greet},
		{svc: "grpc-svc", name: sayHello, kind: tracepb.Span_SPAN_KIND_SERVER, parent: 14, start: 122 * ms, dur: 16 * ms, attrs: greet},
		{svc: "sqs-svc", name: "process patron", kind: tracepb.Span_SPAN_KIND_CONSUMER, parent: 12, start: 118 * ms, dur: 57 * ms, attrs: msg("aws_sqs", "patron"), link: sid(base + 12)},
		{svc: "sqs-svc", name: sayHello, kind: tracepb.Span_SPAN_KIND_CLIENT, parent: 16, start: 150 * ms, dur: 20 * ms, attrs: greet},
		{svc: "grpc-svc", name: sayHello, kind: tracepb.Span_SPAN_KIND_SERVER, parent: 17, start: 152 * ms, dur: 16 * ms, attrs: greet},
	}
	var b demoBuilder
	b.add(now, trace, base, spans, nil)
	return b.out, trace, len(spans), []int{11, 13, 14, 15}
}
