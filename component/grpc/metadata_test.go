package grpc_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	patrongrpc "github.com/patron-go/patron/component/grpc"
	"github.com/patron-go/patron/correlation"
	"github.com/patron-go/patron/internal/grpctest"
	"github.com/patron-go/patron/observability/log"
)

// TestBadMetadataNeverPanics sends hostile correlation IDs and trace
// headers through a plain grpc-go client (which only lets printable ASCII
// through): every call is served, with a fresh correlation ID and a new
// trace.
func TestBadMetadataNeverPanics(t *testing.T) {
	f := start(t, &grpctest.Service{})
	// A bare client: no Patron interceptors rewriting what is sent.
	conn, err := grpc.NewClient(f.comp.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	defer conn.Close()
	client := testgrpc.NewTestServiceClient(conn)

	huge := strings.Repeat("x", 64*1024)
	cases := map[string][]string{
		"huge correlation id":     {correlation.MetadataKey, huge},
		"correlation id w/ space": {correlation.MetadataKey, "has space"},
		"empty correlation id":    {correlation.MetadataKey, ""},
		"two correlation ids":     {correlation.MetadataKey, "not valid", correlation.MetadataKey, "second"},
		"garbage traceparent":     {"traceparent", "garbage"},
		"zero traceparent":        {"traceparent", "00-00000000000000000000000000000000-0000000000000000-01"},
		"bad version traceparent": {"traceparent", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		"huge traceparent":        {"traceparent", "00-" + huge},
		"junk tracestate":         {"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "tracestate", "=,=,,," + huge},
		"junk baggage":            {"baggage", "%%%;;;==,," + huge},
	}
	for name, kv := range cases {
		t.Run(name, func(t *testing.T) {
			ctx := metadata.AppendToOutgoingContext(t.Context(), kv...)
			body := "case " + name
			if _, err := client.UnaryCall(ctx, &testgrpc.SimpleRequest{Payload: payload(body)}); err != nil {
				t.Fatalf("UnaryCall: %v", err)
			}
		})
	}
	// Every call was logged with a valid correlation ID.
	n := 0
	for _, r := range f.logs.Records(t) {
		if r["msg"] != "grpc request" {
			continue
		}
		n++
		id, _ := r[log.CorrelationIDKey].(string)
		if !correlation.Valid(id) || id == "has space" || id == huge {
			t.Errorf("access record correlation_id = %.40q", id)
		}
	}
	if n != len(cases) {
		t.Errorf("%d access records, want %d", n, len(cases))
	}
	// The zero and malformed traceparents start new traces instead of
	// joining an invalid one.
	for _, s := range f.kit.WaitForSpanCount(t, waitFor, unaryName, len(cases)) {
		if !s.SpanContext().TraceID().IsValid() {
			t.Errorf("span with invalid trace ID: %v", s.SpanContext())
		}
	}
}

// TestOversizedMetadataIsRefused checks the default cap on metadata: the
// call fails, the server goes on.
func TestOversizedMetadataIsRefused(t *testing.T) {
	f := start(t, &grpctest.Service{})
	huge := strings.Repeat("x", patrongrpc.DefaultMaxHeaderListSize)
	ctx := metadata.AppendToOutgoingContext(t.Context(), "x-big", huge)
	if _, err := f.client.UnaryCall(ctx, &testgrpc.SimpleRequest{}); err == nil {
		t.Fatal("call with more metadata than the cap succeeded")
	}
	if _, err := f.client.UnaryCall(t.Context(), &testgrpc.SimpleRequest{}); err != nil {
		t.Fatalf("call after the oversized one: %v", err)
	}
}

// TestRawInvalidBytesInMetadata goes below grpc-go's client checks with a
// hand-written HTTP/2 request carrying control and non-ASCII bytes in the
// correlation and trace headers. Whatever the transport makes of them, the
// server answers and keeps serving.
func TestRawInvalidBytesInMetadata(t *testing.T) {
	f := start(t, &grpctest.Service{})

	// Control bytes are refused by grpc-go's transport (RST_STREAM) before
	// any Patron code runs.
	_, err := rawUnaryCall(t, f.comp.Addr().String(), [][2]string{
		{correlation.MetadataKey, "\x00\x01id"},
		{"traceparent", "00-\x00-\x01-01"},
	})
	t.Logf("control bytes: %v", err)

	// Non-ASCII bytes (HTTP's obs-text) reach the server's interceptors.
	grpcStatus, err := rawUnaryCall(t, f.comp.Addr().String(), [][2]string{
		{correlation.MetadataKey, "id\xff\xfe\x80"},
		{"traceparent", "00-\xff\xfe\xfd-\x80-01"},
		{"tracestate", "\x80\x81=\xff"},
		{"baggage", "k=\xff"},
	})
	if err != nil || grpcStatus != "0" {
		t.Fatalf("non-ASCII metadata: grpc-status %q, %v; want 0 (OK)", grpcStatus, err)
	}

	if _, err := f.client.UnaryCall(t.Context(), &testgrpc.SimpleRequest{}); err != nil {
		t.Fatalf("server stopped serving after raw bad metadata: %v", err)
	}
	for _, r := range f.logs.Records(t) {
		if r["msg"] == "grpc request" {
			if id, _ := r[log.CorrelationIDKey].(string); !correlation.Valid(id) {
				t.Errorf("access record correlation_id = %q", id)
			}
		}
	}
}

// rawUnaryCall sends one UnaryCall over a plaintext HTTP/2 connection with
// extra headers and returns the grpc-status it got.
func rawUnaryCall(t *testing.T, addr string, extra [][2]string) (string, error) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(waitFor)); err != nil {
		t.Fatalf("deadline: %v", err)
	}
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		return "", err
	}
	fr := http2.NewFramer(conn, conn)
	fr.ReadMetaHeaders = hpack.NewDecoder(64*1024, nil)
	if err := fr.WriteSettings(); err != nil {
		return "", err
	}

	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	fields := [][2]string{
		{":method", "POST"}, {":scheme", "http"}, {":path", "/" + unaryName}, {":authority", addr},
		{"content-type", "application/grpc"}, {"te", "trailers"},
	}
	for _, h := range append(fields, extra...) {
		if err := enc.WriteField(hpack.HeaderField{Name: h[0], Value: h[1]}); err != nil {
			return "", err
		}
	}
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block.Bytes(), EndHeaders: true}); err != nil {
		return "", err
	}
	msg, err := proto.Marshal(&testgrpc.SimpleRequest{Payload: payload("raw")})
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	frame := make([]byte, 5+len(msg))
	binary.BigEndian.PutUint32(frame[1:5], uint32(len(msg)))
	copy(frame[5:], msg)
	if err := fr.WriteData(1, true, frame); err != nil {
		return "", err
	}

	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return "", err
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				if err := fr.WriteSettingsAck(); err != nil {
					return "", err
				}
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				if err := fr.WritePing(true, f.Data); err != nil {
					return "", err
				}
			}
		case *http2.MetaHeadersFrame:
			if st := f.PseudoValue("status"); st != "" && st != "200" {
				return "", fmt.Errorf("HTTP status %s", st)
			}
			for _, hf := range f.Fields {
				if hf.Name == "grpc-status" {
					if _, err := strconv.Atoi(hf.Value); err != nil {
						return "", fmt.Errorf("bad grpc-status %q", hf.Value)
					}
					return hf.Value, nil
				}
			}
			if f.StreamEnded() {
				return "", errors.New("stream ended without grpc-status")
			}
		case *http2.RSTStreamFrame:
			return "", fmt.Errorf("stream reset: %v", f.ErrCode)
		case *http2.GoAwayFrame:
			return "", fmt.Errorf("goaway: %v", f.ErrCode)
		}
	}
}
