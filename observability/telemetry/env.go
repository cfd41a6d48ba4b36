package telemetry

import (
	"fmt"
	"strconv"
	"strings"

	"go.opentelemetry.io/contrib/propagators/autoprop"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// envConfig is what the OTEL_* variables ask for. The exporters themselves are
// built by autoexport, which reads the same variables; this struct only holds
// what Patron decides on top (export is off unless something is configured).
type envConfig struct {
	propagator      propagation.TextMapPropagator
	sampler         sdktrace.Sampler
	tracesExporter  bool
	metricsExporter bool
}

func readEnv(getenv func(string) string) (envConfig, error) {
	var c envConfig
	var err error
	if c.propagator, err = parsePropagators(getenv("OTEL_PROPAGATORS")); err != nil {
		return c, err
	}
	if c.sampler, err = parseSampler(getenv("OTEL_TRACES_SAMPLER"), getenv("OTEL_TRACES_SAMPLER_ARG")); err != nil {
		return c, err
	}
	endpoint := getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != ""
	if c.tracesExporter, err = exporterEnabled("OTEL_TRACES_EXPORTER", getenv("OTEL_TRACES_EXPORTER"),
		endpoint || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""); err != nil {
		return c, err
	}
	if c.metricsExporter, err = exporterEnabled("OTEL_METRICS_EXPORTER", getenv("OTEL_METRICS_EXPORTER"),
		endpoint || getenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") != ""); err != nil {
		return c, err
	}
	for _, k := range []string{"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"} {
		switch v := getenv(k); v {
		case "", "grpc", "http/protobuf":
		default:
			return c, fmt.Errorf("observability: %s=%q: want grpc or http/protobuf", k, v)
		}
	}
	return c, nil
}

// exporterEnabled says whether autoexport should build an exporter. Unlike
// the OpenTelemetry default (OTLP to localhost), Patron exports nothing until
// an endpoint or an exporter is named, so that a service started on a laptop
// does not log connection errors forever.
func exporterEnabled(key, value string, endpointSet bool) (bool, error) {
	switch value {
	case "":
		return endpointSet, nil
	case "none":
		return false, nil
	case "otlp", "console":
		return true, nil
	case "prometheus":
		// Prometheus is always served on /metrics; a second server is not wanted.
		if key == "OTEL_METRICS_EXPORTER" {
			return false, nil
		}
	}
	return false, fmt.Errorf("observability: %s=%q: want otlp, console or none", key, value)
}

func parsePropagators(v string) (propagation.TextMapPropagator, error) {
	if strings.TrimSpace(v) == "" {
		v = "tracecontext,baggage"
	}
	var names []string
	for _, n := range strings.Split(v, ",") {
		n = strings.TrimSpace(n)
		switch n {
		case "tracecontext", "baggage", "b3", "b3multi", "jaeger", "none":
			names = append(names, n)
		default:
			return nil, fmt.Errorf("observability: OTEL_PROPAGATORS=%q: unknown propagator %q (want tracecontext, baggage, b3, b3multi, jaeger or none)", v, n)
		}
	}
	p, err := autoprop.TextMapPropagator(names...)
	if err != nil {
		return nil, fmt.Errorf("observability: OTEL_PROPAGATORS=%q: %w", v, err)
	}
	return p, nil
}

func parseSampler(name, arg string) (sdktrace.Sampler, error) {
	ratio := 1.0
	needsArg := name == "traceidratio" || name == "parentbased_traceidratio"
	if needsArg && arg != "" {
		r, err := strconv.ParseFloat(arg, 64)
		if err != nil || r < 0 || r > 1 {
			return nil, fmt.Errorf("observability: OTEL_TRACES_SAMPLER_ARG=%q: want a ratio between 0 and 1", arg)
		}
		ratio = r
	}
	switch name {
	case "", "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(ratio), nil
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio)), nil
	}
	return nil, fmt.Errorf("observability: OTEL_TRACES_SAMPLER=%q: want always_on, always_off, traceidratio or their parentbased_ forms", name)
}

func attributeString(k, v string) attribute.KeyValue { return attribute.String(k, v) }
