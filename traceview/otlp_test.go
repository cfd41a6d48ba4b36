package traceview

import (
	"bytes"
	"compress/gzip"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
)

// otlpJSONSample is an OTLP/JSON export as the spec's examples write it:
// hex IDs, string int64s, enum numbers.
const otlpJSONSample = `{
  "resourceSpans": [{
    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-svc"}}]},
    "scopeSpans": [{
      "scope": {"name": "manual"},
      "spans": [{
        "traceId": "5B8EFFF798038103D269B633813FC60C",
        "spanId": "EEE19B7EC3C1B174",
        "parentSpanId": "EEE19B7EC3C1B173",
        "name": "I'm a server span",
        "startTimeUnixNano": "1544712660000000000",
        "endTimeUnixNano": "1544712661000000000",
        "kind": 2,
        "attributes": [
          {"key": "my.span.attr", "value": {"stringValue": "some value"}},
          {"key": "count", "value": {"intValue": "3"}},
          {"key": "list", "value": {"arrayValue": {"values": [{"stringValue": "a"}, {"intValue": 1}]}}}
        ],
        "links": [{"traceId": "00000000000000000000000000000001", "spanId": "0000000000000002"}],
        "status": {"code": 2, "message": "bad"}
      }]
    }]
  }]
}`

func newTestOTLPHandler(t testing.TB, maxBody int64) (*otlpHTTP, *Store) {
	s := newTestStore(t, 1000)
	return &otlpHTTP{store: s, log: testLogger(t), maxBody: maxBody}, s
}

func post(h http.Handler, ct, enc string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/v1/traces", bytes.NewReader(body))
	req.Header.Set("Content-Type", ct)
	if enc != "" {
		req.Header.Set("Content-Encoding", enc)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, _ = w.Write(b)
	_ = w.Close()
	return buf.Bytes()
}

func TestOTLPHTTPJSON(t *testing.T) {
	h, s := newTestOTLPHandler(t, 1<<20)
	rec := post(h, "application/json; charset=utf-8", "gzip", gz([]byte(otlpJSONSample)))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != contentJSON {
		t.Fatalf("status %d, type %q: %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	var resp coltracepb.ExportTraceServiceResponse
	if err := protojson.Unmarshal(rec.Body.Bytes(), &resp); err != nil || resp.PartialSuccess != nil {
		t.Errorf("response %s: %v", rec.Body, err)
	}
	tr, ok := s.Trace("5b8efff798038103d269b633813fc60c")
	if !ok {
		t.Fatal("JSON span not stored under its hex trace ID")
	}
	sp := tr.Spans[0]
	if sp.SpanID != "eee19b7ec3c1b174" || sp.References[0].SpanID != "eee19b7ec3c1b173" || sp.Duration != 1_000_000 {
		t.Errorf("span %+v", sp)
	}
	if sp.References[1] != (Reference{RefFollowsFrom, "00000000000000000000000000000001", "0000000000000002"}) {
		t.Errorf("link reference %+v", sp.References[1])
	}
	if tagOf(sp.Tags, "count") != int64(3) || tagOf(sp.Tags, "list") != `["a",1]` || tagOf(sp.Tags, "error") != true {
		t.Errorf("tags %+v", sp.Tags)
	}
}

func TestOTLPHTTPProtobufPartialSuccess(t *testing.T) {
	h, s := newTestOTLPHandler(t, 1<<20)
	req := &coltracepb.ExportTraceServiceRequest{ResourceSpans: synthRequest(0, 2, 3, []string{"x"})}
	req.ResourceSpans[0].ScopeSpans[0].Spans[0].TraceId = []byte{1} // one bad span
	body, _ := proto.Marshal(req)
	rec := post(h, contentProtobuf, "", body)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var resp coltracepb.ExportTraceServiceResponse
	if err := proto.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		t.Fatal(err)
	}
	if resp.GetPartialSuccess().GetRejectedSpans() != 1 || s.SpanCount() != 5 {
		t.Errorf("partial success %v, stored %d", resp.GetPartialSuccess(), s.SpanCount())
	}
}

func TestOTLPHTTPRejectsBadRequests(t *testing.T) {
	h, s := newTestOTLPHandler(t, 4096)
	big, _ := proto.Marshal(&coltracepb.ExportTraceServiceRequest{ResourceSpans: synthRequest(0, 20, 5, []string{"x"})})
	cases := []struct {
		name, ct, enc string
		body          []byte
		want          int
	}{
		{"garbage protobuf", contentProtobuf, "", []byte{0xff, 0xff, 0xff}, http.StatusBadRequest},
		{"garbage json", contentJSON, "", []byte(`{"resourceSpans": [}`), http.StatusBadRequest},
		{"wrong json type", contentJSON, "", []byte(`{"resourceSpans": 3}`), http.StatusBadRequest},
		{"bad gzip", contentProtobuf, "gzip", []byte("not gzip"), http.StatusBadRequest},
		{"unknown encoding", contentProtobuf, "br", []byte{}, http.StatusUnsupportedMediaType},
		{"content type", "text/plain", "", []byte("hi"), http.StatusUnsupportedMediaType},
		{"too large", contentProtobuf, "", big, http.StatusRequestEntityTooLarge},
		{"gzip bomb", contentProtobuf, "gzip", gz(make([]byte, 1<<20)), http.StatusRequestEntityTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := post(h, c.ct, c.enc, c.body)
			if rec.Code != c.want {
				t.Errorf("status %d, want %d: %s", rec.Code, c.want, rec.Body)
			}
		})
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/traces", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: status %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/profiles", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("POST /v1/profiles: status %d", rec.Code)
	}
	if s.SpanCount() != 0 {
		t.Errorf("bad requests stored %d spans", s.SpanCount())
	}
}

// rawBytesCodec sends bytes as they are, to put a malformed message on the
// wire.
type rawBytesCodec struct{}

func (rawBytesCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(*v.(*[]byte))}, nil
}
func (rawBytesCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}
func (rawBytesCodec) Name() string { return "proto" }

