//go:build !patron_nogrpcexport

package telemetry

import (
	"context"
	"fmt"

	"go.opentelemetry.io/contrib/otelconf"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// fromConfigFile builds the providers from OTEL_CONFIG_FILE, the
// OpenTelemetry declarative configuration, through contrib's otelconf. The
// file then owns exporters, processors, samplers and the resource (give it
// service.name in resource.attributes); Patron adds the Prometheus reader
// behind /metrics, the exporters and readers of the Setup options, and the
// propagators of OTEL_PROPAGATORS when the file names none. Providers
// injected with WithTracerProvider or WithMeterProvider still win.
// otelconf links every exporter it knows, gRPC included, so the
// patron_nogrpcexport tag leaves this file out.
func (p *Provider) fromConfigFile(ctx context.Context, cfg *setupConfig, env envConfig) error {
	promExp, err := otelprom.New(otelprom.WithRegisterer(p.registry))
	if err != nil {
		return fmt.Errorf("observability: creating Prometheus exporter: %w", err)
	}
	tpOpts := make([]sdktrace.TracerProviderOption, 0, len(cfg.spanExporters))
	for _, x := range cfg.spanExporters {
		tpOpts = append(tpOpts, sdktrace.WithBatcher(newUTF8SpanExporter(x)))
	}
	mpOpts := []sdkmetric.Option{sdkmetric.WithReader(promExp)}
	for _, r := range cfg.metricReaders {
		mpOpts = append(mpOpts, sdkmetric.WithReader(r))
	}
	lpOpts := make([]sdklog.LoggerProviderOption, 0, len(cfg.logExporters))
	for _, x := range cfg.logExporters {
		lpOpts = append(lpOpts, sdklog.WithProcessor(sdklog.NewBatchProcessor(newUTF8LogExporter(x))))
	}
	sdk, err := otelconf.NewSDK(otelconf.WithContext(ctx),
		otelconf.WithTracerProviderOptions(tpOpts...),
		otelconf.WithMeterProviderOptions(mpOpts...),
		otelconf.WithLoggerProviderOptions(lpOpts...))
	if err != nil {
		return fmt.Errorf("observability: OTEL_CONFIG_FILE=%q: %w", env.configFile, err)
	}
	p.shutdowns = append(p.shutdowns, sdk.Shutdown)
	type flusher interface{ ForceFlush(context.Context) error }
	for _, x := range []any{sdk.TracerProvider(), sdk.MeterProvider(), sdk.LoggerProvider()} {
		if f, ok := x.(flusher); ok {
			p.flushes = append(p.flushes, f.ForceFlush)
		}
	}
	p.tp, p.mp = sdk.TracerProvider(), sdk.MeterProvider()
	if cfg.tp != nil {
		p.tp = cfg.tp
	}
	if cfg.mp != nil {
		p.mp = cfg.mp
	}
	if lp, ok := sdk.LoggerProvider().(*sdklog.LoggerProvider); ok {
		p.lp = lp
	}
	if prop := sdk.Propagator(); cfg.prop == nil && len(prop.Fields()) > 0 {
		p.prop = prop
	}
	return nil
}
