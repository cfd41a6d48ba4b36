package telemetry

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

func TestPropagatorsInjectAndExtract(t *testing.T) {
	tests := map[string]string{
		"tracecontext": "traceparent",
		"b3":           "b3",
		"b3multi":      "x-b3-traceid",
		"jaeger":       "uber-trace-id",
		"xray":         "X-Amzn-Trace-Id",
		"ottrace":      "ot-tracer-traceid",
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
		Remote:     true,
	})
	for name, header := range tests {
		t.Run(name, func(t *testing.T) {
			p, _, err := parsePropagators(name)
			if err != nil {
				t.Fatal(err)
			}
			carrier := propagation.MapCarrier{}
			p.Inject(trace.ContextWithSpanContext(t.Context(), sc), carrier)
			if carrier.Get(header) == "" {
				t.Fatalf("%s did not write %s; wrote %v", name, header, carrier)
			}
			got := trace.SpanContextFromContext(p.Extract(t.Context(), carrier))
			want := sc.TraceID()
			if name == "ottrace" {
				// OpenTracing's header carries 64-bit trace IDs: the upper half is lost.
				clear(want[:8])
			}
			if got.TraceID() != want || got.SpanID() != sc.SpanID() || !got.IsSampled() {
				t.Fatalf("extracted %v, want %v", got, sc)
			}
		})
	}
	// Old peers send their own header only: each must be understood when
	// the propagators are combined.
	p, _, err := parsePropagators("tracecontext,baggage,b3,jaeger,xray")
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []propagation.MapCarrier{
		{"uber-trace-id": "4bf92f3577b34da6a3ce929d0e0e4736:00f067aa0ba902b7:0:1"},
		{"b3": "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1"},
		{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		{"X-Amzn-Trace-Id": "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1"},
	} {
		got := trace.SpanContextFromContext(p.Extract(t.Context(), h))
		if got.TraceID() != sc.TraceID() {
			t.Errorf("extract from %v = %v", h, got.TraceID())
		}
	}
	none, _, err := parsePropagators("none")
	if err != nil {
		t.Fatal(err)
	}
	c := propagation.MapCarrier{}
	none.Inject(trace.ContextWithSpanContext(t.Context(), sc), c)
	if len(c) != 0 {
		t.Fatalf("none propagator wrote %v", c)
	}
}

func FuzzExtract(f *testing.F) {
	f.Add("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1", "4bf92f3577b34da6a3ce929d0e0e4736:00f067aa0ba902b7:0:1", "k=v")
	f.Add("", "", "", "")
	f.Add("ff-zz", "-", ":::", ";;,=")
	p, _, err := parsePropagators("tracecontext,baggage,b3,b3multi,jaeger")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, tp, b3, uber, bag string) {
		c := propagation.MapCarrier{"traceparent": tp, "b3": b3, "uber-trace-id": uber, "baggage": bag, "x-b3-traceid": b3}
		ctx := p.Extract(context.Background(), c)
		out := propagation.MapCarrier{}
		p.Inject(ctx, out)
	})
}

func TestSamplerFromEnvIsTheSDKs(t *testing.T) {
	for _, tc := range []struct {
		name, arg string
		sampled   bool
	}{
		{"", "", true},
		{"always_off", "", false},
		{"parentbased_always_off", "", false},
		{"traceidratio", "0", false},
		{"parentbased_traceidratio", "1", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("OTEL_TRACES_SAMPLER", tc.name)
			t.Setenv("OTEL_TRACES_SAMPLER_ARG", tc.arg)
			p, err := Setup(t.Context(), "sampler", "1", WithoutGlobals(), WithoutRuntimeMetrics())
			if err != nil {
				t.Fatal(err)
			}
			defer p.Shutdown(context.Background())
			_, span := p.TracerProvider().Tracer("t").Start(t.Context(), "root")
			span.End()
			if got := span.SpanContext().IsSampled(); got != tc.sampled {
				t.Errorf("root span sampled %v, want %v", got, tc.sampled)
			}
		})
	}
	for _, bad := range [][2]string{{"sometimes", ""}, {"traceidratio", "2"}, {"parentbased_traceidratio", "x"}} {
		t.Setenv("OTEL_TRACES_SAMPLER", bad[0])
		t.Setenv("OTEL_TRACES_SAMPLER_ARG", bad[1])
		_, err := Setup(t.Context(), "sampler", "1", WithoutGlobals(), WithoutRuntimeMetrics())
		if err == nil || !strings.Contains(err.Error(), "OTEL_TRACES_SAMPLER") {
			t.Errorf("%v: error %v does not name the variable", bad, err)
		}
	}
}

// receiver is a real OTLP/gRPC trace receiver built on the official protos.
type receiver struct {
	collectortrace.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans []*tracepb.ResourceSpans
	got   chan struct{}
}

func (r *receiver) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	r.add(req)
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

func (r *receiver) add(req *collectortrace.ExportTraceServiceRequest) {
	r.mu.Lock()
	r.spans = append(r.spans, req.GetResourceSpans()...)
	r.mu.Unlock()
	select {
	case r.got <- struct{}{}:
	default:
	}
}

func (r *receiver) find(name string) (service string, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range r.spans {
		for _, a := range rs.GetResource().GetAttributes() {
			if a.GetKey() == "service.name" {
				service = a.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				if s.GetName() == name {
					return service, true
				}
			}
		}
	}
	return "", false
}

func TestOTLPExportReachesRealReceiver(t *testing.T) {
	for _, protocol := range []string{"grpc", "http/protobuf"} {
		t.Run(protocol, func(t *testing.T) {
			rcv := &receiver{got: make(chan struct{}, 1)}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			if protocol == "grpc" {
				srv := grpc.NewServer()
				collectortrace.RegisterTraceServiceServer(srv, rcv)
				go func() { _ = srv.Serve(ln) }()
				t.Cleanup(srv.Stop)
			} else {
				srv := &http.Server{ReadHeaderTimeout: time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					body, _ := io.ReadAll(r.Body)
					req := &collectortrace.ExportTraceServiceRequest{}
					if r.URL.Path != "/v1/traces" || proto.Unmarshal(body, req) != nil {
						http.Error(w, "bad", http.StatusBadRequest)
						return
					}
					rcv.add(req)
					w.Header().Set("Content-Type", "application/x-protobuf")
				})}
				go func() { _ = srv.Serve(ln) }()
				t.Cleanup(func() { _ = srv.Close() })
			}
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+ln.Addr().String())
			t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
			t.Setenv("OTEL_METRICS_EXPORTER", "none")

			p, err := Setup(t.Context(), "export-test", "1.2.3", WithoutGlobals(), WithoutRuntimeMetrics())
			if protocol == "grpc" && !grpcExporters {
				if !errors.Is(err, errGRPCLeftOut) {
					t.Fatalf("built with patron_nogrpcexport, grpc gives %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			_, span := p.TracerProvider().Tracer("test").Start(t.Context(), "exported-op")
			span.End()
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			if err := p.Shutdown(ctx); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			service, ok := rcv.find("exported-op")
			if !ok || service != "export-test" {
				t.Fatalf("receiver got span %v from service %q", ok, service)
			}
		})
	}
}

func TestNoExportWithoutConfiguration(t *testing.T) {
	c, err := readEnv(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if c.traces.kind != kindNone || c.metrics.kind != kindNone || c.logs.kind != kindNone {
		t.Fatalf("exporters enabled without configuration: %+v", c)
	}
}
