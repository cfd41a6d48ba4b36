package awsattr_test

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/patron-go/patron/correlation"
	"github.com/patron-go/patron/internal/awsattr"
	"github.com/patron-go/patron/observability/observabilitytest"
)

// attr stands in for the SDKs' MessageAttributeValue: Merge only needs to
// make one from a string and copy the caller's.
type attr struct{ typ, val string }

func str(v string) attr { return attr{awsattr.DataTypeString, v} }

func own(n int) map[string]attr {
	m := make(map[string]attr, n)
	for i := range n {
		m[fmt.Sprintf("a%d", i)] = attr{"Number", "1"}
	}
	return m
}

var propagated = propagation.MapCarrier{"traceparent": "00-tp", correlation.HeaderKey: "corr"}

// TestMerge: the propagation attributes are added one String each while
// they fit; past Max they are packed into one PackedKey attribute (with
// traceparent on its own when one more fits); when the message's own fill
// all ten they are dropped; only own alone over Max is an error. A
// propagation key (or a stale PackedKey) replaces the caller's attribute of
// that name, and the caller's map is never modified.
func TestMerge(t *testing.T) {
	collide := own(8)
	collide["traceparent"] = attr{awsattr.DataTypeString, "stale"}
	stalePacked := own(9)
	stalePacked[awsattr.PackedKey] = str(`{"traceparent":"stale"}`)
	wide := propagation.MapCarrier{"traceparent": "00-tp", "x-b3-traceid": "b3", "uber-trace-id": "j", correlation.HeaderKey: "corr"}

	tests := map[string]struct {
		own     map[string]attr
		carrier propagation.MapCarrier
		form    awsattr.Form
		want    []string // the keys besides own's (and besides own's replaced ones)
	}{
		"none of its own":      {own: nil, form: awsattr.Separate, want: []string{correlation.HeaderKey, "traceparent"}},
		"fits exactly":         {own: own(8), form: awsattr.Separate, want: []string{correlation.HeaderKey, "traceparent"}},
		"collision replaced":   {own: collide, form: awsattr.Separate, want: []string{correlation.HeaderKey, "traceparent"}},
		"packed":               {own: own(9), form: awsattr.Packed, want: []string{awsattr.PackedKey}},
		"packed, traceparent":  {own: own(7), carrier: wide, form: awsattr.Packed, want: []string{awsattr.PackedKey, "traceparent"}},
		"stale packed":         {own: stalePacked, form: awsattr.Packed, want: []string{awsattr.PackedKey}},
		"full without tracing": {own: own(10), form: awsattr.Dropped},
		"nothing to add":       {own: own(10), carrier: propagation.MapCarrier{}, form: awsattr.Separate},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			carrier := tc.carrier
			if carrier == nil {
				carrier = propagated
			}
			before := maps.Clone(tc.own)
			got, form, err := awsattr.Merge(tc.own, carrier, str)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(before, tc.own) {
				t.Fatalf("Merge modified the caller's attributes: %v, was %v", tc.own, before)
			}
			if form != tc.form || len(got) > awsattr.Max {
				t.Fatalf("form %d with %d attributes, want form %d within %d", form, len(got), tc.form, awsattr.Max)
			}
			var added []string
			for k, v := range got {
				if ov, ok := tc.own[k]; ok && ov == v {
					continue
				}
				added = append(added, k)
			}
			slices.Sort(added)
			if strings.Join(added, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("added %v, want %v", added, tc.want)
			}
			// Whatever the form, the consumer's carrier reads every field.
			if form != awsattr.Dropped {
				text := map[string]string{}
				for k, v := range got {
					text[k] = v.val
				}
				c := awsattr.Carrier(text)
				for k, v := range carrier {
					if c.Get(k) != v {
						t.Fatalf("Carrier reads %s = %q, want %q (attributes %v)", k, c.Get(k), v, got)
					}
				}
			}
		})
	}
	if _, _, err := awsattr.Merge(own(11), propagated, str); err == nil ||
		!strings.Contains(err.Error(), "has 11 attributes and an SQS message takes at most 10") {
		t.Fatalf("11 of its own: %v, want a *LimitError that says the limit", err)
	}
}

