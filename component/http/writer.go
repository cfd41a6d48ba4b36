package http

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

type compState uint8

const (
	// stPassthrough: the client accepts no encoding we offer; every call
	// goes straight to the underlying writer.
	stPassthrough compState = iota
	// stUndecided: the body is buffered until it reaches the threshold
	// or the handler ends, flushes or hijacks.
	stUndecided
	stIdentity
	stCompressing
)

// responseWriter is the one wrapper the default chain puts around the
// server's writer. It records status and size for telemetry, compresses
// when it pays, and keeps Flusher, Hijacker and Unwrap so that SSE,
// streaming and protocol upgrades (and http.ResponseController) work
// through the chain. It also carries the per-request state of the chain, so
// a request costs one pooled object instead of a closure per middleware.
type responseWriter struct {
	w     http.ResponseWriter
	srv   *server
	route *routeState
	span  trace.Span
	req   *http.Request
	start time.Time

	status      int
	bytes       int64 // body bytes as sent (compressed size when compressing)
	wroteHeader bool  // the status went downstream
	headerSet   bool  // the handler chose a status
	hijacked    bool
	isHead      bool
	method      methodID

	accept contentEncoding
	enc    contentEncoding
	state  compState
	cw     compressor
	buf    []byte
	wire   wireWriter
	body   countingBody

	// attrs is the span's attribute buffer, kept across requests: a
	// zeroed array in the struct would make every reset clear a kilobyte.
	attrs []attribute.KeyValue
}

// wireWriter counts what the compressor writes downstream.
type wireWriter struct{ rw *responseWriter }

func (ww *wireWriter) Write(p []byte) (int, error) {
	n, err := ww.rw.w.Write(p)
	ww.rw.bytes += int64(n)
	return n, err
}

// countingBody counts request bodies of unknown length (chunked), so the
// request body size metric is right without reading anything twice.
type countingBody struct {
	io.ReadCloser
	n int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}

func (rw *responseWriter) reset() {
	*rw = responseWriter{buf: rw.buf[:0], srv: rw.srv, attrs: rw.attrs[:0]}
	rw.wire.rw = rw
}

// Header returns the underlying header map.
func (rw *responseWriter) Header() http.Header { return rw.w.Header() }

// Unwrap lets http.ResponseController reach the server's writer.
func (rw *responseWriter) Unwrap() http.ResponseWriter { return rw.w }

// WriteHeader records the status; while compression is undecided it holds
// the status back, so that Content-Encoding can still be set.
func (rw *responseWriter) WriteHeader(code int) {
	if rw.headerSet || rw.hijacked {
		return
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		// Informational responses (103 Early Hints) go out at once and
		// do not count as the final status.
		rw.w.WriteHeader(code)
		return
	}
	rw.status, rw.headerSet = code, true
	if rw.state == stPassthrough || rw.state == stIdentity {
		rw.w.WriteHeader(code)
		rw.wroteHeader = true
		return
	}
	if !rw.mayCompress() {
		rw.commitIdentity()
	}
}

// mayCompress tells from the status and headers alone whether this
// response can be compressed; the size decides later.
func (rw *responseWriter) mayCompress() bool {
	if rw.isHead || rw.status < 200 || rw.status == http.StatusNoContent ||
		rw.status == http.StatusNotModified || rw.status == http.StatusPartialContent {
		return false
	}
	h := rw.w.Header()
	if len(h["Content-Encoding"]) > 0 || len(h["Content-Range"]) > 0 {
		return false
	}
	if cl := h["Content-Length"]; len(cl) > 0 {
		if n, err := strconv.Atoi(cl[0]); err == nil && n < rw.srv.threshold {
			return false
		}
	}
	if ct := h["Content-Type"]; len(ct) > 0 && !compressible(ct[0]) {
		return false
	}
	return true
}

func (rw *responseWriter) Write(p []byte) (int, error) {
	if rw.hijacked {
		return 0, http.ErrHijacked
	}
	if !rw.headerSet {
		rw.WriteHeader(http.StatusOK)
	}
	switch rw.state {
	case stUndecided:
		if len(rw.buf)+len(p) < rw.srv.threshold {
			rw.buf = append(rw.buf, p...)
			return len(p), nil
		}
		if err := rw.startCompression(p); err != nil {
			return 0, err
		}
		return len(p), nil
	case stCompressing:
		return rw.cw.Write(p)
	default:
		n, err := rw.w.Write(p)
		rw.bytes += int64(n)
		return n, err
	}
}

