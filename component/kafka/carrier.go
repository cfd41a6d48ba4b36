package kafka

import "github.com/patron-go/patron/internal/kafkaheader"

// HeaderCarrier adapts Kafka record headers to propagation.TextMapCarrier
// (W3C "traceparent" and the correlation ID, as other OpenTelemetry Kafka
// clients write them), for a batch handler that wants one message's trace
// context: prop.Extract(ctx, kafka.HeaderCarrier{Headers: &msg.Headers}).
// Get falls back to a case-insensitive match; Set replaces every spelling.
type HeaderCarrier = kafkaheader.Carrier
