package http

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/patron-go/patron"
	patronhttp "github.com/patron-go/patron/component/http"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// QuickStart is the README's quick start as a user runs it: patron.New
// with patron.WithRoutes on the default server (its own mux with /alive,
// /ready, /metrics in front of the routes, its timeouts, the logger in
// every request's context), the default logger (JSON on os.Stderr, which
// the caller points at a real file descriptor: a file or /dev/null), and
// the service's own telemetry (runtime metrics, Prometheus reader). The
// only additions are a listener, and a span exporter that drops what the
// batch processor hands it, so that sampled spans travel the same way as
// with OTEL_EXPORTER_OTLP_ENDPOINT set. With sampled false,
// OTEL_TRACES_SAMPLER=always_off is in the environment while New reads it.
type QuickStart struct {
	Svc  *patron.Service
	Addr string
	stop context.CancelFunc
	done chan error
}

// StartQuickStart runs the quick-start service on ln until Stop.
func StartQuickStart(ln net.Listener, sampled bool) (*QuickStart, error) {
	route, err := patronhttp.NewRoute("GET /items/{id}", Hello)
	if err != nil {
		return nil, err
	}
	if !sampled {
		old, had := os.LookupEnv("OTEL_TRACES_SAMPLER")
		if err := os.Setenv("OTEL_TRACES_SAMPLER", "always_off"); err != nil {
			return nil, err
		}
		defer func() {
			if had {
				_ = os.Setenv("OTEL_TRACES_SAMPLER", old)
			} else {
				_ = os.Unsetenv("OTEL_TRACES_SAMPLER")
			}
		}()
	}
	svc, err := patron.New("quickstart", "1.0.0",
		patron.WithRoutes(route),
		patron.WithHTTPListener(ln),
		patron.WithSpanExporter(tracetest.NewNoopExporter()))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	q := &QuickStart{Svc: svc, stop: cancel, done: make(chan error, 1)}
	go func() { q.done <- svc.Run(ctx) }()
	wait, cancelWait := context.WithTimeout(ctx, 10*time.Second)
	defer cancelWait()
	addr, err := svc.HTTPAddr(wait)
	if err != nil {
		cancel()
		return nil, errors.Join(fmt.Errorf("quick start did not listen: %w", err), <-q.done)
	}
	q.Addr = addr.String()
	return q, nil
}

// Stop shuts the service down gracefully and returns Run's result.
func (q *QuickStart) Stop() error {
	q.stop()
	return <-q.done
}
