// Package http is Patron's traced HTTP client: an http.RoundTripper, and a
// Client built on it, that
//
//   - starts a CLIENT span per attempt, named after the method as the HTTP
//     semantic conventions ask, with their attributes (credentials and
//     secret query values are never recorded);
//   - writes the trace context with the configured propagator and the
//     context's correlation ID (X-Correlation-Id);
//   - records http.client.request.duration;
//   - retries idempotent requests (GET, HEAD, OPTIONS, PUT, DELETE, TRACE;
//     others when opted in) on transport errors and 408, 429, 500, 502, 503
//     and 504, with exponential backoff and full jitter, honouring
//     Retry-After and never sleeping past the context's deadline;
//   - consults an optional circuit breaker, where transport errors and 5xx
//     responses count as failures and an open breaker fails at once;
//   - asks for and transparently decodes gzip and deflate responses when the
//     caller did not set Accept-Encoding itself, as net/http does for gzip.
package http

import (
	"errors"
	"fmt"
	"log/slog"
	nethttp "net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/patron-go/patron/internal/option"
	"github.com/patron-go/patron/reliability"
)

// Defaults of the retry policy.
const (
	DefaultAttempts      = 3
	DefaultMaxRetryAfter = 30 * time.Second
)

type config struct {
	base          nethttp.RoundTripper
	timeout       time.Duration
	attempts      int
	backoff       reliability.Backoff
	retryMethods  map[string]bool
	maxRetryAfter time.Duration
	breaker       *reliability.Breaker
	redactQuery   map[string]bool
	tp            trace.TracerProvider
	mp            metric.MeterProvider
	prop          propagation.TextMapPropagator
	logger        *slog.Logger
}

func defaultConfig() config {
	return config{
		attempts:      DefaultAttempts,
		backoff:       reliability.DefaultBackoff(),
		maxRetryAfter: DefaultMaxRetryAfter,
		retryMethods: map[string]bool{
			nethttp.MethodGet: true, nethttp.MethodHead: true, nethttp.MethodOptions: true,
			nethttp.MethodPut: true, nethttp.MethodDelete: true, nethttp.MethodTrace: true,
		},
		redactQuery: defaultRedactedQuery(),
	}
}

// Option configures New and Transport.
type Option func(*config) error

// WithTransport sets the RoundTripper that sends the requests (default: a
// clone of http.DefaultTransport, so each Client has its own connections).
func WithTransport(rt nethttp.RoundTripper) Option {
	return func(c *config) error {
		if rt == nil {
			return errors.New("client/http: transport is nil")
		}
		c.base = rt
		return nil
	}
}

// WithTimeout bounds each Do, retries, redirects and reading the body
// included (http.Client.Timeout). It has no effect on Transport; use the
// request's context there. Default: none, the context decides.
func WithTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("client/http: timeout %s must be positive", d)
		}
		c.timeout = d
		return nil
	}
}

// WithRetry makes at most attempts attempts per request (the first one
// included; default DefaultAttempts), waiting b's delays in between
// (default reliability.DefaultBackoff).
func WithRetry(attempts int, b reliability.Backoff) Option {
	return func(c *config) error {
		if attempts < 1 {
			return fmt.Errorf("client/http: attempts %d must be at least 1", attempts)
		}
		if b.Initial < 0 || b.Max < 0 || b.Multiplier < 0 {
			return fmt.Errorf("client/http: backoff %+v has negative fields", b)
		}
		c.attempts = attempts
		c.backoff = b
		return nil
	}
}

// WithoutRetry sends every request once.
func WithoutRetry() Option {
	return func(c *config) error { c.attempts = 1; return nil }
}

// WithRetryMethods also retries requests with these methods, such as POST
// to an endpoint that deduplicates by an idempotency key. Requests with a
// body are only retried when they have GetBody (http.NewRequest sets it for
// bytes, strings and bytes.Buffer bodies).
func WithRetryMethods(methods ...string) Option {
	return func(c *config) error {
		for _, m := range methods {
			if m == "" || strings.ToUpper(m) != m {
				return fmt.Errorf("client/http: retry method %q must be an upper-case method", m)
			}
			c.retryMethods[m] = true
		}
		return nil
	}
}

