// Package awsattr writes the trace context and correlation ID of a publish
// to SQS or SNS into the message's attributes, within the ten attributes a
// message may carry. It serves client/sqs and client/sns; the attribute
// types of the two SDK packages differ, so Writer is generic over them.
package awsattr

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/patron-go/patron/observability"
)

// Max is the number of message attributes SQS accepts on one message. SNS
// hands a message's attributes on to subscribed queues, so an SNS publish
// that is to reach SQS has the same limit.
const Max = 10

// DataTypeString is the data type of the propagation attributes.
const DataTypeString = "String"

// Writer starts the PRODUCER span of a publish and returns the message's
// attributes with that span's context added. It is safe for concurrent use.
type Writer[V any] struct {
	tracer  trace.Tracer
	prop    propagation.TextMapPropagator
	system  attribute.KeyValue
	str     func(string) V
	tooMany error
}

// NewWriter returns a Writer for the messaging system system. str makes a
// String attribute value of the SDK's type; tooMany is the publisher's
// sentinel, wrapped by every limit error so that its callers can test for
// it with errors.Is.
func NewWriter[V any](tracer trace.Tracer, prop propagation.TextMapPropagator, system attribute.KeyValue,
	str func(string) V, tooMany error,
) *Writer[V] {
	return &Writer[V]{tracer: tracer, prop: prop, system: system, str: str, tooMany: tooMany}
}

// Start starts the span "publish <dest>" with attrs and returns the context
// that carries it, the span, and own merged with the propagation attributes
// (see Merge). The span is started even when the attributes do not fit, so
// that the failed publish is traced; the caller ends it.
func (w *Writer[V]) Start(ctx context.Context, dest string, own map[string]V, attrs ...attribute.KeyValue,
) (context.Context, trace.Span, map[string]V, error) {
	carrier := propagation.MapCarrier{}
	ctx, span := observability.StartProducerSpan(ctx, w.tracer, w.prop, carrier, w.system, dest, attrs...)
	merged, err := Merge(own, carrier, w.str)
	if err != nil {
		return ctx, span, nil, fmt.Errorf("%w: %w", w.tooMany, err)
	}
	return ctx, span, merged, nil
}

// LimitError reports a message whose attributes, with the propagation
// attributes, are more than Max. The message is not to be sent: dropping
// the trace context silently would break the trace with no sign of why,
// and dropping the caller's attributes would lose data.
type LimitError struct {
	// Own is the number of the message's own attributes.
	Own int
	// Added are the propagation keys that would be added, sorted; empty
	// when Own alone is over Max.
	Added []string
}

// Error says what the limit is and how many attributes of its own the
// message may have.
func (e *LimitError) Error() string {
	if len(e.Added) == 0 {
		return fmt.Sprintf("the message has %d attributes and an SQS message takes at most %d", e.Own, Max)
	}
	return fmt.Sprintf("the message has %d attributes of its own and trace propagation needs %d more (%s), "+
		"but an SQS message takes at most %d; use at most %d attributes of your own",
		e.Own, len(e.Added), strings.Join(e.Added, ", "), Max, Max-len(e.Added))
}

// Merge returns a copy of own with a String attribute, made by str, for each
// entry of carrier, or a *LimitError when the result would have more than
// Max attributes. A carrier key wins over an attribute of own of the same
// name: it describes the publish being made, and the stale value would
// parent the consumer's span on the wrong trace. own is not modified.
func Merge[V any](own map[string]V, carrier propagation.MapCarrier, str func(string) V) (map[string]V, error) {
	if len(own) > Max {
		return nil, &LimitError{Own: len(own)}
	}
	out := make(map[string]V, len(own)+len(carrier))
	for k, v := range own {
		out[k] = v
	}
	var added []string
	for k, v := range carrier {
		if _, ok := own[k]; !ok {
			added = append(added, k)
		}
		out[k] = str(v)
	}
	if len(out) > Max {
		slices.Sort(added)
		return nil, &LimitError{Own: len(own), Added: added}
	}
	return out, nil
}
