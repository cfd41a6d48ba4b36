package http

import (
	"net/http"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// methodID indexes the methods semconv knows; anything else is _OTHER, which
// keeps span names and metric attributes low-cardinality.
type methodID uint8

const (
	mOther methodID = iota
	mGet
	mHead
	mPost
	mPut
	mPatch
	mDelete
	mOptions
	mConnect
	mTrace
	numMethods
)

var methodAttrs = [numMethods]attribute.KeyValue{
	semconv.HTTPRequestMethodOther,
	semconv.HTTPRequestMethodGet,
	semconv.HTTPRequestMethodHead,
	semconv.HTTPRequestMethodPost,
	semconv.HTTPRequestMethodPut,
	semconv.HTTPRequestMethodPatch,
	semconv.HTTPRequestMethodDelete,
	semconv.HTTPRequestMethodOptions,
	semconv.HTTPRequestMethodConnect,
	semconv.HTTPRequestMethodTrace,
}

// methodNames are the span-name prefixes; semconv names spans of unknown
// methods "HTTP".
var methodNames = [numMethods]string{"HTTP", "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}

func methodOf(m string) methodID {
	switch m {
	case http.MethodGet:
		return mGet
	case http.MethodHead:
		return mHead
	case http.MethodPost:
		return mPost
	case http.MethodPut:
		return mPut
	case http.MethodPatch:
		return mPatch
	case http.MethodDelete:
		return mDelete
	case http.MethodOptions:
		return mOptions
	case http.MethodConnect:
		return mConnect
	case http.MethodTrace:
		return mTrace
	}
	return mOther
}

// routeState is what the chain knows about one route (or about unmatched
// requests, with route ""): precomputed span names and a cache of metric
// attribute sets, so recording a request builds no attribute set.
type routeState struct {
	route     string // the path template, "" when unmatched
	spanNames [numMethods]string

	mu   sync.Mutex
	sets atomic.Pointer[map[metricKey][]metric.RecordOption]
}

type metricKey struct {
	method methodID
	status int
	tls    bool
	proto  string
}

func newRouteState(route string) *routeState {
	rs := &routeState{route: route}
	for m := range numMethods {
		if route == "" {
			rs.spanNames[m] = methodNames[m]
		} else {
			rs.spanNames[m] = methodNames[m] + " " + route
		}
	}
	empty := map[metricKey][]metric.RecordOption{}
	rs.sets.Store(&empty)
	return rs
}

func schemeAttr(tls bool) attribute.KeyValue {
	if tls {
		return semconv.URLScheme("https")
	}
	return semconv.URLScheme("http")
}

// recordOptions returns the cached options of the duration and body size
// histograms for k; the map is copied on write because new keys are rare
// and reads are every request.
func (rs *routeState) recordOptions(k metricKey) []metric.RecordOption {
	if o, ok := (*rs.sets.Load())[k]; ok {
		return o
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	cur := *rs.sets.Load()
	if o, ok := cur[k]; ok {
		return o
	}
	// network.protocol.name is left out: semconv only requires it when it
	// is not http, and every attribute costs on each of the three
	// recordings of a request.
	attrs := []attribute.KeyValue{methodAttrs[k.method], schemeAttr(k.tls)}
	if k.proto != "" {
		attrs = append(attrs, semconv.NetworkProtocolVersion(k.proto))
	}
	if k.status > 0 {
		attrs = append(attrs, semconv.HTTPResponseStatusCode(k.status))
	}
	if rs.route != "" {
		attrs = append(attrs, semconv.HTTPRoute(rs.route))
	}
	if k.status >= 500 {
		attrs = append(attrs, semconv.ErrorTypeKey.String(statusText(k.status)))
	}
	o := []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(attrs...))}
	next := make(map[metricKey][]metric.RecordOption, len(cur)+1)
	for kk, v := range cur {
		next[kk] = v
	}
	next[k] = o
	rs.sets.Store(&next)
	return o
}

// statusText is the error.type of a 5xx: the status code as a string, as
// semconv asks when there is no better class.
func statusText(code int) string {
	const digits = "0123456789"
	if code < 100 || code > 999 {
		return "_OTHER"
	}
	return string([]byte{digits[code/100], digits[code/10%10], digits[code%10]})
}

func protoVersion(r *http.Request) string {
	switch {
	case r.ProtoMajor == 1 && r.ProtoMinor == 1:
		return "1.1"
	case r.ProtoMajor == 2:
		return "2"
	case r.ProtoMajor == 1 && r.ProtoMinor == 0:
		return "1.0"
	case r.ProtoMajor == 3:
		return "3"
	}
	return ""
}

// activeRequests backs http.server.active_requests: per method and scheme
// (the attributes semconv gives it), an atomic count that the observable
// instrument reads at collection time.
type activeRequests struct {
	n    [numMethods][2]atomic.Int64
	seen [numMethods][2]atomic.Bool
	opts [numMethods][2][]metric.ObserveOption
}

func (a *activeRequests) init() {
	for m := range numMethods {
		for t, tls := range []bool{false, true} {
			a.opts[m][t] = []metric.ObserveOption{metric.WithAttributeSet(attribute.NewSet(methodAttrs[m], schemeAttr(tls)))}
		}
	}
}

func (a *activeRequests) add(m methodID, tls bool, d int64) {
	t := 0
	if tls {
		t = 1
	}
	if !a.seen[m][t].Load() {
		a.seen[m][t].Store(true)
	}
	a.n[m][t].Add(d)
}

// observe reports every count that has been used, zeros included, so that a
// series stays at 0 between requests as a synchronous counter's would.
func (a *activeRequests) observe(o metric.Observer, inst metric.Int64Observable) error {
	for m := range numMethods {
		for t := range 2 {
			if a.seen[m][t].Load() {
				o.ObserveInt64(inst, a.n[m][t].Load(), a.opts[m][t]...)
			}
		}
	}
	return nil
}
