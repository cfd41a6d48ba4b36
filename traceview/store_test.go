package traceview

import (
	"encoding/hex"
	"errors"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

func newTestStore(t testing.TB, maxSpans int) *Store {
	t.Helper()
	s, err := NewStore(maxSpans)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func oneSpan(service string, trace, span, parent uint64, start time.Time, d time.Duration, attrs ...*commonpb.KeyValue) []*tracepb.ResourceSpans {
	sp := &tracepb.Span{TraceId: tid(trace), SpanId: sid(span), Name: service + "-op",
		StartTimeUnixNano: uint64(start.UnixNano()), EndTimeUnixNano: uint64(start.Add(d).UnixNano()), Attributes: attrs}
	if parent != 0 {
		sp.ParentSpanId = sid(parent)
	}
	return []*tracepb.ResourceSpans{{
		Resource:   &resourcepb.Resource{Attributes: []*commonpb.KeyValue{kv("service.name", service)}},
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{sp}}},
	}}
}

func TestNewStoreRejectsBadMax(t *testing.T) {
	for _, n := range []int{0, -1} {
		if _, err := NewStore(n); err == nil {
			t.Errorf("NewStore(%d) succeeded", n)
		}
	}
}

// Spans of one trace from three services, arriving children first in
// separate exports, become one trace.
func TestStoreAssemblesTraceAcrossServicesAnyOrder(t *testing.T) {
	s := newTestStore(t, 100)
	t0 := time.Unix(1_700_000_000, 0)
	s.Ingest(oneSpan("db", 1, 3, 2, t0.Add(2*time.Millisecond), time.Millisecond))
	s.Ingest(oneSpan("api", 1, 2, 1, t0.Add(time.Millisecond), 5*time.Millisecond))
	s.Ingest(oneSpan("web", 1, 1, 0, t0, 10*time.Millisecond))

	tr, ok := s.Trace(hex.EncodeToString(tid(1)))
	if !ok {
		t.Fatal("trace not found")
	}
	if len(tr.Spans) != 3 || len(tr.Processes) != 3 || s.TraceCount() != 1 {
		t.Fatalf("trace has %d spans, %d processes; store has %d traces", len(tr.Spans), len(tr.Processes), s.TraceCount())
	}
	// Sorted by start time: web, api, db.
	var order []string
	for _, sp := range tr.Spans {
		order = append(order, tr.Processes[sp.ProcessID].ServiceName)
	}
	if !slices.Equal(order, []string{"web", "api", "db"}) {
		t.Errorf("span order %v", order)
	}
	deps := s.Dependencies(time.Time{}, 0)
	want := []Dependency{{"api", "db", 1}, {"web", "api", 1}}
	if !slices.Equal(deps, want) {
		t.Errorf("dependencies %v, want %v", deps, want)
	}
}

