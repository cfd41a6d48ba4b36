package http

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// timeoutCommitSize is how much a handler under a route timeout may write
// before its response starts anyway: past it the body goes out as it is
// written (the deadline is then lifted, as for a flush), so that a large
// response is not held in memory whole.
const timeoutCommitSize = 64 << 10

// timeoutHandler gives the handler d to start answering, whether or not it
// watches its context. It runs the handler on a goroutine of its own,
// writing into a buffer. At the deadline, unless the response has started,
// the client gets 503 at once, the handler's context is cancelled, and
// whatever it writes afterwards is dropped (its writes fail with
// http.ErrHandlerTimeout). A response starts when the handler flushes (SSE,
// streaming), hijacks, writes more than timeoutCommitSize or returns; from
// then on the deadline is lifted, so a stream that has started is never cut
// by the route timeout. Unlike http.TimeoutHandler, Flush, Hijack and the
// http.ResponseController deadlines work.
func timeoutHandler(next http.Handler, d time.Duration, s *server) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tc := newTimeoutContext(r.Context(), d)
		defer tc.cancel(nil)
		tw := &timeoutWriter{w: w, h: w.Header().Clone(), tc: tc}
		r = r.WithContext(tc)
		var body *timeoutBody
		if r.Body != nil && r.Body != http.NoBody {
			body = &timeoutBody{ReadCloser: r.Body}
			r.Body = body
		}
		done := make(chan struct{})
		var panicked any
		go func() {
			defer func() {
				if p := recover(); p != nil {
					if p != http.ErrAbortHandler { //nolint:errorlint // sentinel panic value
						p = &handlerPanic{value: p, stack: debug.Stack()}
					}
					if tw.cutOff() {
						s.latePanic(r, p)
					} else {
						panicked = p
					}
				}
				close(done)
			}()
			next.ServeHTTP(tw, r)
		}()

		timer := time.NewTimer(d)
		defer timer.Stop()
		select {
		case <-done:
		case <-timer.C:
			if tw.expire() {
				tc.cancel(context.DeadlineExceeded)
				if body != nil {
					body.cut() // a read in flight finishes first
				}
				return // the handler runs on, cut off
			}
			<-done // the response started in time: it streams to the end
		}
		if panicked != nil {
			panic(panicked) // for the chain's recovery, on the request's goroutine
		}
		tw.finish()
	})
}

// handlerPanic carries a panic from the handler's goroutine to the
// request's, with the stack where it happened.
type handlerPanic struct {
	value any
	stack []byte
}

func (p *handlerPanic) String() string { return fmt.Sprint(p.value) }

// latePanic logs a handler's panic after its route timeout answered: there
// is no response left to turn it into.
func (s *server) latePanic(r *http.Request, p any) {
	value, stack := p, []byte(nil)
	if hp, ok := p.(*handlerPanic); ok {
		value, stack = hp.value, hp.stack
	}
	s.loggerFor(r.Context()).LogAttrs(r.Context(), slog.LevelError, "panic in HTTP handler after its route timeout",
		slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.Any("error", fmt.Errorf("panic: %v", value)), slog.String("stack", string(stack)))
}

// timeoutContext is the request context with the route's deadline, which
// can be lifted once the response starts (context.WithDeadline cannot).
type timeoutContext struct {
	context.Context // a cancelable child of the request context

	cancel   context.CancelCauseFunc
	deadline time.Time
	lifted   atomic.Bool
	expired  atomic.Bool
}

func newTimeoutContext(parent context.Context, d time.Duration) *timeoutContext {
	ctx, cancel := context.WithCancelCause(parent)
	return &timeoutContext{Context: ctx, cancel: cancel, deadline: time.Now().Add(d)}
}

// Deadline reports the route's deadline until the response starts.
func (tc *timeoutContext) Deadline() (time.Time, bool) {
	pd, ok := tc.Context.Deadline()
	if tc.lifted.Load() {
		return pd, ok
	}
	if ok && pd.Before(tc.deadline) {
		return pd, true
	}
	return tc.deadline, true
}

// Err is DeadlineExceeded when the route timeout fired.
func (tc *timeoutContext) Err() error {
	err := tc.Context.Err()
	if err != nil && tc.expired.Load() {
		return context.DeadlineExceeded
	}
	return err
}

// timeoutWriter is what the handler writes to under a route timeout: a
// buffer until the response starts, the client's writer after. Only one of
// the handler's goroutine and the request's touches the client's writer at
// a time: mu orders them until the response has started or been cut off.
type timeoutWriter struct {
	w  http.ResponseWriter
	h  http.Header // the handler's headers until the response starts
	tc *timeoutContext

	mu       sync.Mutex
	status   int
	buf      []byte
	started  atomic.Bool // status, headers and buf went to w; writes go straight there
	timedOut bool
}

// cutOff reports whether the route timeout answered instead of the handler.
func (tw *timeoutWriter) cutOff() bool {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	return tw.timedOut
}

