package traceview

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// wireCorpus is requests covering what the fast decoder must reproduce:
// SDK-shaped exports and every value type and odd field the conversion
// treats specially.
func wireCorpus(t testing.TB) [][]byte {
	t.Helper()
	now := time.Now()
	demo, _, _ := demoTraces(now, 1)
	chain, _, _ := demoChain(now, 1)
	anyv := func(v *commonpb.AnyValue) *commonpb.KeyValue { return &commonpb.KeyValue{Key: "k", Value: v} }
	odd := &tracepb.ResourceSpans{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{kv("host.name", "h")}}, // no service.name
		ScopeSpans: []*tracepb.ScopeSpans{{
			Scope: &commonpb.InstrumentationScope{Name: "only-name"},
			Spans: []*tracepb.Span{
				{TraceId: tid(1), SpanId: sid(1), Name: "values", Kind: 99, Flags: 0x301,
					StartTimeUnixNano: math.MaxUint64, EndTimeUnixNano: 5,
					Status: &tracepb.Status{Code: 7, Message: "odd code"},
					Attributes: []*commonpb.KeyValue{
						anyv(&commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: true}}),
						anyv(&commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{}}),
						anyv(&commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: -42}}),
						anyv(&commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: math.NaN()}}),
						anyv(&commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: math.Inf(-1)}}),
						anyv(&commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: 0.25}}),
						anyv(&commonpb.AnyValue{Value: &commonpb.AnyValue_BytesValue{BytesValue: []byte{0, 1, 0xff}}}),
						anyv(&commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: string(bytes.Repeat([]byte("long"), 100))}}),
						anyv(&commonpb.AnyValue{}),
						{Key: "no value"},
						anyv(&commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: []*commonpb.AnyValue{
							{Value: &commonpb.AnyValue_StringValue{StringValue: "a\"b"}}, {Value: &commonpb.AnyValue_IntValue{IntValue: 1}}, {},
						}}}}),
						anyv(&commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{Values: []*commonpb.KeyValue{
							kv("x", "y"), {Key: "n", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_BytesValue{BytesValue: []byte("z")}}},
						}}}}),
					},
					Events: []*tracepb.Span_Event{{Name: "e1", TimeUnixNano: 7, Attributes: []*commonpb.KeyValue{kv("a", "b")}}, {}},
					Links: []*tracepb.Span_Link{
						{TraceId: tid(9), SpanId: sid(9), Attributes: []*commonpb.KeyValue{kvInt("n", 1)}},
						{TraceId: tid(9)[:3], SpanId: sid(9)}, // unusable, dropped
						{TraceId: tid(8), SpanId: sid(8)},
					}},
				{TraceId: tid(1), SpanId: sid(2), ParentSpanId: []byte{1, 2, 3}, Kind: -3, Status: &tracepb.Status{}},
				{TraceId: tid(1)[:8], SpanId: sid(3)},          // rejected: short trace ID
				{TraceId: make([]byte, 16), SpanId: sid(4)},    // rejected: zero trace ID
				{TraceId: tid(2), SpanId: make([]byte, 8)},     // rejected: zero span ID
				{TraceId: tid(2), SpanId: sid(5), Name: "ok"},  // accepted after rejections
				{TraceId: tid(2), SpanId: sid(6), Name: "é✓😀"}, // multi-byte names
			},
		}, {Spans: []*tracepb.Span{{TraceId: tid(3), SpanId: sid(7), Name: "no scope"}}}},
	}
	noResource := &tracepb.ResourceSpans{ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{TraceId: tid(4), SpanId: sid(8), Name: "x"}}}}}
	var out [][]byte
	for _, rss := range [][]*tracepb.ResourceSpans{
		synthRequest(0, 20, 8, []string{"web", "api", "db"}), demo, chain,
		{odd}, {noResource}, {}, {{}}, {{ScopeSpans: []*tracepb.ScopeSpans{{}}}},
	} {
		b, err := proto.Marshal(&coltracepb.ExportTraceServiceRequest{ResourceSpans: rss})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	// Field order is free on the wire: the resource and the scope after the
	// spans, and unknown fields of every wire type in between.
	var shuffled []byte
	for _, rs := range [][]byte{
		protowire.AppendBytes(protowire.AppendTag(nil, 99, protowire.BytesType), []byte("unknown")),
	} {
		span, _ := proto.Marshal(&tracepb.Span{TraceId: tid(5), SpanId: sid(9), Name: "late scope"})
		span = protowire.AppendFixed32(protowire.AppendTag(span, 77, protowire.Fixed32Type), 1)
		span = protowire.AppendVarint(protowire.AppendTag(span, fSpanName, protowire.VarintType), 3) // wrong wire type: unknown
		var ss []byte
		ss = protowire.AppendBytes(protowire.AppendTag(ss, fScopeSpansSpans, protowire.BytesType), span)
		scope, _ := proto.Marshal(&commonpb.InstrumentationScope{Name: "late", Version: "2"})
		ss = protowire.AppendBytes(protowire.AppendTag(ss, fScopeSpansScope, protowire.BytesType), scope)
		var rsb []byte
		rsb = protowire.AppendBytes(protowire.AppendTag(rsb, fResourceSpansScopeSpans, protowire.BytesType), ss)
		rsb = append(rsb, rs...)
		res, _ := proto.Marshal(&resourcepb.Resource{Attributes: []*commonpb.KeyValue{kv("service.name", "late-resource")}})
		rsb = protowire.AppendBytes(protowire.AppendTag(rsb, fResourceSpansResource, protowire.BytesType), res)
		shuffled = protowire.AppendBytes(protowire.AppendTag(shuffled, fRequestResourceSpans, protowire.BytesType), rsb)
	}
	return append(out, shuffled)
}

