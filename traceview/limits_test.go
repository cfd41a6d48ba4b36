package traceview

import (
	"bytes"
	"net/http"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	_ "google.golang.org/grpc/encoding/gzip" // the client compresses as SDK exporters do
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// peakHeapBound is what one refused amplification request may add to the
// viewer's heap at its peak. The body itself is 16 MiB, and the receivers
// hold it (HTTP: a buffer grown by doubling; gRPC: the decompressed message
// and its copy) while deciding; before the limits the same requests took
// 1.3 GB and more.
const peakHeapBound = 100 << 20

// amplification builds an ExportTraceServiceRequest of n empty spans, two
// bytes each on the wire: 16 MB of it is 8 million spans, and gzip turns it
// into about 16 KB. trailer is appended after the spans, inside the
// ScopeSpans (a malformed byte there sends the decoder down its fallback).
func amplification(n int, trailer []byte) []byte {
	spans := bytes.Repeat([]byte{0x12, 0x00}, n) // ScopeSpans.spans (2), length 0
	spans = append(spans, trailer...)
	ss := protowire.AppendTag(nil, fResourceSpansScopeSpans, protowire.BytesType)
	ss = protowire.AppendBytes(ss, spans)
	rs := protowire.AppendTag(nil, fRequestResourceSpans, protowire.BytesType)
	return protowire.AppendBytes(rs, ss)
}

// amplificationSpans is how many empty spans fit in the default body limit
// with the framing.
const amplificationSpans = (DefaultMaxBodyBytes - 32) / 2

// peakHeap runs f and returns by how much the heap grew at its peak,
// sampling the runtime's heap statistics while f runs.
func peakHeap(t *testing.T, f func()) uint64 {
	t.Helper()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	runtime.GC()
	base := read()
	var (
		peak uint64
		wg   sync.WaitGroup
		done = make(chan struct{})
	)
	wg.Go(func() {
		tick := time.NewTicker(200 * time.Microsecond)
		defer tick.Stop()
		for {
			peak = max(peak, read())
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	f()
	close(done)
	wg.Wait()
	peak = max(peak, read())
	if peak < base {
		return 0
	}
	return peak - base
}

func TestAmplificationRefusedOverHTTP(t *testing.T) {
	v, addrs := startViewer(t)
	cases := []struct {
		name, ct string
		body     []byte
	}{
		{"protobuf", contentProtobuf, amplification(amplificationSpans, nil)},
		// A malformed byte after the spans: the fast decoder gives up, and
		// the reference path must not decode 8M spans to find out.
		{"protobuf fallback", contentProtobuf, amplification(amplificationSpans-8, []byte{0xff})},
		{"json", contentJSON, []byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{}` +
			strings.Repeat(",{}", (DefaultMaxBodyBytes-64)/3) + `]}]}]}`)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := gz(c.body)
			t.Logf("%d bytes, %d gzip", len(c.body), len(body))
			var code int
			grew := peakHeap(t, func() {
				req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+addrs.OTLPHTTP+"/v1/traces", bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", c.ct)
				req.Header.Set("Content-Encoding", "gzip")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				code = resp.StatusCode
			})
			t.Logf("peak heap growth %.1f MiB", float64(grew)/(1<<20))
			if code != http.StatusRequestEntityTooLarge {
				t.Errorf("status %d, want 413", code)
			}
			if grew > peakHeapBound {
				t.Errorf("peak heap grew by %d MiB, bound %d MiB", grew>>20, peakHeapBound>>20)
			}
		})
	}
	if n := v.Store().SpanCount(); n != 0 {
		t.Errorf("refused requests stored %d spans", n)
	}
}

func TestAmplificationRefusedOverGRPC(t *testing.T) {
	v, addrs := startViewer(t)
	conn, err := grpc.NewClient(addrs.OTLPGRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for name, body := range map[string][]byte{
		"fast":     amplification(amplificationSpans, nil),
		"fallback": amplification(amplificationSpans-8, []byte{0xff}),
	} {
		t.Run(name, func(t *testing.T) {
			var err error
			grew := peakHeap(t, func() {
				var out []byte
				err = conn.Invoke(t.Context(), coltracepb.TraceService_Export_FullMethodName, &body, &out,
					grpc.ForceCodecV2(rawBytesCodec{}), grpc.UseCompressor("gzip"))
			})
			t.Logf("peak heap growth %.1f MiB", float64(grew)/(1<<20))
			if status.Code(err) != codes.ResourceExhausted {
				t.Errorf("export: %v, want ResourceExhausted", err)
			}
			if grew > peakHeapBound {
				t.Errorf("peak heap grew by %d MiB, bound %d MiB", grew>>20, peakHeapBound>>20)
			}
		})
	}
	if n := v.Store().SpanCount(); n != 0 {
		t.Errorf("refused requests stored %d spans", n)
	}
}

// One span with millions of empty attributes is within the span cap but
// over the attribute cap.
func TestAttributeBytesCapped(t *testing.T) {
	h, s := newTestOTLPHandler(t, DefaultMaxBodyBytes)
	var sp []byte
	sp = protowire.AppendTag(sp, fSpanTraceID, protowire.BytesType)
	sp = protowire.AppendBytes(sp, tid(1))
	sp = protowire.AppendTag(sp, fSpanSpanID, protowire.BytesType)
	sp = protowire.AppendBytes(sp, sid(1))
	for _, field := range []protowire.Number{fSpanAttributes, fSpanEvents} {
		t.Run(strconv.Itoa(int(field)), func(t *testing.T) {
			one := append(protowire.AppendTag(nil, field, protowire.BytesType), 0)
			spanBytes := append(sp[:len(sp):len(sp)], bytes.Repeat(one, 2<<20)...)
			ss := protowire.AppendBytes(protowire.AppendTag(nil, fScopeSpansSpans, protowire.BytesType), spanBytes)
			rs := protowire.AppendBytes(protowire.AppendTag(nil, fResourceSpansScopeSpans, protowire.BytesType), ss)
			body := protowire.AppendBytes(protowire.AppendTag(nil, fRequestResourceSpans, protowire.BytesType), rs)
			var code int
			grew := peakHeap(t, func() { code = post(h, contentProtobuf, "", body).Code })
			t.Logf("peak heap growth %.1f MiB", float64(grew)/(1<<20))
			if code != http.StatusRequestEntityTooLarge {
				t.Errorf("status %d, want 413", code)
			}
			if grew > peakHeapBound {
				t.Errorf("peak heap grew by %d MiB, bound %d MiB", grew>>20, peakHeapBound>>20)
			}
		})
	}
	if s.SpanCount() != 0 {
		t.Errorf("stored %d spans", s.SpanCount())
	}
}

// Requests under the caps are taken whole; a cap of 10 spans refuses 11.
func TestExportItemCap(t *testing.T) {
	_, addrs := startViewer(t, WithMaxExportItems(10))
	conn, err := grpc.NewClient(addrs.OTLPGRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := coltracepb.NewTraceServiceClient(conn)
	if _, err := client.Export(t.Context(), &coltracepb.ExportTraceServiceRequest{ResourceSpans: synthRequest(0, 2, 5, []string{"a"})}); err != nil {
		t.Fatalf("10 spans: %v", err)
	}
	_, err = client.Export(t.Context(), &coltracepb.ExportTraceServiceRequest{ResourceSpans: synthRequest(10, 1, 11, []string{"a"})})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("11 spans: %v, want ResourceExhausted", err)
	}
}

// Spans with large attribute values fill the store by bytes long before
// they reach its span count, and the oldest traces go first.
func TestStoreBoundedByBytes(t *testing.T) {
	const maxBytes = 8 << 20
	s, err := NewStore(DefaultMaxSpans, WithStoreMaxBytes(maxBytes))
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 64<<10)
	t0 := time.Unix(1_700_000_000, 0)
	var heapBefore, heapAfter runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&heapBefore)
	for i := range 1000 { // 64 MB of attribute values in all
		s.Ingest(oneSpan("big", uint64(i+1), uint64(i+1), 0, t0.Add(time.Duration(i)*time.Millisecond), time.Millisecond,
			kv("payload", big+string(rune('a'+i%26)))))
		if b := s.Bytes(); b > maxBytes {
			t.Fatalf("after %d spans the store holds %d bytes, bound %d", i+1, b, maxBytes)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&heapAfter)
	if grew := int64(heapAfter.HeapAlloc) - int64(heapBefore.HeapAlloc); grew > 2*maxBytes {
		t.Errorf("live heap grew by %d MiB for a store bounded at %d MiB", grew>>20, maxBytes>>20)
	}
	n := s.SpanCount()
	if n == 0 || n > maxBytes/(64<<10) {
		t.Errorf("store holds %d spans", n)
	}
	if _, ok := s.Trace(hexTID(1)); ok {
		t.Error("the oldest trace survived")
	}
	if _, ok := s.Trace(hexTID(1000)); !ok {
		t.Error("the newest trace was evicted")
	}
	if _, err := NewStore(1, WithStoreMaxBytes(0)); err == nil {
		t.Error("NewStore accepted a zero byte bound")
	}
	if _, err := NewStore(1, nil); err == nil {
		t.Error("NewStore accepted a nil option")
	}
}

func hexTID(n uint64) string { return traceID(tid(n)).String() }

// An SDK batch is far inside the caps, so the check costs no refusals.
func TestLimitsCheckCountsItems(t *testing.T) {
	req := &coltracepb.ExportTraceServiceRequest{ResourceSpans: synthRequest(0, 64, 8, []string{"a", "b"})}
	req.ResourceSpans[0].ScopeSpans[0].Spans[0].Events = []*tracepb.Span_Event{{Name: "e", Attributes: []*commonpb.KeyValue{kv("k", "v")}}}
	body, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	if err := (limits{}).check(body, kTraceRequest); err != nil {
		t.Fatalf("default limits refused 512 spans: %v", err)
	}
	if err := (limits{maxItems: 511}).check(body, kTraceRequest); err == nil {
		t.Fatal("a cap of 511 took 512 spans")
	}
	if err := (limits{maxCost: 1000}).check(body, kTraceRequest); err == nil {
		t.Fatal("a 1000-byte attribute cap took 512 spans")
	}
}

// The logs and metrics receivers have the same caps: 8 million empty log
// records or gauge points in 16 MB are refused over HTTP and gRPC.
func TestAmplificationRefusedForLogsAndMetrics(t *testing.T) {
	v, addrs := startViewer(t)
	// ExportLogsServiceRequest has the shape of the traces request: field 1,
	// then 2, then 2 for each record.
	logsBody := amplification(amplificationSpans, nil)
	points := bytes.Repeat([]byte{0x0a, 0x00}, amplificationSpans-16) // Gauge.data_points (1)
	gauge := protowire.AppendBytes(protowire.AppendTag(nil, 5, protowire.BytesType), points)
	metric := protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), gauge) // ScopeMetrics.metrics
	rm := protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), metric)    // ResourceMetrics.scope_metrics
	metricsBody := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), rm)

	conn, err := grpc.NewClient(addrs.OTLPGRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, c := range []struct {
		path, method string
		body         []byte
	}{
		{"/v1/logs", "/opentelemetry.proto.collector.logs.v1.LogsService/Export", logsBody},
		{"/v1/metrics", "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export", metricsBody},
	} {
		t.Run(c.path, func(t *testing.T) {
			gzBody := gz(c.body)
			var code int
			grew := peakHeap(t, func() {
				req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+addrs.OTLPHTTP+c.path, bytes.NewReader(gzBody))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", contentProtobuf)
				req.Header.Set("Content-Encoding", "gzip")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				code = resp.StatusCode
			})
			t.Logf("HTTP: peak heap growth %.1f MiB", float64(grew)/(1<<20))
			if code != http.StatusRequestEntityTooLarge || grew > peakHeapBound {
				t.Errorf("HTTP: status %d (want 413), heap grew %d MiB (bound %d)", code, grew>>20, peakHeapBound>>20)
			}
			var gerr error
			grew = peakHeap(t, func() {
				var out []byte
				gerr = conn.Invoke(t.Context(), c.method, &c.body, &out, grpc.ForceCodecV2(rawBytesCodec{}), grpc.UseCompressor("gzip"))
			})
			t.Logf("gRPC: peak heap growth %.1f MiB", float64(grew)/(1<<20))
			if status.Code(gerr) != codes.ResourceExhausted || grew > peakHeapBound {
				t.Errorf("gRPC: %v (want ResourceExhausted), heap grew %d MiB (bound %d)", gerr, grew>>20, peakHeapBound>>20)
			}
		})
	}
	if v.Logs().Len() != 0 || v.Metrics().Len() != 0 {
		t.Errorf("refused requests stored %d records, %d points", v.Logs().Len(), v.Metrics().Len())
	}
}
