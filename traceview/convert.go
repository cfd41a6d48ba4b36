package traceview

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math"
	"strconv"
	"sync"
	"unicode/utf8"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

const (
	// unknownService is what Jaeger shows for spans whose resource has no
	// service.name, so they remain findable.
	unknownService = "unknown_service"

	internMaxStrings   = 1 << 16
	internMaxLen       = 128
	internMaxResources = 4096
	internMaxScopes    = 4096
	maxAttrDepth       = 8

	// internShards splits the string table so that concurrent exports
	// decoding on several cores rarely wait for each other.
	internShards = 64
)

// interner deduplicates the strings and resources of incoming spans. The
// protobuf decoder allocates every attribute key and value afresh, and a
// store of 200,000 spans repeats the same few hundred keys millions of
// times; sharing them keeps the heap close to the size of the distinct data.
// All maps are caches: when full they are dropped and rebuilt, so the
// interner never grows without bound. Each lock is held for one map
// operation only, so conversion itself runs in parallel.
type interner struct {
	strs [internShards]strShard

	mu        sync.Mutex // guards the fields below
	resources map[string]*spanResource
	raw       map[string]*spanResource // by the protobuf bytes of the resource
	scopes    map[spanScope]*spanScope
	keyBuf    []byte
}

type strShard struct {
	mu sync.Mutex
	m  map[string]string
	_  [40]byte // keep shards on separate cache lines
}

func newInterner() *interner {
	in := &interner{
		resources: make(map[string]*spanResource),
		raw:       make(map[string]*spanResource),
		scopes:    make(map[spanScope]*spanScope),
	}
	for i := range in.strs {
		in.strs[i].m = make(map[string]string)
	}
	return in
}

// shard picks a shard from the length and two bytes, far cheaper than a
// hash and spread well enough for attribute keys and values.
func (in *interner) shard(n int, first, last byte) *strShard {
	return &in.strs[(n*7+int(first)*31+int(last))%internShards]
}

func (in *interner) str(s string) string {
	if len(s) > internMaxLen || len(s) == 0 {
		return s
	}
	sh := in.shard(len(s), s[0], s[len(s)-1])
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if v, ok := sh.m[s]; ok {
		return v
	}
	if len(sh.m) >= internMaxStrings/internShards {
		clear(sh.m)
	}
	sh.m[s] = s
	return s
}

// strBytes is str for a protobuf field, which must be valid UTF-8 as proto3
// requires of strings. A hit in the table needs neither a copy nor a check.
func (in *interner) strBytes(b []byte) (string, bool) {
	if len(b) == 0 {
		return "", true
	}
	if len(b) > internMaxLen {
		if !utf8.Valid(b) {
			return "", false
		}
		return string(b), true
	}
	sh := in.shard(len(b), b[0], b[len(b)-1])
	sh.mu.Lock()
	v, ok := sh.m[string(b)] // no allocation: the compiler special-cases this
	sh.mu.Unlock()
	if ok {
		return v, true
	}
	if !utf8.Valid(b) {
		return "", false
	}
	return in.str(string(b)), true
}

// scope interns an instrumentation scope, shared by all spans it produced.
func (in *interner) scope(name, version string) *spanScope {
	if name == "" && version == "" {
		return nil
	}
	k := spanScope{name: name, version: version}
	in.mu.Lock()
	defer in.mu.Unlock()
	if sc, ok := in.scopes[k]; ok {
		return sc
	}
	if len(in.scopes) >= internMaxScopes {
		clear(in.scopes)
	}
	sc := &k
	in.scopes[k] = sc
	return sc
}

// convertResult is the outcome of converting one export request.
type convertResult struct {
	spans    []*span
	rejected int
	reason   string
}

