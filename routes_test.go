package patron

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	patronhttp "github.com/patron-go/patron/component/http"
	"github.com/patron-go/patron/observability/observabilitytest"
	"github.com/patron-go/patron/observability/telemetry"
)

func TestWithRoutesServesOnDefaultServer(t *testing.T) {
	kit := observabilitytest.New(t)
	route, err := patronhttp.NewRoute("GET /hello/{name}", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hello "+r.PathValue("name"))
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	r := start(t, ctx, []Option{
		WithRoutes(route),
		WithTracerProvider(kit.TracerProvider),
		WithMeterProvider(kit.MeterProvider),
		WithPropagator(kit.Propagator),
		// The routes must use the service's providers, not the globals.
		WithObservability(telemetry.WithoutGlobals()),
	})
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, r.base+"/hello/ada", nil)
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "hello ada" || resp.Header.Get("X-Correlation-Id") == "" {
		t.Fatalf("route: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	spans := kit.WaitForSpanCount(t, 5*time.Second, "GET /hello/{name}", 1)
	observabilitytest.AssertTree(t, spans, observabilitytest.Want{Name: "GET /hello/{name}", Kind: trace.SpanKindServer,
		Attrs: []attribute.KeyValue{semconv.HTTPRoute("/hello/{name}"), semconv.HTTPResponseStatusCode(200)}})
	if got := kit.Span(t, "GET /hello/{name}").Parent().TraceID().String(); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("remote parent not used: %s", got)
	}
	if n := kit.Sum(t, "http.server.request.duration", semconv.HTTPRoute("/hello/{name}")); n != 1 {
		t.Errorf("duration count %v", n)
	}
	// The service's endpoints keep precedence; unknown paths are 404.
	if code, _ := get(t, r.base+"/alive"); code != http.StatusOK {
		t.Errorf("/alive: %d", code)
	}
	if code, _ := get(t, r.base+"/nope"); code != http.StatusNotFound {
		t.Errorf("/nope: %d", code)
	}
	cancel()
	if err := r.wait(t); err != nil {
		t.Fatal(err)
	}
}

func TestWithRoutesValidation(t *testing.T) {
	a, _ := patronhttp.NewRoute("GET /a", func(http.ResponseWriter, *http.Request) {})
	b, _ := patronhttp.NewRoute("GET /a", func(http.ResponseWriter, *http.Request) {})
	for name, opts := range map[string][]Option{
		"none":     {WithRoutes()},
		"conflict": {WithRoutes(a, b)},
		"twice":    {WithRoutes(a), WithHandler(http.NotFoundHandler())},
	} {
		_, err := New("svc", "1", append(opts, WithLogger(quietLogger()), WithObservability())...)
		if err == nil {
			t.Errorf("%s: New succeeded", name)
		} else if !strings.Contains(err.Error(), "patron") {
			t.Errorf("%s: error %q does not say where", name, err)
		}
	}
}

// Issue 20: the default server sends route requests past its ServeMux
// (frontMux); every path must get what the ServeMux alone gives it.
func TestFrontMuxAnswersAsTheServiceMux(t *testing.T) {
	user := http.NewServeMux()
	user.HandleFunc("GET /hello/{name}", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "user") })
	user.HandleFunc("POST /alive", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "user alive") })
	for _, debug := range []bool{false, true} {
		service := http.NewServeMux()
		for _, p := range []string{"GET /alive", "GET /ready", "GET /metrics", "/debug/pprof/", "GET /debug/log-level"} {
			if !debug && strings.Contains(p, "/debug") {
				continue
			}
			service.HandleFunc(p, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "service "+p) })
		}
		service.Handle("/", user)
		front := &frontMux{service: service, user: user, debug: debug}
		for _, target := range []string{"/alive", "/ready", "/metrics", "/alive/", "/x/../alive", "//alive", "/./ready",
			"/hello/ada", "/hello/ada/", "/hello//ada", "/hello/./ada", "/hello/..", "/debug/pprof/", "/debug/pprof",
			"/debug/log-level", "/nope", "/", "/..", "/.", "/a/.b", "/a/..b", "/a/b.."} {
			for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodHead} {
				want, got := httptest.NewRecorder(), httptest.NewRecorder()
				service.ServeHTTP(want, httptest.NewRequest(method, target, nil))
				front.ServeHTTP(got, httptest.NewRequest(method, target, nil))
				if got.Code != want.Code || got.Body.String() != want.Body.String() || got.Header().Get("Location") != want.Header().Get("Location") {
					t.Errorf("debug %v, %s %s: front %d %q %q, mux %d %q %q", debug, method, target,
						got.Code, got.Body, got.Header().Get("Location"), want.Code, want.Body, want.Header().Get("Location"))
				}
			}
		}
	}
}
