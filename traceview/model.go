package traceview

import (
	"encoding/hex"
	"math"
	"strconv"
)

// traceID and spanID are fixed-size arrays rather than strings or slices so
// that they can be map keys and compared without allocating.
type (
	traceID [16]byte
	spanID  [8]byte
)

func (id traceID) String() string { return hex.EncodeToString(id[:]) }
func (id spanID) String() string  { return hex.EncodeToString(id[:]) }

func (id traceID) isZero() bool { return id == traceID{} }
func (id spanID) isZero() bool  { return id == spanID{} }

// parseTraceID accepts the 32 hex digits of an OTLP trace ID, and also the
// shorter forms Jaeger prints for 64-bit IDs (left-padded with zeros), so a
// trace ID copied from any Jaeger-era tool still resolves.
func parseTraceID(s string) (traceID, bool) {
	var id traceID
	if len(s) == 0 || len(s) > 32 {
		return id, false
	}
	if len(s)%2 == 1 {
		s = "0" + s
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return id, false
	}
	copy(id[16-len(b):], b)
	return id, !id.isZero()
}

// valueType mirrors the tag types of Jaeger's JSON model, which is what the
// query API speaks.
type valueType uint8

const (
	typeString valueType = iota
	typeBool
	typeInt64
	typeFloat64
	typeBinary
)

func (t valueType) String() string {
	switch t {
	case typeBool:
		return "bool"
	case typeInt64:
		return "int64"
	case typeFloat64:
		return "float64"
	case typeBinary:
		return "binary"
	default:
		return "string"
	}
}

// attr is one attribute in a compact form: strings share storage with the
// interner and numbers live in one word, which keeps 200,000 stored spans
// affordable.
type attr struct {
	key string
	str string // string and binary values; arrays and maps as JSON text
	num uint64 // bool (0/1), int64 or float64 bits
	typ valueType
}

func stringAttr(k, v string) attr { return attr{key: k, str: v} }
func boolAttr(k string, v bool) attr {
	a := attr{key: k, typ: typeBool}
	if v {
		a.num = 1
	}
	return a
}

// appendValue appends the value in the string form used for tag search, so
// that matching an int or bool needs no allocation.
func (a attr) appendValue(dst []byte) []byte {
	switch a.typ {
	case typeBool:
		return strconv.AppendBool(dst, a.num == 1)
	case typeInt64:
		return strconv.AppendInt(dst, int64(a.num), 10)
	case typeFloat64:
		return strconv.AppendFloat(dst, math.Float64frombits(a.num), 'g', -1, 64)
	default:
		return append(dst, a.str...)
	}
}

// valueEquals reports whether the value's search form equals v.
func (a attr) valueEquals(v string) bool {
	if a.typ == typeString || a.typ == typeBinary {
		return a.str == v
	}
	var buf [32]byte
	return string(a.appendValue(buf[:0])) == v
}

// jsonValue is the value as Jaeger's JSON model carries it.
func (a attr) jsonValue() any {
	switch a.typ {
	case typeBool:
		return a.num == 1
	case typeInt64:
		return int64(a.num)
	case typeFloat64:
		f := math.Float64frombits(a.num)
		if math.IsInf(f, 0) || math.IsNaN(f) {
			// encoding/json cannot encode these; a string keeps the response valid.
			return strconv.FormatFloat(f, 'g', -1, 64)
		}
		return f
	case typeBinary:
		return []byte(a.str) // encoding/json writes base64, as Jaeger does
	default:
		return a.str
	}
}

// spanResource is shared by every span of one OTLP ResourceSpans (and interned
// across requests), so its attributes are stored once, not per span.
type spanResource struct {
	service string
	attrs   []attr
	key     string // fingerprint used to intern and to dedupe Jaeger processes
}

// spanScope is the instrumentation scope that produced a span.
type spanScope struct {
	name, version string
}

type event struct {
	time  int64 // unix nanoseconds
	name  string
	attrs []attr
}

type link struct {
	traceID traceID
	spanID  spanID
	attrs   []attr
}

// span is the stored form of an OTLP span. Once in the store it is never
// modified, so readers may use it after releasing the store's lock.
type span struct {
	traceID   traceID
	spanID    spanID
	parentID  spanID
	kind      uint8 // OTLP SpanKind
	status    uint8 // OTLP StatusCode
	flags     uint32
	name      string
	statusMsg string
	start     int64 // unix nanoseconds
	end       int64
	res       *spanResource
	scope     *spanScope
	attrs     []attr
	events    []event
	links     []link
}

func (s *span) duration() int64 {
	if s.end < s.start {
		return 0
	}
	return s.end - s.start
}

// OTLP enum values, kept as small integers in span.
const (
	kindUnspecified = 0
	kindInternal    = 1
	kindServer      = 2
	kindClient      = 3
	kindProducer    = 4
	kindConsumer    = 5

	statusUnset = 0
	statusOK    = 1
	statusError = 2
)

// kindName is the value of the span.kind tag, as Jaeger's OTLP translator
// writes it.
func kindName(k uint8) string {
	switch k {
	case kindInternal:
		return "internal"
	case kindServer:
		return "server"
	case kindClient:
		return "client"
	case kindProducer:
		return "producer"
	case kindConsumer:
		return "consumer"
	default:
		return ""
	}
}

func statusName(c uint8) string {
	switch c {
	case statusOK:
		return "OK"
	case statusError:
		return "ERROR"
	default:
		return ""
	}
}

// syntheticAttrs returns the tags that Jaeger derives from span fields rather
// than attributes (kind, status, scope), so they can be searched like any
// other tag.
func (s *span) syntheticAttrs(dst []attr) []attr {
	if k := kindName(s.kind); k != "" {
		dst = append(dst, stringAttr("span.kind", k))
	}
	if s.status != statusUnset {
		dst = append(dst, stringAttr("otel.status_code", statusName(s.status)))
	}
	if s.status == statusError {
		dst = append(dst, boolAttr("error", true))
	}
	if s.statusMsg != "" {
		dst = append(dst, stringAttr("otel.status_description", s.statusMsg))
	}
	if s.scope != nil && s.scope.name != "" {
		dst = append(dst, stringAttr("otel.scope.name", s.scope.name))
		if s.scope.version != "" {
			dst = append(dst, stringAttr("otel.scope.version", s.scope.version))
		}
	}
	return dst
}
