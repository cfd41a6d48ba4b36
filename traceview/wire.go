package traceview

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
)

// The OTLP protobuf fast path. Decoding an export into the generated
// message types and then converting it allocates every span, attribute and
// value twice, and the protobuf runtime's reflection-driven decoder was two
// thirds of the ingest cost. decodeProto reads the wire format once, straight
// into stored spans: attribute keys and values are looked up in the
// interner from the wire bytes (no allocation when already known), the
// attributes of a whole request share a few arena slices, and resources are
// recognised by their encoded bytes.
//
// It handles what SDKs send. On anything else (malformed input, a singular
// message repeated so that protobuf would merge it) it gives up, and the
// caller falls back to proto.Unmarshal and convert, the reference
// behaviour, which also words the error for a bad payload. The fast path
// must return exactly what the reference returns, or give up
// (FuzzDecodeProto checks it). Array and map attribute values are decoded
// by the reference code, one attribute at a time.

// Field numbers of the OTLP trace protos (opentelemetry-proto v1).
const (
	fRequestResourceSpans = 1

	fResourceSpansResource   = 1
	fResourceSpansScopeSpans = 2

	fScopeSpansScope = 1
	fScopeSpansSpans = 2

	fScopeName       = 1
	fScopeVersion    = 2
	fScopeAttributes = 3

	fSpanTraceID    = 1
	fSpanSpanID     = 2
	fSpanParentID   = 4
	fSpanName       = 5
	fSpanKind       = 6
	fSpanStart      = 7
	fSpanEnd        = 8
	fSpanAttributes = 9
	fSpanEvents     = 11
	fSpanLinks      = 13
	fSpanStatus     = 15
	fSpanFlags      = 16

	fEventTime       = 1
	fEventName       = 2
	fEventAttributes = 3

	fLinkTraceID    = 1
	fLinkSpanID     = 2
	fLinkAttributes = 4

	fStatusMessage = 2
	fStatusCode    = 3

	fKeyValueKey   = 1
	fKeyValueValue = 2

	fAnyString = 1
	fAnyBool   = 2
	fAnyInt    = 3
	fAnyDouble = 4
	fAnyArray  = 5
	fAnyKvlist = 6
	fAnyBytes  = 7
)

// errGiveUp says the fast path does not handle this input; the reference
// decoder decides.
var errGiveUp = errors.New("traceview: fast OTLP decoder gives up")

// field is one decoded protobuf field: u holds varint and fixed values, b
// the bytes of length-delimited ones.
type field struct {
	num protowire.Number
	typ protowire.Type
	u   uint64
	b   []byte
}

func nextField(b []byte) (field, []byte, error) {
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 {
		return field{}, nil, errGiveUp
	}
	b = b[n:]
	f := field{num: num, typ: typ}
	switch typ {
	case protowire.VarintType:
		f.u, n = protowire.ConsumeVarint(b)
	case protowire.Fixed64Type:
		f.u, n = protowire.ConsumeFixed64(b)
	case protowire.Fixed32Type:
		var v uint32
		v, n = protowire.ConsumeFixed32(b)
		f.u = uint64(v)
	case protowire.BytesType:
		f.b, n = protowire.ConsumeBytes(b)
	default:
		n = protowire.ConsumeFieldValue(num, typ, b) // groups: skipped, as unknown fields
	}
	if n < 0 {
		return field{}, nil, errGiveUp
	}
	return f, b[n:], nil
}

// is reports whether f is field num with a length-delimited value. A known
// field number with another wire type is an unknown field to protobuf.
func (f field) is(num protowire.Number, typ protowire.Type) bool { return f.num == num && f.typ == typ }

