// Package observability holds the OpenTelemetry API helpers that every
// Patron component and client uses, so that every transport names spans,
// attributes, metrics and error types the same way: tracers and meters with
// Patron's instrumentation scope, messaging PRODUCER and CONSUMER spans,
// messaging metrics, duration histograms and ErrorType.
//
// It depends on the OpenTelemetry API only. The SDK, the exporters and the
// Prometheus registry are set up by package observability/telemetry, which
// only the service itself (package patron) imports; a cache or a client
// therefore does not compile every exporter.
package observability
