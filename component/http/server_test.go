package http

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/patron-go/patron/correlation"
	"github.com/patron-go/patron/observability/observabilitytest"
	"github.com/patron-go/patron/patrontest/testenv"
)

// A request with a remote parent gets a SERVER span named after the route,
// child of the remote span, with the semconv attributes; the handler's span
// is its child; metrics and the access log are recorded; the correlation ID
// is echoed.
func TestTracingWithRemoteParent(t *testing.T) {
	var ts *testServer
	route := mustRoute(t, "GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {
		_, child := ts.Kit.TracerProvider.Tracer("test").Start(r.Context(), "load user")
		child.End()
		id, _ := correlation.FromContext(r.Context())
		_, _ = fmt.Fprintf(w, "user %s corr %s", r.PathValue("id"), id)
	})
	ts = start(t, []*Route{route})

	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	resp, body := ts.get(t, "/users/42?x=1",
		"traceparent", "00-"+traceID+"-"+parentID+"-01",
		"X-Correlation-Id", "corr-123",
		"User-Agent", "tester/1.0")
	if resp.StatusCode != http.StatusOK || string(body) != "user 42 corr corr-123" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	if got := resp.Header.Get(correlation.HeaderKey); got != "corr-123" {
		t.Errorf("correlation header = %q", got)
	}
	spans := ts.Kit.WaitForSpanCount(t, 5*time.Second, "GET /users/{id}", 1)
	observabilitytest.AssertTree(t, spans, observabilitytest.Want{
		Name: "GET /users/{id}",
		Kind: trace.SpanKindServer,
		Attrs: []attribute.KeyValue{
			semconv.HTTPRequestMethodGet,
			semconv.HTTPRoute("/users/{id}"),
			semconv.HTTPResponseStatusCode(200),
			semconv.URLPath("/users/42"),
			semconv.URLScheme("http"),
			semconv.ClientAddress("127.0.0.1"),
			semconv.NetworkProtocolVersion("1.1"),
			semconv.UserAgentOriginal("tester/1.0"),
		},
		Children: []observabilitytest.Want{{Name: "load user"}},
	})
	server := ts.Kit.Span(t, "GET /users/{id}")
	if got := server.Parent().TraceID().String(); got != traceID {
		t.Errorf("trace ID = %s, want the remote %s", got, traceID)
	}
	if got := server.Parent().SpanID().String(); got != parentID || !server.Parent().IsRemote() {
		t.Errorf("parent = %s (remote %v), want remote %s", got, server.Parent().IsRemote(), parentID)
	}
	for _, a := range server.Attributes() {
		if a.Key == "url.query" || a.Key == semconv.ServerAddressKey || a.Key == semconv.ServerPortKey || strings.Contains(strings.ToLower(string(a.Key)), "authorization") {
			t.Errorf("span carries %s", a.Key)
		}
	}

	route200 := []attribute.KeyValue{semconv.HTTPRoute("/users/{id}"), semconv.HTTPResponseStatusCode(200), semconv.HTTPRequestMethodGet}
	if n := ts.Kit.Sum(t, "http.server.request.duration", route200...); n != 1 {
		t.Errorf("duration count = %v", n)
	}
	if n := ts.Kit.Sum(t, "http.server.response.body.size", route200...); n != 1 {
		t.Errorf("response size count = %v", n)
	}
	if n := ts.Kit.Sum(t, "http.server.request.body.size", route200...); n != 1 {
		t.Errorf("request size count = %v", n)
	}
	if n := ts.Kit.Sum(t, "http.server.active_requests"); n != 0 {
		t.Errorf("active requests after the request = %v", n)
	}

	rec := ts.Logs.WaitRecord(t, 5*time.Second, func(r map[string]any) bool { return r["msg"] == "http request" })
	if rec["trace_id"] != traceID || rec["correlation_id"] != "corr-123" || rec["route"] != "/users/{id}" ||
		rec["status"] != float64(200) || rec["level"] != "INFO" {
		t.Errorf("access log = %v", rec)
	}
}

