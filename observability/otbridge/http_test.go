package otbridge_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	ot "github.com/opentracing/opentracing-go"
	"github.com/opentracing/opentracing-go/ext"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	httpclient "github.com/patron-go/patron/client/http"
	patronhttp "github.com/patron-go/patron/component/http"
	"github.com/patron-go/patron/observability/observabilitytest"
	"github.com/patron-go/patron/observability/otbridge"
)

// service is one service of a test: its bridge on the shared kit.
type service struct {
	tracer ot.Tracer
	tp     trace.TracerProvider
}

func newService(t *testing.T, kit *observabilitytest.Kit) service {
	t.Helper()
	tracer, tp, err := otbridge.New(kit.TracerProvider, kit.Propagator)
	if err != nil {
		t.Fatal(err)
	}
	return service{tracer, tp}
}

// serveHTTP runs a component/http server on 127.0.0.1:0 with route, on
// svc's wrapper provider, until t ends, and returns its base URL.
func serveHTTP(t *testing.T, kit *observabilitytest.Kit, svc service, pattern string, h http.HandlerFunc) string {
	t.Helper()
	route, err := patronhttp.NewRoute(pattern, h)
	if err != nil {
		t.Fatal(err)
	}
	c, err := patronhttp.New(patronhttp.WithAddr("127.0.0.1:0"), patronhttp.WithRoutes(route),
		patronhttp.WithTracerProvider(svc.tp), patronhttp.WithMeterProvider(kit.MeterProvider),
		patronhttp.WithPropagator(kit.Propagator), patronhttp.WithoutAccessLog())
	if err != nil {
		t.Fatal(err)
	}
	runUntilCleanup(t, c)
	addr, err := c.Addr(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return "http://" + addr.String()
}

// runUntilCleanup runs c until t ends, then stops it and checks that it
// stopped cleanly.
func runUntilCleanup(t *testing.T, c interface{ Run(context.Context) error }) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%T: %v", c, err)
		}
	})
}

// Over real servers: Patron's SERVER span > OpenTracing span > Patron's
// CLIENT span > the next service's SERVER span > OpenTracing span, which
// injects its context into a call to a service still fully on OpenTracing
// (plain net/http), whose extracted span joins the same trace.
func TestHTTPNesting(t *testing.T) {
	kit := observabilitytest.New(t)
	a, b, legacy := newService(t, kit), newService(t, kit), newService(t, kit)

	legacyLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	legacySrv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sc, err := legacy.tracer.Extract(ot.HTTPHeaders, ot.HTTPHeadersCarrier(r.Header))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		span := legacy.tracer.StartSpan("legacy "+r.URL.Path, ext.RPCServerOption(sc))
		defer span.Finish()
		_, _ = io.WriteString(w, "ok")
	})}
	go func() { _ = legacySrv.Serve(legacyLn) }()
	t.Cleanup(func() { _ = legacySrv.Close() })
	legacyURL := "http://" + legacyLn.Addr().String()

	bURL := serveHTTP(t, kit, b, "GET /b", func(w http.ResponseWriter, r *http.Request) {
		span, ctx := ot.StartSpanFromContextWithTracer(r.Context(), b.tracer, "ot b")
		defer span.Finish()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, legacyURL+"/c", nil)
		if err := b.tracer.Inject(span.Context(), ot.HTTPHeaders, ot.HTTPHeadersCarrier(req.Header)); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		_ = resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
	})
	client, err := httpclient.New(httpclient.WithTracerProvider(a.tp), httpclient.WithMeterProvider(kit.MeterProvider),
		httpclient.WithPropagator(kit.Propagator), httpclient.WithoutRetry())
	if err != nil {
		t.Fatal(err)
	}
	defer client.CloseIdleConnections()
	aURL := serveHTTP(t, kit, a, "GET /a", func(w http.ResponseWriter, r *http.Request) {
		span, ctx := ot.StartSpanFromContextWithTracer(r.Context(), a.tracer, "ot a")
		defer span.Finish()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, bURL+"/b", nil)
		resp, err := client.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		_ = resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
	})

	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := hc.Get(aURL + "/a")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /a: %d", resp.StatusCode)
	}
	// A server span ends after its response is written, so the caller can see
	// the answer before the callee's span ends: wait for all six.
	spans := kit.WaitForSpans(t, 10*time.Second, func(s []sdktrace.ReadOnlySpan) bool { return len(s) >= 6 })
	observabilitytest.AssertTree(t, spans, observabilitytest.Want{
		Name: "GET /a", Kind: trace.SpanKindServer,
		Children: []observabilitytest.Want{{
			Name: "ot a",
			Children: []observabilitytest.Want{{
				Name: "GET", Kind: trace.SpanKindClient,
				Children: []observabilitytest.Want{{
					Name: "GET /b", Kind: trace.SpanKindServer,
					Children: []observabilitytest.Want{{
						Name:     "ot b",
						Children: []observabilitytest.Want{{Name: "legacy /c", Kind: trace.SpanKindServer}},
					}},
				}},
			}},
		}},
	})
}
