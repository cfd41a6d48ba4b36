package sqs

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/patron-go/patron/encoding"
)

// Handler processes one message. nil deletes it; an error applies the
// component's failure strategy. ctx carries the CONSUMER span, the
// correlation ID and the logger; it is not cancelled when the service shuts
// down, so the handler can finish (the service bounds the shutdown).
type Handler func(ctx context.Context, msg *Message) error

// ContentTypeAttribute is the message attribute that names the encoding of
// the body, as Patron's SQS and SNS publishers write it.
const ContentTypeAttribute = "Content-Type"

// BatchHandler processes a batch of messages, see WithBatch.
type BatchHandler func(ctx context.Context, msgs []*Message) error

// Message is a received message. When it came from SNS in the JSON
// notification envelope, Body and Attributes are the notification's, and
// TopicARN says which topic published it.
type Message struct {
	// ID is the SQS message ID.
	ID string
	// Body is the payload (the published message for an SNS envelope).
	Body []byte
	// Attributes holds the String and Number message attributes, the trace
	// context and correlation ID among them. Binary attributes are in Raw.
	Attributes map[string]string
	// ReceiveCount is ApproximateReceiveCount: 1 on the first delivery.
	ReceiveCount int
	// SentAt is SentTimestamp; zero when SQS did not report it.
	SentAt time.Time
	// Queue is the queue's name.
	Queue string
	// TopicARN is the SNS topic of an enveloped notification, else "".
	TopicARN string
	// Raw is the message as the SDK returned it.
	Raw types.Message
}

// Decode unmarshals the body into v by the ContentTypeAttribute: JSON when
// absent, protobuf (v a proto.Message) for the protobuf types. A body that
// does not decode gives an error wrapping encoding.ErrMalformed, which the
// consumer never retries.
func (m *Message) Decode(v any) error {
	return encoding.Decode(m.Attributes[ContentTypeAttribute], m.Body, v)
}

// newMessage reads m. It never fails: a message whose attributes or
// envelope cannot be read is handed over as it is.
func newMessage(m types.Message, queue string) *Message {
	msg := &Message{
		ID:           aws.ToString(m.MessageId),
		Body:         []byte(aws.ToString(m.Body)),
		Attributes:   make(map[string]string, len(m.MessageAttributes)),
		ReceiveCount: 1,
		Queue:        queue,
		Raw:          m,
	}
	for k, v := range m.MessageAttributes {
		dt := aws.ToString(v.DataType)
		if v.StringValue != nil && (strings.HasPrefix(dt, "String") || strings.HasPrefix(dt, "Number")) {
			msg.Attributes[k] = *v.StringValue
		}
	}
	if n, err := strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)]); err == nil && n > 0 {
		msg.ReceiveCount = n
	}
	if ms, err := strconv.ParseInt(m.Attributes[string(types.MessageSystemAttributeNameSentTimestamp)], 10, 64); err == nil && ms > 0 {
		msg.SentAt = time.UnixMilli(ms)
	}
	if env, ok := parseEnvelope(msg.Body); ok {
		msg.Body = []byte(*env.Message)
		msg.TopicARN = env.TopicArn
		for k, v := range env.MessageAttributes {
			if s, ok := v.stringValue(); ok {
				msg.Attributes[k] = s
			}
		}
	}
	return msg
}

// envelope is the JSON document SNS delivers to an SQS queue without raw
// message delivery.
type envelope struct {
	Type              string                  `json:"Type"`
	TopicArn          string                  `json:"TopicArn"`
	Message           *string                 `json:"Message"`
	MessageAttributes map[string]envelopeAttr `json:"MessageAttributes"`
}

// envelopeAttr is an attribute in the envelope: AWS writes Type and Value;
// some emulators write the SQS shape, DataType and StringValue.
type envelopeAttr struct {
	Type        string `json:"Type"`
	Value       string `json:"Value"`
	DataType    string `json:"DataType"`
	StringValue string `json:"StringValue"`
}

func (a envelopeAttr) stringValue() (string, bool) {
	typ, val := a.Type, a.Value
	if typ == "" {
		typ, val = a.DataType, a.StringValue
	}
	if strings.HasPrefix(typ, "String") || strings.HasPrefix(typ, "Number") {
		return val, true
	}
	return "", false
}

var (
	notificationMarker = []byte(`"Notification"`)
	topicArnMarker     = []byte(`"TopicArn"`)
)

// parseEnvelope reports whether body is an SNS notification envelope. The
// cheap checks first keep ordinary JSON bodies from being decoded twice.
func parseEnvelope(body []byte) (envelope, bool) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' ||
		!bytes.Contains(trimmed, notificationMarker) || !bytes.Contains(trimmed, topicArnMarker) {
		return envelope{}, false
	}
	var env envelope
	if err := json.Unmarshal(trimmed, &env); err != nil {
		return envelope{}, false
	}
	if env.Type != "Notification" || env.TopicArn == "" || env.Message == nil {
		return envelope{}, false
	}
	return env, true
}
