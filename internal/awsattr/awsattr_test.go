package awsattr_test

import (
	"errors"
	"fmt"
	"maps"
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

// TestMerge: the propagation attributes are added as Strings until the
// message would pass Max; then nothing is merged and the error names the
// keys that did not fit and how many attributes of its own the message may
// keep. A propagation key replaces the caller's attribute of that name
// without counting twice, and the caller's map is never modified.
func TestMerge(t *testing.T) {
	collide := own(8)
	collide["traceparent"] = attr{awsattr.DataTypeString, "stale"}

	tests := map[string]struct {
		own       map[string]attr
		wantLen   int
		wantAdded []string // nil: no error
		wantMsg   string
	}{
		"none of its own":      {own: nil, wantLen: 2},
		"fits exactly":         {own: own(8), wantLen: 10},
		"collision replaced":   {own: collide, wantLen: 10},
		"no room for one":      {own: own(9), wantAdded: []string{correlation.HeaderKey, "traceparent"}, wantMsg: "use at most 8 attributes of your own"},
		"full without tracing": {own: own(10), wantAdded: []string{correlation.HeaderKey, "traceparent"}, wantMsg: "has 10 attributes of its own and trace propagation needs 2 more"},
		"over on its own":      {own: own(11), wantAdded: []string{}, wantMsg: "has 11 attributes and an SQS message takes at most 10"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			before := maps.Clone(tc.own)
			got, err := awsattr.Merge(tc.own, propagated, str)
			if !maps.Equal(before, tc.own) {
				t.Fatalf("Merge modified the caller's attributes: %v, was %v", tc.own, before)
			}
			if tc.wantAdded != nil {
				var le *awsattr.LimitError
				if !errors.As(err, &le) || got != nil {
					t.Fatalf("got %v, %v; want a *LimitError and no attributes", got, err)
				}
				if le.Own != len(tc.own) || strings.Join(le.Added, ",") != strings.Join(tc.wantAdded, ",") {
					t.Fatalf("LimitError %+v, want Own %d and Added %v", le, len(tc.own), tc.wantAdded)
				}
				if !strings.Contains(err.Error(), tc.wantMsg) {
					t.Fatalf("error %q does not say %q", err, tc.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.wantLen {
				t.Fatalf("%d attributes, want %d: %v", len(got), tc.wantLen, got)
			}
			for k, v := range propagated {
				if got[k] != str(v) {
					t.Fatalf("attribute %s = %+v, want the String %q", k, got[k], v)
				}
			}
			for k, v := range tc.own {
				if _, ok := propagated[k]; !ok && got[k] != v {
					t.Fatalf("own attribute %s = %+v, want %+v", k, got[k], v)
				}
			}
		})
	}
}

var errTooMany = errors.New("test: too many message attributes")

// TestWriterStart: Start writes the new span's context and the correlation
// ID; when they do not fit, the span is still started (the failed publish
// is traced) and the error wraps both the publisher's sentinel and the
// *LimitError.
func TestWriterStart(t *testing.T) {
	kit := observabilitytest.New(t)
	w := awsattr.NewWriter(kit.TracerProvider.Tracer("test"), kit.Propagator, semconv.MessagingSystemAWSSQS, str, errTooMany)
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

	_, span, got, err = w.Start(ctx, "q", own(9))
	span.End()
	var le *awsattr.LimitError
	if !errors.Is(err, errTooMany) || !errors.As(err, &le) || got != nil {
		t.Fatalf("got %v, %v; want the sentinel and a *LimitError", got, err)
	}
	if !span.SpanContext().IsValid() {
		t.Fatal("no span for the rejected publish")
	}
}
