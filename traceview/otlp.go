package traceview

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/gzip" // registers the gzip decompressor OTLP exporters use
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
)

const (
	// DefaultMaxBodyBytes limits one OTLP export, after decompression. SDK
	// exporters send batches of 512 spans, far below it.
	DefaultMaxBodyBytes = 16 << 20

	contentProtobuf = "application/x-protobuf"
	contentJSON     = "application/json"
)

// errBadPayload marks decoding failures, which are the sender's fault.
var errBadPayload = errors.New("bad OTLP payload")

// decodeOTLPJSON decodes an OTLP/JSON export request. Trace and span IDs are
// hex in OTLP/JSON and base64 in protojson, hence the rewrite first.
func decodeOTLPJSON(body []byte) (*coltracepb.ExportTraceServiceRequest, error) {
	req := &coltracepb.ExportTraceServiceRequest{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(hexIDsToBase64(body), req); err != nil {
		return nil, fmt.Errorf("%w: json: %w", errBadPayload, err)
	}
	return req, nil
}

func decodeOTLPProto(body []byte) (*coltracepb.ExportTraceServiceRequest, error) {
	req := &coltracepb.ExportTraceServiceRequest{}
	if err := proto.Unmarshal(body, req); err != nil {
		return nil, fmt.Errorf("%w: protobuf: %w", errBadPayload, err)
	}
	return req, nil
}

func exportResponse(res IngestResult) *coltracepb.ExportTraceServiceResponse {
	resp := &coltracepb.ExportTraceServiceResponse{}
	if res.Rejected > 0 {
		resp.PartialSuccess = &coltracepb.ExportTracePartialSuccess{RejectedSpans: int64(res.Rejected), ErrorMessage: res.Reason}
	}
	return resp
}

// otlpHTTP receives OTLP/HTTP exports (POST /v1/traces) in protobuf or JSON,
// plain or gzip-compressed.
type otlpHTTP struct {
	store   *Store
	logs    *LogStore    // nil: /v1/logs answers 404
	metrics *MetricStore // nil: /v1/metrics answers 404
	log     *slog.Logger
	maxBody int64
	lim     limits
	bufs    sync.Pool
}

func (h *otlpHTTP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var ingest func(r *http.Request, json bool, body []byte) (proto.Message, error)
	switch {
	case r.URL.Path == "/v1/traces":
		ingest = h.traces
	case r.URL.Path == "/v1/logs" && h.logs != nil:
		ingest = h.ingestLogs
	case r.URL.Path == "/v1/metrics" && h.metrics != nil:
		ingest = h.ingestMetrics
	default:
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mt != contentProtobuf && mt != contentJSON) {
		h.reject(w, r, contentProtobuf, http.StatusUnsupportedMediaType,
			fmt.Errorf("unsupported content type %q, want %s or %s", r.Header.Get("Content-Type"), contentProtobuf, contentJSON))
		return
	}
	body, status, err := h.readBody(w, r)
	if err != nil {
		h.reject(w, r, mt, status, err)
		return
	}
	defer h.putBuf(body)

	resp, err := ingest(r, mt == contentJSON, body.Bytes())
	if err != nil {
		h.reject(w, r, mt, statusOf(err), err)
		return
	}
	writeOTLP(w, mt, http.StatusOK, resp)
}

func (h *otlpHTTP) traces(r *http.Request, json bool, body []byte) (proto.Message, error) {
	var (
		res IngestResult
		err error
	)
	if json {
		var req *coltracepb.ExportTraceServiceRequest
		if err = h.lim.checkJSON(body, "spans", "spans"); err == nil {
			if req, err = decodeOTLPJSON(body); err == nil {
				res = h.store.Ingest(req.GetResourceSpans())
			}
		}
	} else {
		res, err = h.store.ingestProto(body, h.lim)
	}
	if err != nil {
		return nil, err
	}
	if res.Rejected > 0 {
		h.log.Warn("traceview: rejected spans", "transport", "http", "remote", r.RemoteAddr, "rejected", res.Rejected, "reason", res.Reason)
	}
	return exportResponse(res), nil
}

func (h *otlpHTTP) ingestLogs(_ *http.Request, json bool, body []byte) (proto.Message, error) {
	if !json {
		if _, err := h.logs.ingestProto(body, h.lim); err != nil {
			return nil, err
		}
		return &collogspb.ExportLogsServiceResponse{}, nil
	}
	req := &collogspb.ExportLogsServiceRequest{}
	if err := decodeSignal(h.lim, json, body, req, kLogsRequest, "log records", "logRecords", "log_records"); err != nil {
		return nil, err
	}
	h.logs.Ingest(req.GetResourceLogs())
	return &collogspb.ExportLogsServiceResponse{}, nil
}

func (h *otlpHTTP) ingestMetrics(_ *http.Request, json bool, body []byte) (proto.Message, error) {
	req := &colmetricspb.ExportMetricsServiceRequest{}
	if err := decodeSignal(h.lim, json, body, req, kMetricsRequest, "data points", "dataPoints", "data_points"); err != nil {
		return nil, err
	}
	h.metrics.Ingest(req.GetResourceMetrics())
	return &colmetricspb.ExportMetricsServiceResponse{}, nil
}

// decodeSignal decodes an OTLP logs or metrics request into m, protobuf or
// JSON, once the limits have bounded what decoding it can allocate.
func decodeSignal(lim limits, json bool, body []byte, m proto.Message, k msgKind, what string, itemKeys ...string) error {
	if json {
		if err := lim.checkJSON(body, what, itemKeys...); err != nil {
			return err
		}
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(hexIDsToBase64(body), m); err != nil {
			return fmt.Errorf("%w: json: %w", errBadPayload, err)
		}
		return nil
	}
	if err := lim.check(body, k); err != nil {
		return err
	}
	if err := proto.Unmarshal(body, m); err != nil {
		return fmt.Errorf("%w: protobuf: %w", errBadPayload, err)
	}
	return nil
}

func (h *otlpHTTP) readBody(w http.ResponseWriter, r *http.Request) (*bytes.Buffer, int, error) {
	var src io.Reader = http.MaxBytesReader(w, r.Body, h.maxBody)
	switch enc := r.Header.Get("Content-Encoding"); enc {
	case "", "identity":
	case "gzip":
		gz, err := gzip.NewReader(src)
		if err != nil {
			return nil, http.StatusBadRequest, fmt.Errorf("%w: gzip: %w", errBadPayload, err)
		}
		defer gz.Close()
		src = gz
	default:
		return nil, http.StatusUnsupportedMediaType, fmt.Errorf("unsupported content encoding %q", enc)
	}
	buf, _ := h.bufs.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	buf.Reset()
	// The limit also applies after decompression, so a small gzip bomb
	// cannot expand into gigabytes.
	n, err := buf.ReadFrom(io.LimitReader(src, h.maxBody+1))
	if err == nil && n > h.maxBody {
		err = &http.MaxBytesError{Limit: h.maxBody}
	}
	if err != nil {
		h.putBuf(buf)
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("body larger than %d bytes: %w", h.maxBody, err)
		}
		return nil, http.StatusBadRequest, fmt.Errorf("%w: reading body: %w", errBadPayload, err)
	}
	return buf, http.StatusOK, nil
}