// expire answers 503 at the deadline unless the response has started; it
// reports whether it did.
func (tw *timeoutWriter) expire() bool {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if tw.started.Load() {
		return false
	}
	tw.timedOut = true
	tw.tc.expired.Store(true)
	writeProblem(tw.w, NewProblem(http.StatusServiceUnavailable, "the request timed out"))
	_ = http.NewResponseController(tw.w).Flush()
	return true
}

// start sends the status, headers and buffered body (mu held) and lifts
// the deadline.
func (tw *timeoutWriter) start() error {
	tw.tc.lifted.Store(true)
	dst := tw.w.Header()
	for k := range dst {
		if _, ok := tw.h[k]; !ok {
			delete(dst, k) // the handler removed it
		}
	}
	for k, v := range tw.h {
		dst[k] = v
	}
	if tw.status == 0 {
		tw.status = http.StatusOK
	}
	tw.w.WriteHeader(tw.status)
	tw.started.Store(true)
	var err error
	if len(tw.buf) > 0 {
		_, err = tw.w.Write(tw.buf)
		tw.buf = nil
	}
	return err
}

// finish starts the response of a handler that returned in time.
func (tw *timeoutWriter) finish() {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if !tw.started.Load() && !tw.timedOut {
		_ = tw.start()
	}
}

func (tw *timeoutWriter) Header() http.Header {
	if tw.started.Load() {
		return tw.w.Header() // trailers set after the body reach the client
	}
	return tw.h
}

func (tw *timeoutWriter) WriteHeader(code int) {
	if tw.started.Load() {
		tw.w.WriteHeader(code) // superfluous: net/http says so
		return
	}
	tw.mu.Lock()
	defer tw.mu.Unlock()
	switch {
	case tw.timedOut || tw.status != 0:
	case code >= 100 && code < 200 && code != http.StatusSwitchingProtocols:
		// Informational responses (103 Early Hints) go out at once.
		dst := tw.w.Header()
		for k, v := range tw.h {
			dst[k] = v
		}
		tw.w.WriteHeader(code)
	default:
		tw.status = code
	}
}

func (tw *timeoutWriter) Write(p []byte) (int, error) {
	if tw.started.Load() {
		return tw.w.Write(p)
	}
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if tw.timedOut {
		return 0, http.ErrHandlerTimeout
	}
	if tw.started.Load() { // started by a concurrent Flush
		return tw.w.Write(p)
	}
	if len(tw.buf)+len(p) <= timeoutCommitSize {
		tw.buf = append(tw.buf, p...)
		return len(p), nil
	}
	if err := tw.start(); err != nil {
		return 0, err
	}
	return tw.w.Write(p)
}

func (tw *timeoutWriter) Flush() { _ = tw.FlushError() }

// FlushError starts the response (the stream is under way: the deadline
// no longer applies) and flushes it.
func (tw *timeoutWriter) FlushError() error {
	if !tw.started.Load() {
		tw.mu.Lock()
		if tw.timedOut {
			tw.mu.Unlock()
			return http.ErrHandlerTimeout
		}
		if !tw.started.Load() {
			if err := tw.start(); err != nil {
				tw.mu.Unlock()
				return err
			}
		}
		tw.mu.Unlock()
	}
	return http.NewResponseController(tw.w).Flush()
}

// Hijack hands the connection to the handler; the deadline no longer
// applies.
func (tw *timeoutWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if tw.timedOut {
		return nil, nil, http.ErrHandlerTimeout
	}
	if tw.started.Load() {
		return nil, nil, errors.New("http: Hijack after the response started")
	}
	c, b, err := http.NewResponseController(tw.w).Hijack()
	if err == nil {
		tw.tc.lifted.Store(true)
		tw.started.Store(true)
	}
	return c, b, err
}

// guarded runs f on the client's writer unless the route timeout answered.
func (tw *timeoutWriter) guarded(f func(*http.ResponseController) error) error {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if tw.timedOut {
		return http.ErrHandlerTimeout
	}
	return f(http.NewResponseController(tw.w))
}

// SetReadDeadline, SetWriteDeadline and EnableFullDuplex reach the server's
// writer for http.ResponseController. The writer has no Unwrap: after the
// timeout answered, a handler that goes on must not reach the response.
func (tw *timeoutWriter) SetReadDeadline(t time.Time) error {
	return tw.guarded(func(rc *http.ResponseController) error { return rc.SetReadDeadline(t) })
}

func (tw *timeoutWriter) SetWriteDeadline(t time.Time) error {
	return tw.guarded(func(rc *http.ResponseController) error { return rc.SetWriteDeadline(t) })
}

func (tw *timeoutWriter) EnableFullDuplex() error {
	return tw.guarded(func(rc *http.ResponseController) error { return rc.EnableFullDuplex() })
}

// timeoutBody keeps a handler that outlives its route timeout from reading
// the request body after the request is over: the server reuses the
// connection and the chain's pooled state.
type timeoutBody struct {
	io.ReadCloser
	mu     sync.Mutex
	closed bool
}

func (b *timeoutBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, http.ErrHandlerTimeout
	}
	return b.ReadCloser.Read(p)
}

func (b *timeoutBody) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	return b.ReadCloser.Close()
}

// cut waits for a read in flight, then fails every later one.
func (b *timeoutBody) cut() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
}
