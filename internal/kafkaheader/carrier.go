// Package kafkaheader adapts Kafka record headers to OpenTelemetry's
// propagation.TextMapCarrier, once for the consumer component and the
// producer client (a component cannot import a client).
package kafkaheader

import (
	"strings"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Carrier adapts Kafka record headers to propagation.TextMapCarrier, so that
// trace context and the correlation ID travel in headers the way other
// OpenTelemetry-instrumented Kafka clients write them (W3C "traceparent").
// A Carrier with nil Headers is inert.
type Carrier struct {
	Headers *[]kgo.RecordHeader
}

// Get returns the value of the first header named key. Kafka header names
// are case-sensitive, but peers spell propagation headers differently
// (Traceparent, x-correlation-id), so an exact miss falls back to a
// case-insensitive match.
func (c Carrier) Get(key string) string {
	if c.Headers == nil {
		return ""
	}
	v, _ := c.value(key)
	return string(v)
}

// Set replaces the header named key (any spelling), or appends it, so that a
// re-published message never carries two conflicting trace contexts.
func (c Carrier) Set(key, value string) {
	if c.Headers == nil {
		return
	}
	hs := *c.Headers
	out := hs[:0]
	replaced := false
	for _, h := range hs {
		if strings.EqualFold(h.Key, key) {
			if replaced {
				continue
			}
			h = kgo.RecordHeader{Key: key, Value: []byte(value)}
			replaced = true
		}
		out = append(out, h)
	}
	if !replaced {
		out = append(out, kgo.RecordHeader{Key: key, Value: []byte(value)})
	}
	*c.Headers = out
}

// Keys lists the header names.
func (c Carrier) Keys() []string {
	if c.Headers == nil {
		return nil
	}
	keys := make([]string, 0, len(*c.Headers))
	for _, h := range *c.Headers {
		keys = append(keys, h.Key)
	}
	return keys
}

// traceparent is the W3C header that Extract parses into fixed-size IDs.
const traceparent = "traceparent"

// ExtractCarrier is a read-only Carrier for a propagator's Extract on the
// consumer's hot path: Get of "traceparent" returns a string that aliases
// the header's bytes instead of copying them (one allocation per record).
// The W3C propagator parses that value into fixed-size IDs and keeps
// nothing of it, and the record's headers are not written while the span
// starts. Every other key (tracestate, baggage, the correlation ID, whose
// values outlive the call in the context) is copied as Carrier.Get does.
type ExtractCarrier struct {
	Carrier
}

// Get returns the value of the first header named key, as Carrier.Get.
func (c ExtractCarrier) Get(key string) string {
	if key != traceparent || c.Headers == nil {
		return c.Carrier.Get(key)
	}
	v, ok := c.value(key)
	if !ok || len(v) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(v), len(v))
}

// value returns the bytes of the first header named key, falling back to a
// case-insensitive match; c.Headers is not nil.
func (c Carrier) value(key string) ([]byte, bool) {
	hs := *c.Headers
	for i := range hs {
		if hs[i].Key == key {
			return hs[i].Value, true
		}
	}
	for i := range hs {
		if strings.EqualFold(hs[i].Key, key) {
			return hs[i].Value, true
		}
	}
	return nil, false
}
