package telemetry

import (
	"fmt"
	"strconv"
	"strings"

	"go.opentelemetry.io/contrib/propagators/autoprop"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
)

// signal is one of the three OpenTelemetry signals, with the names of its
// variables.
type signal struct {
	name     string // "traces", "metrics", "logs"
	exporter string // OTEL_TRACES_EXPORTER, ...
	endpoint string // OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, ...
	protocol string // OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, ...
	path     string // the OTLP/HTTP path, /v1/traces, ...
}

var (
	tracesSignal  = signal{"traces", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "/v1/traces"}
	metricsSignal = signal{"metrics", "OTEL_METRICS_EXPORTER", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "/v1/metrics"}
	logsSignal    = signal{"logs", "OTEL_LOGS_EXPORTER", "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "/v1/logs"}
)

// Exporter kinds, as OTEL_*_EXPORTER names them.
const (
	kindNone    = ""
	kindOTLP    = "otlp"
	kindConsole = "console"
)

// Protocols, as OTEL_EXPORTER_OTLP_PROTOCOL names them.
const (
	protoGRPC = "grpc"
	protoHTTP = "http/protobuf"
)

// export is how one signal is exported: kind is kindNone when it is not.
type export struct {
	kind     string
	protocol string // for kindOTLP
	endpoint string // for messages: where the exporter sends
}

// envConfig is what the OTEL_* variables ask for. The exporters read the
// same variables for their own settings (endpoint, headers, TLS, timeouts,
// batching); this struct only holds what Patron decides on top.
type envConfig struct {
	disabled              bool // OTEL_SDK_DISABLED=true
	disabledValueUnknown  string
	propagator            propagation.TextMapPropagator
	jaegerDeprecated      bool
	configFile            string // OTEL_CONFIG_FILE
	traces, metrics, logs export
}

func readEnv(getenv func(string) string) (envConfig, error) {
	var c envConfig
	var err error
	switch v := strings.TrimSpace(getenv("OTEL_SDK_DISABLED")); strings.ToLower(v) {
	case "true":
		c.disabled = true
	case "", "false":
	default:
		// The specification reads any other value as false, with a warning.
		c.disabledValueUnknown = v
	}
	c.configFile = getenv("OTEL_CONFIG_FILE")
	if c.propagator, c.jaegerDeprecated, err = parsePropagators(getenv("OTEL_PROPAGATORS")); err != nil {
		return c, err
	}
	if err = validateSampler(getenv("OTEL_TRACES_SAMPLER"), getenv("OTEL_TRACES_SAMPLER_ARG")); err != nil {
		return c, err
	}
	for _, s := range []struct {
		sig signal
		out *export
	}{{tracesSignal, &c.traces}, {metricsSignal, &c.metrics}, {logsSignal, &c.logs}} {
		if *s.out, err = readExport(getenv, s.sig); err != nil {
			return c, err
		}
	}
	return c, nil
}

// readExport decides how sig is exported. Unlike the OpenTelemetry default
// (OTLP to localhost), Patron exports a signal only once an endpoint or an
// exporter is named, so that a service started on a laptop does not log
// connection errors forever; every signal follows the same rule.
func readExport(getenv func(string) string, sig signal) (export, error) {
	var e export
	base := getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
	own := getenv(sig.endpoint)
	switch v := getenv(sig.exporter); v {
	case "":
		if base != "" || own != "" {
			e.kind = kindOTLP
		}
	case "none":
	case "otlp", "console":
		e.kind = v
	case "prometheus":
		// Prometheus is always served on /metrics; a second server is not wanted.
		if sig != metricsSignal {
			return e, fmt.Errorf("observability: %s=%q: want otlp, console or none", sig.exporter, v)
		}
	default:
		return e, fmt.Errorf("observability: %s=%q: want otlp, console or none", sig.exporter, v)
	}
	// Checked even when the signal is not exported, so that a typo shows
	// at once rather than the day export is turned on.
	for _, k := range []string{"OTEL_EXPORTER_OTLP_PROTOCOL", sig.protocol} {
		switch v := getenv(k); v {
		case "":
		case protoGRPC, protoHTTP:
			e.protocol = v
		default:
			return export{}, fmt.Errorf("observability: %s=%q: want grpc or http/protobuf", k, v)
		}
	}
	if e.kind == kindNone {
		return export{}, nil
	}
	if e.protocol == "" {
		e.protocol = protoHTTP // the specification's default, and autoexport's
	}
	switch {
	case e.kind != kindOTLP:
	case own != "":
		e.endpoint = own
	case base == "" && e.protocol == protoGRPC:
		e.endpoint = "localhost:4317"
	case base == "":
		e.endpoint = "http://localhost:4318" + sig.path
	case e.protocol == protoGRPC:
		e.endpoint = base
	default:
		e.endpoint = strings.TrimSuffix(base, "/") + sig.path
	}
	return e, nil
}

// parsePropagators builds OTEL_PROPAGATORS' propagators, and says whether
// jaeger is among them: the specification deprecates it, and the service
// warns once that it is chosen.
func parsePropagators(v string) (p propagation.TextMapPropagator, jaeger bool, err error) {
	if strings.TrimSpace(v) == "" {
		v = "tracecontext,baggage"
	}
	var names []string
	for _, n := range strings.Split(v, ",") {
		n = strings.TrimSpace(n)
		switch n {
		case "jaeger":
			jaeger = true
			names = append(names, n)
		case "tracecontext", "baggage", "b3", "b3multi", "xray", "ottrace", "none":
			names = append(names, n)
		default:
			return nil, false, fmt.Errorf("observability: OTEL_PROPAGATORS=%q: unknown propagator %q (want tracecontext, baggage, b3, b3multi, xray, ottrace, jaeger or none)", v, n)
		}
	}
	p, err = autoprop.TextMapPropagator(names...)
	if err != nil {
		return nil, false, fmt.Errorf("observability: OTEL_PROPAGATORS=%q: %w", v, err)
	}
	return p, jaeger, nil
}

// validateSampler checks OTEL_TRACES_SAMPLER(_ARG) so that a typo fails
// New with the variable's name; the SDK itself reads and applies them (the
// SDK alone would log the error and fall back to the default).
func validateSampler(name, arg string) error {
	switch name {
	case "", "always_on", "always_off", "parentbased_always_on", "parentbased_always_off":
		return nil
	case "traceidratio", "parentbased_traceidratio":
		if arg == "" {
			return nil
		}
		if r, err := strconv.ParseFloat(arg, 64); err != nil || r < 0 || r > 1 {
			return fmt.Errorf("observability: OTEL_TRACES_SAMPLER_ARG=%q: want a ratio between 0 and 1", arg)
		}
		return nil
	}
	return fmt.Errorf("observability: OTEL_TRACES_SAMPLER=%q: want always_on, always_off, traceidratio or their parentbased_ forms", name)
}

func attributeString(k, v string) attribute.KeyValue { return attribute.String(k, v) }