// WriteString avoids a copy for io.WriteString callers.
func (rw *responseWriter) WriteString(s string) (int, error) {
	if rw.hijacked {
		return 0, http.ErrHijacked
	}
	if !rw.headerSet {
		rw.WriteHeader(http.StatusOK)
	}
	switch rw.state {
	case stPassthrough, stIdentity:
		if sw, ok := rw.w.(io.StringWriter); ok {
			n, err := sw.WriteString(s)
			rw.bytes += int64(n)
			return n, err
		}
	case stUndecided:
		if len(rw.buf)+len(s) < rw.srv.threshold {
			// Buffered without converting s to a []byte, which would
			// be allocated (it escapes to the compressor).
			rw.buf = append(rw.buf, s...)
			return len(s), nil
		}
	}
	return rw.Write([]byte(s))
}

func (rw *responseWriter) startCompression(p []byte) error {
	h := rw.w.Header()
	if len(h["Content-Type"]) == 0 {
		// Sniff from the plain bytes: net/http would otherwise sniff
		// the compressed ones and call everything application/x-gzip.
		sniff := rw.buf
		if len(sniff) == 0 {
			sniff = p
		}
		h["Content-Type"] = []string{http.DetectContentType(sniff)}
	}
	delete(h, "Content-Length")
	h["Content-Encoding"] = []string{encodingNames[rw.accept]}
	h["Vary"] = append(h["Vary"], "Accept-Encoding")
	if et := h["Etag"]; len(et) == 1 && len(et[0]) > 0 && et[0][0] == '"' {
		// A strong validator names these exact bytes; the compressed
		// ones differ, so it becomes weak (as nginx does).
		h["Etag"] = []string{"W/" + et[0]}
	}
	rw.w.WriteHeader(rw.status)
	rw.wroteHeader = true
	rw.enc = rw.accept
	rw.cw = rw.srv.compressors.get(rw.enc, &rw.wire)
	rw.state = stCompressing
	if len(rw.buf) > 0 {
		if _, err := rw.cw.Write(rw.buf); err != nil {
			return err
		}
		rw.buf = rw.buf[:0]
	}
	_, err := rw.cw.Write(p)
	return err
}

// commitIdentity sends the held status and buffered body as they are.
func (rw *responseWriter) commitIdentity() {
	rw.state = stIdentity
	if !rw.wroteHeader {
		rw.w.WriteHeader(rw.status)
		rw.wroteHeader = true
	}
	if len(rw.buf) > 0 {
		n, _ := rw.w.Write(rw.buf)
		rw.bytes += int64(n)
		rw.buf = rw.buf[:0]
	}
}

// Flush sends what is buffered now: a handler that flushes is streaming, so
// a body still under the threshold goes out uncompressed.
func (rw *responseWriter) Flush() { _ = rw.FlushError() }

// FlushError is Flush reporting the error (http.ResponseController uses it).
func (rw *responseWriter) FlushError() error {
	if rw.hijacked {
		return http.ErrHijacked
	}
	if !rw.headerSet {
		rw.WriteHeader(http.StatusOK)
	}
	switch rw.state {
	case stUndecided:
		rw.commitIdentity()
	case stCompressing:
		if err := rw.cw.Flush(); err != nil {
			return err
		}
	}
	return http.NewResponseController(rw.w).Flush()
}

// Hijack hands the connection to the handler (WebSocket upgrades).
func (rw *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if rw.wroteHeader {
		return nil, nil, errors.New("http: Hijack after the response started")
	}
	conn, brw, err := http.NewResponseController(rw.w).Hijack()
	if err == nil {
		rw.hijacked = true
		if !rw.headerSet {
			rw.status, rw.headerSet = http.StatusSwitchingProtocols, true
		}
	}
	return conn, brw, err
}

// finish completes the response after the handler returned.
func (rw *responseWriter) finish() {
	if rw.hijacked {
		return
	}
	if !rw.headerSet {
		rw.status, rw.headerSet = http.StatusOK, true
		if rw.state == stPassthrough {
			return // net/http sends the implicit 200
		}
	}
	switch rw.state {
	case stUndecided:
		rw.commitIdentity()
	case stCompressing:
		_ = rw.cw.Close()
		rw.srv.compressors.put(rw.enc, rw.cw)
		rw.cw = nil
	}
}

// release returns pooled resources after a panic left the writer midway.
func (rw *responseWriter) release() {
	if rw.cw != nil {
		rw.srv.compressors.put(rw.enc, rw.cw)
		rw.cw = nil
	}
}