// storeJSON renders everything a store holds, to compare two stores.
func storeJSON(t testing.TB, s *Store) string {
	t.Helper()
	traces, err := s.FindTraces(Query{Limit: MaxQueryLimit})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(traces)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sameAsReference decodes body with the fast path and with proto.Unmarshal
// and convert, and fails unless both store the same thing. It reports
// whether the fast path handled the body.
func sameAsReference(t testing.TB, body []byte) bool {
	t.Helper()
	req := &coltracepb.ExportTraceServiceRequest{}
	if proto.Unmarshal(body, req) != nil {
		return false // a bad payload: the fast path may give up or not, the handler answers 400 either way
	}
	ref, _ := NewStore(DefaultMaxSpans)
	refRes := ref.Ingest(req.GetResourceSpans())
	fast, _ := NewStore(DefaultMaxSpans)
	conv, err := fast.in.decodeProto(body, limits{})
	if err != nil {
		return false
	}
	fast.add(conv.spans)
	if conv.rejected != refRes.Rejected || conv.reason != refRes.Reason || len(conv.spans) != refRes.Accepted {
		t.Fatalf("fast path: %d accepted, %d rejected (%q); reference: %+v", len(conv.spans), conv.rejected, conv.reason, refRes)
	}
	if got, want := storeJSON(t, fast), storeJSON(t, ref); got != want {
		t.Fatalf("fast path stored\n%s\nreference stored\n%s", got, want)
	}
	return true
}

// TestDecodeProtoMatchesReference proves the fast protobuf decoder stores
// exactly what proto.Unmarshal followed by convert stores, for SDK exports
// and for every value type and field layout convert treats specially.
func TestDecodeProtoMatchesReference(t *testing.T) {
	for i, body := range wireCorpus(t) {
		if !sameAsReference(t, body) {
			t.Errorf("corpus %d: the fast path gave up", i)
		}
	}
}

// TestDecodeProtoGivesUp checks that inputs protobuf would merge fall back
// to the reference path, and that a malformed payload is still a 400-class
// error through ingestProto.
func TestDecodeProtoGivesUp(t *testing.T) {
	res1, _ := proto.Marshal(&resourcepb.Resource{Attributes: []*commonpb.KeyValue{kv("service.name", "a")}})
	res2, _ := proto.Marshal(&resourcepb.Resource{Attributes: []*commonpb.KeyValue{kv("service.version", "2")}})
	span, _ := proto.Marshal(&tracepb.ScopeSpans{Spans: []*tracepb.Span{{TraceId: tid(1), SpanId: sid(1), Name: "merged"}}})
	var rs []byte
	rs = protowire.AppendBytes(protowire.AppendTag(rs, fResourceSpansResource, protowire.BytesType), res1)
	rs = protowire.AppendBytes(protowire.AppendTag(rs, fResourceSpansScopeSpans, protowire.BytesType), span)
	rs = protowire.AppendBytes(protowire.AppendTag(rs, fResourceSpansResource, protowire.BytesType), res2)
	body := protowire.AppendBytes(protowire.AppendTag(nil, fRequestResourceSpans, protowire.BytesType), rs)

	s, _ := NewStore(10)
	if _, err := s.in.decodeProto(body, limits{}); err == nil {
		t.Error("fast path decoded a request whose resource protobuf merges")
	}
	res, err := s.ingestProto(body, limits{})
	if err != nil || res.Accepted != 1 {
		t.Fatalf("ingestProto = %+v, %v", res, err)
	}
	tr, _ := s.FindTraces(Query{Service: "a"})
	if len(tr) != 1 || len(tr[0].Processes["p1"].Tags) != 1 {
		t.Errorf("merged resource not stored as the reference does: %+v", tr)
	}

	for _, bad := range [][]byte{{0x0a, 0x05, 0x01}, {0xff}, append(protowire.AppendTag(nil, 1, protowire.BytesType), 0x02, 0xc3, 0x28)} {
		if _, err := s.ingestProto(bad, limits{}); err == nil {
			t.Errorf("ingestProto(%x) accepted a malformed payload", bad)
		}
	}
}

// FuzzDecodeProto checks, on arbitrary bytes, that the fast decoder never
// panics and, whenever protobuf accepts the input and the fast path does
// not give up, stores the same as the reference path.
func FuzzDecodeProto(f *testing.F) {
	for _, b := range wireCorpus(f) {
		if len(b) < 4096 {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		sameAsReference(t, body)
	})
}
