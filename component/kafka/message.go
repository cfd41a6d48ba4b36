package kafka

import (
	"context"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/patron-go/patron/encoding"
)

// ContentTypeHeader is the record header that names the encoding of the
// value, as the Patron producer writes it.
const ContentTypeHeader = "Content-Type"

// Headers added to a dead-lettered message, next to its original headers.
const (
	DeadLetterErrorHeader     = "x-dead-letter-error"
	DeadLetterTopicHeader     = "x-dead-letter-topic"
	DeadLetterPartitionHeader = "x-dead-letter-partition"
	DeadLetterOffsetHeader    = "x-dead-letter-offset"
	DeadLetterGroupHeader     = "x-dead-letter-group"
)

// Handler processes one message. Returning nil commits it; an error follows
// the component's retries and failure strategy. ctx carries the message's
// span, correlation ID and logger, and is cancelled only when the drain
// timeout of a shutdown or revocation ran out.
type Handler func(ctx context.Context, msg *Message) error

// BatchHandler processes a batch of messages of one partition, in offset
// order; nil commits them all.
type BatchHandler func(ctx context.Context, msgs []*Message) error

// Message is a consumed Kafka record.
type Message struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   []kgo.RecordHeader
	Timestamp time.Time

	record *kgo.Record
}

func newMessage(r *kgo.Record) *Message {
	m := new(Message)
	m.set(r)
	return m
}

func (m *Message) set(r *kgo.Record) {
	*m = Message{
		Topic: r.Topic, Partition: r.Partition, Offset: r.Offset,
		Key: r.Key, Value: r.Value, Headers: r.Headers, Timestamp: r.Timestamp,
		record: r,
	}
}

// Header returns the value of the header named key (falling back to a
// case-insensitive match) and whether it is present.
func (m *Message) Header(key string) (string, bool) {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	for _, h := range m.Headers {
		if strings.EqualFold(h.Key, key) {
			return string(h.Value), true
		}
	}
	return "", false
}

// Decode unmarshals the value into v by the ContentTypeHeader: JSON when
// absent, protobuf (v a proto.Message) for the protobuf types. A value that
// does not decode gives an error wrapping encoding.ErrMalformed.
func (m *Message) Decode(v any) error {
	ct, _ := m.Header(ContentTypeHeader)
	return encoding.Decode(ct, m.Value, v)
}

// Record returns the franz-go record the message was made from.
func (m *Message) Record() *kgo.Record { return m.record }
