package log_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patron-go/patron/observability/log"
	"github.com/patron-go/patron/observability/observabilitytest"
	"github.com/patron-go/patron/patrontest/testenv"
)

func newBuffered(t *testing.T, w *observabilitytest.LogBuffer, opts ...log.BufferOption) *log.BufferedWriter {
	t.Helper()
	bw, err := log.NewBufferedWriter(w, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bw.Close() })
	return bw
}

func TestBufferedWriterOptions(t *testing.T) {
	var sink observabilitytest.LogBuffer
	for name, opts := range map[string][]log.BufferOption{
		"nil option":     {nil},
		"small buffer":   {log.WithBufferSize(100)},
		"zero interval":  {log.WithFlushInterval(0)},
		"negative delay": {log.WithFlushInterval(-time.Second)},
	} {
		if _, err := log.NewBufferedWriter(&sink, opts...); err == nil || !strings.HasPrefix(err.Error(), "log: ") {
			t.Errorf("%s: error %v, want one prefixed log:", name, err)
		}
	}
	if _, err := log.NewBufferedWriter(nil); err == nil {
		t.Error("nil writer accepted")
	}
}

// TestBufferedFlushOnError: info records wait in the buffer; an error
// record takes them and itself to the writer before the call returns.
func TestBufferedFlushOnError(t *testing.T) {
	var sink observabilitytest.LogBuffer
	bw := newBuffered(t, &sink, log.WithFlushInterval(time.Hour))
	l := log.New(bw, log.FormatJSON, slog.LevelInfo)
	l.Info("first")
	l.With("k", "v").Warn("second")
	if got := sink.String(); got != "" {
		t.Fatalf("written before an error or the interval: %q", got)
	}
	l.WithGroup("g").Error("boom", "n", 1)
	recs := sink.Records(t)
	if len(recs) != 3 || recs[0]["msg"] != "first" || recs[2]["msg"] != "boom" {
		t.Fatalf("records after the error: %v", recs)
	}
	// The text format flushes on errors the same way.
	var text observabilitytest.LogBuffer
	tl := log.New(newBuffered(t, &text, log.WithFlushInterval(time.Hour)), log.FormatText, slog.LevelInfo)
	tl.Info("a")
	tl.Error("b")
	if got := text.String(); !strings.Contains(got, "msg=a") || !strings.Contains(got, "msg=b") {
		t.Fatalf("text after an error: %q", got)
	}
}

// TestBufferedFlushOnInterval: a lone record reaches the writer within the
// interval, with nothing else happening.
func TestBufferedFlushOnInterval(t *testing.T) {
	var sink observabilitytest.LogBuffer
	bw := newBuffered(t, &sink, log.WithFlushInterval(5*time.Millisecond))
	l := log.New(bw, log.FormatJSON, slog.LevelInfo)
	l.Info("lonely")
	sink.WaitRecord(t, 5*time.Second, func(r map[string]any) bool { return r["msg"] == "lonely" })
	// And again after the timer fired once.
	l.Info("again")
	sink.WaitRecord(t, 5*time.Second, func(r map[string]any) bool { return r["msg"] == "again" })
}

// TestBufferedFlushOnClose: Close writes what is buffered, and later writes
// go straight through.
func TestBufferedFlushOnClose(t *testing.T) {
	var sink observabilitytest.LogBuffer
	bw := newBuffered(t, &sink, log.WithFlushInterval(time.Hour))
	l := log.New(bw, log.FormatJSON, slog.LevelInfo)
	l.Info("before close")
	if err := bw.Close(); err != nil {
		t.Fatal(err)
	}
	if recs := sink.Records(t); len(recs) != 1 || recs[0]["msg"] != "before close" {
		t.Fatalf("after Close: %v", recs)
	}
	l.Info("after close")
	if recs := sink.Records(t); len(recs) != 2 || recs[1]["msg"] != "after close" {
		t.Fatalf("a write after Close was not written through: %v", recs)
	}
	if err := bw.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// TestBufferedSetDirect: direct writes go straight through, and buffering
// resumes after SetDirect(false).
func TestBufferedSetDirect(t *testing.T) {
	var sink observabilitytest.LogBuffer
	bw := newBuffered(t, &sink, log.WithFlushInterval(time.Hour))
	l := log.New(bw, log.FormatJSON, slog.LevelInfo)
	l.Info("buffered")
	if err := bw.SetDirect(true); err != nil {
		t.Fatal(err)
	}
	if recs := sink.Records(t); len(recs) != 1 {
		t.Fatalf("SetDirect(true) did not flush: %v", recs)
	}
	l.Info("direct")
	if recs := sink.Records(t); len(recs) != 2 {
		t.Fatalf("a direct write was buffered: %v", recs)
	}
	if err := bw.SetDirect(false); err != nil {
		t.Fatal(err)
	}
	l.Info("buffered again")
	if recs := sink.Records(t); len(recs) != 2 {
		t.Fatalf("a write after SetDirect(false) was not buffered: %v", recs)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	if recs := sink.Records(t); len(recs) != 3 || recs[2]["msg"] != "buffered again" {
		t.Fatalf("after Flush: %v", recs)
	}
}

// TestBufferedConcurrentWriters: many goroutines through small buffers
// (batches hand over all the time): every line arrives whole, none lost,
// each goroutine's in its order.
func TestBufferedConcurrentWriters(t *testing.T) {
	var sink observabilitytest.LogBuffer
	bw := newBuffered(t, &sink, log.WithBufferSize(1024), log.WithFlushInterval(time.Millisecond))
	l := log.New(bw, log.FormatJSON, slog.LevelInfo)
	const writers, each = 8, 300
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range each {
				if i%100 == 99 {
					l.Error("line", "g", g, "i", i)
					continue
				}
				l.Info("line", "g", g, "i", i, "pad", strings.Repeat("x", g*40))
			}
		})
	}
	// A record larger than a buffer, in the middle of it all.
	wg.Go(func() { l.Info("big", "pad", strings.Repeat("y", 3000)) })
	wg.Wait()
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	recs := sink.Records(t)
	if len(recs) != writers*each+1 {
		t.Fatalf("%d records, want %d", len(recs), writers*each+1)
	}
	next := make([]float64, writers)
	for _, r := range recs {
		if r["msg"] == "big" {
			continue
		}
		g := int(r["g"].(float64))
		if r["i"].(float64) != next[g] {
			t.Fatalf("goroutine %d: record %v, want i=%v", g, r["i"], next[g])
		}
		next[g]++
	}
}

