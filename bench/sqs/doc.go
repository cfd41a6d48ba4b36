// Package sqs holds benchmarks of Patron's SQS publisher and consumer
// against the bare AWS SDK, both talking to the embedded goaws emulator, so
// the ratio shows what tracing, propagation and metrics cost per message.
package sqs
