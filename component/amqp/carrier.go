package amqp

import "github.com/patron-go/patron/internal/amqpheader"

// HeaderCarrier adapts an AMQP header table to propagation.TextMapCarrier,
// for a batch handler that wants one message's trace context. Get converts
// the scalar AMQP types to text and answers "" for the rest, so a strange
// header never breaks propagation; it falls back to a case-insensitive match.
type HeaderCarrier = amqpheader.Carrier