// convert turns OTLP resource spans into stored spans. Spans without a valid
// trace or span ID cannot be placed in a trace and are rejected (counted for
// OTLP partial success) rather than failing the whole request.
func (in *interner) convert(rss []*tracepb.ResourceSpans) convertResult {
	var res convertResult
	n := 0
	for _, rs := range rss {
		for _, ss := range rs.GetScopeSpans() {
			n += len(ss.GetSpans())
		}
	}
	res.spans = make([]*span, 0, n)
	// One allocation for all spans of the request: they live and die
	// together often enough, and it halves the allocator's work.
	block := make([]span, n)
	bi := 0
	for _, rs := range rss {
		r := in.resource(rs.GetResource())
		for _, ss := range rs.GetScopeSpans() {
			is := ss.GetScope()
			sc := in.scope(in.str(is.GetName()), in.str(is.GetVersion()))
			for _, ps := range ss.GetSpans() {
				if len(ps.GetTraceId()) != 16 || len(ps.GetSpanId()) != 8 {
					res.rejected++
					res.reason = "span with a trace ID that is not 16 bytes or a span ID that is not 8 bytes"
					continue
				}
				s := &block[bi]
				bi++
				copy(s.traceID[:], ps.GetTraceId())
				copy(s.spanID[:], ps.GetSpanId())
				if s.traceID.isZero() || s.spanID.isZero() {
					res.rejected++
					res.reason = "span with an all-zero trace or span ID"
					continue
				}
				if len(ps.GetParentSpanId()) == 8 {
					copy(s.parentID[:], ps.GetParentSpanId())
				}
				s.kind = uint8(min(max(ps.GetKind(), 0), kindConsumer))
				s.flags = ps.GetFlags()
				s.name = in.str(ps.GetName())
				if st := ps.GetStatus(); st != nil {
					s.status = uint8(min(max(st.GetCode(), 0), statusError))
					s.statusMsg = st.GetMessage()
				}
				s.start = clampNanos(ps.GetStartTimeUnixNano())
				s.end = clampNanos(ps.GetEndTimeUnixNano())
				s.res = r
				s.scope = sc
				s.attrs = in.attrs(ps.GetAttributes(), nil)
				if evs := ps.GetEvents(); len(evs) > 0 {
					s.events = make([]event, len(evs))
					for i, e := range evs {
						s.events[i] = event{time: clampNanos(e.GetTimeUnixNano()), name: in.str(e.GetName()), attrs: in.attrs(e.GetAttributes(), nil)}
					}
				}
				for _, l := range ps.GetLinks() {
					if len(l.GetTraceId()) != 16 || len(l.GetSpanId()) != 8 {
						continue // a link we cannot follow is of no use to the viewer
					}
					var lk link
					copy(lk.traceID[:], l.GetTraceId())
					copy(lk.spanID[:], l.GetSpanId())
					lk.attrs = in.attrs(l.GetAttributes(), nil)
					s.links = append(s.links, lk)
				}
				res.spans = append(res.spans, s)
			}
		}
	}
	return res
}

// clampNanos keeps timestamps inside int64 so that later arithmetic cannot
// overflow on hostile input.
func clampNanos(v uint64) int64 {
	if v > math.MaxInt64/2 {
		return math.MaxInt64 / 2
	}
	return int64(v)
}

// resource converts and interns a resource: every span exported by one SDK
// carries the same resource, so all of them end up sharing one value.
func (in *interner) resource(pr *resourcepb.Resource) *spanResource {
	in.mu.Lock()
	defer in.mu.Unlock()
	kvs := pr.GetAttributes()
	service := ""
	buf := in.keyBuf[:0]
	for _, kv := range kvs {
		if kv.GetKey() == "service.name" {
			service = kv.GetValue().GetStringValue()
		}
		buf = append(buf, kv.GetKey()...)
		buf = append(buf, 0)
		buf = appendAnyValue(buf, kv.GetValue(), 0)
		buf = append(buf, 0)
	}
	in.keyBuf = buf
	if r, ok := in.resources[string(buf)]; ok {
		return r
	}
	if service == "" {
		service = unknownService
	}
	r := &spanResource{service: in.str(service), key: string(buf)}
	for _, kv := range kvs {
		if kv.GetKey() == "service.name" {
			continue // carried as the service, as Jaeger's process does
		}
		r.attrs = append(r.attrs, in.attr(kv))
	}
	if len(in.resources) >= internMaxResources {
		clear(in.resources)
	}
	in.resources[r.key] = r
	return r
}

func (in *interner) attrs(kvs []*commonpb.KeyValue, dst []attr) []attr {
	if len(kvs) == 0 {
		return dst
	}
	if dst == nil {
		dst = make([]attr, 0, len(kvs))
	}
	for _, kv := range kvs {
		dst = append(dst, in.attr(kv))
	}
	return dst
}

func (in *interner) attr(kv *commonpb.KeyValue) attr {
	a := attr{key: in.str(kv.GetKey())}
	switch v := kv.GetValue().GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		a.str = in.str(v.StringValue)
	case *commonpb.AnyValue_BoolValue:
		a.typ = typeBool
		if v.BoolValue {
			a.num = 1
		}
	case *commonpb.AnyValue_IntValue:
		a.typ = typeInt64
		a.num = uint64(v.IntValue)
	case *commonpb.AnyValue_DoubleValue:
		a.typ = typeFloat64
		a.num = math.Float64bits(v.DoubleValue)
	case *commonpb.AnyValue_BytesValue:
		a.typ = typeBinary
		a.str = string(v.BytesValue)
	case nil:
		// An empty value is legal OTLP; show it as an empty string.
	default:
		// Arrays and maps become JSON text, as Jaeger's translator does.
		a.str = string(appendAnyValue(nil, kv.GetValue(), 0))
	}
	return a
}

