package http

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"
)

// timeoutHandler gives the handler d to start answering. The request
// context carries a deadline (so outgoing calls see it) that is lifted when
// the handler flushes: a stream that has started is never cut by the route
// timeout.
func timeoutHandler(next http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tc := newTimeoutContext(r.Context(), d)
		defer tc.stop()
		tw := &timeoutWriter{ResponseWriter: w, tc: tc}
		next.ServeHTTP(tw, r.WithContext(tc))
		if !tw.wrote && !tw.hijacked && tc.Err() != nil && errors.Is(tc.Err(), context.DeadlineExceeded) {
			WriteProblem(w, r, http.StatusGatewayTimeout, "the request timed out")
		}
	})
}

// timeoutContext is a context whose deadline can be lifted (once streaming
// starts); context.WithDeadline cannot do that.
type timeoutContext struct {
	context.Context // a cancelable child of the request context

	cancel   context.CancelCauseFunc
	timer    *time.Timer
	deadline time.Time

	mu       sync.Mutex
	expired  bool
	streamed bool
}

func newTimeoutContext(parent context.Context, d time.Duration) *timeoutContext {
	ctx, cancel := context.WithCancelCause(parent)
	tc := &timeoutContext{Context: ctx, cancel: cancel, deadline: time.Now().Add(d)}
	tc.timer = time.AfterFunc(d, tc.expire)
	return tc
}

func (tc *timeoutContext) expire() {
	tc.mu.Lock()
	if tc.streamed {
		tc.mu.Unlock()
		return
	}
	tc.expired = true
	tc.mu.Unlock()
	tc.cancel(context.DeadlineExceeded)
}

// streaming lifts the deadline; it reports false when it had already
// passed.
func (tc *timeoutContext) streaming() bool {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.expired {
		return false
	}
	tc.streamed = true
	tc.timer.Stop()
	return true
}

func (tc *timeoutContext) stop() {
	tc.timer.Stop()
	tc.cancel(nil)
}

// Deadline reports the route's deadline until streaming starts.
func (tc *timeoutContext) Deadline() (time.Time, bool) {
	tc.mu.Lock()
	streamed := tc.streamed
	tc.mu.Unlock()
	pd, ok := tc.Context.Deadline()
	if streamed {
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
	if err == nil {
		return nil
	}
	tc.mu.Lock()
	expired := tc.expired
	tc.mu.Unlock()
	if expired {
		return context.DeadlineExceeded
	}
	return err
}

// timeoutWriter notices the first write and flush; it keeps Flusher,
// Hijacker and Unwrap.
type timeoutWriter struct {
	http.ResponseWriter
	tc       *timeoutContext
	wrote    bool
	hijacked bool
}

func (tw *timeoutWriter) WriteHeader(code int) {
	if code >= 200 {
		tw.wrote = true
	}
	tw.ResponseWriter.WriteHeader(code)
}

func (tw *timeoutWriter) Write(p []byte) (int, error) {
	tw.wrote = true
	return tw.ResponseWriter.Write(p)
}

func (tw *timeoutWriter) Flush() { _ = tw.FlushError() }

func (tw *timeoutWriter) FlushError() error {
	tw.wrote = true
	tw.tc.streaming()
	return http.NewResponseController(tw.ResponseWriter).Flush()
}

func (tw *timeoutWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	tw.tc.streaming()
	c, b, err := http.NewResponseController(tw.ResponseWriter).Hijack()
	if err == nil {
		tw.hijacked = true
	}
	return c, b, err
}

func (tw *timeoutWriter) Unwrap() http.ResponseWriter { return tw.ResponseWriter }
