package amqp

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/patron-go/patron/encoding"
)

// Headers that Patron reads or writes to count deliveries.
const (
	// DeliveryCountHeader counts the failed deliveries of a message that
	// RetryRepublish put back on the queue.
	DeliveryCountHeader = "x-patron-delivery-count"
	// QuorumDeliveryCountHeader is maintained by quorum queues: how many
	// times the message was returned to the queue.
	QuorumDeliveryCountHeader = "x-delivery-count"
	// OriginalExchangeHeader and OriginalRoutingKeyHeader keep where a
	// republished message was first published.
	OriginalExchangeHeader   = "x-patron-original-exchange"
	OriginalRoutingKeyHeader = "x-patron-original-routing-key"
)

// Handler processes one message. nil acks it; an error applies the
// component's failure strategy. ctx carries the CONSUMER span, the
// correlation ID and the logger; it is not cancelled when the service shuts
// down, so the handler can finish (the service bounds shutdown).
type Handler func(ctx context.Context, msg *Message) error

// BatchHandler processes a batch of messages, see WithBatch.
type BatchHandler func(ctx context.Context, msgs []*Message) error

// Message is a delivered message. The handler must not keep it after
// returning.
type Message struct {
	d       amqp.Delivery
	queue   string
	attempt int
}

func newMessage(d amqp.Delivery, queue string) *Message {
	m := &Message{}
	m.init(&d, queue)
	return m
}

func (m *Message) init(d *amqp.Delivery, queue string) {
	*m = Message{d: *d, queue: queue, attempt: 1 + headerInt(d.Headers, DeliveryCountHeader) + headerInt(d.Headers, QuorumDeliveryCountHeader)}
}

// Body returns the payload.
func (m *Message) Body() []byte { return m.d.Body }

// Headers returns the header table (nil when the message has none).
func (m *Message) Headers() amqp.Table { return m.d.Headers }

// Queue returns the queue the message was consumed from.
func (m *Message) Queue() string { return m.queue }

// Exchange returns the exchange the message was first published to.
func (m *Message) Exchange() string {
	if v, ok := m.d.Headers[OriginalExchangeHeader].(string); ok {
		return v
	}
	return m.d.Exchange
}

// RoutingKey returns the routing key the message was first published with.
func (m *Message) RoutingKey() string {
	if v, ok := m.d.Headers[OriginalRoutingKeyHeader].(string); ok {
		return v
	}
	return m.d.RoutingKey
}

// MessageID returns the message-id property.
func (m *Message) MessageID() string { return m.d.MessageId }

// ContentType returns the content-type property.
func (m *Message) ContentType() string { return m.d.ContentType }

// Timestamp returns the timestamp property (zero when absent).
func (m *Message) Timestamp() time.Time { return m.d.Timestamp }

// DeliveryTag returns the delivery tag on the channel that delivered it.
func (m *Message) DeliveryTag() uint64 { return m.d.DeliveryTag }

// Redelivered reports whether the broker delivered the message before (to
// this or another consumer) without it being acked.
func (m *Message) Redelivered() bool { return m.d.Redelivered }

// DeliveryCount is the number of this delivery, 1 for the first, as counted
// by the retry mode's headers. Redeliveries after a lost connection are not
// counted on classic queues.
func (m *Message) DeliveryCount() int { return m.attempt }

// Decode unmarshals the body according to its content type (JSON when
// absent, or protobuf), see package encoding.
func (m *Message) Decode(v any) error { return encoding.Decode(m.d.ContentType, m.d.Body, v) }

// headerInt reads a non-negative count written by any client as any integer
// type (or text); anything else counts as 0.
func headerInt(h amqp.Table, key string) int {
	switch v := h[key].(type) {
	case int:
		return max(v, 0)
	case int8:
		return max(int(v), 0)
	case int16:
		return max(int(v), 0)
	case int32:
		return max(int(v), 0)
	case int64:
		return int(max(min(v, 1<<31), 0))
	case uint8:
		return int(v)
	case uint16:
		return int(v)
	case uint32:
		return int(min(v, 1<<31))
	case uint64:
		return int(min(v, 1<<31))
	case string:
		n, err := strconv.Atoi(v)
		if errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(v, "-") {
			return 1 << 31
		}
		if err != nil {
			return 0
		}
		return max(min(n, 1<<31), 0)
	default:
		return 0
	}
}
