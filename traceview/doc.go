// Package traceview is Patron's built-in trace viewer: a small, local
// replacement for a Jaeger or collector set-up while developing.
//
// A Viewer runs three listeners, on loopback by default:
//
//   - OTLP/gRPC on 127.0.0.1:4317 (TraceService/Export, gzip accepted);
//   - OTLP/HTTP on 127.0.0.1:4318 (POST /v1/traces, protobuf or JSON, gzip
//     accepted);
//   - the web UI and a Jaeger-compatible query API on 127.0.0.1:16686
//     (/search, /trace/{id}, /dependencies; /api/services, /api/operations,
//     /api/traces, /api/dependencies with jaeger-query's JSON shapes).
//
// Spans go into a bounded in-memory Store that assembles traces from any
// number of services in any arrival order and evicts the oldest traces once
// it holds more than its maximum number of spans, so the viewer can run for
// days beside a busy service.
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