// WithServerAddressAttributes adds server.address and server.port from the
// request's Host.
func TestServerAddressAttributes(t *testing.T) {
	ts := start(t, []*Route{mustRoute(t, "GET /x", func(http.ResponseWriter, *http.Request) {})}, WithServerAddressAttributes())
	resp, _ := ts.get(t, "/x")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(ts.URL, "http://"))
	p, _ := strconv.Atoi(port)
	spans := ts.Kit.WaitForSpanCount(t, 5*time.Second, "GET /x", 1)
	observabilitytest.AssertTree(t, spans, observabilitytest.Want{
		Name: "GET /x",
		Kind: trace.SpanKindServer,
		Attrs: []attribute.KeyValue{
			semconv.ServerAddress("127.0.0.1"),
			semconv.ServerPort(p),
		},
	})
}

// Without a correlation ID (or with an invalid one) the server makes one
// and echoes it.
func TestCorrelationGenerated(t *testing.T) {
	ts := start(t, []*Route{mustRoute(t, "GET /x", func(w http.ResponseWriter, r *http.Request) {
		id, _ := correlation.FromContext(r.Context())
		_, _ = io.WriteString(w, id)
	})})
	for _, sent := range []string{"", "bad id with spaces", strings.Repeat("x", 500)} {
		resp, body := ts.get(t, "/x", "X-Correlation-Id", sent)
		got := resp.Header.Get(correlation.HeaderKey)
		if !correlation.Valid(got) || got == sent || got != string(body) {
			t.Errorf("sent %q: header %q body %q", sent, got, body)
		}
	}
}

// Server-Sent Events stream through the whole chain, compression on and the
// client accepting gzip: each event arrives while the handler still runs.
func TestSSEThroughChain(t *testing.T) {
	next := make(chan struct{})
	handlerDone := make(chan struct{})
	route := mustRoute(t, "GET /events", func(w http.ResponseWriter, r *http.Request) {
		defer close(handlerDone)
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		for i := range 3 {
			_, _ = fmt.Fprintf(w, "data: event %d\n\n", i)
			if err := rc.Flush(); err != nil {
				t.Errorf("flush: %v", err)
				return
			}
			select {
			case <-next:
			case <-r.Context().Done():
				return
			}
		}
	}, WithTimeout(time.Second))
	ts := start(t, []*Route{route})
	req := newReq(t, http.MethodGet, ts.URL+"/events", nil, "Accept-Encoding", "gzip, br")
	resp, err := ts.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ce := resp.Header.Get("Content-Encoding"); ce != "" {
		t.Errorf("event stream compressed with %s", ce)
	}
	rd := bufio.NewReader(resp.Body)
	for i := range 3 {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if want := fmt.Sprintf("data: event %d\n", i); line != want {
			t.Fatalf("event %d = %q", i, line)
		}
		_, _ = rd.ReadString('\n')
		select {
		case <-handlerDone:
			t.Fatalf("handler returned before event %d was read", i)
		default:
		}
		next <- struct{}{}
	}
	<-handlerDone
	ts.Kit.WaitForSpanCount(t, 5*time.Second, "GET /events", 1)
}

// A panic becomes a 500 problem, an error span and a logged stack, and the
// server keeps serving.
func TestRecovery(t *testing.T) {
	ts := start(t, []*Route{
		mustRoute(t, "GET /panic", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, "partial")
			panic("boom")
		}),
		mustRoute(t, "GET /ok", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }),
	})
	resp, body := ts.get(t, "/panic", "Accept-Encoding", "gzip")
	if resp.StatusCode != http.StatusInternalServerError || resp.Header.Get("Content-Type") != ProblemContentType {
		t.Fatalf("got %d %s %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	var p map[string]any
	if err := json.Unmarshal(body, &p); err != nil || p["status"] != float64(500) {
		t.Errorf("problem = %s (%v)", body, err)
	}
	if strings.Contains(string(body), "boom") || strings.Contains(string(body), "partial") {
		t.Errorf("panic value leaked: %s", body)
	}
	spans := ts.Kit.WaitForSpanCount(t, 5*time.Second, "GET /panic", 1)
	observabilitytest.AssertTree(t, spans, observabilitytest.Want{Name: "GET /panic", Error: true,
		Attrs: []attribute.KeyValue{semconv.HTTPResponseStatusCode(500), semconv.ErrorTypeKey.String("500")}})
	logs := ts.Logs.String()
	if !strings.Contains(logs, "panic in HTTP handler") || !strings.Contains(logs, "goroutine") || !strings.Contains(logs, `"level":"ERROR"`) {
		t.Errorf("no stack logged: %s", logs)
	}
	if resp, _ := ts.get(t, "/ok"); resp.StatusCode != http.StatusOK {
		t.Errorf("after panic: %d", resp.StatusCode)
	}
}

// A panic after the response started cuts the connection instead of
// pretending the response is whole.
func TestRecoveryAfterFlushAborts(t *testing.T) {
	ts := start(t, []*Route{mustRoute(t, "GET /late", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "started")
		w.(http.Flusher).Flush()
		panic("late boom")
	})})
	resp, err := ts.Client.Do(newReq(t, http.MethodGet, ts.URL+"/late", nil))
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Fatal("a response cut by a panic read as complete")
	}
	ts.Kit.WaitForSpanCount(t, 5*time.Second, "GET /late", 1)
}

