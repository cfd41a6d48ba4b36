package http

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// CORS configures cross-origin access to a route.
type CORS struct {
	// AllowedOrigins lists the origins allowed ("https://app.example.com");
	// "*" allows any origin (not together with AllowCredentials).
	AllowedOrigins []string
	// AllowedHeaders lists the request headers a preflight may ask for;
	// empty allows Content-Type, Authorization, X-API-Key, X-Correlation-Id
	// and the trace context headers.
	AllowedHeaders []string
	// ExposedHeaders lists the response headers scripts may read, besides
	// the CORS-safelisted ones.
	ExposedHeaders []string
	// AllowCredentials lets browsers send cookies and credentials.
	AllowCredentials bool
	// MaxAge is how long browsers may cache a preflight answer.
	MaxAge time.Duration
}

type corsPolicy struct {
	anyOrigin   bool
	origins     map[string]bool
	methods     []string
	headers     string
	exposed     string
	credentials bool
	maxAge      string
	routePath   string
}

// WithCORS answers cross-origin requests to the route as cfg allows, and
// preflight (OPTIONS) requests on the route's path.
func WithCORS(cfg CORS) RouteOption {
	return func(r *Route) error {
		if len(cfg.AllowedOrigins) == 0 {
			return r.optionError(errors.New("WithCORS: no allowed origins"))
		}
		p := &corsPolicy{origins: map[string]bool{}, credentials: cfg.AllowCredentials, routePath: r.path}
		for _, o := range cfg.AllowedOrigins {
			switch {
			case o == "*":
				p.anyOrigin = true
			case strings.HasPrefix(o, "http://") || strings.HasPrefix(o, "https://"):
				p.origins[strings.TrimSuffix(strings.ToLower(o), "/")] = true
			default:
				return r.optionError(fmt.Errorf("WithCORS: origin %q: want * or scheme://host[:port]", o))
			}
		}
		if p.anyOrigin && cfg.AllowCredentials {
			return r.optionError(errors.New("WithCORS: * cannot be combined with AllowCredentials"))
		}
		if cfg.MaxAge < 0 {
			return r.optionError(fmt.Errorf("WithCORS: negative MaxAge %s", cfg.MaxAge))
		}
		hdrs := cfg.AllowedHeaders
		if len(hdrs) == 0 {
			hdrs = []string{"Content-Type", "Authorization", "X-API-Key", "X-Correlation-Id", "Traceparent", "Tracestate", "Baggage"}
		}
		p.headers = strings.Join(hdrs, ", ")
		p.exposed = strings.Join(append([]string{"X-Correlation-Id"}, cfg.ExposedHeaders...), ", ")
		if cfg.MaxAge > 0 {
			p.maxAge = strconv.Itoa(int(cfg.MaxAge.Seconds()))
		}
		if r.method != "" {
			p.methods = []string{r.method}
		}
		r.cors = p
		return nil
	}
}

func (p *corsPolicy) allowed(origin string) bool {
	if p.anyOrigin {
		return true
	}
	return p.origins[strings.ToLower(origin)]
}

// setOrigin writes the origin headers; a specific origin in the answer makes
// it depend on the Origin header, which Vary tells caches.
func (p *corsPolicy) setOrigin(h http.Header, origin string) {
	if p.anyOrigin {
		h.Set("Access-Control-Allow-Origin", "*")
	} else {
		h.Set("Access-Control-Allow-Origin", origin)
	}
	if p.credentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
}

func (p *corsPolicy) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !p.anyOrigin {
			w.Header().Add("Vary", "Origin")
		}
		if origin := r.Header.Get("Origin"); origin != "" && p.allowed(origin) {
			p.setOrigin(w.Header(), origin)
			w.Header().Set("Access-Control-Expose-Headers", p.exposed)
		}
		next.ServeHTTP(w, r)
	})
}

// forPreflight returns the policy that answers OPTIONS on the route's path,
// shared by every CORS route on that path.
func (p *corsPolicy) forPreflight(method string) *corsPolicy {
	c := *p
	c.methods = []string{method}
	return &c
}

func (p *corsPolicy) addMethod(m string) {
	if !slices.Contains(p.methods, m) {
		p.methods = append(p.methods, m)
	}
}

func (p *corsPolicy) path(string) string { return p.routePath }

// preflightHandler answers OPTIONS: 204 with the allowed methods and
// headers for an allowed origin, 403 for another origin.
func (p *corsPolicy) preflightHandler() http.Handler {
	methods := strings.Join(append(slices.Clone(p.methods), http.MethodOptions), ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Allow", methods)
		if !p.anyOrigin {
			h.Add("Vary", "Origin")
		}
		h.Add("Vary", "Access-Control-Request-Method")
		h.Add("Vary", "Access-Control-Request-Headers")
		origin := r.Header.Get("Origin")
		if origin == "" || r.Header.Get("Access-Control-Request-Method") == "" {
			// A plain OPTIONS request, not a preflight.
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if !p.allowed(origin) {
			WriteProblem(w, r, http.StatusForbidden, "origin not allowed")
			return
		}
		p.setOrigin(h, origin)
		h.Set("Access-Control-Allow-Methods", methods)
		h.Set("Access-Control-Allow-Headers", p.headers)
		if p.maxAge != "" {
			h.Set("Access-Control-Max-Age", p.maxAge)
		}
		w.WriteHeader(http.StatusNoContent)
	})
}
