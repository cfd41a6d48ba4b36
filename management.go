package patron

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	patronhttp "github.com/patron-go/patron/component/http"
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
)

// debugPortOffset places the default debug address next to the service
// port: 127.0.0.1:50099 for the default 50000, and one address per service
// when several share a host on neighbouring ports.
const debugPortOffset = 99

// errNoDebugAddr is DebugAddr's answer when the debug endpoints have no
// server of their own.
var errNoDebugAddr = errors.New("patron: the debug endpoints have no address of their own (off, on the service port, or their default address was taken)")

// servers are the default HTTP server and, when the management endpoints
// have an address of their own, the debug server.
type servers struct {
	list  []*http.Server
	debug net.Addr
}

func (s *Service) newServer(ctx context.Context, h http.Handler) *http.Server {
	// Requests carry the service's logger (observability/log.FromContext)
	// and outlive Run's context, which only starts the drain.
	base := patronlog.WithContext(context.WithoutCancel(ctx), s.logger)
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return base },
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	}
}

// startHTTP starts the default server and, unless the debug endpoints are
// off or on the service port, the debug server. Listening happens here, in
// Run, so New has no side effects.
func (s *Service) startHTTP(ctx context.Context) (*servers, error) {
	service := http.NewServeMux()
	var debug *http.ServeMux // the debug server's mux, nil without one
	if s.cfg.debugMode == debugDefault || s.cfg.debugMode == debugSeparate {
		debug = http.NewServeMux()
	}
	endpoints := service
	if s.cfg.endpointsOnDebug {
		endpoints = debug
	}
	endpoints.HandleFunc("GET /alive", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "alive\n")
	})
	endpoints.HandleFunc("GET /ready", s.handleReady)
	endpoints.Handle("GET /metrics", promhttp.HandlerFor(s.obs.Gatherer(), promhttp.HandlerOpts{EnableOpenMetrics: true}))
	switch s.cfg.debugMode {
	case debugOnService:
		s.mountDebug(service)
	case debugDefault, debugSeparate:
		s.mountDebug(debug)
	}
	var handler http.Handler = service
	if s.cfg.handler != nil {
		service.Handle("/", s.cfg.handler)
		handler = &frontMux{service: service, user: s.cfg.handler, debug: s.cfg.debugMode == debugOnService}
	}

	ln := s.cfg.httpListener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", s.cfg.httpAddr); err != nil {
			return nil, fmt.Errorf("patron: default HTTP server on %s: %w", s.cfg.httpAddr, err)
		}
	}
	srv := &servers{list: []*http.Server{s.newServer(ctx, handler)}}
	listeners := []net.Listener{ln}
	if debug != nil {
		addr := s.cfg.debugAddr
		if s.cfg.debugMode == debugDefault {
			addr = s.defaultDebugAddr()
		}
		dl, err := net.Listen("tcp", addr)
		switch {
		case err == nil:
			srv.list = append(srv.list, s.newServer(ctx, debug))
			listeners = append(listeners, dl)
			srv.debug = dl.Addr()
		case s.cfg.debugMode == debugDefault && !s.cfg.endpointsOnDebug:
			// Another service on this host holds the default address:
			// this one runs on without profiling rather than not at all.
			s.logger.WarnContext(ctx, "debug endpoints off: their default address is taken (set PATRON_DEBUG_ADDR)",
				"addr", addr, "error", err)
		default:
			_ = ln.Close()
			return nil, fmt.Errorf("patron: debug HTTP server on %s: %w", addr, err)
		}
	}
	for i, hs := range srv.list {
		go func() {
			if err := hs.Serve(listeners[i]); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.logger.Error("HTTP server stopped", "addr", listeners[i].Addr().String(), "error", err)
			}
		}()
	}
	s.httpAddr, s.debugAddr = ln.Addr(), srv.debug
	close(s.httpReady)
	return srv, nil
}

// frontMux sends a request whose path cannot be one of the service's
// endpoints straight to the user's handler, which the service's ServeMux
// would do anyway through its "/" pattern, only dearer: a "/" match is not
// exact, so ServeMux builds path+"/" and searches again for a redirect, an
// allocation and a second tree walk on every request. Anything else (the
// endpoints' paths, paths ServeMux would clean and redirect, CONNECT) goes
// through the service's mux as before, so precedence and redirects do not
// change.
type frontMux struct {
	service *http.ServeMux
	user    http.Handler
	debug   bool // the debug endpoints are on the service's mux
}

func (f *frontMux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p := r.URL.Path; r.Method != http.MethodConnect && cleanPath(p) && !f.servicePath(p) {
		f.user.ServeHTTP(w, r)
		return
	}
	f.service.ServeHTTP(w, r)
}

