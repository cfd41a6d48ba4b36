package sqs

import (
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/patron-go/patron/internal/awsattr"
)

// MaxAttributes is the number of message attributes SQS accepts on one
// message. The trace context and correlation ID count against it.
const MaxAttributes = awsattr.Max

// ErrTooManyAttributes is returned when a message's own attributes leave no
// room for the trace context and correlation ID within MaxAttributes.
var ErrTooManyAttributes = errors.New("sqs: too many message attributes")

func stringAttribute(v string) types.MessageAttributeValue {
	return types.MessageAttributeValue{DataType: aws.String(awsattr.DataTypeString), StringValue: aws.String(v)}
}