func (h *otlpHTTP) putBuf(b *bytes.Buffer) {
	if b.Cap() <= 4<<20 { // do not pin the odd huge body in the pool
		h.bufs.Put(b)
	}
}

func (h *otlpHTTP) reject(w http.ResponseWriter, r *http.Request, mt string, code int, err error) {
	h.log.Warn("traceview: rejected OTLP/HTTP export", "remote", r.RemoteAddr, "status", code, "error", err)
	// Decoder errors may quote the invalid input; protobuf strings must be
	// valid UTF-8 or the response itself fails to encode.
	msg := strings.ToValidUTF8(err.Error(), "\uFFFD")
	writeOTLP(w, mt, code, &status.Status{Code: int32(httpToGRPC(code)), Message: msg})
}

// statusOf is the HTTP status for an ingest error: 413 for a request over a
// limit, 400 for a malformed one.
func statusOf(err error) int {
	if errors.Is(err, errTooLarge) {
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusBadRequest
}

// grpcError is the gRPC status for an ingest error.
func grpcError(err error) error {
	code := codes.InvalidArgument
	if errors.Is(err, errTooLarge) {
		code = codes.ResourceExhausted
	}
	return grpcstatus.Error(code, strings.ToValidUTF8(err.Error(), "\uFFFD"))
}

func httpToGRPC(code int) codes.Code {
	switch code {
	case http.StatusRequestEntityTooLarge:
		return codes.ResourceExhausted
	case http.StatusUnsupportedMediaType:
		return codes.Unimplemented
	default:
		return codes.InvalidArgument
	}
}

// writeOTLP answers in the encoding of the request, as OTLP/HTTP requires.
func writeOTLP(w http.ResponseWriter, mt string, code int, m proto.Message) {
	var (
		b   []byte
		err error
	)
	if mt == contentJSON {
		b, err = protojson.Marshal(m)
	} else {
		mt = contentProtobuf
		b, err = proto.Marshal(m)
	}
	if err != nil {
		http.Error(w, "encoding response", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", mt)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(code)
	_, _ = w.Write(b) // the client went away; nothing left to tell it
}

// otlpGRPC implements the OTLP TraceService for registration on any gRPC
// server (see Viewer.RegisterGRPC).
type otlpGRPC struct {
	coltracepb.UnimplementedTraceServiceServer
	store   *Store
	logs    *LogStore
	metrics *MetricStore
	log     *slog.Logger
	lim     limits
}

// otlpLogsGRPC and otlpMetricsGRPC implement the OTLP LogsService and
// MetricsService for registration on any gRPC server.
type (
	otlpLogsGRPC struct {
		collogspb.UnimplementedLogsServiceServer
		g *otlpGRPC
	}
	otlpMetricsGRPC struct {
		colmetricspb.UnimplementedMetricsServiceServer
		g *otlpGRPC
	}
)

// Export stores the records of one logs export.
func (l otlpLogsGRPC) Export(_ context.Context, req *collogspb.ExportLogsServiceRequest) (*collogspb.ExportLogsServiceResponse, error) {
	n := 0
	for _, rl := range req.GetResourceLogs() {
		for _, sl := range rl.GetScopeLogs() {
			n += len(sl.GetLogRecords())
		}
	}
	if limit := l.g.lim.budget().maxItems; n > limit {
		return nil, grpcError(fmt.Errorf("%w: %d log records in one request, at most %d", errTooLarge, n, limit))
	}
	l.g.logs.Ingest(req.GetResourceLogs())
	return &collogspb.ExportLogsServiceResponse{}, nil
}

// Export stores the data points of one metrics export.
func (m otlpMetricsGRPC) Export(_ context.Context, req *colmetricspb.ExportMetricsServiceRequest) (*colmetricspb.ExportMetricsServiceResponse, error) {
	n := 0
	for _, rm := range req.GetResourceMetrics() {
		for _, sm := range rm.GetScopeMetrics() {
			for _, mt := range sm.GetMetrics() {
				n += len(mt.GetSum().GetDataPoints()) + len(mt.GetGauge().GetDataPoints()) + len(mt.GetHistogram().GetDataPoints()) +
					len(mt.GetExponentialHistogram().GetDataPoints()) + len(mt.GetSummary().GetDataPoints())
			}
		}
	}
	if limit := m.g.lim.budget().maxItems; n > limit {
		return nil, grpcError(fmt.Errorf("%w: %d data points in one request, at most %d", errTooLarge, n, limit))
	}
	m.g.metrics.Ingest(req.GetResourceMetrics())
	return &colmetricspb.ExportMetricsServiceResponse{}, nil
}

// Export stores the spans of one export. The server registered by the
// viewer decodes requests itself (see serviceDesc); this method serves
// registrations through the generated descriptor.
func (g *otlpGRPC) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	// The caller's server has decoded the request already; the span cap
	// still keeps one export from flooding the store.
	n := 0
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			n += len(ss.GetSpans())
		}
	}
	if limit := g.lim.budget().maxItems; n > limit {
		return nil, grpcError(fmt.Errorf("%w: %d spans in one request, at most %d", errTooLarge, n, limit))
	}
	res := g.store.Ingest(req.GetResourceSpans())
	if res.Rejected > 0 {
		g.log.Warn("traceview: rejected spans", "transport", "grpc", "rejected", res.Rejected, "reason", res.Reason)
	}
	return exportResponse(res), nil
}

