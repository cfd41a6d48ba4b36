package sns

import (
	"github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/patron-go/patron/internal/awsattr"
)

// AttributeCarrier adapts the message attributes of an SNS message to
// propagation.TextMapCarrier and to OpenTracing's TextMapReader and
// TextMapWriter, for code that sends messages without the Publisher (or
// OpenTracing code that injects its own span's context):
//
//	attrs := map[string]types.MessageAttributeValue{}
//	err := tracer.Inject(span.Context(), opentracing.TextMap, sns.AttributeCarrier(attrs))
//
// Set writes String attributes; Get and ForeachKey read String and Number
// attributes and skip binary ones. The propagation attributes count against
// MaxAttributes: leave room for them (the Publisher packs them into
// PackedAttribute when there is too little; this carrier does not).
// component/sqs reads them, envelope or raw delivery, into Message.Attributes,
// which opentracing.TextMapCarrier adapts for Extract.
type AttributeCarrier map[string]types.MessageAttributeValue

// Get returns the text of attribute key, or "" when it is absent or binary.
func (c AttributeCarrier) Get(key string) string { return awsattr.Get(c, key, attributeText) }

// Set stores value as the String attribute key.
func (c AttributeCarrier) Set(key, value string) { c[key] = stringAttribute(value) }

// Keys lists the attribute names.
func (c AttributeCarrier) Keys() []string { return awsattr.Keys(c) }

// ForeachKey calls handler with each String and Number attribute and stops
// at its first error, which it returns.
func (c AttributeCarrier) ForeachKey(handler func(key, val string) error) error {
	return awsattr.ForeachKey(c, attributeText, handler)
}

func attributeText(v types.MessageAttributeValue) (string, bool) {
	return awsattr.Text(v.DataType, v.StringValue)
}
