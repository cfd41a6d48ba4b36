package patron

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// DefaultReadyCheckTimeout bounds each readiness check and each component's
// Ready call.
const DefaultReadyCheckTimeout = 2 * time.Second

// How often readiness is evaluated for the components that follow it
// (ReadinessListener): often until the service is first ready, so that a
// gRPC health check turns SERVING soon after start, then once a second.
const (
	readyPollStarting = 200 * time.Millisecond
	readyPollRunning  = time.Second
)

// ReadinessListener is implemented by components that report the service's
// readiness to their own clients, such as the gRPC health service
// (component/grpc). Run calls SetServiceReady(false) before it starts the
// component, then again each time the service's readiness (every
// component's Ready and every WithReadyCheck) changes, and
// SetServiceReady(false) as soon as shutdown starts, when /ready turns 503.
type ReadinessListener interface {
	SetServiceReady(ready bool)
}

type readyCheck struct {
	name  string
	check func(ctx context.Context) error
}

// readiness is /ready's JSON body.
type readiness struct {
	Status     string           `json:"status"` // ready, not_ready or shutting_down
	Components []componentState `json:"components"`
	Checks     []checkState     `json:"checks"`
}

type componentState struct {
	Name  string `json:"name"`
	Ready bool   `json:"ready"`
	State string `json:"state"` // running, stopped (returned nil early) or not_ready
	Error string `json:"error,omitempty"`
}

type checkState struct {
	Name  string `json:"name"`
	Ready bool   `json:"ready"`
	Error string `json:"error,omitempty"`
}

// evaluate asks every component and check at once, each bounded by the
// ready check timeout, so that one slow dependency costs the timeout once,
// not once per check.
func (s *Service) evaluate(ctx context.Context) readiness {
	s.mu.Lock()
	running := s.running
	s.mu.Unlock()
	res := readiness{Status: "ready", Components: make([]componentState, len(running)), Checks: make([]checkState, len(s.cfg.readyChecks))}
	var wg sync.WaitGroup
	for i, rc := range running {
		st := componentState{Name: rc.name, Ready: true, State: "running"}
		res.Components[i] = st
		if rc.done.Load() {
			// A component that finished its work without error (a one-off
			// job) must not keep the service out of rotation.
			res.Components[i].State = "stopped"
			continue
		}
		rcheck, ok := rc.c.(ReadyChecker)
		if !ok {
			continue
		}
		wg.Go(func() {
			if err := s.bounded(ctx, rcheck.Ready); err != nil {
				res.Components[i].Ready, res.Components[i].State, res.Components[i].Error = false, "not_ready", err.Error()
			}
		})
	}
	for i, c := range s.cfg.readyChecks {
		res.Checks[i] = checkState{Name: c.name, Ready: true}
		wg.Go(func() {
			if err := s.bounded(ctx, c.check); err != nil {
				res.Checks[i].Ready, res.Checks[i].Error = false, err.Error()
			}
		})
	}
	wg.Wait()
	for _, c := range res.Components {
		if !c.Ready {
			res.Status = "not_ready"
		}
	}
	for _, c := range res.Checks {
		if !c.Ready {
			res.Status = "not_ready"
		}
	}
	if s.shuttingDown.Load() {
		res.Status = "shutting_down"
	}
	return res
}

// bounded runs check with the ready check timeout, and gives up on a check
// that ignores its context: it counts as failed, and finishes on its own.
func (s *Service) bounded(ctx context.Context, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.readyCheckTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("panic: %v", p)
			}
		}()
		done <- check(ctx)
	}()
	select {
	case err := <-done:
		if err != nil && ctx.Err() != nil {
			return fmt.Errorf("no answer within %s: %w", s.cfg.readyCheckTimeout, err)
		}
		return err
	case <-ctx.Done():
		return fmt.Errorf("no answer within %s: %w", s.cfg.readyCheckTimeout, context.DeadlineExceeded)
	}
}

func (s *Service) handleReady(w http.ResponseWriter, r *http.Request) {
	res := s.evaluate(r.Context())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if res.Status != "ready" {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(res)
}

// readinessListeners are the components that follow the service's
// readiness.
func (s *Service) readinessListeners() []ReadinessListener {
	var ls []ReadinessListener
	for _, rc := range s.running {
		if l, ok := rc.c.(ReadinessListener); ok {
			ls = append(ls, l)
		}
	}
	return ls
}

// followReadiness tells listeners the service is not ready yet, then
// evaluates readiness in the background and tells them each change, until
// the returned stop is called (at shutdown, which then tells them false).
func (s *Service) followReadiness(ctx context.Context, listeners []ReadinessListener) (stop func()) {
	for _, l := range listeners {
		l.SetServiceReady(false)
	}
	if len(listeners) == 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		ready, everReady := false, false
		timer := time.NewTimer(0)
		defer timer.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
			now := s.evaluate(ctx).Status == "ready"
			if ctx.Err() != nil {
				return // shutdown started while evaluating: its false wins
			}
			if now != ready {
				ready = now
				for _, l := range listeners {
					l.SetServiceReady(ready)
				}
			}
			everReady = everReady || ready
			if everReady {
				timer.Reset(readyPollRunning)
			} else {
				timer.Reset(readyPollStarting)
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
