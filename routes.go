package patron

import (
	"errors"
	"fmt"

	metricnoop "go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	patronhttp "github.com/patron-go/patron/component/http"
)

// WithRoutes mounts routes on the default HTTP server, behind the HTTP
// component's default chain (recovery, correlation ID, tracing, metrics,
// access log, compression) wired to the service's own tracer, meter,
// propagator and logger. The service's endpoints (/alive, /ready,
// /metrics, /debug) keep precedence. Conflicting patterns fail New. To run
// routes on a server of their own, use component/http.New instead.
func WithRoutes(routes ...*patronhttp.Route) Option {
	return func(c *config) error {
		if len(routes) == 0 {
			return errors.New("patron: WithRoutes: no routes")
		}
		if c.handler != nil || len(c.routes) > 0 {
			return errors.New("patron: a handler is already mounted on the default server (WithHandler or WithRoutes given twice)")
		}
		// Validate now, on no-op telemetry, so that a bad route set names
		// the option that brought it.
		if _, err := patronhttp.NewHandler(patronhttp.WithRoutes(routes...),
			patronhttp.WithTracerProvider(tracenoop.NewTracerProvider()),
			patronhttp.WithMeterProvider(metricnoop.NewMeterProvider())); err != nil {
			return fmt.Errorf("patron: WithRoutes: %w", err)
		}
		c.routes = routes
		return nil
	}
}

// buildRoutes turns the routes of WithRoutes into the default server's
// handler, once the service's telemetry and logger exist.
func (s *Service) buildRoutes() error {
	if len(s.cfg.routes) == 0 {
		return nil
	}
	h, err := patronhttp.NewHandler(patronhttp.WithRoutes(s.cfg.routes...),
		patronhttp.WithTracerProvider(s.TracerProvider()),
		patronhttp.WithMeterProvider(s.obs.MeterProvider()),
		patronhttp.WithPropagator(s.obs.Propagator()),
		patronhttp.WithLogger(s.logger))
	if err != nil {
		return fmt.Errorf("patron: WithRoutes: %w", err)
	}
	s.cfg.handler = h
	return nil
}
