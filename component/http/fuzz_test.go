package http

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// fuzzHandler is the full chain with every route option, sampled tracing,
// and a handler that decodes bodies and echoes path values.
func fuzzHandler(t testing.TB) http.Handler {
	t.Helper()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	mem := newMemCache()
	echo := func(w http.ResponseWriter, r *http.Request) {
		var v map[string]any
		if r.Method == http.MethodPost {
			if err := Decode(r, &v); err != nil {
				WriteError(w, r, err)
				return
			}
		}
		_ = Respond(w, r, http.StatusOK, map[string]any{"id": r.PathValue("id"), "rest": r.PathValue("rest"), "body": v})
	}
	h, err := NewHandler(
		WithRoutes(
			mustRoute(t, "GET /items/{id}/{rest...}", echo, WithCache(mem, CacheConfig{TTL: time.Minute})),
			mustRoute(t, "POST /items/{id}", echo, WithBodyLimit(256), WithTimeout(time.Second),
				WithCORS(CORS{AllowedOrigins: []string{"https://a.example"}})),
			mustRoute(t, "GET /secure/{id}", echo, WithAPIKey("key"), WithRateLimit(1e6, 1e6, nil)),
		),
		WithTracerProvider(tp), WithMeterProvider(noop.NewMeterProvider()),
		WithPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})),
		WithLogger(slog.New(slog.NewJSONHandler(io.Discard, nil))),
	)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Hostile header values never panic and never produce a 5xx.
func FuzzHeaders(f *testing.F) {
	f.Add("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "k=v", "id-1", "gzip;q=0.5, br", "max-age=0, no-cache", `"x", W/"y"`, "Apikey key", "application/json", "*/*")
	f.Add("garbage", ";;;", strings.Repeat("a", 300), "*;q=2", "max-age=-1", "*", "Apikey", "text/xml", "application/x-protobuf;q=abc")
	f.Add("ff-"+strings.Repeat("0", 32)+"-"+strings.Repeat("0", 16)+"-ff", "=%%", "\x7f", "gzip;q=", "only-if-cached", "", "apikey  key ", ";", ",")
	h := fuzzHandler(f)
	f.Fuzz(func(t *testing.T, traceparent, baggage, corrID, acceptEnc, cacheControl, ifNoneMatch, authz, contentType, accept string) {
		for _, target := range []string{"/items/1/a/b", "/secure/1", "/items/2"} {
			method := http.MethodGet
			var body io.Reader = http.NoBody
			if target == "/items/2" {
				method = http.MethodPost
				body = strings.NewReader(`{"a":1}`)
			}
			req, err := http.NewRequestWithContext(t.Context(), method, "http://x"+target, body)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range map[string]string{
				"Traceparent": traceparent, "Baggage": baggage, "X-Correlation-Id": corrID,
				"Accept-Encoding": acceptEnc, "Cache-Control": cacheControl, "If-None-Match": ifNoneMatch,
				"Authorization": authz, "Content-Type": contentType, "Accept": accept, "Origin": corrID,
			} {
				req.Header[k] = []string{v}
			}
			req.RemoteAddr = "192.0.2.1:1234"
			rec := newRecorder()
			h.ServeHTTP(rec, req)
			onlyIfCached := rec.code == http.StatusGatewayTimeout && strings.Contains(strings.ToLower(cacheControl), "only-if-cached")
			if rec.code >= 500 && !onlyIfCached {
				t.Fatalf("%s %s: %d %s", method, target, rec.code, rec.body.String())
			}
			if id := rec.header.Get("X-Correlation-Id"); id == "" || strings.ContainsAny(id, " \r\n") {
				t.Fatalf("correlation ID %q", id)
			}
		}
	})
}

// Route parameters of any shape are matched or refused, never a panic or
// a 5xx.
func FuzzRouteParams(f *testing.F) {
	f.Add("1", "a/b/c")
	f.Add("%2F..%2F", "../../etc/passwd")
	f.Add("\x00", "%zz")
	f.Add(strings.Repeat("x", 1000), "")
	h := fuzzHandler(f)
	f.Fuzz(func(t *testing.T, id, rest string) {
		u := &url.URL{Scheme: "http", Host: "x", Path: "/items/" + id + "/" + rest}
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u.String(), nil)
		if err != nil {
			return // not a URL a client could send
		}
		rec := newRecorder()
		h.ServeHTTP(rec, req)
		if rec.code >= 500 {
			t.Fatalf("%q: %d %s", u.String(), rec.code, rec.body.String())
		}
	})
}

// Bodies of any shape and content type get 2xx, 400, 413 or 415.
func FuzzBodies(f *testing.F) {
	f.Add("application/json", []byte(`{"a":1}`))
	f.Add("application/x-protobuf", []byte{0xff, 0x01})
	f.Add("application/json", bytes.Repeat([]byte("a"), 300))
	f.Add("text/plain; charset=\x00", []byte("x"))
	h := fuzzHandler(f)
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://x/items/1", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header["Content-Type"] = []string{ct}
		rec := newRecorder()
		h.ServeHTTP(rec, req)
		switch rec.code {
		case 200, 400, 413, 415:
		default:
			t.Fatalf("Content-Type %q body %q: %d %s", ct, body, rec.code, rec.body.String())
		}
	})
}