func TestOTLPGRPCInvalidArgument(t *testing.T) {
	ctx := t.Context()
	v, addrs := startViewer(t)
	conn, err := grpc.NewClient(addrs.OTLPGRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	in, out := []byte{0xff, 0xff, 0xff, 0x01}, []byte(nil)
	err = conn.Invoke(ctx, coltracepb.TraceService_Export_FullMethodName, &in, &out, grpc.ForceCodecV2(rawBytesCodec{}))
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("garbage export: %v, want InvalidArgument", err)
	}

	// The same connection still works for a good export.
	client := coltracepb.NewTraceServiceClient(conn)
	resp, err := client.Export(ctx, &coltracepb.ExportTraceServiceRequest{ResourceSpans: synthRequest(0, 1, 2, []string{"g"})})
	if err != nil || resp.GetPartialSuccess() != nil {
		t.Fatalf("export: %v %v", resp, err)
	}
	if v.Store().SpanCount() != 2 {
		t.Errorf("stored %d spans, want 2", v.Store().SpanCount())
	}
}

// RegisterGRPC serves the receiver on a caller's own gRPC server.
func TestRegisterGRPC(t *testing.T) {
	v, err := New(WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	v.RegisterGRPC(srv)
	for _, svc := range []string{"trace.v1.TraceService", "logs.v1.LogsService", "metrics.v1.MetricsService"} {
		if _, ok := srv.GetServiceInfo()["opentelemetry.proto.collector."+svc]; !ok {
			t.Errorf("%s not registered", svc)
		}
	}
	srv.Stop()
}

func TestHexIDsToBase64(t *testing.T) {
	cases := map[string]string{
		`{"traceId":"0102"}`:                 `{"traceId":"AQI="}`,
		`{"spanId" : "ff"}`:                  `{"spanId" : "/w=="}`,
		`{"name":"traceId","x":"0102"}`:      `{"name":"traceId","x":"0102"}`, // a value, not a key
		`{"traceId":"zz"}`:                   `{"traceId":"zz"}`,              // not hex: left for protojson
		`{"traceId":""}`:                     `{"traceId":""}`,
		`{"a":"\"traceId\"","traceId":"01"}`: `{"a":"\"traceId\"","traceId":"AQ=="}`,
		`{"traceId":"01`:                     `{"traceId":"01`,
	}
	for in, want := range cases {
		if got := string(hexIDsToBase64([]byte(in))); got != want {
			t.Errorf("hexIDsToBase64(%s) = %s, want %s", in, got, want)
		}
	}
}

// FuzzOTLPJSON feeds arbitrary bytes through the OTLP/JSON path, decoding
// and ingestion alike: it must never panic, and whatever decodes must store.
func FuzzOTLPJSON(f *testing.F) {
	f.Add([]byte(otlpJSONSample))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"01","spanId":"02"}]}]}]}`))
	f.Add([]byte(`{"resource_spans":[{"scope_spans":[{"spans":[{"trace_id":"5B8EFFF798038103D269B633813FC60C","span_id":"EEE19B7EC3C1B174","kind":"SPAN_KIND_CLIENT"}]}]}]}`))
	f.Add([]byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174","attributes":[{"key":"k","value":{"kvlistValue":{"values":[{"key":"n","value":{"arrayValue":{"values":[{"doubleValue":"NaN"}]}}}]}}}],"startTimeUnixNano":"18446744073709551615"}]}]}]}`))
	f.Add([]byte(`{"traceId":"\u0030"`))
	// One store for all inputs: it is bounded and safe for concurrent use,
	// and building one per input would dominate the fuzzer's time.
	s, err := NewStore(100)
	if err != nil {
		f.Fatal(err)
	}
	h := &otlpHTTP{store: s, log: slog.New(slog.DiscardHandler), maxBody: 1 << 20}
	ui, err := newUIHandler(stores{spans: s}, slog.New(slog.DiscardHandler))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := post(h, contentJSON, "", body)
		if rec.Code != http.StatusOK && rec.Code != http.StatusBadRequest {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		if rec.Code == http.StatusOK {
			// Whatever was stored must render through the query API.
			for _, svc := range s.Services() {
				if _, err := s.FindTraces(Query{Service: svc}); err != nil {
					t.Fatal(err)
				}
			}
			r := httptest.NewRecorder()
			ui.ServeHTTP(r, httptest.NewRequest(http.MethodGet, "/api/traces?limit=10", nil))
			if r.Code != http.StatusOK {
				t.Fatalf("query after ingest: %d %s", r.Code, r.Body)
			}
			s.Dependencies(time.Time{}, 0)
		}
	})
}
