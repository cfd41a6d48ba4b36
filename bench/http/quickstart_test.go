package http

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"
)

// stderrTo points os.Stderr at a real file descriptor for the test (the
// file named by PATRON_BENCH_LOG, /dev/null by default) and returns it,
// so that the quick start's default logger and the reference's slog write
// through write(2) as in production, not into io.Discard.
func stderrTo(tb testing.TB) *os.File {
	path := os.Getenv("PATRON_BENCH_LOG")
	if path == "" {
		path = os.DevNull
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		tb.Fatal(err)
	}
	old := os.Stderr
	os.Stderr = f
	tb.Cleanup(func() {
		os.Stderr = old
		_ = f.Close()
	})
	return f
}

// rawClient sends one request at a time on a kept-alive loopback
// connection and reads the answer with nothing but a bufio.Reader: a few
// hundred nanoseconds, where net/http's client costs as much as the server,
// so that the in-process numbers are mostly the server's.
type rawClient struct {
	conn net.Conn
	r    *bufio.Reader
	req  []byte
	body []byte
}

func dial(tb testing.TB, addr string, header ...string) *rawClient {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	req := "GET /items/42 HTTP/1.1\r\nHost: " + addr + "\r\nUser-Agent: bench/1.0\r\n"
	for i := 0; i+1 < len(header); i += 2 {
		req += header[i] + ": " + header[i+1] + "\r\n"
	}
	return &rawClient{conn: conn, r: bufio.NewReaderSize(conn, 4096), req: []byte(req + "\r\n"), body: make([]byte, 4096)}
}

var contentLength = []byte("content-length:")

// do sends the request and reads the response; it fails on a status other
// than 200 or an answer without Content-Length.
func (c *rawClient) do() error {
	if _, err := c.conn.Write(c.req); err != nil {
		return err
	}
	status, err := c.r.ReadSlice('\n')
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(status, []byte("HTTP/1.1 200 ")) {
		return fmt.Errorf("status line %q", status)
	}
	n := -1
	for {
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		if len(line) > len(contentLength) && bytes.EqualFold(line[:len(contentLength)], contentLength) {
			if n, err = strconv.Atoi(string(bytes.TrimSpace(line[len(contentLength):]))); err != nil {
				return err
			}
		}
	}
	if n < 0 || n > len(c.body) {
		return errors.New("no usable Content-Length")
	}
	_, err = io.ReadFull(c.r, c.body[:n])
	return err
}

// loopbackStacks starts, on loopback listeners: bare net/http, the quick
// start sampled and unsampled, and the hand-rolled otelhttp + Prometheus
// + slog stack, all logging to the real file descriptor of stderrTo.
func loopbackStacks(b *testing.B) map[string]string {
	logFile := stderrTo(b)
	addrs := map[string]string{}
	serve := func(name string, h http.Handler) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		b.Cleanup(func() { _ = srv.Close() })
		addrs[name] = ln.Addr().String()
	}
	serve("bare", Bare())
	ref, err := Reference(true, logFile)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(ref.Close)
	serve("reference", ref.Handler)
	for name, sampled := range map[string]bool{"quickstart": true, "quickstart_unsampled": false} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		q, err := StartQuickStart(ln, sampled)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			if err := q.Stop(); err != nil {
				b.Error(err)
			}
		})
		addrs[name] = q.Addr
	}
	return addrs
}

// BenchmarkQuickStart serves the quick-start path over loopback TCP, in
// process, one request at a time, next to bare net/http and the
// hand-rolled stack. Compare cpu-ns/op between rows of one run.
func BenchmarkQuickStart(b *testing.B) {
	addrs := loopbackStacks(b)
	gzip := []string{"Accept-Encoding", "gzip"}
	for _, c := range []struct {
		name, stack string
		header      []string
	}{
		{"bare", "bare", nil},
		{"quickstart", "quickstart", nil},
		{"quickstart_unsampled", "quickstart_unsampled", nil},
		{"bare_gzip", "bare", gzip},
		{"quickstart_gzip", "quickstart", gzip},
		{"reference_otelhttp", "reference", nil},
	} {
		b.Run(c.name, func(b *testing.B) {
			cl := dial(b, addrs[c.stack], c.header...)
			if err := cl.do(); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			cpu0 := cpuTime()
			n := 0
			for b.Loop() {
				if err := cl.do(); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(n), "cpu-ns/op")
		})
	}
}

// BenchmarkQuickStartInterleaved sends one request to each stack per
// iteration, in a rotating order, and times each, so that a shared
// machine's load hits every stack alike. It reports each stack's mean
// wall time per request (client and server share the process: run it
// with -cpu 1) and bare's time over the stack's, which is the throughput
// ratio one core gives.
func BenchmarkQuickStartInterleaved(b *testing.B) {
	addrs := loopbackStacks(b)
	gzip := []string{"Accept-Encoding", "gzip"}
	names := []string{"bare", "quickstart", "quickstart_unsampled", "bare_gzip", "quickstart_gzip", "reference"}
	clients := []*rawClient{
		dial(b, addrs["bare"]), dial(b, addrs["quickstart"]), dial(b, addrs["quickstart_unsampled"]),
		dial(b, addrs["bare"], gzip...), dial(b, addrs["quickstart"], gzip...), dial(b, addrs["reference"]),
	}
	for _, c := range clients {
		if err := c.do(); err != nil {
			b.Fatal(err)
		}
	}
	total := make([]time.Duration, len(clients))
	n := 0
	for b.Loop() {
		for k := range clients {
			i := (n + k) % len(clients)
			start := time.Now()
			if err := clients[i].do(); err != nil {
				b.Fatal(err)
			}
			total[i] += time.Since(start)
		}
		n++
	}
	per := func(i int) float64 { return float64(total[i].Nanoseconds()) / float64(n) }
	for i, name := range names {
		b.ReportMetric(per(i), name+"-ns/req")
	}
	b.ReportMetric(per(0)/per(1), "quickstart/bare")
	b.ReportMetric(per(0)/per(2), "unsampled/bare")
	b.ReportMetric(per(3)/per(4), "gzip/bare_gzip")
	b.ReportMetric(per(0)/per(5), "reference/bare")
}
