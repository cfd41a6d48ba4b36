package http

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	nethttp "net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/httpconv"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/patron-go/patron/correlation"
	"github.com/patron-go/patron/observability/observabilitytest"
	"github.com/patron-go/patron/patrontest/testenv"
	"github.com/patron-go/patron/reliability"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fastBackoff keeps retries quick; retry timing tests use Retry-After.
var fastBackoff = reliability.Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond}

func newClient(t *testing.T, kit *observabilitytest.Kit, opts ...Option) *Client {
	t.Helper()
	base := []Option{WithRetry(3, fastBackoff)}
	if kit != nil {
		base = append(base, WithTracerProvider(kit.TracerProvider), WithMeterProvider(kit.MeterProvider), WithPropagator(kit.Propagator))
	}
	c, err := New(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func newServer(t *testing.T, h nethttp.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func do(t *testing.T, c *Client, ctx context.Context, method, u string, body io.Reader) (*nethttp.Response, []byte, error) {
	t.Helper()
	req, err := nethttp.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func serverPort(t *testing.T, srv *httptest.Server) int {
	_, p, _ := net.SplitHostPort(srv.Listener.Addr().String())
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSpanPropagationAndMetric(t *testing.T) {
	kit := observabilitytest.New(t)
	type seen struct{ traceparent, correlationID, auth string }
	got := make(chan seen, 1)
	srv := newServer(t, func(w nethttp.ResponseWriter, r *nethttp.Request) {
		got <- seen{r.Header.Get("traceparent"), r.Header.Get(correlation.HeaderKey), r.Header.Get("Authorization")}
		_, _ = io.WriteString(w, "hello")
	})
	c := newClient(t, kit)

	ctx, parent := kit.TracerProvider.Tracer("test").Start(t.Context(), "handler")
	ctx = correlation.ContextWithID(ctx, "corr-123")
	u := strings.Replace(srv.URL, "http://", "http://user:hunter2@", 1) + "/things?token=s3cr3t&page=2#frag"
	req, _ := nethttp.NewRequestWithContext(ctx, nethttp.MethodGet, u, nil)
	req.Header.Set("Authorization", "Bearer topsecret")
	req.Header.Set("Cookie", "session=cookiesecret")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	parent.End()
	if string(body) != "hello" {
		t.Fatalf("body %q", body)
	}
	if req.Header.Get("traceparent") != "" {
		t.Fatal("the caller's request was modified")
	}

	s := <-got
	if s.correlationID != "corr-123" {
		t.Errorf("server saw correlation ID %q, want corr-123", s.correlationID)
	}
	if s.auth != "Bearer topsecret" {
		t.Errorf("Authorization not forwarded: %q", s.auth)
	}
	span := kit.Span(t, "GET")
	wantTP := "00-" + span.SpanContext().TraceID().String() + "-" + span.SpanContext().SpanID().String() + "-01"
	if s.traceparent != wantTP {
		t.Errorf("server saw traceparent %q, want the client span's %q", s.traceparent, wantTP)
	}
	port := serverPort(t, srv)
	observabilitytest.AssertTree(t, kit.Spans(), observabilitytest.Want{
		Name: "handler",
		Children: []observabilitytest.Want{{
			Name: "GET", Kind: trace.SpanKindClient,
			Attrs: []attribute.KeyValue{
				semconv.HTTPRequestMethodGet, semconv.ServerAddress("127.0.0.1"), semconv.ServerPort(port),
				semconv.URLFull("http://127.0.0.1:" + strconv.Itoa(port) + "/things?token=REDACTED&page=2"),
				semconv.HTTPResponseStatusCode(200), semconv.NetworkProtocolVersion("1.1"),
				semconv.HTTPResponseBodySize(5),
			},
		}},
	})
	for _, a := range span.Attributes() {
		v := a.Value.String()
		for _, secret := range []string{"hunter2", "s3cr3t", "topsecret", "cookiesecret", "user:"} {
			if strings.Contains(v, secret) {
				t.Errorf("attribute %s = %q leaks %q", a.Key, v, secret)
			}
		}
	}
	name := httpconv.ClientRequestDuration{}.Name()
	if n := kit.Sum(t, name, semconv.HTTPRequestMethodGet, semconv.HTTPResponseStatusCode(200), semconv.ServerPort(port)); n != 1 {
		t.Errorf("%s count = %v, want 1", name, n)
	}
}

func TestNoCorrelationIDInvented(t *testing.T) {
	got := make(chan []string, 1)
	srv := newServer(t, func(w nethttp.ResponseWriter, r *nethttp.Request) { got <- r.Header.Values(correlation.HeaderKey) })
	c := newClient(t, nil)
	if _, _, err := do(t, c, t.Context(), nethttp.MethodGet, srv.URL, nil); err != nil {
		t.Fatal(err)
	}
	if v := <-got; len(v) != 0 {
		t.Fatalf("server saw correlation IDs %v without one in the context", v)
	}
	// A caller's own header wins over the context.
	ctx := correlation.ContextWithID(t.Context(), "from-ctx")
	req, _ := nethttp.NewRequestWithContext(ctx, nethttp.MethodGet, srv.URL, nil)
	req.Header.Set(correlation.HeaderKey, "explicit")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if v := <-got; len(v) != 1 || v[0] != "explicit" {
		t.Fatalf("server saw %v, want [explicit]", v)
	}
}

// flaky answers fail (status, Retry-After) for the first len(fail) requests
// and 200 afterwards, recording when each request arrived.
type flaky struct {
	mu     sync.Mutex
	fail   []func(w nethttp.ResponseWriter)
	times  []time.Time
	bodies []string
}

func (f *flaky) ServeHTTP(w nethttp.ResponseWriter, r *nethttp.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	n := len(f.times)
	f.times = append(f.times, time.Now())
	f.bodies = append(f.bodies, string(b))
	f.mu.Unlock()
	if n < len(f.fail) {
		f.fail[n](w)
		return
	}
	_, _ = io.WriteString(w, "ok")
}

func (f *flaky) requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.times)
}

func status(code int, retryAfter string) func(w nethttp.ResponseWriter) {
	return func(w nethttp.ResponseWriter) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, "failure body")
	}
}

func TestRetriesFlakyServerHonouringRetryAfter(t *testing.T) {
	kit := observabilitytest.New(t)
	// The HTTP-date has a one-second resolution: 3s ahead waits at least 2s.
	dated := func(w nethttp.ResponseWriter) {
		status(429, time.Now().Add(3*time.Second).UTC().Format(nethttp.TimeFormat))(w)
	}
	f := &flaky{fail: []func(nethttp.ResponseWriter){status(503, "1"), dated}}
	srv := newServer(t, f.ServeHTTP)
	c := newClient(t, kit)

	resp, body, err := do(t, c, t.Context(), nethttp.MethodGet, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || string(body) != "ok" {
		t.Fatalf("got %d %q, want 200 ok", resp.StatusCode, body)
	}
	if f.requests() != 3 {
		t.Fatalf("server saw %d requests, want 3", f.requests())
	}
	// Lower bounds only: a slow machine makes the gaps longer, never shorter.
	if gap := f.times[1].Sub(f.times[0]); gap < time.Second {
		t.Errorf("second attempt came %s after the first, before Retry-After: 1", gap)
	}
	if gap := f.times[2].Sub(f.times[1]); gap < 2*time.Second {
		t.Errorf("third attempt came %s after the second, before the Retry-After date", gap)
	}
	spans := kit.WaitForSpanCount(t, 5*time.Second, "GET", 3)
	resends := map[int64]bool{}
	for _, s := range observabilitytest.Named(spans, "GET") {
		if v, ok := observabilitytest.Attr(s, semconv.HTTPRequestResendCountKey); ok {
			resends[v.AsInt64()] = true
		}
	}
	if !resends[1] || !resends[2] {
		t.Errorf("resend counts %v, want 1 and 2 on the retries", resends)
	}
}

func TestTransportErrorsRetried(t *testing.T) {
	var n atomic.Int32
	srv := newServer(t, func(w nethttp.ResponseWriter, r *nethttp.Request) {
		if n.Add(1) <= 2 {
			// Drop the connection without an answer.
			conn, _, err := w.(nethttp.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close()
			}
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	c := newClient(t, nil)
	resp, body, err := do(t, c, t.Context(), nethttp.MethodGet, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || string(body) != "ok" || n.Load() != 3 {
		t.Fatalf("got %d %q after %d requests, want 200 ok after 3", resp.StatusCode, body, n.Load())
	}
}

func TestPostNotRetriedByDefault(t *testing.T) {
	f := &flaky{fail: []func(nethttp.ResponseWriter){status(503, ""), status(503, "")}}
	srv := newServer(t, f.ServeHTTP)
	resp, _, err := do(t, newClient(t, nil), t.Context(), nethttp.MethodPost, srv.URL, strings.NewReader("payload"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 503 || f.requests() != 1 {
		t.Fatalf("POST: %d after %d requests, want 503 after 1", resp.StatusCode, f.requests())
	}
}

func TestPostRetriedWhenOptedIn(t *testing.T) {
	f := &flaky{fail: []func(nethttp.ResponseWriter){status(503, ""), status(502, "")}}
	srv := newServer(t, f.ServeHTTP)
	c := newClient(t, nil, WithRetryMethods(nethttp.MethodPost))
	resp, _, err := do(t, c, t.Context(), nethttp.MethodPost, srv.URL, strings.NewReader("payload"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || f.requests() != 3 {
		t.Fatalf("POST: %d after %d requests, want 200 after 3", resp.StatusCode, f.requests())
	}
	for i, b := range f.bodies {
		if b != "payload" {
			t.Errorf("attempt %d sent body %q, want payload", i, b)
		}
	}
}

func TestBodyWithoutGetBodyNotRetried(t *testing.T) {
	f := &flaky{fail: []func(nethttp.ResponseWriter){status(503, "")}}
	srv := newServer(t, f.ServeHTTP)
	req, _ := nethttp.NewRequestWithContext(t.Context(), nethttp.MethodPut, srv.URL, io.NopCloser(strings.NewReader("once")))
	if req.GetBody != nil {
		t.Fatal("test set-up: GetBody should be nil for an opaque reader")
	}
	resp, err := newClient(t, nil).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 503 || f.requests() != 1 {
		t.Fatalf("PUT with a one-shot body: %d after %d requests, want 503 after 1", resp.StatusCode, f.requests())
	}
}

func TestDeadlineRespectedDuringBackoff(t *testing.T) {
	cases := map[string]struct {
		retryAfter string
		backoff    reliability.Backoff
	}{
		"Retry-After beyond the deadline": {retryAfter: "20", backoff: fastBackoff},
		"backoff beyond the deadline":     {backoff: reliability.Backoff{Initial: 20 * time.Second, Max: 20 * time.Second, NoJitter: true}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var n atomic.Int32
			srv := newServer(t, func(w nethttp.ResponseWriter, r *nethttp.Request) {
				n.Add(1)
				status(503, tc.retryAfter)(w)
			})
			c := newClient(t, nil, WithRetry(5, tc.backoff))
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
			defer cancel()
			start := time.Now()
			resp, body, err := do(t, c, ctx, nethttp.MethodGet, srv.URL, nil)
			if err != nil {
				t.Fatalf("Do = %v; want the 503 back since no retry fits the deadline", err)
			}
			if resp.StatusCode != 503 || string(body) != "failure body" || n.Load() != 1 {
				t.Fatalf("got %d %q after %d requests, want the first 503 and its body", resp.StatusCode, body, n.Load())
			}
			if elapsed := time.Since(start); elapsed > 10*time.Second {
				t.Fatalf("Do took %s with a 2s deadline", elapsed)
			}
		})
	}
}

func TestCancelDuringBackoffStopsSleeping(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var n atomic.Int32
	srv := newServer(t, func(w nethttp.ResponseWriter, r *nethttp.Request) {
		n.Add(1)
		status(503, "")(w)
	})
	// The client logs its decision to retry just before it sleeps: cancel
	// there, so that the cancellation lands in the (hour-long) backoff.
	logger := slog.New(cancelOnRecord{cancel: cancel})
	c := newClient(t, nil, WithRetry(5, reliability.Backoff{Initial: time.Hour, Max: time.Hour, NoJitter: true}), WithLogger(logger))
	_, _, err := do(t, c, ctx, nethttp.MethodGet, srv.URL, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Do = %v, want context.Canceled from the interrupted backoff", err)
	}
	if n.Load() != 1 {
		t.Fatalf("%d requests, want 1", n.Load())
	}
}

type cancelOnRecord struct{ cancel context.CancelFunc }

func (c cancelOnRecord) Enabled(context.Context, slog.Level) bool { return true }
func (c cancelOnRecord) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "retrying HTTP request" {
		c.cancel()
	}
	return nil
}
func (c cancelOnRecord) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c cancelOnRecord) WithGroup(string) slog.Handler      { return c }

func TestBreakerOpensFailsFastAndRecovers(t *testing.T) {
	kit := observabilitytest.New(t)
	var healthy atomic.Bool
	var n atomic.Int32
	srv := newServer(t, func(w nethttp.ResponseWriter, r *nethttp.Request) {
		n.Add(1)
		if !healthy.Load() {
			w.WriteHeader(nethttp.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	b, err := reliability.NewBreaker("upstream", reliability.WithFailureThreshold(3),
		reliability.WithOpenTimeout(100*time.Millisecond), reliability.WithMeterProvider(kit.MeterProvider))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	c := newClient(t, kit, WithoutRetry(), WithBreaker(b))

	for range 3 {
		resp, _, err := do(t, c, t.Context(), nethttp.MethodGet, srv.URL, nil)
		if err != nil || resp.StatusCode != 500 {
			t.Fatalf("got %v, %v; want a 500", resp, err)
		}
	}
	if b.State() != reliability.BreakerOpen {
		t.Fatalf("breaker %s after 3 failures, want open", b.State())
	}
	open := kit.Sum(t, reliability.BreakerStateMetric, reliability.BreakerNameKey.String("upstream"),
		reliability.BreakerStateKey.String(reliability.BreakerOpen.String()))
	if open != 1 {
		t.Fatalf("state gauge open = %v, want 1", open)
	}
	_, _, err = do(t, c, t.Context(), nethttp.MethodGet, srv.URL, nil)
	if !errors.Is(err, reliability.ErrBreakerOpen) {
		t.Fatalf("Do with an open breaker = %v, want ErrBreakerOpen", err)
	}
	if n.Load() != 3 {
		t.Fatalf("server saw %d requests, want 3: an open breaker must not call it", n.Load())
	}

	healthy.Store(true)
	testenv.WaitFor(t, 10*time.Second, "the breaker to half-open", func() bool { return b.State() == reliability.BreakerHalfOpen })
	resp, body, err := do(t, c, t.Context(), nethttp.MethodGet, srv.URL, nil)
	if err != nil || resp.StatusCode != 200 || string(body) != "ok" {
		t.Fatalf("half-open trial: %v, %v", resp, err)
	}
	if b.State() != reliability.BreakerClosed {
		t.Fatalf("breaker %s after a successful trial, want closed", b.State())
	}
}

func TestBreakerCountsTransportErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	b, err := reliability.NewBreaker("down", reliability.WithFailureThreshold(2))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	c := newClient(t, nil, WithBreaker(b)) // with retries: the breaker stops them
	_, _, err = do(t, c, t.Context(), nethttp.MethodGet, "http://"+addr+"/", nil)
	if !errors.Is(err, reliability.ErrBreakerOpen) {
		t.Fatalf("Do = %v; want the third attempt to hit the open breaker", err)
	}
}

func compress(t *testing.T, enc, s string) []byte {
	var buf bytes.Buffer
	var w io.WriteCloser
	switch enc {
	case "gzip":
		w = gzip.NewWriter(&buf)
	case "deflate":
		w = zlib.NewWriter(&buf)
	case "raw-deflate":
		fw, err := flate.NewWriter(&buf, flate.DefaultCompression)
		if err != nil {
			t.Fatal(err)
		}
		w = fw
	}
	_, _ = io.WriteString(w, s)
	_ = w.Close()
	return buf.Bytes()
}

func TestDecompression(t *testing.T) {
	payload := strings.Repeat("patron ", 500)
	for _, enc := range []string{"gzip", "deflate", "raw-deflate"} {
		t.Run(enc, func(t *testing.T) {
			kit := observabilitytest.New(t)
			accept := make(chan string, 2)
			srv := newServer(t, func(w nethttp.ResponseWriter, r *nethttp.Request) {
				accept <- r.Header.Get("Accept-Encoding")
				header := enc
				if enc == "raw-deflate" {
					header = "deflate"
				}
				w.Header().Set("Content-Encoding", header)
				_, _ = w.Write(compress(t, enc, payload))
			})
			c := newClient(t, kit)
			for range 2 { // the second time reuses a pooled decoder
				resp, body, err := do(t, c, t.Context(), nethttp.MethodGet, srv.URL, nil)
				if err != nil {
					t.Fatal(err)
				}
				if string(body) != payload {
					t.Fatalf("decoded body has %d bytes, want %d", len(body), len(payload))
				}
				if resp.Header.Get("Content-Encoding") != "" || resp.ContentLength != -1 || !resp.Uncompressed {
					t.Fatalf("response still describes the encoded body: %v, length %d", resp.Header, resp.ContentLength)
				}
				if a := <-accept; a != "gzip, deflate" {
					t.Fatalf("Accept-Encoding %q, want gzip, deflate", a)
				}
			}
			// The span's body size is the bytes on the wire.
			for _, s := range observabilitytest.Named(kit.Spans(), "GET") {
				v, _ := observabilitytest.Attr(s, semconv.HTTPResponseBodySizeKey)
				if v.AsInt64() >= int64(len(payload)) {
					t.Errorf("body size %d is not the compressed size", v.AsInt64())
				}
			}
		})
	}
}

func TestCallerAcceptEncodingPassesThrough(t *testing.T) {
	gz := compress(t, "gzip", "raw please")
	srv := newServer(t, func(w nethttp.ResponseWriter, r *nethttp.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		_, _ = w.Write(gz)
	})
	req, _ := nethttp.NewRequestWithContext(t.Context(), nethttp.MethodGet, srv.URL, nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := newClient(t, nil).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if !bytes.Equal(b, gz) || resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatal("a caller that set Accept-Encoding must get the encoded body untouched")
	}
}

func TestCorruptGzipIsAnError(t *testing.T) {
	srv := newServer(t, func(w nethttp.ResponseWriter, r *nethttp.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		_, _ = io.WriteString(w, "this is not gzip")
	})
	_, _, err := do(t, newClient(t, nil), t.Context(), nethttp.MethodGet, srv.URL, nil)
	if err == nil {
		t.Fatal("reading a corrupt gzip body succeeded")
	}
}

func TestUnknownMethodSpan(t *testing.T) {
	kit := observabilitytest.New(t)
	srv := newServer(t, func(w nethttp.ResponseWriter, r *nethttp.Request) {})
	if _, _, err := do(t, newClient(t, kit), t.Context(), "PURGE", srv.URL, nil); err != nil {
		t.Fatal(err)
	}
	observabilitytest.AssertTree(t, kit.Spans(), observabilitytest.Want{
		Name: "HTTP", Kind: trace.SpanKindClient,
		Attrs: []attribute.KeyValue{semconv.HTTPRequestMethodOther, semconv.HTTPRequestMethodOriginal("PURGE")},
	})
}

func TestErrorStatusMarksSpan(t *testing.T) {
	kit := observabilitytest.New(t)
	srv := newServer(t, func(w nethttp.ResponseWriter, r *nethttp.Request) { w.WriteHeader(404) })
	if _, _, err := do(t, newClient(t, kit), t.Context(), nethttp.MethodGet, srv.URL, nil); err != nil {
		t.Fatal(err)
	}
	observabilitytest.AssertTree(t, kit.Spans(), observabilitytest.Want{
		Name: "GET", Error: true,
		Attrs: []attribute.KeyValue{semconv.HTTPResponseStatusCode(404), semconv.ErrorTypeKey.String("404")},
	})
}

func TestTransportForOwnClient(t *testing.T) {
	kit := observabilitytest.New(t)
	got := make(chan string, 1)
	srv := newServer(t, func(w nethttp.ResponseWriter, r *nethttp.Request) { got <- r.Header.Get("traceparent") })
	rt, err := Transport(WithTracerProvider(kit.TracerProvider), WithPropagator(kit.Propagator), WithMeterProvider(kit.MeterProvider))
	if err != nil {
		t.Fatal(err)
	}
	hc := &nethttp.Client{Transport: rt}
	t.Cleanup(hc.CloseIdleConnections)
	resp, err := hc.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if tp := <-got; !strings.HasPrefix(tp, "00-"+kit.Span(t, "GET").SpanContext().TraceID().String()) {
		t.Fatalf("traceparent %q does not carry the client span", tp)
	}
}

func TestSpanEndsWhenBodyClosedUnread(t *testing.T) {
	kit := observabilitytest.New(t)
	srv := newServer(t, func(w nethttp.ResponseWriter, r *nethttp.Request) { _, _ = io.WriteString(w, "unread") })
	req, _ := nethttp.NewRequestWithContext(t.Context(), nethttp.MethodGet, srv.URL, nil)
	resp, err := newClient(t, kit).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if len(kit.Spans()) != 0 {
		t.Fatal("span ended before the body was consumed")
	}
	_ = resp.Body.Close()
	_ = resp.Body.Close() // twice is harmless
	kit.WaitForSpanCount(t, 5*time.Second, "GET", 1)
	if n := len(kit.Spans()); n != 1 {
		t.Fatalf("%d spans, want 1", n)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"7", 7 * time.Second, true},
		{"-1", 0, false},
		{"soon", 0, false},
		{"1.5", 0, false},
		{now.Add(90 * time.Second).Format(nethttp.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Hour).Format(nethttp.TimeFormat), 0, true},
		{"99999999999999999999", 0, false},
		{"999999999999", 24 * time.Hour, true},
	}
	for _, tc := range cases {
		got, ok := parseRetryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseRetryAfter(%q) = %s, %v; want %s, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestRedactURL(t *testing.T) {
	secret := defaultRedactedQuery()
	secret["custom"] = true
	for in, want := range map[string]string{
		"https://u:p@h/x?a=1":                        "https://h/x?a=1",
		"https://h/x?Token=abc&page=2":               "https://h/x?Token=REDACTED&page=2",
		"https://h/x?sig=1&sig=2&X-Goog-Signature=z": "https://h/x?sig=REDACTED&sig=REDACTED&X-Goog-Signature=REDACTED",
		"https://h/x?custom=v&flag":                  "https://h/x?custom=REDACTED&flag",
		"https://h/x?%74oken=abc":                    "https://h/x?%74oken=REDACTED",
		"https://h/x#frag":                           "https://h/x",
	} {
		u, err := url.Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := redactURL(u, secret); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzRedactURL(f *testing.F) {
	f.Add("https://user:pw@host/p?token=abc&x=1")
	f.Add("http://h/?%zz=1&token")
	f.Fuzz(func(t *testing.T, s string) {
		u, err := url.Parse(s)
		if err != nil {
			return
		}
		out := redactURL(u, defaultRedactedQuery())
		if u.User != nil {
			if pw, ok := u.User.Password(); ok && pw != "" && strings.Contains(out, "@") && strings.Contains(out, ":"+pw+"@") {
				t.Fatalf("password leaked: %q", out)
			}
		}
	})
}

func FuzzParseRetryAfter(f *testing.F) {
	f.Add("120")
	f.Add("Wed, 21 Oct 2015 07:28:00 GMT")
	f.Fuzz(func(t *testing.T, s string) {
		if d, ok := parseRetryAfter(s, time.Now()); ok && (d < 0 || d > maxRetryAfterValue) {
			t.Fatalf("parseRetryAfter(%q) = %s", s, d)
		}
	})
}

func TestOptionsValidated(t *testing.T) {
	for i, o := range []Option{
		WithTransport(nil), WithTimeout(0), WithRetry(0, fastBackoff), WithRetry(2, reliability.Backoff{Initial: -1}),
		WithRetryMethods("post"), WithMaxRetryAfter(-1), WithBreaker(nil), WithRedactedQueryParams(""),
		WithTracerProvider(nil), WithMeterProvider(nil), WithPropagator(nil), WithLogger(nil),
	} {
		if _, err := New(o); err == nil {
			t.Errorf("option %d accepted", i)
		}
		if _, err := Transport(o); err == nil {
			t.Errorf("option %d accepted by Transport", i)
		}
	}
}
