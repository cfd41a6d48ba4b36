package kafka

import "github.com/patron-go/patron/internal/kafkaheader"

// HeaderCarrier adapts Kafka record headers to propagation.TextMapCarrier, so
// that trace context and the correlation ID can be written to (or read from)
// records produced without the Producer, the way the Producer writes them.
// Get falls back to a case-insensitive match; Set replaces every spelling.
type HeaderCarrier = kafkaheader.Carrier
