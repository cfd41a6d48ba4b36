package amqp

import "github.com/patron-go/patron/internal/amqpheader"

// HeaderCarrier adapts an AMQP header table to propagation.TextMapCarrier, so
// that trace context and the correlation ID can be written to (or read from)
// messages published without the Publisher, the way the Publisher writes
// them. Get converts the scalar AMQP types to text and answers "" for the
// rest; it falls back to a case-insensitive match.
type HeaderCarrier = amqpheader.Carrier