// appendAnyValue writes v as JSON-ish text. It bounds nesting so that a
// deeply nested hostile payload cannot exhaust the stack.
func appendAnyValue(dst []byte, v *commonpb.AnyValue, depth int) []byte {
	if depth > maxAttrDepth {
		return append(dst, `"…"`...)
	}
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		if depth == 0 {
			return append(dst, x.StringValue...)
		}
		b, _ := json.Marshal(x.StringValue)
		return append(dst, b...)
	case *commonpb.AnyValue_BoolValue:
		return strconv.AppendBool(dst, x.BoolValue)
	case *commonpb.AnyValue_IntValue:
		return strconv.AppendInt(dst, x.IntValue, 10)
	case *commonpb.AnyValue_DoubleValue:
		f := x.DoubleValue
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return strconv.AppendQuote(dst, strconv.FormatFloat(f, 'g', -1, 64))
		}
		return strconv.AppendFloat(dst, f, 'g', -1, 64)
	case *commonpb.AnyValue_BytesValue:
		b, _ := json.Marshal(x.BytesValue)
		return append(dst, b...)
	case *commonpb.AnyValue_ArrayValue:
		dst = append(dst, '[')
		for i, e := range x.ArrayValue.GetValues() {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendAnyValue(dst, e, depth+1)
		}
		return append(dst, ']')
	case *commonpb.AnyValue_KvlistValue:
		dst = append(dst, '{')
		for i, kv := range x.KvlistValue.GetValues() {
			if i > 0 {
				dst = append(dst, ',')
			}
			k, _ := json.Marshal(kv.GetKey())
			dst = append(dst, k...)
			dst = append(dst, ':')
			dst = appendAnyValue(dst, kv.GetValue(), depth+1)
		}
		return append(dst, '}')
	default:
		if depth == 0 {
			return dst
		}
		return append(dst, "null"...)
	}
}

// isJSONIDKey reports whether an OTLP/JSON field holds a hex trace or span
// ID rather than the base64 that protojson expects for bytes; protojson
// accepts both the lowerCamelCase and the original field names.
func isJSONIDKey(k []byte) bool {
	switch string(k) {
	case "traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id":
		return true
	}
	return false
}

// hexIDsToBase64 rewrites the hex trace and span IDs of an OTLP/JSON payload
// into the base64 form protojson decodes, in one pass over the bytes and
// without building a document tree. The OTLP JSON mapping deviates from the
// canonical protobuf JSON mapping only there. A value that is not valid hex
// is left alone, so protojson reports it (or reads it as base64, which some
// older senders used).
func hexIDsToBase64(in []byte) []byte {
	out := make([]byte, 0, len(in))
	i := 0
	for i < len(in) {
		c := in[i]
		if c != '"' {
			out = append(out, c)
			i++
			continue
		}
		end, esc := scanString(in, i)
		if end < 0 {
			return append(out, in[i:]...) // unterminated: protojson will say so
		}
		out = append(out, in[i:end+1]...)
		key := in[i+1 : end]
		i = end + 1
		if esc || !isJSONIDKey(key) {
			continue
		}
		// Only a key if a colon follows.
		j := skipSpace(in, i)
		if j >= len(in) || in[j] != ':' {
			continue
		}
		j = skipSpace(in, j+1)
		if j >= len(in) || in[j] != '"' {
			continue
		}
		vend, vesc := scanString(in, j)
		if vend < 0 || vesc {
			continue
		}
		val := in[j+1 : vend]
		if len(val) == 0 || len(val)%2 == 1 {
			continue
		}
		raw := make([]byte, len(val)/2)
		if _, err := hex.Decode(raw, val); err != nil {
			continue
		}
		out = append(out, in[i:j]...) // the colon and spacing
		out = append(out, '"')
		out = base64.StdEncoding.AppendEncode(out, raw)
		out = append(out, '"')
		i = vend + 1
	}
	return out
}

// scanString returns the index of the closing quote of the JSON string that
// starts at in[start], and whether it contains escapes.
func scanString(in []byte, start int) (int, bool) {
	esc := false
	for k := start + 1; k < len(in); k++ {
		switch in[k] {
		case '\\':
			esc = true
			k++
		case '"':
			return k, esc
		}
	}
	return -1, esc
}

func skipSpace(in []byte, i int) int {
	for i < len(in) && (in[i] == ' ' || in[i] == '\t' || in[i] == '\n' || in[i] == '\r') {
		i++
	}
	return i
}
