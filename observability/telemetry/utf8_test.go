package telemetry

import (
	"context"
	"testing"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// marshalClient is an otlptrace client that marshals each batch as the
// OTLP/HTTP and gRPC clients do, so that a batch the wire would refuse
// fails the export.
type marshalClient struct{ spans int }

func (*marshalClient) Start(context.Context) error { return nil }
func (*marshalClient) Stop(context.Context) error  { return nil }
func (c *marshalClient) UploadTraces(_ context.Context, rs []*tracepb.ResourceSpans) error {
	b, err := proto.Marshal(&collectortrace.ExportTraceServiceRequest{ResourceSpans: rs})
	if err != nil {
		return err
	}
	var got collectortrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &got); err != nil {
		return err
	}
	for _, r := range got.GetResourceSpans() {
		for _, s := range r.GetScopeSpans() {
			c.spans += len(s.GetSpans())
		}
	}
	return nil
}

func stubs(s string) []sdktrace.ReadOnlySpan {
	now := time.Now()
	hostile := tracetest.SpanStub{
		Name:      "GET " + s,
		StartTime: now, EndTime: now,
		Attributes: []attribute.KeyValue{
			attribute.String("url.path", s),
			attribute.String(s, "key"),
			attribute.StringSlice("http.request.header.x", []string{"ok", s}),
			attribute.Slice("nested", attribute.StringValue(s), attribute.IntValue(1)),
			attribute.Map("map", attribute.String("k", s)),
		},
		Events: []sdktrace.Event{{Name: s, Attributes: []attribute.KeyValue{attribute.String("exception.message", s)}}},
		Links:  []sdktrace.Link{{Attributes: []attribute.KeyValue{attribute.String("messaging.message.id", s)}}},
		Status: sdktrace.Status{Code: codes.Error, Description: s},
	}
	clean := tracetest.SpanStub{Name: "clean", StartTime: now, EndTime: now, Attributes: []attribute.KeyValue{attribute.String("k", "v")}}
	return tracetest.SpanStubs{clean, hostile, clean}.Snapshots()
}

func FuzzExportedBatchIsNeverRejected(f *testing.F) {
	for _, s := range []string{"/hello/\xff", "ok", "", "\xc3\x28", "agent-\xfe\xff", "é\xe2\x82", "\x00\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		client := &marshalClient{}
		exp := newUTF8SpanExporter(otlptrace.NewUnstarted(client))
		if err := exp.ExportSpans(t.Context(), stubs(s)); err != nil {
			t.Fatalf("batch with %q rejected: %v", s, err)
		}
		if client.spans != 3 {
			t.Fatalf("%d spans arrived, want 3", client.spans)
		}
	})
}

// Without the wrapper the same batch is refused whole: the failure the
// wrapper exists for.
func TestInvalidUTF8BatchIsRefusedWithoutSanitising(t *testing.T) {
	err := otlptrace.NewUnstarted(&marshalClient{}).ExportSpans(t.Context(), stubs("/hello/\xff"))
	if err == nil {
		t.Fatal("the unwrapped exporter accepted invalid UTF-8; the wrapper may no longer be needed")
	}
}

func TestSanitisedSpanKeepsItsData(t *testing.T) {
	rec := tracetest.NewInMemoryExporter()
	spans := stubs("/hello/\xff")
	if err := newUTF8SpanExporter(rec).ExportSpans(t.Context(), spans); err != nil {
		t.Fatal(err)
	}
	got := rec.GetSpans()
	if len(got) != 3 || got[1].Name != "GET /hello/\uFFFD" || got[1].Status.Description != "/hello/\uFFFD" {
		t.Fatalf("sanitised span: %+v", got[1])
	}
	if !got[1].SpanContext.Equal(spans[1].SpanContext()) || got[1].Attributes[0].Value.AsString() != "/hello/\uFFFD" ||
		got[1].Events[0].Name != "/hello/\uFFFD" || got[1].Links[0].Attributes[0].Value.AsString() != "/hello/\uFFFD" {
		t.Fatalf("sanitised span lost data: %+v", got[1])
	}
	if spans[1].Name() != "GET /hello/\xff" {
		t.Fatal("the SDK's span was modified")
	}
}

type captureLogs struct{ records []sdklog.Record }

func (c *captureLogs) Export(_ context.Context, rs []sdklog.Record) error {
	for _, r := range rs {
		c.records = append(c.records, r.Clone())
	}
	return nil
}
func (*captureLogs) Shutdown(context.Context) error   { return nil }
func (*captureLogs) ForceFlush(context.Context) error { return nil }

func FuzzLogRecordsAreValidUTF8(f *testing.F) {
	for _, s := range []string{"/hello/\xff", "ok", "\xc3\x28"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var r sdklog.Record
		r.SetBody(attribute.StringValue("request " + s))
		r.SetSeverityText(s)
		r.SetAttributes(attribute.String("url.path", s), attribute.Map("m", attribute.String(s, s)),
			attribute.Slice("l", attribute.StringValue(s)))
		c := &captureLogs{}
		if err := newUTF8LogExporter(c).Export(t.Context(), []sdklog.Record{r}); err != nil {
			t.Fatal(err)
		}
		if len(c.records) != 1 {
			t.Fatalf("%d records", len(c.records))
		}
		got := &c.records[0]
		if !validRecord(got) {
			t.Fatalf("record with %q still invalid: %v", s, got.Body())
		}
		if utf8.ValidString(s) && got.Body().AsString() != "request "+s {
			t.Fatalf("valid record changed: %v", got.Body())
		}
	})
}

func BenchmarkUTF8SpanExporterValid(b *testing.B) {
	spans := stubs("/hello/ada")
	exp := newUTF8SpanExporter(discardSpans{})
	ctx := context.Background()
	// Slice and map attributes are copied by the SDK to be read; the
	// benchmark measures the string attributes every span carries.
	spans[1] = tracetest.SpanStub{Name: spans[1].Name(), Attributes: spans[1].Attributes()[:2]}.Snapshot()
	b.ReportAllocs()
	for b.Loop() {
		_ = exp.ExportSpans(ctx, spans)
	}
}

type discardSpans struct{}

func (discardSpans) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardSpans) Shutdown(context.Context) error                             { return nil }