type wireDecoder struct {
	in  *interner
	res convertResult
	bud budget
	// block is where valid spans go; it is allocated in pieces as spans
	// pass validation, never up front for the count on the wire.
	block []span
	left  int    // spans on the wire not yet decoded
	arena []attr // attributes of the request's spans, handed out in pieces
	attrs []attr // one span's attributes while decoding it
	evs   [][]byte
	links [][]byte
	// recent is a direct-mapped cache of interned strings in front of the
	// interner: an export repeats a few dozen keys and values hundreds of
	// times, and a hit here takes no lock.
	recent [256]string
}

// str interns a string field, checking the decoder's own cache first.
func (d *wireDecoder) str(b []byte) (string, bool) {
	if len(b) == 0 {
		return "", true
	}
	slot := &d.recent[(len(b)*13+int(b[0])*7+int(b[len(b)/2])*3+int(b[len(b)-1]))&255]
	if *slot == string(b) { // no allocation for the comparison
		return *slot, true
	}
	v, ok := d.in.strBytes(b)
	if ok && len(b) <= internMaxLen {
		*slot = v
	}
	return v, ok
}

// decodeProto decodes an OTLP ExportTraceServiceRequest, or returns an error
// when the caller must use the reference path (errGiveUp), or one wrapping
// errTooLarge when the request is over lim.
func (in *interner) decodeProto(b []byte, lim limits) (convertResult, error) {
	n, err := countSpans(b)
	if err != nil {
		return convertResult{}, err
	}
	d := &wireDecoder{in: in, bud: lim.budget(), left: n}
	if n > d.bud.maxItems {
		return convertResult{}, fmt.Errorf("%w: %d spans in one request, at most %d", errTooLarge, n, d.bud.maxItems)
	}
	d.res.spans = make([]*span, 0, min(n, 512))
	for len(b) > 0 {
		var f field
		if f, b, err = nextField(b); err != nil {
			return convertResult{}, err
		}
		if f.is(fRequestResourceSpans, protowire.BytesType) {
			if err := d.resourceSpans(f.b); err != nil {
				return convertResult{}, err
			}
		}
	}
	return d.res, nil
}

// countSpans counts the spans of a request, so that they can be allocated in
// one block.
func countSpans(b []byte) (int, error) {
	n := 0
	err := eachField(b, fRequestResourceSpans, func(rs []byte) error {
		return eachField(rs, fResourceSpansScopeSpans, func(ss []byte) error {
			return eachField(ss, fScopeSpansSpans, func([]byte) error { n++; return nil })
		})
	})
	return n, err
}

// eachField calls fn with the value of every length-delimited field num.
func eachField(b []byte, num protowire.Number, fn func([]byte) error) error {
	for len(b) > 0 {
		f, rest, err := nextField(b)
		if err != nil {
			return err
		}
		if f.is(num, protowire.BytesType) {
			if err := fn(f.b); err != nil {
				return err
			}
		}
		b = rest
	}
	return nil
}

func (d *wireDecoder) resourceSpans(b []byte) error {
	r, err := d.resourceOf(b)
	if err != nil {
		return err
	}
	return eachField(b, fResourceSpansScopeSpans, func(ss []byte) error { return d.scopeSpans(ss, r) })
}

