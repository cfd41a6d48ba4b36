package http

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	nethttp "net/http"
	"strconv"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/httpconv"
	"go.opentelemetry.io/otel/trace"

	"github.com/patron-go/patron/correlation"
	"github.com/patron-go/patron/observability"
	plog "github.com/patron-go/patron/observability/log"
	"github.com/patron-go/patron/reliability"
)

const scope = observability.ModulePath + "/client/http"

type transport struct {
	cfg      config
	base     nethttp.RoundTripper
	tracer   trace.Tracer
	prop     propagation.TextMapPropagator
	duration metric.Float64Histogram
	decoders decoderPools
}

func newTransport(cfg config) (*transport, error) {
	t := &transport{
		cfg:    cfg,
		base:   cfg.base,
		tracer: observability.Tracer(cfg.tp, scope),
		prop:   observability.Propagator(cfg.prop),
	}
	var err error
	t.duration, err = observability.DurationHistogram(observability.Meter(cfg.mp, scope),
		httpconv.ClientRequestDuration{}.Name(), httpconv.ClientRequestDuration{}.Description())
	if err != nil {
		return nil, fmt.Errorf("client/http: creating %s: %w", httpconv.ClientRequestDuration{}.Name(), err)
	}
	return t, nil
}

// CloseIdleConnections forwards to the base transport, so that
// http.Client.CloseIdleConnections reaches it.
func (t *transport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// RoundTrip sends req, retrying it as the policy allows. Each attempt is a
// CLIENT span of its own, with http.request.resend_count from the second on,
// as the semantic conventions ask.
func (t *transport) RoundTrip(req *nethttp.Request) (*nethttp.Response, error) {
	if req.URL == nil {
		closeBody(req)
		return nil, errors.New("client/http: request has no URL")
	}
	ctx := req.Context()
	hasBody := req.Body != nil && req.Body != nethttp.NoBody
	retryable := t.cfg.attempts > 1 && t.cfg.retryMethods[req.Method] && (!hasBody || req.GetBody != nil)

	body := req.Body
	for attempt := 0; ; attempt++ {
		resp, err := t.attempt(ctx, req, body, attempt)
		if !retryable || attempt+1 >= t.cfg.attempts {
			return resp, err
		}
		delay, ok := t.retryDelay(ctx, resp, err, attempt)
		if !ok {
			return resp, err
		}
		if dl, has := ctx.Deadline(); has && time.Until(dl) <= delay {
			// Sleeping would outlive the caller's deadline: give back what
			// we have rather than an error that hides the server's answer.
			return resp, err
		}
		if hasBody {
			b, gerr := req.GetBody()
			if gerr != nil {
				return resp, err
			}
			body = b
		}
		last := describe(resp, err)
		if resp != nil {
			drainAndClose(resp.Body)
		}
		t.logger(ctx).DebugContext(ctx, "retrying HTTP request",
			slog.String("method", req.Method), slog.String("host", req.URL.Host),
			slog.Int("attempt", attempt+1), slog.Duration("delay", delay), slog.String("after", last))
		if serr := sleep(ctx, delay); serr != nil {
			if hasBody {
				_ = body.Close()
			}
			return nil, fmt.Errorf("client/http: %w while waiting to retry after %s", serr, last)
		}
	}
}

func (t *transport) logger(ctx context.Context) *slog.Logger {
	if t.cfg.logger != nil {
		return t.cfg.logger
	}
	return plog.FromContext(ctx)
}

func describe(resp *nethttp.Response, err error) string {
	if err != nil {
		return err.Error()
	}
	return resp.Status
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// retryStatus lists the statuses worth another attempt: the server says it
// is overloaded, unavailable or timed out, or failed in a way that an
// idempotent request may not hit again.
func retryStatus(code int) bool {
	switch code {
	case nethttp.StatusRequestTimeout, nethttp.StatusTooManyRequests, nethttp.StatusInternalServerError,
		nethttp.StatusBadGateway, nethttp.StatusServiceUnavailable, nethttp.StatusGatewayTimeout:
		return true
	}
	return false
}

// retryDelay says whether the outcome of attempt is worth retrying, and
// after how long.
func (t *transport) retryDelay(ctx context.Context, resp *nethttp.Response, err error, attempt int) (time.Duration, bool) {
	if ctx.Err() != nil {
		return 0, false
	}
	if err != nil {
		if !retryableError(err) {
			return 0, false
		}
		return t.cfg.backoff.Delay(attempt), true
	}
	if !retryStatus(resp.StatusCode) {
		return 0, false
	}
	if ra, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
		if ra > t.cfg.maxRetryAfter {
			return 0, false
		}
		return ra, true
	}
	return t.cfg.backoff.Delay(attempt), true
}

// retryableError rejects errors that the same request will hit again.
func retryableError(err error) bool {
	if errors.Is(err, reliability.ErrBreakerOpen) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	if errors.As(err, &certErr) || errors.As(err, &unknownAuth) || errors.As(err, &hostErr) {
		return false
	}
	return true
}

// parseRetryAfter reads a Retry-After value: delay-seconds or an HTTP-date
// (RFC 9110 section 10.2.3). A date in the past means now.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(maxRetryAfterValue/time.Second) {
			secs = int64(maxRetryAfterValue / time.Second)
		}
		return time.Duration(secs) * time.Second, true
	}
	at, err := nethttp.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return min(max(at.Sub(now), 0), maxRetryAfterValue), true
}