// rawRequest carries an undecoded request from rawCodec to exportRaw.
type rawRequest struct{ data []byte }

// rawCodec is the viewer's own server codec. It is the protobuf codec except
// for requests of the TraceService, which it hands over undecoded so that a
// malformed payload is answered with InvalidArgument (grpc-go itself would
// answer Internal) and logged.
type rawCodec struct{ proto encoding.CodecV2 }

func (c rawCodec) Marshal(v any) (mem.BufferSlice, error) { return c.proto.Marshal(v) }

func (c rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if r, ok := v.(*rawRequest); ok {
		r.data = data.Materialize()
		return nil
	}
	return c.proto.Unmarshal(data, v)
}

func (rawCodec) Name() string { return grpcproto.Name }

// serviceDesc is the OTLP TraceService with a handler that decodes the
// request itself.
func (g *otlpGRPC) serviceDesc() *grpc.ServiceDesc {
	return g.rawDesc(coltracepb.TraceService_ServiceDesc, func(b []byte) (any, error) {
		res, err := g.store.ingestProto(b, g.lim)
		if err != nil {
			return nil, err
		}
		if res.Rejected > 0 {
			g.log.Warn("traceview: rejected spans", "transport", "grpc", "rejected", res.Rejected, "reason", res.Reason)
		}
		return exportResponse(res), nil
	})
}

