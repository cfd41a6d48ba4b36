package http

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/patron-go/patron/internal/option"
)

// Middleware wraps a handler; the first of a list is the outermost.
type Middleware func(http.Handler) http.Handler

// Route is a handler on a Go ServeMux pattern with its route options. Build
// it with NewRoute and mount it with WithRoutes (here or on the service's
// default server through patron.WithRoutes).
type Route struct {
	pattern string
	method  string // "" when the pattern matches every method
	path    string // the path template, the span name's and http.route's
	handler http.Handler

	rateLimit   *rateLimiter
	auth        Authenticator
	timeout     time.Duration
	bodyLimit   int64
	cors        *corsPolicy
	cache       *routeCache
	middlewares []Middleware
}

// RouteOption configures a Route.
type RouteOption func(*Route) error

// NewRoute returns a route serving h on pattern, a Go ServeMux pattern such
// as "GET /users/{id}" or "/static/". Path values are read with
// r.PathValue("id").
func NewRoute(pattern string, h http.HandlerFunc, opts ...RouteOption) (*Route, error) {
	if h == nil {
		return nil, fmt.Errorf("http: NewRoute(%q): handler is nil", pattern)
	}
	return NewRouteHandler(pattern, h, opts...)
}

// NewRouteHandler is NewRoute for any http.Handler (a file server, a
// gRPC-gateway mux).
func NewRouteHandler(pattern string, h http.Handler, opts ...RouteOption) (*Route, error) {
	if h == nil {
		return nil, fmt.Errorf("http: NewRoute(%q): handler is nil", pattern)
	}
	method, path, err := parsePattern(pattern)
	if err != nil {
		return nil, err
	}
	r := &Route{pattern: pattern, method: method, path: path, handler: h}
	// Route options wrap their own errors (optionError), so that a nil
	// option and a bad one both name the route.
	if err := option.Apply(fmt.Sprintf("http: NewRoute(%q)", pattern), r, opts); err != nil {
		return nil, err
	}
	return r, nil
}

// optionError says which route a route option refused.
func (r *Route) optionError(err error) error {
	return fmt.Errorf("http: NewRoute(%q): %w", r.pattern, err)
}

// Pattern returns the route's ServeMux pattern.
func (r *Route) Pattern() string { return r.pattern }

// parsePattern validates pattern the way ServeMux does (by registering it in
// a throwaway mux, which panics on a bad pattern) and splits it.
func parsePattern(pattern string) (method, path string, err error) {
	if err := register(http.NewServeMux(), pattern, http.NotFoundHandler()); err != nil {
		return "", "", err
	}
	method, path = splitPattern(pattern)
	return method, path, nil
}

// splitPattern splits a valid pattern into its method ("" when it has
// none) and its path template, without the host.
func splitPattern(pattern string) (method, path string) {
	rest := strings.TrimLeft(pattern, " \t")
	if i := strings.IndexAny(rest, " \t"); i >= 0 && !strings.Contains(rest[:i], "/") {
		method, rest = rest[:i], strings.TrimLeft(rest[i:], " \t")
	}
	// A host ("example.com/x") is not part of http.route.
	if i := strings.IndexByte(rest, '/'); i > 0 {
		rest = rest[i:]
	}
	return method, rest
}

// register converts ServeMux's panics (invalid or conflicting patterns) into
// errors, since constructors must not panic.
func register(mux *http.ServeMux, pattern string, h http.Handler) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("http: pattern %q: %v", pattern, p)
		}
	}()
	mux.Handle(pattern, h)
	return nil
}

// WithTimeout bounds the time the handler has before it starts answering.
// The request context carries the deadline (so that outgoing calls see
// it); at the deadline the client gets 503 with a problem body even if the
// handler ignores its context and goes on, and whatever it writes later is
// dropped. The handler runs on a goroutine of its own and writes into a
// buffer until its response starts: when it flushes (SSE, streaming),
// hijacks, writes more than 64 KiB or returns. From then on the timeout no
// longer applies, so streams are not cut. A handler still running after
// its timeout answered keeps its goroutine until it returns: give it a
// context-aware body, as the deadline only asks it to stop.
func WithTimeout(d time.Duration) RouteOption {
	return func(r *Route) error {
		if d <= 0 {
			return r.optionError(fmt.Errorf("WithTimeout(%s): must be positive", d))
		}
		r.timeout = d
		return nil
	}
}

// WithBodyLimit caps the request body at n bytes; a larger body gets 413.
func WithBodyLimit(n int64) RouteOption {
	return func(r *Route) error {
		if n <= 0 {
			return r.optionError(fmt.Errorf("WithBodyLimit(%d): must be positive", n))
		}
		r.bodyLimit = n
		return nil
	}
}

// WithRouteMiddlewares wraps the route's handler, inside the route options
// (after auth, rate limit and cache); the first is the outermost.
func WithRouteMiddlewares(mws ...Middleware) RouteOption {
	return func(r *Route) error {
		for i, m := range mws {
			if m == nil {
				return r.optionError(fmt.Errorf("WithRouteMiddlewares: middleware %d is nil", i))
			}
		}
		r.middlewares = append(r.middlewares, mws...)
		return nil
	}
}

// chain builds the route's own handler: CORS, rate limit, auth, timeout,
// cache, the user's middlewares, the handler, outermost first. Rate limiting
// comes before auth so that guessing keys is rate limited too.
func (r *Route) chain(s *server) http.Handler {
	h := r.handler
	for i := len(r.middlewares) - 1; i >= 0; i-- {
		h = r.middlewares[i](h)
	}
	if r.cache != nil {
		h = r.cache.middleware(h, s, r)
	}
	if r.timeout > 0 {
		h = timeoutHandler(h, r.timeout, s)
	}
	if r.auth != nil {
		h = authHandler(h, r.auth)
	}
	if r.rateLimit != nil {
		h = r.rateLimit.middleware(h)
	}
	if r.cors != nil {
		h = r.cors.middleware(h)
	}
	return h
}

// routeEntry is what the mux calls: it tells the chain which route matched
// and applies the body limit before anything reads the body.
type routeEntry struct {
	state     *routeState
	next      http.Handler
	bodyLimit int64
}

func (e *routeEntry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if rw := findWriter(w); rw != nil {
		rw.route = e.state
	}
	if r.ContentLength > e.bodyLimit {
		WriteProblem(w, r, http.StatusRequestEntityTooLarge,
			fmt.Sprintf("request body of %d bytes exceeds the limit of %d bytes", r.ContentLength, e.bodyLimit))
		return
	}
	if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
		r.Body = http.MaxBytesReader(w, r.Body, e.bodyLimit)
	}
	e.next.ServeHTTP(w, r)
}

// findWriter finds the chain's writer under the wrappers of server-wide
// middlewares.
func findWriter(w http.ResponseWriter) *responseWriter {
	for range 16 {
		if rw, ok := w.(*responseWriter); ok {
			return rw
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return nil
		}
		w = u.Unwrap()
	}
	return nil
}
