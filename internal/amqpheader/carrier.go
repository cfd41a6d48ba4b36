// Package amqpheader adapts AMQP header tables to OpenTelemetry's
// propagation.TextMapCarrier, once for the consumer component and the
// publisher client (a component cannot import a client).
package amqpheader

import (
	"strconv"
	"strings"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Carrier adapts an AMQP header table to propagation.TextMapCarrier.
// Messages may come from producers that put any AMQP type in a header, so Get
// converts the scalar types to text and answers "" for the rest instead of
// failing: a strange header must never break propagation or drop a message.
type Carrier amqp.Table

// Get returns the value of key as text. Header names are case-sensitive in
// AMQP, but other producers spell propagation headers differently
// (Traceparent, x-correlation-id), so an exact miss falls back to a
// case-insensitive match.
func (c Carrier) Get(key string) string {
	v, ok := c[key]
	if !ok {
		for k, kv := range c {
			if strings.EqualFold(k, key) {
				v, ok = kv, true
				break
			}
		}
		if !ok {
			return ""
		}
	}
	return String(v)
}

// Set stores value under key.
func (c Carrier) Set(key, value string) { c[key] = value }

// Keys lists the header names.
func (c Carrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// String converts a header value to text: the scalar AMQP types are
// formatted, anything else (tables, arrays, decimals, timestamps, nil) gives
// "".
func String(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case []byte:
		return string(t)
	case bool:
		return strconv.FormatBool(t)
	case int8:
		return strconv.FormatInt(int64(t), 10)
	case int16:
		return strconv.FormatInt(int64(t), 10)
	case int32:
		return strconv.FormatInt(int64(t), 10)
	case int64:
		return strconv.FormatInt(t, 10)
	case int:
		return strconv.Itoa(t)
	case uint8:
		return strconv.FormatUint(uint64(t), 10)
	case uint16:
		return strconv.FormatUint(uint64(t), 10)
	case uint32:
		return strconv.FormatUint(uint64(t), 10)
	case uint64:
		return strconv.FormatUint(t, 10)
	default:
		// Tables, arrays, decimals, timestamps and nil carry no propagation
		// value; treating them as absent starts a new trace, as a malformed
		// header should.
		return ""
	}
}
