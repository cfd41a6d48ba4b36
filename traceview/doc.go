// Package traceview is Patron's built-in console: a small, local
// replacement for a Jaeger or collector set-up while developing, for all
// three signals.
//
// A Viewer runs three listeners, on loopback by default:
//
//   - OTLP/gRPC on 127.0.0.1:4317 (TraceService, LogsService and
//     MetricsService, gzip accepted);
//   - OTLP/HTTP on 127.0.0.1:4318 (POST /v1/traces, /v1/logs and
//     /v1/metrics, protobuf or JSON, gzip accepted);
//   - the web UI and a Jaeger-compatible query API on 127.0.0.1:16686
//     (/api/services, /api/operations, /api/traces, /api/dependencies with
//     jaeger-query's JSON shapes; /api/metrics/calls, errors and latencies
//     as Jaeger's monitor API; /api/traces/{id}/logs, /api/logs and
//     /api/instruments for logs and received metrics).
//
// Spans go into a bounded in-memory Store that assembles traces from any
// number of services in any arrival order, keeps RED aggregates (rate,
// errors, duration) per service and operation, and evicts the oldest traces
// once it holds more than its maximum number of spans or bytes, so the
// viewer can run for days beside a busy service. Log records go into a
// LogStore indexed by trace, metric data points into a MetricStore, both
// bounded the same way. Each export request is capped in items and
// attribute bytes (WithMaxExportItems, WithMaxExportAttrBytes) besides its
// body size, so a small compressed request cannot make the viewer allocate
// gigabytes.
//
// The viewer is a Patron component:
//
//	v, err := traceview.New(traceview.WithMaxSpans(100_000))
//	if err != nil { ... }
//	err = v.Run(ctx) // nil after ctx is cancelled and the servers stopped
//
// The UI is plain HTML, CSS and JavaScript embedded in the binary; it loads
// nothing from the network and works offline.
package traceview