// TestCarrier: attributes of their own win over packed fields, and a
// malformed packed attribute is ignored, never an error.
func TestCarrier(t *testing.T) {
	c := awsattr.Carrier(map[string]string{awsattr.PackedKey: `{"traceparent":"packed","b":"2"}`, "traceparent": "own"})
	if c.Get("traceparent") != "own" || c.Get("b") != "2" {
		t.Fatalf("carrier %v", c)
	}
	for _, bad := range []string{"", "{", `{"a":1}`, "[]", "null"} {
		attrs := map[string]string{awsattr.PackedKey: bad, "a": "x"}
		if c := awsattr.Carrier(attrs); c.Get("a") != "x" || len(c) != 2 {
			t.Fatalf("packed %q: carrier %v", bad, c)
		}
	}
}

// FuzzCarrier: any packed value is read without panicking, and the message's
// own attributes always come through.
func FuzzCarrier(f *testing.F) {
	f.Add(`{"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}`)
	f.Add(`{"a":"b",}`)
	f.Fuzz(func(t *testing.T, packed string) {
		c := awsattr.Carrier(map[string]string{awsattr.PackedKey: packed, "own": "v"})
		if c.Get("own") != "v" || c.Get(awsattr.PackedKey) != packed {
			t.Fatalf("own attributes lost: %v", c)
		}
	})
}

var errTooMany = errors.New("test: too many message attributes")

// TestWriterStart: Start writes the new span's context and the correlation
// ID, packed when the message's own leave too little room, left out with a
// warning when they leave none; only a message over the limit on its own is
// refused, with the span still started (the failed publish is traced) and
// an error that wraps the publisher's sentinel and the *LimitError.
func TestWriterStart(t *testing.T) {
	kit := observabilitytest.New(t)
	var logs observabilitytest.LogBuffer
	w := awsattr.NewWriter(kit.TracerProvider.Tracer("test"), kit.Propagator, semconv.MessagingSystemAWSSQS, str, errTooMany, slog.New(slog.NewJSONHandler(&logs, nil)))
	ctx := correlation.ContextWithID(t.Context(), "corr-1")

	ctx2, span, got, err := w.Start(ctx, "q", own(3))
	span.End()
	if err != nil {
		t.Fatal(err)
	}
	if got[correlation.HeaderKey] != str("corr-1") || !strings.Contains(got["traceparent"].val, span.SpanContext().SpanID().String()) {
		t.Fatalf("attributes %v do not carry span %s and the correlation ID", got, span.SpanContext().SpanID())
	}
	if ctx2 == ctx {
		t.Fatal("Start did not return the span's context")
	}

	// Nine of its own: packed into one, never refused.
	_, span, got, err = w.Start(ctx, "q", own(9))
	span.End()
	if err != nil || len(got) != awsattr.Max || !strings.Contains(got[awsattr.PackedKey].val, span.SpanContext().SpanID().String()) {
		t.Fatalf("got %v, %v; want the context packed into %s", got, err, awsattr.PackedKey)
	}

	// Ten of its own: sent without tracing, with a warning.
	_, span, got, err = w.Start(ctx, "q", own(10))
	span.End()
	if err != nil || len(got) != awsattr.Max {
		t.Fatalf("got %v, %v; want the message's own attributes only", got, err)
	}
	if !strings.Contains(logs.String(), "no room for its trace context") {
		t.Fatalf("no warning logged: %q", logs.String())
	}

	_, span, got, err = w.Start(ctx, "q", own(11))
	span.End()
	var le *awsattr.LimitError
	if !errors.Is(err, errTooMany) || !errors.As(err, &le) || got != nil {
		t.Fatalf("got %v, %v; want the sentinel and a *LimitError", got, err)
	}
	if !span.SpanContext().IsValid() {
		t.Fatal("no span for the rejected publish")
	}
}
