package amqpheader_test

import (
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/patron-go/patron/internal/amqpheader"
)

// benchHeaders is what a delivery from another client's producer looks
// like: a few application headers, the trace context capitalised and the
// correlation ID in lower case.
func benchHeaders() amqpheader.Carrier {
	return amqpheader.Carrier(amqp.Table{
		"traceparent":      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"Tracestate":       "vendor=1",
		"x-correlation-id": "corr-1",
		"content-encoding": "gzip",
		"x-retry":          int32(2),
		"x-origin":         "billing",
		"x-tenant":         "acme",
		"x-schema-version": "3",
	})
}

var sink string

// BenchmarkGet: the lookups a propagator makes per delivery. exact and
// lower need no scan of the table; other-case and miss still scan it.
func BenchmarkGet(b *testing.B) {
	c := benchHeaders()
	for _, bc := range []struct{ name, key string }{
		{"exact", "traceparent"},
		{"lower", "X-Correlation-Id"},
		{"other-case", "tracestate"},
		{"miss", "baggage"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sink = c.Get(bc.key)
			}
		})
	}
}
