package telemetry

import (
	"context"
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// The OTLP protobuf marshaller rejects a whole export request when one
// string in it is not valid UTF-8 ("string field contains invalid UTF-8"),
// so a single request with a path such as /hello/%ff would take every span
// of its batch (up to 512) with it. Every transport puts values taken from
// the wire on spans and records (HTTP paths and headers, gRPC metadata,
// message keys and headers, SQL summaries); sanitising once, in front of the
// exporters, covers them all, including instrumentation Patron does not own
// (otelsql, redisotel, a user's spans). Valid input, the normal case, is only
// checked: nothing is copied and nothing allocated for string attributes
// (slice and map attributes are copied once to be read, as the exporter's
// own transform does).

const replacementChar = "\uFFFD"

// validString reports whether s can be marshalled as a protobuf string.
func validString(s string) bool { return utf8.ValidString(s) }

func sanitizeString(s string) string {
	if validString(s) {
		return s
	}
	return strings.ToValidUTF8(s, replacementChar)
}

func validValue(v attribute.Value) bool {
	switch v.Type() {
	case attribute.STRING:
		return validString(v.AsString())
	case attribute.STRINGSLICE:
		for _, s := range v.AsStringSlice() {
			if !validString(s) {
				return false
			}
		}
	case attribute.SLICE:
		for _, e := range v.AsSlice() {
			if !validValue(e) {
				return false
			}
		}
	case attribute.MAP:
		return validAttrs(v.AsMap())
	}
	return true
}

func validAttrs(kvs []attribute.KeyValue) bool {
	for _, kv := range kvs {
		if !validString(string(kv.Key)) || !validValue(kv.Value) {
			return false
		}
	}
	return true
}

func sanitizeValue(v attribute.Value) attribute.Value {
	if validValue(v) {
		return v
	}
	switch v.Type() {
	case attribute.STRING:
		return attribute.StringValue(sanitizeString(v.AsString()))
	case attribute.STRINGSLICE:
		ss := v.AsStringSlice()
		for i, s := range ss {
			ss[i] = sanitizeString(s)
		}
		return attribute.StringSliceValue(ss)
	case attribute.SLICE:
		vs := v.AsSlice()
		for i, e := range vs {
			vs[i] = sanitizeValue(e)
		}
		return attribute.SliceValue(vs...)
	case attribute.MAP:
		return attribute.MapValue(sanitizeAttrs(v.AsMap())...)
	}
	return v
}

// sanitizeAttrs returns kvs, or a sanitised copy when one key or value is
// not valid UTF-8. kvs itself is never modified: it belongs to the SDK.
func sanitizeAttrs(kvs []attribute.KeyValue) []attribute.KeyValue {
	if validAttrs(kvs) {
		return kvs
	}
	out := make([]attribute.KeyValue, len(kvs))
	for i, kv := range kvs {
		out[i] = attribute.KeyValue{Key: attribute.Key(sanitizeString(string(kv.Key))), Value: sanitizeValue(kv.Value)}
	}
	return out
}

// utf8SpanExporter hands its exporter spans whose strings are all valid UTF-8.
type utf8SpanExporter struct {
	sdktrace.SpanExporter
}

func newUTF8SpanExporter(e sdktrace.SpanExporter) sdktrace.SpanExporter {
	return utf8SpanExporter{SpanExporter: e}
}

// ExportSpans passes spans on unchanged when they are valid, the normal case,
// and a copy of the slice with the invalid spans replaced otherwise.
func (e utf8SpanExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	var out []sdktrace.ReadOnlySpan
	for i, s := range spans {
		if validSpan(s) {
			continue
		}
		if out == nil {
			out = make([]sdktrace.ReadOnlySpan, len(spans))
			copy(out, spans)
		}
		out[i] = sanitizeSpan(s)
	}
	if out == nil {
		out = spans
	}
	return e.SpanExporter.ExportSpans(ctx, out)
}

func validSpan(s sdktrace.ReadOnlySpan) bool {
	if !validString(s.Name()) || !validString(s.Status().Description) || !validAttrs(s.Attributes()) {
		return false
	}
	for _, ev := range s.Events() {
		if !validString(ev.Name) || !validAttrs(ev.Attributes) {
			return false
		}
	}
	for _, l := range s.Links() {
		if !validAttrs(l.Attributes) {
			return false
		}
	}
	// The trace state is not checked: its parser admits printable ASCII
	// only, and rendering it would allocate on every span.
	return true
}

// sanitizedSpan is a ReadOnlySpan whose strings were made valid; the
// methods it does not override read the original span.
type sanitizedSpan struct {
	sdktrace.ReadOnlySpan
	name   string
	status sdktrace.Status
	attrs  []attribute.KeyValue
	events []sdktrace.Event
	links  []sdktrace.Link
}

func sanitizeSpan(s sdktrace.ReadOnlySpan) sdktrace.ReadOnlySpan {
	st := s.Status()
	st.Description = sanitizeString(st.Description)
	out := &sanitizedSpan{
		ReadOnlySpan: s,
		name:         sanitizeString(s.Name()),
		status:       st,
		attrs:        sanitizeAttrs(s.Attributes()),
		events:       s.Events(),
		links:        s.Links(),
	}
	if len(out.events) > 0 {
		evs := make([]sdktrace.Event, len(out.events))
		for i, ev := range out.events {
			ev.Name = sanitizeString(ev.Name)
			ev.Attributes = sanitizeAttrs(ev.Attributes)
			evs[i] = ev
		}
		out.events = evs
	}
	if len(out.links) > 0 {
		ls := make([]sdktrace.Link, len(out.links))
		for i, l := range out.links {
			l.Attributes = sanitizeAttrs(l.Attributes)
			ls[i] = l
		}
		out.links = ls
	}
	return out
}

func (s *sanitizedSpan) Name() string                     { return s.name }
func (s *sanitizedSpan) Status() sdktrace.Status          { return s.status }
func (s *sanitizedSpan) Attributes() []attribute.KeyValue { return s.attrs }
func (s *sanitizedSpan) Events() []sdktrace.Event         { return s.events }
func (s *sanitizedSpan) Links() []sdktrace.Link           { return s.links }

// utf8LogExporter hands its exporter log records whose strings are all valid
// UTF-8: slog messages and attributes carry the same wire values as spans.
type utf8LogExporter struct {
	sdklog.Exporter
}

func newUTF8LogExporter(e sdklog.Exporter) sdklog.Exporter {
	return utf8LogExporter{Exporter: e}
}

// Export passes records on unchanged when they are valid, and a copy of the
// slice with sanitised clones of the invalid records otherwise.
func (e utf8LogExporter) Export(ctx context.Context, records []sdklog.Record) error {
	var out []sdklog.Record
	for i := range records {
		if validRecord(&records[i]) {
			continue
		}
		if out == nil {
			out = make([]sdklog.Record, len(records))
			copy(out, records)
		}
		out[i] = sanitizeRecord(&records[i])
	}
	if out == nil {
		out = records
	}
	return e.Exporter.Export(ctx, out)
}

func validRecord(r *sdklog.Record) bool {
	if !validString(r.EventName()) || !validString(r.SeverityText()) || !validValue(r.Body()) {
		return false
	}
	ok := true
	r.WalkAttributes(func(kv attribute.KeyValue) bool {
		ok = validString(string(kv.Key)) && validValue(kv.Value)
		return ok
	})
	return ok
}

func sanitizeRecord(r *sdklog.Record) sdklog.Record {
	c := r.Clone()
	c.SetEventName(sanitizeString(c.EventName()))
	c.SetSeverityText(sanitizeString(c.SeverityText()))
	c.SetBody(sanitizeValue(c.Body()))
	attrs := make([]attribute.KeyValue, 0, c.AttributesLen())
	c.WalkAttributes(func(kv attribute.KeyValue) bool {
		attrs = append(attrs, kv)
		return true
	})
	c.SetAttributes(sanitizeAttrs(attrs)...)
	return c
}
