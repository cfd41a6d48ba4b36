// Package awsattr writes the trace context and correlation ID of a publish
// to SQS or SNS into the message's attributes, within the ten attributes a
// message may carry, packing them into one attribute when the message's own
// leave too little room (see PackedKey); Carrier reads both forms for the
// consumer. It serves client/sqs, client/sns and component/sqs; the
// attribute types of the two SDK packages differ, so Writer is generic over
// them.
package awsattr

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

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

// PackedKey is the message attribute that carries the propagation fields
// and the correlation ID packed into one JSON object of strings, when the
// message's own attributes leave no room for one attribute per field:
//
//	patron-trace: {"traceparent":"00-…","uber-trace-id":"…","x-b3-traceid":"…","correlationID":"…"}
//
// traceparent is then also written on its own when one more attribute fits,
// so that consumers that only know W3C Trace Context still continue the
// trace. Carrier reads both forms.
const PackedKey = "patron-trace"

// Form says how Merge wrote the propagation fields.
type Form int

const (
	// Separate: one String attribute per field.
	Separate Form = iota
	// Packed: the fields in the PackedKey attribute (and traceparent on
	// its own when it fit).
	Packed
	// Dropped: the message's own attributes fill all Max, so the fields
	// were left out; the message is sent untraced rather than refused.
	Dropped
)

// Writer starts the PRODUCER span of a publish and returns the message's
// attributes with that span's context added. It is safe for concurrent use.
type Writer[V any] struct {
	tracer  trace.Tracer
	prop    propagation.TextMapPropagator
	system  attribute.KeyValue
	str     func(string) V
	tooMany error
	logger  *slog.Logger
}

// NewWriter returns a Writer for the messaging system system. str makes a
// String attribute value of the SDK's type; tooMany is the publisher's
// sentinel, wrapped by every limit error so that its callers can test for
// it with errors.Is; logger gets the warning of a message sent without its
// trace context.
func NewWriter[V any](tracer trace.Tracer, prop propagation.TextMapPropagator, system attribute.KeyValue,
	str func(string) V, tooMany error, logger *slog.Logger,
) *Writer[V] {
	return &Writer[V]{tracer: tracer, prop: prop, system: system, str: str, tooMany: tooMany, logger: logger}
}

// Start starts the span "publish <dest>" with attrs and returns the context
// that carries it, the span, and own merged with the propagation attributes
// (see Merge). Tracing never fails a publish: only own alone over Max is an
// error. The span is started even then, so that the failed publish is
// traced; the caller ends it.
func (w *Writer[V]) Start(ctx context.Context, dest string, own map[string]V, attrs ...attribute.KeyValue,
) (context.Context, trace.Span, map[string]V, error) {
	carrier := propagation.MapCarrier{}
	ctx, span := observability.StartProducerSpan(ctx, w.tracer, w.prop, carrier, w.system, dest, attrs...)
	merged, form, err := Merge(own, carrier, w.str)
	if err != nil {
		return ctx, span, nil, fmt.Errorf("%w: %w", w.tooMany, err)
	}
	if form == Dropped {
		w.logger.WarnContext(ctx, "the message's own attributes leave no room for its trace context and correlation ID: sent without them, so its consumer starts a new trace",
			"destination", dest, "attributes", len(own), "max", Max)
	}
	return ctx, span, merged, nil
}

// LimitError reports a message whose own attributes are more than Max: SQS
// would refuse it whatever tracing does.
type LimitError struct {
	// Own is the number of the message's own attributes.
	Own int
}

// Error says what the limit is.
func (e *LimitError) Error() string {
	return fmt.Sprintf("the message has %d attributes and an SQS message takes at most %d", e.Own, Max)
}

// Merge returns a copy of own with the entries of carrier (the propagation
// fields and the correlation ID) added as String attributes made by str, in
// the first form that fits in Max: one attribute per entry; else all of
// them packed into PackedKey (see there); else none (Dropped), since tracing
// must never fail a send. Only own alone over Max gives a *LimitError.
//
// A carrier key, and PackedKey, replace an attribute of own of the same
// name: they describe the publish being made, and the stale value would
// parent the consumer's span on the wrong trace. own is not modified.
func Merge[V any](own map[string]V, carrier propagation.MapCarrier, str func(string) V) (map[string]V, Form, error) {
	if len(own) > Max {
		return nil, Dropped, &LimitError{Own: len(own)}
	}
	out := make(map[string]V, min(len(own)+len(carrier), Max))
	for k, v := range own {
		out[k] = v
	}
	if len(carrier) == 0 {
		return out, Separate, nil
	}
	delete(out, PackedKey)
	for k := range carrier {
		delete(out, k)
	}
	if len(out)+len(carrier) <= Max {
		for k, v := range carrier {
			out[k] = str(v)
		}
		return out, Separate, nil
	}
	if len(out) >= Max {
		return out, Dropped, nil
	}
	packed, err := json.Marshal(map[string]string(carrier))
	if err != nil { // a map of strings always marshals
		return out, Dropped, nil
	}
	out[PackedKey] = str(string(packed))
	if tp, ok := carrier[traceparent]; ok && len(out) < Max {
		out[traceparent] = str(tp)
	}
	return out, Packed, nil
}

// traceparent is W3C Trace Context's field, the one most consumers read.
const traceparent = "traceparent"