// resourceOf interns the resource (field 1) of a ResourceSpans,
// ResourceLogs or ResourceMetrics.
func (d *wireDecoder) resourceOf(b []byte) (*spanResource, error) {
	// The resource may follow the spans on the wire; find it first.
	var (
		resBytes []byte
		found    bool
	)
	err := eachField(b, fResourceSpansResource, func(v []byte) error {
		if found {
			return errGiveUp // protobuf would merge the two
		}
		resBytes, found = v, true
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := validSchemaURL(b); err != nil {
		return nil, err
	}
	return d.in.rawResource(resBytes, &d.bud)
}

// fSchemaURL is the schema_url of ResourceX and ScopeX messages: a string
// the viewer does not keep, but which protobuf requires to be UTF-8.
const fSchemaURL = 3

func validSchemaURL(b []byte) error {
	return eachField(b, fSchemaURL, func(v []byte) error {
		if !utf8.Valid(v) {
			return errGiveUp
		}
		return nil
	})
}

// rawResource interns a resource by its encoded bytes: an SDK encodes its
// resource identically in every export, so after the first export this is
// one map lookup.
func (in *interner) rawResource(b []byte, bud *budget) (*spanResource, error) {
	in.mu.Lock()
	r, ok := in.raw[string(b)]
	in.mu.Unlock()
	if ok {
		return r, nil
	}
	if err := bud.scan(b, kResource, 0); err != nil {
		return nil, err
	}
	pr := &resourcepb.Resource{}
	if err := proto.Unmarshal(b, pr); err != nil {
		return nil, errGiveUp
	}
	r = in.resource(pr)
	in.mu.Lock()
	if len(in.raw) >= internMaxResources {
		clear(in.raw)
	}
	in.raw[string(b)] = r
	in.mu.Unlock()
	return r, nil
}

func (d *wireDecoder) scopeSpans(b []byte, r *spanResource) error {
	sc, err := d.scopeOf(b)
	if err != nil {
		return err
	}
	return eachField(b, fScopeSpansSpans, func(sp []byte) error { return d.span(sp, r, sc) })
}

// scopeOf interns the instrumentation scope (field 1) of a ScopeSpans,
// ScopeLogs or ScopeMetrics.
func (d *wireDecoder) scopeOf(b []byte) (*spanScope, error) {
	var name, version string
	err := eachField(b, fScopeSpansScope, func(v []byte) error {
		// Repeated occurrences merge field by field: last one wins.
		for len(v) > 0 {
			f, rest, err := nextField(v)
			if err != nil {
				return err
			}
			var ok bool
			switch {
			case f.is(fScopeName, protowire.BytesType):
				name, ok = d.str(f.b)
			case f.is(fScopeVersion, protowire.BytesType):
				version, ok = d.str(f.b)
			case f.is(fScopeAttributes, protowire.BytesType):
				// Not kept, but protobuf validates their strings.
				_, err := d.attr(f.b)
				if err != nil {
					return err
				}
				ok = true
			default:
				ok = true
			}
			if !ok {
				return errGiveUp
			}
			v = rest
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := validSchemaURL(b); err != nil {
		return nil, err
	}
	return d.in.scope(name, version), nil
}

func (d *wireDecoder) span(b []byte, r *spanResource, sc *spanScope) error {
	var (
		traceID, spanID, parentID, name, statusMsg []byte
		kind, statusCode                           int32
		hasStatus                                  bool
		start, end                                 uint64
		flags                                      uint32
	)
	d.attrs, d.evs, d.links = d.attrs[:0], d.evs[:0], d.links[:0]
	for len(b) > 0 {
		f, rest, err := nextField(b)
		if err != nil {
			return err
		}
		b = rest
		switch {
		case f.is(fSpanTraceID, protowire.BytesType):
			traceID = f.b
		case f.is(fSpanSpanID, protowire.BytesType):
			spanID = f.b
		case f.is(fSpanParentID, protowire.BytesType):
			parentID = f.b
		case f.is(fSpanName, protowire.BytesType):
			name = f.b
		case f.is(fSpanKind, protowire.VarintType):
			kind = int32(f.u)
		case f.is(fSpanStart, protowire.Fixed64Type):
			start = f.u
		case f.is(fSpanEnd, protowire.Fixed64Type):
			end = f.u
		case f.is(fSpanFlags, protowire.Fixed32Type):
			flags = uint32(f.u)
		case f.is(fSpanAttributes, protowire.BytesType):
			a, err := d.attr(f.b)
			if err != nil {
				return err
			}
			d.attrs = append(d.attrs, a)
		case f.is(fSpanEvents, protowire.BytesType):
			if err := d.bud.addCost(nodeCost); err != nil {
				return err
			}
			d.evs = append(d.evs, f.b)
		case f.is(fSpanLinks, protowire.BytesType):
			if err := d.bud.addCost(nodeCost); err != nil {
				return err
			}
			d.links = append(d.links, f.b)
		case f.is(fSpanStatus, protowire.BytesType):
			hasStatus = true
			for v := f.b; len(v) > 0; {
				sf, rest, err := nextField(v)
				if err != nil {
					return err
				}
				v = rest
				switch {
				case sf.is(fStatusMessage, protowire.BytesType):
					statusMsg = sf.b
				case sf.is(fStatusCode, protowire.VarintType):
					statusCode = int32(sf.u)
				}
			}
		}
	}
	d.left--
	// The checks and their order are those of convert.
	if len(traceID) != 16 || len(spanID) != 8 {
		d.res.rejected++
		d.res.reason = "span with a trace ID that is not 16 bytes or a span ID that is not 8 bytes"
		return nil
	}
	if isZeroBytes(traceID) || isZeroBytes(spanID) {
		d.res.rejected++
		d.res.reason = "span with an all-zero trace or span ID"
		return nil
	}
	if len(d.block) == 0 {
		// The rest of the request at most, in pieces of 512 (an SDK batch,
		// so one piece as a rule).
		d.block = make([]span, min(d.left+1, 512))
	}
	s := &d.block[0]
	d.block = d.block[1:]
	copy(s.traceID[:], traceID)
	copy(s.spanID[:], spanID)
	if len(parentID) == 8 {
		copy(s.parentID[:], parentID)
	}
	var ok bool
	if s.name, ok = d.str(name); !ok {
		return errGiveUp
	}
	s.kind = uint8(min(max(kind, 0), kindConsumer))
	s.flags = flags
	if hasStatus {
		s.status = uint8(min(max(statusCode, 0), statusError))
		if !utf8.Valid(statusMsg) {
			return errGiveUp
		}
		s.statusMsg = string(statusMsg)
	}
	s.start = clampNanos(start)
	s.end = clampNanos(end)
	s.res = r
	s.scope = sc
	s.attrs = d.keep(d.attrs)
	if len(d.evs) > 0 {
		s.events = make([]event, len(d.evs))
		for i, ev := range d.evs {
			if err := d.event(ev, &s.events[i]); err != nil {
				return err
			}
		}
	}
	for _, lb := range d.links {
		if err := d.link(lb, s); err != nil {
			return err
		}
	}
	d.res.spans = append(d.res.spans, s)
	return nil
}

// keep copies attributes into the arena; nil for none, as convert does.
func (d *wireDecoder) keep(a []attr) []attr {
	n := len(a)
	if n == 0 {
		return nil
	}
	if cap(d.arena)-len(d.arena) < n {
		d.arena = make([]attr, 0, max(n, 1024))
	}
	l := len(d.arena)
	d.arena = append(d.arena, a...)
	return d.arena[l : l+n : l+n]
}

// attrsOf decodes the KeyValue fields num of b into the arena. The span's
// own attributes are not in flight here: events and links are decoded after
// them.
func (d *wireDecoder) attrsOf(b []byte, num protowire.Number) ([]attr, error) {
	start := len(d.attrs)
	err := eachField(b, num, func(kv []byte) error {
		a, err := d.attr(kv)
		d.attrs = append(d.attrs, a)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := d.keep(d.attrs[start:])
	d.attrs = d.attrs[:start]
	return out, nil
}

func (d *wireDecoder) event(b []byte, e *event) error {
	var (
		name []byte
		t    uint64
	)
	for v := b; len(v) > 0; {
		f, rest, err := nextField(v)
		if err != nil {
			return err
		}
		v = rest
		switch {
		case f.is(fEventTime, protowire.Fixed64Type):
			t = f.u
		case f.is(fEventName, protowire.BytesType):
			name = f.b
		}
	}
	var ok bool
	if e.name, ok = d.str(name); !ok {
		return errGiveUp
	}
	e.time = clampNanos(t)
	var err error
	e.attrs, err = d.attrsOf(b, fEventAttributes)
	return err
}

func (d *wireDecoder) link(b []byte, s *span) error {
	var traceID, spanID []byte
	for v := b; len(v) > 0; {
		f, rest, err := nextField(v)
		if err != nil {
			return err
		}
		v = rest
		switch {
		case f.is(fLinkTraceID, protowire.BytesType):
			traceID = f.b
		case f.is(fLinkSpanID, protowire.BytesType):
			spanID = f.b
		}
	}
	if len(traceID) != 16 || len(spanID) != 8 {
		// A link we cannot follow is of no use to the viewer, but its
		// attributes must still be valid for the request to be.
		_, err := d.attrsOf(b, fLinkAttributes)
		return err
	}
	var lk link
	copy(lk.traceID[:], traceID)
	copy(lk.spanID[:], spanID)
	var err error
	if lk.attrs, err = d.attrsOf(b, fLinkAttributes); err != nil {
		return err
	}
	s.links = append(s.links, lk)
	return nil
}

// attr decodes a KeyValue. Arrays, maps and unusual encodings go through
// the generated types and convert's attr, so their text form is the same.
func (d *wireDecoder) attr(b []byte) (attr, error) {
	var (
		key, val []byte
		nval     int
	)
	for v := b; len(v) > 0; {
		f, rest, err := nextField(v)
		if err != nil {
			return attr{}, err
		}
		v = rest
		switch {
		case f.is(fKeyValueKey, protowire.BytesType):
			key = f.b
		case f.is(fKeyValueValue, protowire.BytesType):
			val = f.b
			nval++
		}
	}
	if err := d.bud.addCost(attrCost + int64(len(key)+len(val))); err != nil {
		return attr{}, err
	}
	if nval > 1 {
		return d.slowAttr(b)
	}
	k, ok := d.str(key)
	if !ok {
		return attr{}, errGiveUp
	}
	a := attr{key: k}
	var (
		one  field
		nset int
	)
	for v := val; len(v) > 0; {
		f, rest, err := nextField(v)
		if err != nil {
			return attr{}, err
		}
		v = rest
		switch {
		case f.is(fAnyString, protowire.BytesType), f.is(fAnyBool, protowire.VarintType), f.is(fAnyInt, protowire.VarintType),
			f.is(fAnyDouble, protowire.Fixed64Type), f.is(fAnyBytes, protowire.BytesType):
			one = f
			nset++
		case f.is(fAnyArray, protowire.BytesType), f.is(fAnyKvlist, protowire.BytesType):
			return d.slowAttr(b)
		}
	}
	if nset > 1 {
		return d.slowAttr(b) // oneof rules: leave them to protobuf
	}
	if nset == 0 {
		return a, nil // an empty value is legal OTLP
	}
	switch one.num {
	case fAnyString:
		if a.str, ok = d.str(one.b); !ok {
			return attr{}, errGiveUp
		}
	case fAnyBool:
		a.typ = typeBool
		if one.u != 0 {
			a.num = 1
		}
	case fAnyInt:
		a.typ = typeInt64
		a.num = one.u
	case fAnyDouble:
		a.typ = typeFloat64
		a.num = one.u // the IEEE 754 bits, as math.Float64bits stores them
	case fAnyBytes:
		a.typ = typeBinary
		a.str = string(one.b)
	}
	return a, nil
}

func (d *wireDecoder) slowAttr(b []byte) (attr, error) {
	if err := d.bud.scan(b, kKV, 0); err != nil {
		return attr{}, err
	}
	kv := &commonpb.KeyValue{}
	if err := proto.Unmarshal(b, kv); err != nil {
		return attr{}, errGiveUp
	}
	return d.in.attr(kv), nil
}

func isZeroBytes(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
