package grpc

import (
	"context"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// healthService is grpc-go's health server with one change: a Watch
// stream ends once it has told its client that the server stopped serving.
// Otherwise every watcher (gRPC clients with client-side health checking
// keep one open per connection) would hold GracefulStop until the drain
// timeout.
type healthService struct {
	*health.Server
	c *Component
}

// Watch streams status changes until the client leaves or the server shuts
// down.
func (h *healthService) Watch(req *healthpb.HealthCheckRequest, stream grpc.ServerStreamingServer[healthpb.HealthCheckResponse]) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	w := &endingWatch{ServerStreamingServer: stream, ctx: ctx, cancel: cancel, c: h.c}
	// A watcher whose last status already was not SERVING when shutdown
	// started gets no further update (health.Server skips repeats, and
	// unknown services are never updated): end it here.
	stop := context.AfterFunc(h.c.stopped, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.sent && w.last != healthpb.HealthCheckResponse_SERVING {
			cancel()
		}
	})
	defer stop()
	return h.Server.Watch(req, w)
}

type endingWatch struct {
	grpc.ServerStreamingServer[healthpb.HealthCheckResponse]
	ctx    context.Context
	cancel context.CancelFunc
	c      *Component

	mu   sync.Mutex
	sent bool
	last healthpb.HealthCheckResponse_ServingStatus
}

func (w *endingWatch) Context() context.Context { return w.ctx }

func (w *endingWatch) Send(resp *healthpb.HealthCheckResponse) error {
	if err := w.ServerStreamingServer.Send(resp); err != nil {
		return err
	}
	w.mu.Lock()
	w.sent, w.last = true, resp.GetStatus()
	w.mu.Unlock()
	// stopping is set before the statuses flip, so the NOT_SERVING sent
	// because of the shutdown always sees it.
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING && w.c.stopping.Load() {
		w.cancel()
	}
	return nil
}
