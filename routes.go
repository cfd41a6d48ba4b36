package patron

import (
	"errors"
	"fmt"
	"net/http"
	"sync"

	metricnoop "go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	patronhttp "github.com/patron-go/patron/component/http"
)

// WithRoutes mounts routes on the default HTTP server, behind the HTTP
// component's default chain (recovery, correlation ID, tracing, metrics,
// access log, compression). The service's own endpoints (/alive, /ready,
// /metrics, /debug) keep precedence. Conflicting patterns fail New.
//
// The chain uses the OpenTelemetry globals, which the service installs
// (unless observability.WithoutGlobals is given), and the logger of
// WithLogger, or slog.Default(). For full control, build the handler with
// component/http.NewHandler and mount it with WithHandler, or run the
// routes on their own server with component/http.New.
func WithRoutes(routes ...*patronhttp.Route) Option {
	return func(c *config) error {
		if len(routes) == 0 {
			return errors.New("patron: WithRoutes: no routes")
		}
		// Build once now, on no-op telemetry, so that a bad route set
		// fails New rather than the first request.
		if _, err := patronhttp.NewHandler(patronhttp.WithRoutes(routes...),
			patronhttp.WithTracerProvider(tracenoop.NewTracerProvider()),
			patronhttp.WithMeterProvider(metricnoop.NewMeterProvider())); err != nil {
			return fmt.Errorf("patron: WithRoutes: %w", err)
		}
		return WithHandler(&routesHandler{cfg: c, routes: routes})(c)
	}
}

// routesHandler builds the chain on the first request: by then New has run,
// the service's telemetry is installed as the globals and every option
// (WithLogger may come after WithRoutes) has been applied.
type routesHandler struct {
	cfg    *config
	routes []*patronhttp.Route

	once    sync.Once
	handler http.Handler
	err     error
}

func (rh *routesHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rh.once.Do(rh.build)
	if rh.err != nil {
		patronhttp.WriteProblem(w, r, http.StatusInternalServerError, "routes unavailable")
		return
	}
	rh.handler.ServeHTTP(w, r)
}

func (rh *routesHandler) build() {
	opts := []patronhttp.Option{patronhttp.WithRoutes(rh.routes...)}
	if rh.cfg.logger != nil {
		opts = append(opts, patronhttp.WithLogger(rh.cfg.logger))
	}
	rh.handler, rh.err = patronhttp.NewHandler(opts...)
}