// maxRetryAfterValue bounds what parseRetryAfter returns, far beyond any
// sensible WithMaxRetryAfter, so that absurd values cannot overflow.
const maxRetryAfterValue = 24 * time.Hour

// errServerStatus reports a 5xx response to the breaker as a failure.
type errServerStatus int

func (e errServerStatus) Error() string { return "server answered " + strconv.Itoa(int(e)) }

// attempt sends one copy of req with body, traced and measured.
func (t *transport) attempt(ctx context.Context, req *nethttp.Request, body io.ReadCloser, attempt int) (*nethttp.Response, error) {
	method, methodAttr, methodOriginal := methodAttrs(req.Method)
	host, port := hostPort(req.URL)
	attrs := make([]attribute.KeyValue, 0, 8)
	attrs = append(attrs, methodAttr, semconv.ServerAddress(host), semconv.ServerPort(port), semconv.URLScheme(req.URL.Scheme))
	metricAttrsLen := len(attrs)
	if methodOriginal.Valid() {
		attrs = append(attrs, methodOriginal)
	}
	if attempt > 0 {
		attrs = append(attrs, semconv.HTTPRequestResendCount(attempt))
	}
	ctx, span := t.tracer.Start(ctx, method, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	if span.IsRecording() {
		span.SetAttributes(semconv.URLFull(redactURL(req.URL, t.cfg.redactQuery)))
		if req.ContentLength > 0 {
			span.SetAttributes(semconv.HTTPRequestBodySize(int(req.ContentLength)))
		}
	}
	metricAttrs := attrs[:metricAttrsLen:metricAttrsLen]

	var done func(error)
	if t.cfg.breaker != nil {
		var err error
		if done, err = t.cfg.breaker.Allow(); err != nil {
			if body != nil {
				_ = body.Close()
			}
			err = fmt.Errorf("client/http: %w", err)
			observability.RecordError(span, err)
			span.End()
			return nil, err
		}
	}

	r := req.WithContext(ctx) // a shallow copy: the caller's request must not change
	r.Body = body
	r.Header = req.Header.Clone()
	if r.Header == nil {
		r.Header = make(nethttp.Header, 4)
	}
	t.prop.Inject(ctx, propagation.HeaderCarrier(r.Header))
	if r.Header.Get(correlation.HeaderKey) == "" {
		if id, ok := correlation.FromContext(ctx); ok {
			r.Header.Set(correlation.HeaderKey, id)
		}
	}
	decode := false
	if r.Header.Get("Accept-Encoding") == "" && r.Header.Get("Range") == "" && r.Method != nethttp.MethodHead {
		r.Header.Set("Accept-Encoding", "gzip, deflate")
		decode = true
	}

	start := time.Now()
	resp, err := t.base.RoundTrip(r)
	elapsed := time.Since(start).Seconds()

	if err != nil {
		if done != nil {
			done(err)
		}
		et := observability.ErrorType(err)
		t.duration.Record(ctx, elapsed, metric.WithAttributes(append(metricAttrs, semconv.ErrorTypeKey.String(et))...))
		if span.IsRecording() {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
			span.SetAttributes(semconv.ErrorTypeKey.String(et))
		}
		span.End()
		return nil, err
	}
	if done != nil {
		if resp.StatusCode >= 500 {
			done(errServerStatus(resp.StatusCode))
		} else {
			done(nil)
		}
	}

	proto := protoVersion(resp)
	respAttrs := append(metricAttrs, semconv.HTTPResponseStatusCode(resp.StatusCode), semconv.NetworkProtocolVersion(proto))
	if resp.StatusCode >= 400 {
		respAttrs = append(respAttrs, semconv.ErrorTypeKey.String(strconv.Itoa(resp.StatusCode)))
	}
	t.duration.Record(ctx, elapsed, metric.WithAttributes(respAttrs...))
	if span.IsRecording() {
		span.SetAttributes(respAttrs[metricAttrsLen:]...)
		if resp.StatusCode >= 400 {
			// Client spans treat every 4xx and 5xx as an error.
			span.SetStatus(codes.Error, "")
		}
	}

	if resp.StatusCode == nethttp.StatusSwitchingProtocols || resp.Body == nil || resp.Body == nethttp.NoBody {
		// A 101 body is the connection, and must keep its io.Writer.
		span.End()
		return resp, nil
	}
	// Count the bytes on the wire, under the decoder.
	resp.Body = &spanBody{rc: resp.Body, span: span}
	if decode {
		t.decoders.wrap(resp)
	}
	return resp, nil
}

func methodAttrs(m string) (name string, attr, original attribute.KeyValue) {
	switch m {
	case nethttp.MethodGet, "":
		return nethttp.MethodGet, semconv.HTTPRequestMethodGet, attribute.KeyValue{}
	case nethttp.MethodPost:
		return m, semconv.HTTPRequestMethodPost, attribute.KeyValue{}
	case nethttp.MethodPut:
		return m, semconv.HTTPRequestMethodPut, attribute.KeyValue{}
	case nethttp.MethodDelete:
		return m, semconv.HTTPRequestMethodDelete, attribute.KeyValue{}
	case nethttp.MethodHead:
		return m, semconv.HTTPRequestMethodHead, attribute.KeyValue{}
	case nethttp.MethodPatch:
		return m, semconv.HTTPRequestMethodPatch, attribute.KeyValue{}
	case nethttp.MethodOptions:
		return m, semconv.HTTPRequestMethodOptions, attribute.KeyValue{}
	case nethttp.MethodTrace:
		return m, semconv.HTTPRequestMethodTrace, attribute.KeyValue{}
	case nethttp.MethodConnect:
		return m, semconv.HTTPRequestMethodConnect, attribute.KeyValue{}
	case "QUERY":
		return m, semconv.HTTPRequestMethodQuery, attribute.KeyValue{}
	default:
		// Unknown methods are an unbounded set: the span name and the
		// metric get "HTTP" and _OTHER, the span keeps the original.
		return "HTTP", semconv.HTTPRequestMethodOther, semconv.HTTPRequestMethodOriginal(m)
	}
}

func hostPort(u interface {
	Hostname() string
	Port() string
}) (string, int) {
	host := u.Hostname()
	if p, err := strconv.Atoi(u.Port()); err == nil {
		return host, p
	}
	return host, 0
}

func protoVersion(resp *nethttp.Response) string {
	switch {
	case resp.ProtoMajor == 1 && resp.ProtoMinor == 1:
		return "1.1"
	case resp.ProtoMajor == 2:
		return "2"
	case resp.ProtoMajor == 1 && resp.ProtoMinor == 0:
		return "1.0"
	case resp.ProtoMajor == 3:
		return "3"
	default:
		return strconv.Itoa(resp.ProtoMajor) + "." + strconv.Itoa(resp.ProtoMinor)
	}
}

func closeBody(req *nethttp.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

// drainAndClose reads a little of a discarded body so that its connection
// can be reused, without reading an unbounded body.
func drainAndClose(b io.ReadCloser) {
	if b == nil {
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(b, 64<<10))
	_ = b.Close()
}

// spanBody ends the attempt's span when the body has been read to the end,
// failed, or been closed, whichever comes first.
type spanBody struct {
	rc    io.ReadCloser
	span  trace.Span
	n     atomic.Int64
	ended atomic.Bool
}

func (b *spanBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.n.Add(int64(n))
	if err != nil {
		if errors.Is(err, io.EOF) {
			b.end(nil)
		} else {
			b.end(err)
		}
	}
	return n, err
}

func (b *spanBody) Close() error {
	err := b.rc.Close()
	b.end(nil)
	return err
}

func (b *spanBody) end(err error) {
	if b.ended.Swap(true) {
		return
	}
	if b.span.IsRecording() {
		b.span.SetAttributes(semconv.HTTPResponseBodySize(int(b.n.Load())))
		if err != nil {
			b.span.RecordError(err)
			b.span.SetStatus(codes.Error, err.Error())
		}
	}
	b.span.End()
}
