package sqs

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"go.opentelemetry.io/otel/propagation"
)

// MaxAttributes is the number of message attributes SQS accepts on one
// message. The trace context and correlation ID count against it.
const MaxAttributes = 10

// ErrTooManyAttributes is returned when a message's own attributes leave no
// room for the trace context and correlation ID within MaxAttributes.
var ErrTooManyAttributes = errors.New("sqs: too many message attributes")

// stringType is the SQS data type of the propagation attributes.
const stringType = "String"

// withPropagation returns a copy of user with the String attributes that the
// propagator and correlation wrote into carrier, or ErrTooManyAttributes
// when they do not fit. Propagation keys win over a user attribute of the
// same name: they describe the publish being made.
func withPropagation(user map[string]types.MessageAttributeValue, carrier propagation.MapCarrier) (map[string]types.MessageAttributeValue, error) {
	if len(user) > MaxAttributes {
		return nil, fmt.Errorf("%w: the message has %d attributes and SQS allows at most %d",
			ErrTooManyAttributes, len(user), MaxAttributes)
	}
	out := make(map[string]types.MessageAttributeValue, len(user)+len(carrier))
	for k, v := range user {
		out[k] = v
	}
	var added []string
	for k, v := range carrier {
		if _, ok := user[k]; !ok {
			added = append(added, k)
		}
		out[k] = types.MessageAttributeValue{DataType: aws.String(stringType), StringValue: aws.String(v)}
	}
	if len(out) > MaxAttributes {
		slices.Sort(added)
		return nil, fmt.Errorf("%w: the message has %d attributes of its own and trace propagation needs %d more (%s), "+
			"but SQS allows at most %d per message; use at most %d attributes of your own",
			ErrTooManyAttributes, len(user), len(added), strings.Join(added, ", "), MaxAttributes, MaxAttributes-len(added))
	}
	return out, nil
}
