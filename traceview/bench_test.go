package traceview

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
)

// BenchmarkIngest measures the OTLP/HTTP path end to end: protobuf decoding,
// conversion, indexing and eviction, with batches of 512 spans as the SDK's
// batch processor sends them, into a store at its default capacity, from as
// many goroutines as there are cores.
//
// Side by side in one run:
//   - http: the receiver as it is (the fast wire decoder, see wire.go);
//   - http/reference: the same handler work with the reference decoding,
//     proto.Unmarshal into the generated types and then convert (what the
//     receiver did before the fast path);
//   - baseline/proto.Unmarshal: decoding alone into the generated types,
//     storing nothing: the bare cost any Go OTLP receiver pays.
//
// spans/cpu-s is the figure that does not depend on what else the machine
// runs; times the cores it is the capacity of an idle machine. spans/s is
// wall time, and on a shared machine it moves with the load. Results are
// in BENCHMARKS.md.
func BenchmarkIngest(b *testing.B) {
	const perBatch, spansPerTrace, batches = 512, 8, 450 // > DefaultMaxSpans in all
	bodies := make([][]byte, batches)
	for i := range bodies {
		req := &coltracepb.ExportTraceServiceRequest{
			ResourceSpans: synthRequest(i*perBatch/spansPerTrace, perBatch/spansPerTrace, spansPerTrace, []string{"web", "api", "db", "cache"}),
		}
		var err error
		if bodies[i], err = proto.Marshal(req); err != nil {
			b.Fatal(err)
		}
	}
	run := func(b *testing.B, ingest func(body []byte) error) {
		b.ReportAllocs()
		runtime.GC()
		b.ResetTimer()
		start, cpu0 := time.Now(), cpuTime(b)
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if err := ingest(bodies[i%batches]); err != nil {
					b.Error(err)
					return
				}
				i += 7
			}
		})
		n := float64(b.N * perBatch)
		b.ReportMetric(n/time.Since(start).Seconds(), "spans/s")
		b.ReportMetric(n/(cpuTime(b)-cpu0).Seconds(), "spans/cpu-s")
		b.ReportMetric(0, "ns/op") // per batch of 512: the rates above are what matter
	}
	handler := func(b *testing.B, reference bool) func([]byte) error {
		s, err := NewStore(DefaultMaxSpans)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			if s.SpanCount() > DefaultMaxSpans {
				b.Errorf("store over capacity: %d", s.SpanCount())
			}
		})
		h := &otlpHTTP{store: s, log: slog.New(slog.DiscardHandler), maxBody: DefaultMaxBodyBytes}
		return func(body []byte) error {
			req := httptest.NewRequest(http.MethodPost, "/v1/traces", bytes.NewReader(body))
			req.Header.Set("Content-Type", contentProtobuf)
			rec := httptest.NewRecorder()
			if reference {
				// What ServeHTTP did before the fast path.
				buf, _, err := h.readBody(rec, req)
				if err != nil {
					return err
				}
				r, err := decodeOTLPProto(buf.Bytes())
				if err != nil {
					return err
				}
				writeOTLP(rec, contentProtobuf, http.StatusOK, exportResponse(s.Ingest(r.GetResourceSpans())))
				h.putBuf(buf)
			} else {
				h.ServeHTTP(rec, req)
			}
			if rec.Code != http.StatusOK {
				return fmt.Errorf("status %d", rec.Code)
			}
			return nil
		}
	}
	b.Run("http", func(b *testing.B) { run(b, handler(b, false)) })
	b.Run("http/reference", func(b *testing.B) { run(b, handler(b, true)) })
	b.Run("baseline/proto.Unmarshal", func(b *testing.B) {
		run(b, func(body []byte) error { _, err := decodeOTLPProto(body); return err })
	})
}

// BenchmarkQuery measures searches against 100,000 stored spans.
func BenchmarkQuery(b *testing.B) {
	s, err := NewStore(DefaultMaxSpans)
	if err != nil {
		b.Fatal(err)
	}
	const traces, spansPerTrace = 10_000, 10
	for i := 0; i < traces; i += 500 {
		s.Ingest(synthRequest(i, 500, spansPerTrace, []string{"web", "api", "db", "cache"}))
	}
	if s.SpanCount() != traces*spansPerTrace {
		b.Fatalf("stored %d spans", s.SpanCount())
	}
	queries := []struct {
		name string
		q    Query
	}{
		{"service", Query{Service: "api", Limit: 20}},
		{"service+operation", Query{Service: "api", Operation: "op-5", Limit: 20}},
		{"tag/selective", Query{Service: "web", Tags: map[string]string{"user.id": "u7"}, Limit: 20}},
		{"tag/common", Query{Service: "web", Tags: map[string]string{"http.request.method": "GET"}, Limit: 100}},
		{"minDuration", Query{Service: "db", MinDuration: 95 * time.Millisecond, Limit: 20}},
		{"no match (full scan)", Query{Service: "web", Tags: map[string]string{"http.request.method": "DELETE"}, Limit: 20}},
		{"limit 1500", Query{Service: "web", Limit: 1500}},
	}
	for _, q := range queries {
		b.Run(q.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu0 := cpuTime(b)
			for b.Loop() {
				if _, err := s.FindTraces(q.q); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N)/1000, "cpu-ms/op")
		})
	}
	b.Run("dependencies", func(b *testing.B) {
		for b.Loop() {
			s.Dependencies(time.Time{}, 0)
		}
	})
	b.Run("services+operations", func(b *testing.B) {
		for b.Loop() {
			s.Services()
			s.Operations("web", "")
		}
	})
	ui, err := newUIHandler(stores{spans: s}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("http/api/traces", func(b *testing.B) {
		for b.Loop() {
			rec := httptest.NewRecorder()
			ui.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/traces?service=api&limit=20&lookback=100000h", nil))
			if rec.Code != 200 {
				b.Fatal(rec.Code)
			}
		}
	})
}

// cpuTime is the user and system CPU time of this process so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