// servicePath reports whether the service's mux has a pattern other than
// "/" that can match path.
func (f *frontMux) servicePath(path string) bool {
	switch path {
	case "/alive", "/ready", "/metrics":
		return true
	}
	return f.debug && strings.HasPrefix(path, "/debug/")
}

// cleanPath reports whether ServeMux would leave path as it is: rooted,
// without empty, "." or ".." elements.
func cleanPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	for i := 1; i < len(p); i++ {
		if p[i-1] != '/' {
			continue
		}
		switch {
		case p[i] == '/':
			return false
		case p[i] == '.' && (i+1 == len(p) || p[i+1] == '/'):
			return false
		case p[i] == '.' && p[i+1] == '.' && (i+2 == len(p) || p[i+2] == '/'):
			return false
		}
	}
	return true
}

// defaultDebugAddr is loopback at the service port + debugPortOffset, or a
// free port when the service port is chosen by the system (port 0, a
// listener given with WithHTTPListener), so that tests never collide.
func (s *Service) defaultDebugAddr() string {
	if s.cfg.httpListener != nil {
		return "127.0.0.1:0"
	}
	_, p, _ := net.SplitHostPort(s.cfg.httpAddr) // validated in New
	port, err := strconv.Atoi(p)
	if err != nil || port == 0 || port+debugPortOffset > 65535 {
		return "127.0.0.1:0"
	}
	return "127.0.0.1:" + strconv.Itoa(port+debugPortOffset)
}

// mountDebug registers pprof and the log level endpoints on mux, behind
// the debug API key when one is set.
func (s *Service) mountDebug(mux *http.ServeMux) {
	guard := func(h http.HandlerFunc) http.Handler { return h }
	if s.cfg.debugAPIKey != "" {
		auth, _ := patronhttp.NewAPIKeyAuthenticator(s.cfg.debugAPIKey) // validated: not empty
		guard = func(h http.HandlerFunc) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if err := auth.Authenticate(r); err != nil {
					w.Header().Set("WWW-Authenticate", `Apikey realm="patron-debug"`)
					patronhttp.WriteProblem(w, r, http.StatusUnauthorized, "missing or invalid API key")
					return
				}
				h(w, r)
			})
		}
	}
	mux.Handle("/debug/pprof/", guard(pprof.Index))
	mux.Handle("/debug/pprof/cmdline", guard(pprof.Cmdline))
	mux.Handle("/debug/pprof/profile", guard(pprof.Profile))
	mux.Handle("/debug/pprof/symbol", guard(pprof.Symbol))
	mux.Handle("/debug/pprof/trace", guard(pprof.Trace))
	mux.Handle("GET /debug/log-level", guard(s.handleGetLogLevel))
	mux.Handle("PUT /debug/log-level", guard(s.handlePutLogLevel))
}

func (srv *servers) shutdown(ctx context.Context) error {
	var errs []error
	for _, hs := range srv.list {
		if err := hs.Shutdown(ctx); err != nil {
			_ = hs.Close()
			errs = append(errs, fmt.Errorf("patron: draining HTTP server: %w", err))
		}
	}
	return errors.Join(errs...)
}

func (srv *servers) close() {
	for _, hs := range srv.list {
		_ = hs.Close()
	}
}

func (s *Service) handleGetLogLevel(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"level": strings.ToLower(s.level.Level().String())})
}

// handlePutLogLevel accepts a bare level ("debug") or {"level":"debug"}.
func (s *Service) handlePutLogLevel(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1024))
	if err != nil {
		patronhttp.WriteProblem(w, r, http.StatusBadRequest, "reading body: "+err.Error())
		return
	}
	raw := strings.TrimSpace(string(body))
	if strings.HasPrefix(raw, "{") {
		var req struct {
			Level string `json:"level"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			patronhttp.WriteProblem(w, r, http.StatusBadRequest, "malformed JSON body: "+err.Error())
			return
		}
		raw = req.Level
	}
	if raw == "" {
		raw = r.URL.Query().Get("level")
	}
	lvl, err := patronlog.ParseLevel(raw)
	if err != nil || raw == "" {
		patronhttp.WriteProblem(w, r, http.StatusBadRequest, fmt.Sprintf("invalid level %q: want debug, info, warn or error", raw))
		return
	}
	if lvl < s.levelFloor {
		// The logger given with WithLogger drops these records itself:
		// answering 200 would promise logs that never come.
		patronhttp.WriteProblem(w, r, http.StatusConflict, fmt.Sprintf(
			"the logger given with patron.WithLogger handles nothing below %s; lower its handler's level to log at %s",
			strings.ToLower(s.levelFloor.String()), strings.ToLower(lvl.String())))
		return
	}
	old := s.level.Level()
	s.level.Set(lvl)
	s.logger.Info("log level changed", "from", old.String(), "to", lvl.String())
	s.handleGetLogLevel(w, r)
}
