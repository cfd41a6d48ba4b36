package http

import (
	"io"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"

	patronhttp "github.com/patron-go/patron/component/http"
)

// discardWriter is the cheapest ResponseWriter, so that the benchmarks
// measure the handlers and not the recorder.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(s int)           { w.status = s }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) Flush()                      {}

func (w *discardWriter) WriteString(s string) (int, error) { return len(s), nil }

func run(b *testing.B, h http.Handler, hdr ...string) {
	req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8080/items/42", nil)
	req.RemoteAddr = "127.0.0.1:40000"
	req.Header.Set("User-Agent", "bench/1.0")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	cpu0 := cpuTime()
	n := 0
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, req)
		n++
	}
	// The machine is shared: wall time per op swings with the neighbours'
	// load, the CPU this process spent per op much less.
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(n), "cpu-ns/op")
	if w.status != 0 && w.status != http.StatusOK {
		b.Fatalf("status %d", w.status)
	}
}

// BenchmarkChain compares bare net/http with the full default chain on the
// same handler, in one run: the difference is the chain's cost per request.
func BenchmarkChain(b *testing.B) {
	full, err := Full(true, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	defer full.Close()
	unsampled, err := Full(false, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	defer unsampled.Close()
	noLog, err := Full(true, io.Discard, patronhttp.WithoutAccessLog())
	if err != nil {
		b.Fatal(err)
	}
	defer noLog.Close()
	ref, err := Reference(true, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	defer ref.Close()
	own, err := OwnMux(io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	defer own.Close()
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

	b.Run("bare", func(b *testing.B) { run(b, Bare()) })
	b.Run("full", func(b *testing.B) { run(b, full.Handler) })
	b.Run("full_remote_parent", func(b *testing.B) { run(b, full.Handler, "Traceparent", parent) })
	b.Run("full_correlation_id", func(b *testing.B) { run(b, full.Handler, "X-Correlation-Id", "req-123") })
	b.Run("bare_gzip_small", func(b *testing.B) { run(b, Bare(), "Accept-Encoding", "gzip, deflate, br") })
	b.Run("full_gzip_small", func(b *testing.B) { run(b, full.Handler, "Accept-Encoding", "gzip, deflate, br") })
	b.Run("unsampled", func(b *testing.B) { run(b, unsampled.Handler) })
	b.Run("full_without_access_log", func(b *testing.B) { run(b, noLog.Handler) })
	b.Run("reference_otelhttp", func(b *testing.B) { run(b, ref.Handler) })
	b.Run("middleware_own_mux", func(b *testing.B) { run(b, own.Handler) })
}

// cpuTime is the user and system CPU time of the process, in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