// logsDesc and metricsDesc are the LogsService and MetricsService, decoding
// as serviceDesc does.
func (g *otlpGRPC) logsDesc() *grpc.ServiceDesc {
	return g.rawDesc(collogspb.LogsService_ServiceDesc, func(b []byte) (any, error) {
		if _, err := g.logs.ingestProto(b, g.lim); err != nil {
			return nil, err
		}
		return &collogspb.ExportLogsServiceResponse{}, nil
	})
}

func (g *otlpGRPC) metricsDesc() *grpc.ServiceDesc {
	return g.rawDesc(colmetricspb.MetricsService_ServiceDesc, func(b []byte) (any, error) {
		req := &colmetricspb.ExportMetricsServiceRequest{}
		if err := decodeSignal(g.lim, false, b, req, kMetricsRequest, "data points"); err != nil {
			return nil, err
		}
		g.metrics.Ingest(req.GetResourceMetrics())
		return &colmetricspb.ExportMetricsServiceResponse{}, nil
	})
}

// rawDesc replaces the Export method of desc with one that hands the
// undecoded request to ingest, and answers its errors with InvalidArgument
// or ResourceExhausted.
func (g *otlpGRPC) rawDesc(desc grpc.ServiceDesc, ingest func([]byte) (any, error)) *grpc.ServiceDesc {
	desc.Methods = []grpc.MethodDesc{{
		MethodName: "Export",
		Handler: func(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			var raw rawRequest
			if err := dec(&raw); err != nil {
				return nil, err
			}
			resp, err := ingest(raw.data)
			if err != nil {
				g.log.Warn("traceview: rejected OTLP/gRPC export", "service", desc.ServiceName, "error", err)
				return nil, grpcError(err)
			}
			return resp, nil
		},
	}}
	return &desc
}
