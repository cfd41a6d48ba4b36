package sqs

import (
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/patron-go/patron/internal/awsattr"
)

// MaxAttributes is the number of message attributes SQS accepts on one
// message. The trace context and correlation ID take the room that the
// message's own attributes leave (see PackedAttribute).
const MaxAttributes = awsattr.Max

// PackedAttribute is the String attribute that carries the trace context and
// correlation ID as one JSON object of strings when the message's own
// attributes leave no room for one attribute per propagated field (with
// OTEL_PROPAGATORS=tracecontext,baggage,b3multi,jaeger that is eight). When
// one more fits, traceparent is also sent on its own, for consumers that
// read only W3C Trace Context. When the message's own attributes take all
// MaxAttributes, it is sent without trace context and a warning is logged:
// tracing never fails a send. The component/sqs consumer reads both forms.
const PackedAttribute = awsattr.PackedKey

// ErrTooManyAttributes is returned when a message has more attributes of its
// own than MaxAttributes, which SQS would refuse; tracing never causes it.
var ErrTooManyAttributes = errors.New("sqs: too many message attributes")

func stringAttribute(v string) types.MessageAttributeValue {
	return types.MessageAttributeValue{DataType: aws.String(awsattr.DataTypeString), StringValue: aws.String(v)}
}
