// Package amqpheader adapts AMQP header tables to OpenTelemetry's
// propagation.TextMapCarrier, once for the consumer component and the
// publisher client (a component cannot import a client).
package amqpheader

import (
	"strconv"
	"strings"
	"unicode/utf8"

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
// case-insensitive match. Get runs on every propagation key of every
// delivery, so the lower-case spelling, the common one, is looked up before
// the whole table is scanned, and the scan rejects most names without
// folding them (BenchmarkGet). When several spellings are present, the
// exact one wins, then the lower-case one.
func (c Carrier) Get(key string) string {
	if v, ok := c[key]; ok {
		return String(v)
	}
	upper, ascii := shape(key)
	if upper && len(key) <= maxLowerKey {
		var buf [maxLowerKey]byte
		// Indexing with string(...) does not allocate.
		if v, ok := c[string(lowerASCII(buf[:0], key))]; ok {
			return String(v)
		}
	}
	for k, v := range c {
		// For an ASCII key, a shorter name or an ASCII first byte that
		// differs cannot match: only K (Kelvin) and ſ fold to ASCII, and
		// both are longer than the letter they fold to. Skipping the call
		// to EqualFold for those is what makes a miss cheaper.
		if ascii && (len(k) < len(key) || k[0] < utf8.RuneSelf && foldASCII(k[0]) != foldASCII(key[0])) {
			continue
		}
		if strings.EqualFold(k, key) {
			return String(v)
		}
	}
	return ""
}

// maxLowerKey bounds the keys that Get converts to lower case on the stack;
// the propagators' keys are far shorter, and a longer key still gets the
// scan.
const maxLowerKey = 64

// shape reports whether key has an upper-case ASCII letter and whether it
// is all ASCII (and not empty).
func shape(key string) (upper, ascii bool) {
	for i := range len(key) {
		b := key[i]
		if b >= utf8.RuneSelf {
			return false, false
		}
		if 'A' <= b && b <= 'Z' {
			upper = true
		}
	}
	return upper, len(key) > 0
}

// lowerASCII appends key, which is ASCII, in lower case to dst.
func lowerASCII(dst []byte, key string) []byte {
	for i := range len(key) {
		dst = append(dst, foldASCII(key[i]))
	}
	return dst
}

func foldASCII(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
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
