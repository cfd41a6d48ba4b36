package patron

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	patronlog "github.com/patron-go/patron/observability/log"
)

// Timeouts of the default server. The write timeout leaves room for a 30s
// CPU profile, which pprof refuses when the write timeout is shorter.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 60 * time.Second
	writeTimeout      = 90 * time.Second
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 1 << 20
	readyCheckTimeout = 2 * time.Second
)

func newServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
	}
}

// startHTTP starts the default server and, when configured, the separate
// debug server. Listening happens here, in Run, so New has no side effects.
func (s *Service) startHTTP() ([]*http.Server, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /alive", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "alive\n")
	})
	mux.HandleFunc("GET /ready", s.handleReady)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.obs.Gatherer(), promhttp.HandlerOpts{EnableOpenMetrics: true}))
	if s.cfg.handler != nil {
		mux.Handle("/", s.cfg.handler)
	}

	debugMux := mux
	if s.cfg.debugAddr != "" {
		debugMux = http.NewServeMux()
	}
	if !s.cfg.debugOff {
		debugMux.HandleFunc("/debug/pprof/", pprof.Index)
		debugMux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		debugMux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		debugMux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		debugMux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		debugMux.HandleFunc("GET /debug/log-level", s.handleGetLogLevel)
		debugMux.HandleFunc("PUT /debug/log-level", s.handlePutLogLevel)
	}

	ln := s.cfg.httpListener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", s.cfg.httpAddr); err != nil {
			return nil, fmt.Errorf("patron: default HTTP server on %s: %w", s.cfg.httpAddr, err)
		}
	}
	servers := []*http.Server{newServer(mux)}
	listeners := []net.Listener{ln}
	if s.cfg.debugAddr != "" && !s.cfg.debugOff {
		dl, err := net.Listen("tcp", s.cfg.debugAddr)
		if err != nil {
			_ = ln.Close()
			return nil, fmt.Errorf("patron: debug HTTP server on %s: %w", s.cfg.debugAddr, err)
		}
		servers = append(servers, newServer(debugMux))
		listeners = append(listeners, dl)
	}
	for i, srv := range servers {
		srv.ErrorLog = nil
		go func() {
			if err := srv.Serve(listeners[i]); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.logger.Error("HTTP server stopped", "addr", listeners[i].Addr().String(), "error", err)
			}
		}()
	}
	s.httpAddr = ln.Addr()
	close(s.httpReady)
	return servers, nil
}

func shutdownServers(ctx context.Context, servers []*http.Server) error {
	var errs []error
	for _, srv := range servers {
		if err := srv.Shutdown(ctx); err != nil {
			_ = srv.Close()
			errs = append(errs, fmt.Errorf("patron: draining HTTP server: %w", err))
		}
	}
	return errors.Join(errs...)
}

type readiness struct {
	Status     string           `json:"status"`
	Components []componentState `json:"components"`
}

type componentState struct {
	Name  string `json:"name"`
	Ready bool   `json:"ready"`
	State string `json:"state"` // running, stopped (returned nil early) or not_ready
	Error string `json:"error,omitempty"`
}

func (s *Service) handleReady(w http.ResponseWriter, r *http.Request) {
	res := readiness{Status: "ready", Components: []componentState{}}
	s.mu.Lock()
	running := s.running
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(r.Context(), readyCheckTimeout)
	defer cancel()
	for _, rc := range running {
		st := componentState{Name: rc.name, Ready: true, State: "running"}
		if rc.done.Load() {
			// A component that finished its work without error (a one-off
			// job) must not keep the service out of rotation.
			st.State = "stopped"
		} else if rcheck, ok := rc.c.(ReadyChecker); ok {
			if err := rcheck.Ready(ctx); err != nil {
				st.Ready, st.State, st.Error = false, "not_ready", err.Error()
			}
		}
		if !st.Ready {
			res.Status = "not_ready"
		}
		res.Components = append(res.Components, st)
	}
	if s.shuttingDown.Load() {
		res.Status = "shutting_down"
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if res.Status != "ready" {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(res)
}

func (s *Service) handleGetLogLevel(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"level": strings.ToLower(s.level.Level().String())})
}

// handlePutLogLevel accepts a bare level ("debug") or {"level":"debug"}.
func (s *Service) handlePutLogLevel(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1024))
	if err != nil {
		http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
		return
	}
	raw := strings.TrimSpace(string(body))
	if strings.HasPrefix(raw, "{") {
		var req struct {
			Level string `json:"level"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			http.Error(w, "malformed JSON body: "+err.Error(), http.StatusBadRequest)
			return
		}
		raw = req.Level
	}
	if raw == "" {
		raw = r.URL.Query().Get("level")
	}
	lvl, err := patronlog.ParseLevel(raw)
	if err != nil || raw == "" {
		http.Error(w, fmt.Sprintf("invalid level %q: want debug, info, warn or error", raw), http.StatusBadRequest)
		return
	}
	old := s.level.Level()
	s.level.Set(lvl)
	s.logger.Info("log level changed", "from", old.String(), "to", lvl.String())
	s.handleGetLogLevel(w, r)
}