func decompress(t *testing.T, enc string, b []byte) []byte {
	t.Helper()
	var r io.Reader
	var err error
	switch enc {
	case "gzip":
		r, err = gzip.NewReader(bytes.NewReader(b))
	case "deflate":
		r, err = zlib.NewReader(bytes.NewReader(b))
	case "br":
		r = brotli.NewReader(bytes.NewReader(b))
	case "zstd":
		var d *zstd.Decoder
		d, err = zstd.NewReader(bytes.NewReader(b))
		if err == nil {
			defer d.Close()
			r = d
		}
	default:
		return b
	}
	if err != nil {
		t.Fatalf("%s reader: %v", enc, err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s decoding: %v", enc, err)
	}
	return out
}

func TestCompression(t *testing.T) {
	big := strings.Repeat(`{"name":"patron","kind":"framework"},`, 200)
	ts := start(t, []*Route{
		mustRoute(t, "GET /big", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("ETag", `"v1"`)
			for i := 0; i < len(big); i += 100 { // many small writes cross the threshold
				_, _ = io.WriteString(w, big[i:min(i+100, len(big))])
			}
		}),
		mustRoute(t, "GET /sniffed", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, "<html><body>"+strings.Repeat("hello ", 400)+"</body></html>")
		}),
		mustRoute(t, "GET /small", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"ok":true}`)
		}),
		mustRoute(t, "GET /png", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "image/png")
			_, _ = io.WriteString(w, big)
		}),
		mustRoute(t, "GET /status", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, big)
		}),
	})
	for _, tc := range []struct {
		path, accept, wantEnc string
		wantStatus            int
	}{
		{"/big", "gzip", "gzip", 200},
		{"/big", "deflate", "deflate", 200},
		{"/big", "br", "br", 200},
		{"/big", "zstd", "zstd", 200},
		{"/big", "gzip;q=0.5, br;q=0.9", "br", 200},
		{"/big", "gzip, deflate, br, zstd", "zstd", 200},
		{"/big", "*", "zstd", 200},
		{"/big", "compress, identity", "", 200},
		{"/big", "gzip;q=0, identity;q=0", "", 200}, // nothing acceptable: identity, never 406
		{"/big", ";;;q=x,,", "", 200},
		{"/big", "", "", 200},
		{"/sniffed", "gzip", "gzip", 200},
		{"/small", "gzip", "", 200},
		{"/png", "gzip", "", 200},
		{"/status", "gzip", "gzip", 201},
	} {
		t.Run(tc.path+"/"+tc.accept, func(t *testing.T) {
			req := newReq(t, http.MethodGet, ts.URL+tc.path, nil)
			if tc.accept != "" {
				req.Header.Set("Accept-Encoding", tc.accept)
			}
			resp, body := ts.do(t, req)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if got := resp.Header.Get("Content-Encoding"); got != tc.wantEnc {
				t.Fatalf("Content-Encoding = %q, want %q", got, tc.wantEnc)
			}
			plain := decompress(t, tc.wantEnc, body)
			switch tc.path {
			case "/big", "/png", "/status":
				if string(plain) != big {
					t.Fatalf("body mismatch (%d bytes)", len(plain))
				}
			case "/sniffed":
				if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
					t.Errorf("Content-Type = %q", ct)
				}
			}
			if tc.wantEnc != "" {
				if !strings.Contains(strings.Join(resp.Header.Values("Vary"), ","), "Accept-Encoding") {
					t.Errorf("no Vary: Accept-Encoding")
				}
				if len(body) >= len(plain) {
					t.Errorf("compressed %d >= plain %d", len(body), len(plain))
				}
				if tc.path == "/big" && resp.Header.Get("ETag") != `W/"v1"` {
					t.Errorf("ETag = %q, want weakened", resp.Header.Get("ETag"))
				}
			}
		})
	}
}

// Unmatched requests are answered by the mux (404, 405) and still traced,
// with the method as the span name and no route.
func TestUnmatchedRequests(t *testing.T) {
	ts := start(t, []*Route{mustRoute(t, "GET /only-get", func(http.ResponseWriter, *http.Request) {})})
	if resp, _ := ts.get(t, "/nowhere"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown path: %d", resp.StatusCode)
	}
	resp, _ := ts.do(t, newReq(t, http.MethodPost, ts.URL+"/only-get", nil))
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("wrong method: %d", resp.StatusCode)
	}
	spans := ts.Kit.WaitForSpanCount(t, 5*time.Second, "GET", 1)
	if _, ok := observabilitytest.Attr(observabilitytest.Named(spans, "GET")[0], semconv.HTTPRouteKey); ok {
		t.Error("unmatched span has http.route")
	}
	ts.Kit.WaitForSpanCount(t, 5*time.Second, "POST", 1)
}

// A protocol upgrade hijacks the connection through the chain, via
// http.ResponseController.
func TestHijackThroughChain(t *testing.T) {
	route := mustRoute(t, "GET /ws", func(w http.ResponseWriter, _ *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		_ = brw.Flush()
		line, _ := brw.ReadString('\n')
		_, _ = brw.WriteString("echo " + line)
		_ = brw.Flush()
	}, WithTimeout(time.Second))
	ts := start(t, []*Route{route})
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
	rd := bufio.NewReader(conn)
	resp, err := http.ReadResponse(rd, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	_, _ = io.WriteString(conn, "hello\n")
	line, err := rd.ReadString('\n')
	if err != nil || line != "echo hello\n" {
		t.Fatalf("echo = %q, %v", line, err)
	}
	spans := ts.Kit.WaitForSpanCount(t, 5*time.Second, "GET /ws", 1)
	observabilitytest.AssertTree(t, spans, observabilitytest.Want{Name: "GET /ws",
		Attrs: []attribute.KeyValue{semconv.HTTPResponseStatusCode(101)}})
}

// Cancelling Run's context lets an in-flight request finish (the drain)
// and refuses new connections.
func TestGracefulDrain(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	ts := start(t, []*Route{mustRoute(t, "GET /slow", func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		if r.Context().Err() != nil {
			t.Errorf("request context cancelled during the drain: %v", r.Context().Err())
		}
		_, _ = io.WriteString(w, "finished")
	})})
	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := ts.Client.Do(newReq(t, http.MethodGet, ts.URL+"/slow", nil))
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- result{string(b), err}
	}()
	<-started
	ts.cancel()
	ts.cancel = nil
	// The listener closes at once; wait for that before releasing.
	testenv.WaitFor(t, 5*time.Second, "the draining server to stop accepting connections", func() bool {
		c, err := net.DialTimeout("tcp", strings.TrimPrefix(ts.URL, "http://"), time.Second)
		if err != nil {
			return true
		}
		c.Close()
		return false
	})
	select {
	case err := <-ts.done:
		t.Fatalf("Run returned before the in-flight request finished: %v", err)
	default:
	}
	close(release)
	r := <-got
	if r.err != nil || r.body != "finished" {
		t.Fatalf("in-flight request: %q, %v", r.body, r.err)
	}
	if err := <-ts.done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// When in-flight requests outlive the shutdown timeout, their contexts are
// cancelled and Run reports it.
func TestDrainTimeout(t *testing.T) {
	started := make(chan struct{})
	ts := start(t, []*Route{mustRoute(t, "GET /stuck", func(_ http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
	})}, WithShutdownTimeout(100*time.Millisecond))
	errc := make(chan error, 1)
	go func() {
		resp, err := ts.Client.Do(newReq(t, http.MethodGet, ts.URL+"/stuck", nil))
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	<-started
	ts.cancel()
	ts.cancel = nil
	if err := <-ts.done; err == nil || !strings.Contains(err.Error(), "shutdown timeout") {
		t.Fatalf("Run = %v, want a shutdown timeout error", err)
	}
	<-errc
}

func TestNewValidation(t *testing.T) {
	ok := mustRoute(t, "GET /a", func(http.ResponseWriter, *http.Request) {})
	dup := mustRoute(t, "GET /a", func(http.ResponseWriter, *http.Request) {})
	for name, opts := range map[string][]Option{
		"no routes":      nil,
		"nil route":      {WithRoutes(nil)},
		"conflict":       {WithRoutes(ok, dup)},
		"bad port":       {WithRoutes(ok), WithPort(70000)},
		"bad addr":       {WithRoutes(ok), WithAddr("nope")},
		"zero timeout":   {WithRoutes(ok), WithReadTimeout(0)},
		"nil tls":        {WithRoutes(ok), WithTLS(nil)},
		"nil provider":   {WithRoutes(ok), WithTracerProvider(nil)},
		"threshold":      {WithRoutes(ok), WithCompressionThreshold(-1)},
		"nil middleware": {WithRoutes(ok), WithMiddlewares(nil)},
		"nil option":     {WithRoutes(ok), nil},
	} {
		if _, err := New(opts...); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
	for _, pattern := range []string{"", "GET", "GET /{", "/a/{x}/{x}"} {
		if _, err := NewRoute(pattern, func(http.ResponseWriter, *http.Request) {}); err == nil {
			t.Errorf("NewRoute(%q) succeeded", pattern)
		}
	}
	if _, err := NewRoute("GET /x", nil); err == nil {
		t.Error("nil handler accepted")
	}
	for name, o := range map[string]RouteOption{
		"rate":      WithRateLimit(0, 1, nil),
		"burst":     WithRateLimit(1, 0, nil),
		"apikey":    WithAPIKey(),
		"emptykey":  WithAPIKey(""),
		"auth":      WithAuth(nil),
		"timeout":   WithTimeout(0),
		"bodylimit": WithBodyLimit(0),
		"cors":      WithCORS(CORS{}),
		"corsstar":  WithCORS(CORS{AllowedOrigins: []string{"*"}, AllowCredentials: true}),
		"corsbad":   WithCORS(CORS{AllowedOrigins: []string{"example.com"}}),
		"cache":     WithCache(nil, CacheConfig{TTL: time.Second}),
		"cachettl":  WithCache(newMemCache(), CacheConfig{}),
		"cachemax":  WithCache(newMemCache(), CacheConfig{TTL: time.Second, MaxBodySize: -1}),
		"mw":        WithRouteMiddlewares(nil),
		"nil":       nil,
	} {
		_, err := NewRoute("GET /x", func(http.ResponseWriter, *http.Request) {}, o)
		if err == nil {
			t.Errorf("%s: NewRoute succeeded", name)
		} else if !strings.HasPrefix(err.Error(), `http: NewRoute("GET /x"): `) {
			t.Errorf("%s: error %q does not name the package and the route", name, err)
		}
	}
}

// Server-wide middlewares run inside the chain: they see the span and the
// correlation ID, and may wrap the writer without breaking route matching.
func TestServerMiddlewares(t *testing.T) {
	var order []string
	mw := func(name string) Middleware {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if !trace.SpanContextFromContext(r.Context()).IsValid() {
					t.Errorf("%s: no span in context", name)
				}
				order = append(order, name)
				next.ServeHTTP(&wrapped{w}, r)
			})
		}
	}
	routeMW := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			order = append(order, "route")
			next.ServeHTTP(w, r)
		})
	}
	ts := start(t, []*Route{mustRoute(t, "GET /mw", func(w http.ResponseWriter, _ *http.Request) {
		order = append(order, "handler")
	}, WithRouteMiddlewares(routeMW))}, WithMiddlewares(mw("outer"), mw("inner")))
	resp, _ := ts.get(t, "/mw")
	if resp.StatusCode != http.StatusOK || strings.Join(order, ",") != "outer,inner,route,handler" {
		t.Fatalf("status %d order %v", resp.StatusCode, order)
	}
	ts.Kit.WaitForSpanCount(t, 5*time.Second, "GET /mw", 1)
}

type wrapped struct{ http.ResponseWriter }

func (w *wrapped) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// The handler works on its own with httptest and carries the default chain.
func TestHandlerWithHTTPTest(t *testing.T) {
	kit := observabilitytest.New(t)
	h, err := NewHandler(WithRoutes(mustRoute(t, "GET /h/{name}", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hi "+r.PathValue("name"))
	})), WithTracerProvider(kit.TracerProvider), WithMeterProvider(kit.MeterProvider), WithoutAccessLog())
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "/h/bob", nil)
	rec := newRecorder()
	h.ServeHTTP(rec, req)
	if rec.code != http.StatusOK || rec.body.String() != "hi bob" || rec.header.Get(correlation.HeaderKey) == "" {
		t.Fatalf("got %d %q %v", rec.code, rec.body.String(), rec.header)
	}
	kit.WaitForSpanCount(t, time.Second, "GET /h/{name}", 1)
}

type testRecorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func newRecorder() *testRecorder { return &testRecorder{header: http.Header{}} }

func (r *testRecorder) Header() http.Header { return r.header }
func (r *testRecorder) WriteHeader(c int) {
	if r.code == 0 {
		r.code = c
	}
}

func (r *testRecorder) Write(p []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.body.Write(p)
}

// http.server.active_requests counts requests in flight by method and
// scheme (observed at collection time), and goes back to 0 when they end.
func TestActiveRequests(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	ts := start(t, []*Route{mustRoute(t, "POST /slow", func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		w.WriteHeader(http.StatusNoContent)
	})})
	done := make(chan struct{})
	for range 2 {
		go func() {
			defer func() { done <- struct{}{} }()
			resp, err := ts.Client.Post(ts.URL+"/slow", "text/plain", strings.NewReader("x"))
			if err != nil {
				t.Errorf("POST: %v", err)
				return
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent {
				t.Errorf("status %d", resp.StatusCode)
			}
		}()
	}
	<-entered
	<-entered
	if n := ts.Kit.Sum(t, "http.server.active_requests", semconv.HTTPRequestMethodPost, semconv.URLScheme("http")); n != 2 {
		t.Errorf("active POST requests in flight = %v, want 2", n)
	}
	close(release)
	<-done
	<-done
	if n := ts.Kit.Sum(t, "http.server.active_requests", semconv.HTTPRequestMethodPost); n != 0 {
		t.Errorf("active requests after = %v, want 0", n)
	}
}

// The duration histogram keeps the sampled request's trace as an exemplar
// (from a slow bucket to its trace); the body size histograms do not
// carry exemplars, which would cost a clock read and a span lookup each.
func TestDurationExemplar(t *testing.T) {
	ts := start(t, []*Route{mustRoute(t, "GET /ex", func(w http.ResponseWriter, r *http.Request) {})})
	if resp, _ := ts.get(t, "/ex"); resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	server := ts.Kit.WaitForSpanCount(t, 5*time.Second, "GET /ex", 1)[0]
	exemplars := func(name string) []metricdata.Exemplar[float64] {
		var out []metricdata.Exemplar[float64]
		switch d := ts.Kit.Metric(t, name).Data.(type) {
		case metricdata.Histogram[float64]:
			for _, p := range d.DataPoints {
				out = append(out, p.Exemplars...)
			}
		case metricdata.Histogram[int64]:
			for _, p := range d.DataPoints {
				for _, e := range p.Exemplars {
					out = append(out, metricdata.Exemplar[float64]{TraceID: e.TraceID})
				}
			}
		default:
			t.Fatalf("%s is %T", name, d)
		}
		return out
	}
	ex := exemplars("http.server.request.duration")
	if len(ex) != 1 || trace.TraceID(ex[0].TraceID) != server.SpanContext().TraceID() {
		t.Errorf("duration exemplars = %v, want one for trace %s", ex, server.SpanContext().TraceID())
	}
	if ex := exemplars("http.server.response.body.size"); len(ex) != 0 {
		t.Errorf("response size exemplars = %v, want none", ex)
	}
}

// Close unregisters the active-requests callback, so a dropped handler no
// longer reports (nor is held by) a meter provider that outlives it.
func TestHandlerCloseUnregisters(t *testing.T) {
	kit := observabilitytest.New(t)
	h, err := NewHandler(WithRoutes(mustRoute(t, "GET /x", func(http.ResponseWriter, *http.Request) {})),
		WithTracerProvider(kit.TracerProvider), WithMeterProvider(kit.MeterProvider))
	if err != nil {
		t.Fatal(err)
	}
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/x", nil))
	points := func() int {
		for _, sm := range kit.Collect(t).ScopeMetrics {
			for _, m := range sm.Metrics {
				if m.Name == "http.server.active_requests" {
					return len(m.Data.(metricdata.Sum[int64]).DataPoints)
				}
			}
		}
		return 0
	}
	if n := points(); n != 1 {
		t.Fatalf("active_requests points before Close = %d, want 1", n)
	}
	c, ok := h.(io.Closer)
	if !ok {
		t.Fatal("NewHandler's handler is not an io.Closer")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if n := points(); n != 0 {
		t.Errorf("active_requests points after Close = %d, want 0", n)
	}
}

// Issue 19: NewMiddleware puts the default chain around a mux of the
// user's; the route comes from r.Pattern, which the ServeMux sets.
func TestMiddlewareAroundOwnMux(t *testing.T) {
	kit := observabilitytest.New(t)
	logs := &observabilitytest.LogBuffer{}
	mw, err := NewMiddleware(WithTracerProvider(kit.TracerProvider), WithMeterProvider(kit.MeterProvider),
		WithPropagator(kit.Propagator), WithLogger(slog.New(newLogHandler(logs))))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET example.com/items/{id}", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "item "+r.PathValue("id"))
	})
	mux.HandleFunc("POST /boom", func(http.ResponseWriter, *http.Request) { panic("boom") })
	srv := httptest.NewServer(mw(mux))
	defer srv.Close()

	req := newReq(t, http.MethodGet, srv.URL+"/items/7", nil, "Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	req.Host = "example.com"
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if string(body) != "item 7" || resp.Header.Get(correlation.HeaderKey) == "" {
		t.Fatalf("got %q %v", body, resp.Header)
	}
	spans := kit.WaitForSpanCount(t, 5*time.Second, "GET /items/{id}", 1)
	observabilitytest.AssertTree(t, spans, observabilitytest.Want{Name: "GET /items/{id}", Kind: trace.SpanKindServer,
		Attrs: []attribute.KeyValue{semconv.HTTPRoute("/items/{id}"), semconv.HTTPResponseStatusCode(200)}})
	if got := spans[0].Parent().TraceID().String(); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("remote parent not used: %s", got)
	}
	if n := kit.Sum(t, "http.server.request.duration", semconv.HTTPRoute("/items/{id}")); n != 1 {
		t.Errorf("duration count with the route = %v", n)
	}
	logs.WaitRecord(t, 5*time.Second, func(m map[string]any) bool { return m["msg"] == accessMsg && m["route"] == "/items/{id}" })

	// Unmatched requests are unrouted; panics are recovered.
	resp, err = srv.Client().Get(srv.URL + "/nope")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("/nope = %d", resp.StatusCode)
	}
	kit.WaitForSpanCount(t, 5*time.Second, "GET", 1)
	resp, err = srv.Client().Post(srv.URL+"/boom", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError || resp.Header.Get("Content-Type") != ProblemContentType {
		t.Errorf("panic = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	kit.WaitForSpanCount(t, 5*time.Second, "POST /boom", 1)

	if _, err := NewMiddleware(nil); err == nil || !strings.HasPrefix(err.Error(), "http: ") {
		t.Errorf("NewMiddleware(nil) = %v", err)
	}
}