// WithMaxRetryAfter sets the longest Retry-After the client waits for
// (default DefaultMaxRetryAfter); a longer one returns the response as it is.
func WithMaxRetryAfter(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("client/http: max retry-after %s must not be negative", d)
		}
		c.maxRetryAfter = d
		return nil
	}
}

// WithBreaker guards the requests with b: transport errors and 5xx
// responses count as failures, and while b is open requests fail at once
// with an error wrapping reliability.ErrBreakerOpen. Use one breaker per
// upstream service; b's state is exported by b itself
// (reliability.BreakerStateMetric).
func WithBreaker(b *reliability.Breaker) Option {
	return func(c *config) error {
		if b == nil {
			return errors.New("client/http: breaker is nil")
		}
		c.breaker = b
		return nil
	}
}

// WithRedactedQueryParams adds query parameters whose values are replaced
// by REDACTED in url.full, on top of the defaults (AWSAccessKeyId,
// Signature, sig, X-Goog-Signature, access_token, api_key, apikey, key,
// token, password, secret, client_secret, code, and more). Names match
// case-insensitively.
func WithRedactedQueryParams(names ...string) Option {
	return func(c *config) error {
		for _, n := range names {
			if n == "" {
				return errors.New("client/http: empty query parameter name")
			}
			c.redactQuery[strings.ToLower(n)] = true
		}
		return nil
	}
}

// WithTracerProvider sets the tracer provider (default: the global one).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) error {
		if tp == nil {
			return errors.New("client/http: tracer provider is nil")
		}
		c.tp = tp
		return nil
	}
}

// WithMeterProvider sets the meter provider (default: the global one).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) error {
		if mp == nil {
			return errors.New("client/http: meter provider is nil")
		}
		c.mp = mp
		return nil
	}
}

// WithPropagator sets the propagator that writes the trace context into
// the request headers (default: the global one).
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(c *config) error {
		if p == nil {
			return errors.New("client/http: propagator is nil")
		}
		c.prop = p
		return nil
	}
}

// WithLogger logs retries to l (at debug). Default: the logger of the
// request's context (observability/log), or slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("client/http: logger is nil")
		}
		c.logger = l
		return nil
	}
}

func buildConfig(opts []Option) (config, error) {
	cfg := defaultConfig()
	if err := option.Apply("client/http", &cfg, opts); err != nil {
		return config{}, err
	}
	if cfg.base == nil {
		if dt, ok := nethttp.DefaultTransport.(*nethttp.Transport); ok {
			cfg.base = dt.Clone()
		} else {
			cfg.base = nethttp.DefaultTransport
		}
	}
	return cfg, nil
}

// Client sends HTTP requests through the traced transport. It is safe for
// concurrent use; build one per upstream service and reuse it.
type Client struct {
	hc *nethttp.Client
}

// New returns a Client configured by opts.
func New(opts ...Option) (*Client, error) {
	cfg, err := buildConfig(opts)
	if err != nil {
		return nil, err
	}
	rt, err := newTransport(cfg)
	if err != nil {
		return nil, err
	}
	return &Client{hc: &nethttp.Client{Transport: rt, Timeout: cfg.timeout}}, nil
}

// Do sends req and returns its response, following redirects as
// http.Client does. The caller must close the response body, which also
// ends the request's span.
func (c *Client) Do(req *nethttp.Request) (*nethttp.Response, error) {
	return c.hc.Do(req) // its *url.Error already names the method and URL
}

// HTTPClient returns the underlying http.Client, for libraries that take
// one. Requests sent through it are traced, retried and guarded the same way.
func (c *Client) HTTPClient() *nethttp.Client { return c.hc }

// CloseIdleConnections closes the idle keep-alive connections of the
// underlying transport.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// Transport returns the traced RoundTripper alone, for users who build their
// own http.Client: &http.Client{Transport: rt}. WithTimeout does not apply.
func Transport(opts ...Option) (nethttp.RoundTripper, error) {
	cfg, err := buildConfig(opts)
	if err != nil {
		return nil, err
	}
	return newTransport(cfg)
}