func TestStoreQueries(t *testing.T) {
	s := newTestStore(t, 10_000)
	t0 := time.Unix(1_700_000_000, 0)
	s.Ingest(oneSpan("a", 1, 1, 0, t0, 10*time.Millisecond, kvInt("http.response.status_code", 200), kv("region", "eu")))
	s.Ingest(oneSpan("a", 2, 2, 0, t0.Add(time.Second), 2*time.Second, kvInt("http.response.status_code", 500),
		&commonpb.KeyValue{Key: "cached", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: true}}}))
	s.Ingest(oneSpan("b", 3, 3, 0, t0.Add(2*time.Second), time.Millisecond))

	ids := func(q Query) []string {
		t.Helper()
		got, err := s.FindTraces(q)
		if err != nil {
			t.Fatalf("FindTraces(%+v): %v", q, err)
		}
		var out []string
		for _, tr := range got {
			out = append(out, tr.TraceID[31:])
		}
		return out
	}
	cases := []struct {
		name string
		q    Query
		want []string
	}{
		{"service", Query{Service: "a"}, []string{"2", "1"}},
		{"no service", Query{}, []string{"3", "2", "1"}},
		{"operation", Query{Service: "b", Operation: "b-op"}, []string{"3"}},
		{"unknown operation", Query{Service: "a", Operation: "nope"}, nil},
		{"unknown service", Query{Service: "zzz"}, nil},
		{"int tag", Query{Service: "a", Tags: map[string]string{"http.response.status_code": "500"}}, []string{"2"}},
		{"bool tag", Query{Tags: map[string]string{"cached": "true"}}, []string{"2"}},
		{"two tags", Query{Tags: map[string]string{"http.response.status_code": "200", "region": "eu"}}, []string{"1"}},
		{"tag mismatch", Query{Tags: map[string]string{"http.response.status_code": "200", "region": "us"}}, nil},
		{"resource tag", Query{Tags: map[string]string{"service.name": "b"}}, nil}, // the service is not a tag
		{"min duration", Query{MinDuration: time.Second}, []string{"2"}},
		{"max duration", Query{MaxDuration: 5 * time.Millisecond}, []string{"3"}},
		{"time range", Query{Start: t0.Add(500 * time.Millisecond), End: t0.Add(1500 * time.Millisecond)}, []string{"2"}},
		{"limit", Query{Limit: 1}, []string{"3"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := ids(c.q); !slices.Equal(got, c.want) {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
	for _, bad := range []Query{{Limit: -1}, {MinDuration: 2 * time.Second, MaxDuration: time.Second}, {Start: t0, End: t0.Add(-time.Second)}} {
		if _, err := s.FindTraces(bad); !errors.Is(err, ErrInvalidQuery) {
			t.Errorf("FindTraces(%+v) error %v, want ErrInvalidQuery", bad, err)
		}
	}
	if ops := s.Operations("a", ""); len(ops) != 1 || ops[0].Name != "a-op" {
		t.Errorf("operations of a: %v", ops)
	}
}

// The store floods with far more spans than it may hold: it evicts the
// oldest traces, keeps its span count at most the maximum, and its heap stays
// near the size of what it holds rather than what it has seen.
func TestStoreStaysBounded(t *testing.T) {
	const maxSpans = 10_000
	s := newTestStore(t, maxSpans)
	services := []string{"web", "api", "db", "cache"}

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	const perBatch, spansPerTrace = 100, 10
	total := 0
	for batch := range 150 { // 150,000 spans: 15x the maximum
		s.Ingest(synthRequest(batch*perBatch, perBatch, spansPerTrace, services))
		total += perBatch * spansPerTrace
		if n := s.SpanCount(); n > maxSpans {
			t.Fatalf("after %d spans the store holds %d, max %d", total, n, maxSpans)
		}
	}
	if n := s.SpanCount(); n < maxSpans-spansPerTrace {
		t.Errorf("store holds %d spans, want close to %d", n, maxSpans)
	}
	// Oldest first: the first trace is gone, the last one is there.
	if _, ok := s.Trace(hex.EncodeToString(tid(0))); ok {
		t.Error("the oldest trace survived")
	}
	if _, ok := s.Trace(hex.EncodeToString(tid(uint64(150*perBatch - 1)))); !ok {
		t.Error("the newest trace was evicted")
	}
	// Indexes shrink with the data.
	s.mu.RLock()
	entries := 0
	for i := range s.tags {
		entries += s.tags[i].size()
	}
	for _, svc := range s.services {
		entries += svc.post.size()
	}
	for _, p := range s.ops {
		entries += p.size()
	}
	s.mu.RUnlock()
	// A span has about ten attributes (its own, derived and resource ones).
	if limit := 2 * 12 * maxSpans; entries > limit {
		t.Errorf("indexes hold %d entries for %d spans, want at most %d", entries, maxSpans, limit)
	}

	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("heap grew by %.1f MiB for %d stored spans after seeing %d", float64(grown)/(1<<20), s.SpanCount(), total)
	// About 1 KiB a span for what the store holds (spans, attributes,
	// indexes, interned strings), plus the fixed tag index; far below what
	// 300,000 spans would take.
	if limit := int64(maxSpans)*1024*2 + 8<<20; grown > limit {
		t.Errorf("heap grew by %d bytes, want at most %d", grown, limit)
	}
	runtime.KeepAlive(s)
}

// Readers and writers at once, for the race detector.
func TestStoreConcurrentUse(t *testing.T) {
	s := newTestStore(t, 5_000)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 50 {
				s.Ingest(synthRequest(w*10_000+i*10, 10, 5, []string{"a", "b"}))
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			for range 50 {
				if _, err := s.FindTraces(Query{Service: "a", Tags: map[string]string{"http.request.method": "GET"}, Limit: 20}); err != nil {
					t.Error(err)
					return
				}
				s.Services()
				s.Operations("b", "")
				s.Dependencies(time.Time{}, 0)
			}
		})
	}
	wg.Wait()
	if n := s.SpanCount(); n > 5_000 {
		t.Errorf("span count %d above max", n)
	}
}

func TestIngestRejectsInvalidIDs(t *testing.T) {
	s := newTestStore(t, 100)
	rss := oneSpan("a", 1, 1, 0, time.Unix(1, 0), time.Second)
	ss := rss[0].ScopeSpans[0]
	ss.Spans = append(ss.Spans,
		&tracepb.Span{TraceId: []byte{1, 2}, SpanId: sid(5)},
		&tracepb.Span{TraceId: make([]byte, 16), SpanId: sid(6)},
		&tracepb.Span{TraceId: tid(1), SpanId: nil})
	res := s.Ingest(rss)
	if res.Accepted != 1 || res.Rejected != 3 || res.Reason == "" {
		t.Errorf("ingest result %+v, want 1 accepted and 3 rejected", res)
	}
}

func TestParseTraceID(t *testing.T) {
	for in, ok := range map[string]bool{
		"0000000000000abc0000000000000001":  true,
		"abc0000000000000001":               true, // shorter, left-padded
		"1":                                 true,
		"":                                  false,
		"0":                                 false, // all zero
		"xyz":                               false,
		"0000000000000abc00000000000000011": false, // 33 digits
	} {
		if _, got := parseTraceID(in); got != ok {
			t.Errorf("parseTraceID(%q) ok = %v, want %v", in, got, ok)
		}
	}
}