// gatedWriter blocks every Write until the gate opens, and says when a
// Write has started.
type gatedWriter struct {
	entered chan struct{}
	gate    chan struct{}
	mu      sync.Mutex
	buf     bytes.Buffer
}

func (g *gatedWriter) Write(p []byte) (int, error) {
	g.entered <- struct{}{}
	<-g.gate
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.buf.Write(p)
}

// TestBufferedFullBlocks: with a batch stuck on its way out and the other
// buffer full, a writer waits instead of dropping its record; every record
// arrives once the writer underneath moves again.
func TestBufferedFullBlocks(t *testing.T) {
	g := &gatedWriter{entered: make(chan struct{}, 16), gate: make(chan struct{})}
	bw, err := log.NewBufferedWriter(g, log.WithBufferSize(1024), log.WithFlushInterval(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	rec := func(c byte) []byte { return append(bytes.Repeat([]byte{c}, 799), '\n') }
	if _, err := bw.Write(rec('a')); err != nil { // buffered
		t.Fatal(err)
	}
	aDone := make(chan struct{})
	go func() {
		defer close(aDone)
		_, _ = bw.Write(rec('b')) // full: hands "a" over and writes it, stuck at the gate
	}()
	<-g.entered
	cDone := make(chan struct{})
	go func() {
		defer close(cDone)
		_, _ = bw.Write(rec('c')) // "b" fills the other buffer: must wait for "a"
	}()
	// c waits for the batch in flight (in takeLocked's lock), or has
	// wrongly returned.
	testenv.WaitFor(t, 5*time.Second, "the third write to wait for the batch in flight", func() bool {
		select {
		case <-cDone:
			return true
		default:
		}
		buf := make([]byte, 1<<20)
		st := buf[:runtime.Stack(buf, true)]
		return bytes.Contains(st, []byte("(*BufferedWriter).takeLocked")) && bytes.Contains(st, []byte("sync.(*Mutex).Lock"))
	})
	select {
	case <-cDone:
		t.Fatal("a write returned while both buffers were full")
	default:
	}
	close(g.gate)
	<-aDone
	<-cDone
	if err := bw.Close(); err != nil {
		t.Fatal(err)
	}
	want := string(rec('a')) + string(rec('b')) + string(rec('c'))
	if got := g.buf.String(); got != want {
		t.Fatalf("written %d bytes in the wrong order or incomplete", len(got))
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk on fire") }

// TestBufferedWriteErrorReported: a failed batch is not silent: Flush says so.
func TestBufferedWriteErrorReported(t *testing.T) {
	bw, err := log.NewBufferedWriter(failingWriter{}, log.WithFlushInterval(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = fmt.Fprintln(bw, "x")
	if err := bw.Flush(); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("Flush error %v", err)
	}
	_ = bw.Close()
}

// BenchmarkBuffered compares a record to a writer through the buffer with
// a record written directly (a write(2) each on a real file descriptor).
func BenchmarkBuffered(b *testing.B) {
	f, err := openDevNull(b)
	if err != nil {
		b.Fatal(err)
	}
	bw, err := log.NewBufferedWriter(f)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = bw.Close() })
	for name, l := range map[string]*slog.Logger{
		"direct":   log.New(f, log.FormatJSON, slog.LevelInfo),
		"buffered": log.New(bw, log.FormatJSON, slog.LevelInfo),
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				l.Info("http request", "method", "GET", "route", "/items/{id}", "status", 200, "duration", 1234*time.Microsecond)
			}
		})
	}
}

func openDevNull(b *testing.B) (*os.File, error) {
	f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err == nil {
		b.Cleanup(func() { _ = f.Close() })
	}
	return f, err
}
