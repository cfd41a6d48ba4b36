package http

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"golang.org/x/sync/singleflight"

	"github.com/patron-go/patron/cache"
)

// CacheConfig bounds the route cache.
type CacheConfig struct {
	// TTL is how long a stored response stays fresh. A response's own
	// Cache-Control max-age or s-maxage may shorten it, never lengthen it.
	// Required.
	TTL time.Duration
	// MinAge is the lowest max-age a request may ask for: a smaller
	// max-age, and no-cache, are raised to it, so that clients cannot make
	// every request reach the handler. Zero honours them as sent.
	MinAge time.Duration
	// MaxFresh is the largest min-fresh honoured (larger values are
	// lowered to it); zero means TTL.
	MaxFresh time.Duration
	// KeyPrefix is prepended to every key (default "patron:http:"), to
	// share a backend between services.
	KeyPrefix string
	// MaxBodySize is the largest response body stored, in bytes
	// (DefaultCacheMaxBodySize when zero). A larger response is not
	// buffered: once it outgrows the limit it streams to the client as the
	// handler writes it, with "Cache-Status: ...; detail=too-large", and
	// is not stored.
	MaxBodySize int64
}

// DefaultCacheMaxBodySize bounds the responses the route cache buffers and
// stores: each one is held whole in memory while it is recorded.
const DefaultCacheMaxBodySize = 1 << 20

// Cache-Status values (RFC 9211) and the cache.result metric attribute.
const (
	cacheHit    = "hit"
	cacheMiss   = "miss"
	cacheStale  = "stale"
	cacheBypass = "bypass"
	cacheError  = "error"
)

// WithCache serves the route's GET responses from c with RFC 9111
// semantics: the key is method, host, path, query and the request headers
// the response's Vary names; the status, every header and the whole body
// (up to cfg.MaxBodySize; larger ones stream through unstored) are
// stored for cacheable statuses (never 5xx); request Cache-Control
// no-cache, no-store, max-age, min-fresh and only-if-cached are honoured
// within cfg's bounds; responses carry Age, Cache-Control and a content
// hash ETag, and If-None-Match gets 304. Concurrent misses of one key run
// the handler once. When c fails, the handler answers as if there were no
// cache.
func WithCache(c cache.Cache, cfg CacheConfig) RouteOption {
	return func(r *Route) error {
		if c == nil {
			return r.optionError(errors.New("WithCache: cache is nil"))
		}
		if cfg.TTL <= 0 {
			return r.optionError(fmt.Errorf("WithCache: TTL %s must be positive", cfg.TTL))
		}
		if cfg.MinAge < 0 || cfg.MaxFresh < 0 || cfg.MaxBodySize < 0 {
			return r.optionError(errors.New("WithCache: MinAge, MaxFresh and MaxBodySize must not be negative"))
		}
		if cfg.MaxBodySize == 0 {
			cfg.MaxBodySize = DefaultCacheMaxBodySize
		}
		if cfg.MaxFresh == 0 {
			cfg.MaxFresh = cfg.TTL
		}
		if cfg.KeyPrefix == "" {
			cfg.KeyPrefix = "patron:http:"
		}
		r.cache = &routeCache{backend: c, cfg: cfg}
		return nil
	}
}

type routeCache struct {
	backend cache.Cache
	cfg     CacheConfig
	flight  singleflight.Group
}

// entry is what is stored. An index entry (Index true) only lists the Vary
// headers of the responses stored under the variant keys.
type entry struct {
	Index    bool        `json:"i,omitempty"`
	Vary     []string    `json:"v,omitempty"`
	Status   int         `json:"s,omitempty"`
	Header   http.Header `json:"h,omitempty"`
	Body     []byte      `json:"b,omitempty"`
	Stored   int64       `json:"t,omitempty"` // unix nanoseconds
	Lifetime int64       `json:"l,omitempty"` // nanoseconds
}

func (e *entry) age(now time.Time) time.Duration {
	return max(now.Sub(time.Unix(0, e.Stored)), 0)
}

// headers never stored: hop-by-hop ones, per-response ones, and cookies
// (a shared cache must never hand one client's cookie to another).
var unstoredHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade",
	"Te", "Trailer", "Date", "Age", "Set-Cookie", "X-Correlation-Id", "Cache-Status"}

// baseKey names the resource: the host is part of it (RFC 9111 section 2:
// the target URI), so that one route serving several virtual hosts never
// answers one with another's response.
func (rc *routeCache) baseKey(r *http.Request) string {
	return rc.cfg.KeyPrefix + http.MethodGet + " " + strings.ToLower(r.Host) + r.URL.EscapedPath() + "?" + r.URL.RawQuery
}

func variantKey(base string, vary []string, h http.Header) string {
	var b strings.Builder
	b.WriteString(base)
	for _, name := range vary {
		b.WriteString("\n")
		b.WriteString(name)
		b.WriteString(":")
		b.WriteString(strings.Join(h.Values(name), ","))
	}
	return b.String()
}

func (rc *routeCache) middleware(next http.Handler, s *server, rt *Route) http.Handler {
	routeAttr := semconv.HTTPRoute(rt.path)
	count := func(ctx context.Context, result string) {
		s.cacheOps.Add(ctx, 1, metric.WithAttributes(routeAttr, attribute.String("cache.result", result)))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			count(ctx, cacheBypass)
			next.ServeHTTP(w, r)
			return
		}
		d := parseRequestCC(r.Header, rc.cfg)
		if d.noStore {
			count(ctx, cacheBypass)
			w.Header().Set("Cache-Status", "patron; fwd=bypass")
			next.ServeHTTP(w, r)
			return
		}
		now := time.Now()
		base := rc.baseKey(r)
		e, key, err := rc.lookup(ctx, base, r.Header)
		if err != nil {
			// The backend is down: answer as if there were no cache, and
			// do not hammer it with a Set either.
			count(ctx, cacheError)
			if d.onlyIfCached {
				WriteProblem(w, r, http.StatusGatewayTimeout, "response not in cache")
				return
			}
			w.Header().Set("Cache-Status", "patron; fwd=miss; detail=backend-error")
			next.ServeHTTP(w, r)
			return
		}
		if e != nil && rc.usable(e, d, now, r) {
			count(ctx, cacheHit)
			rc.serve(w, r, e, now, fmt.Sprintf("patron; hit; ttl=%d", int((time.Duration(e.Lifetime)-e.age(now)).Seconds())))
			return
		}
		result := cacheMiss
		if e != nil {
			result = cacheStale
		}
		count(ctx, result)
		if d.onlyIfCached {
			WriteProblem(w, r, http.StatusGatewayTimeout, "response not in cache")
			return
		}
		if r.Method == http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		rc.fill(w, r, next, key, d, "patron; fwd="+result)
	})
}

// lookup returns the stored response for r, following an index entry to
// the variant named by the request's values of the Vary headers. key is
// the singleflight key: the variant key when the Vary headers are known.
func (rc *routeCache) lookup(ctx context.Context, base string, h http.Header) (*entry, string, error) {
	e, err := rc.get(ctx, base)
	if err != nil || e == nil {
		return nil, base, err
	}
	if !e.Index {
		return e, base, nil
	}
	key := variantKey(base, e.Vary, h)
	v, err := rc.get(ctx, key)
	if err != nil || v == nil || v.Index {
		return nil, key, err
	}
	return v, key, nil
}

func (rc *routeCache) get(ctx context.Context, key string) (*entry, error) {
	b, ok, err := rc.backend.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("route cache get %q: %w", key, err)
	}
	if !ok {
		return nil, nil
	}
	var e entry
	if err := json.Unmarshal(b, &e); err != nil || (!e.Index && e.Status == 0) {
		// A corrupt entry is a miss; the next fill overwrites it.
		return nil, nil //nolint:nilerr // corrupt entries are misses
	}
	return &e, nil
}

// usable applies freshness and the request's constraints.
func (rc *routeCache) usable(e *entry, d requestDirectives, now time.Time, r *http.Request) bool {
	age, life := e.age(now), time.Duration(e.Lifetime)
	if age >= life || d.noCache {
		return false
	}
	if d.maxAge >= 0 && age > d.maxAge {
		return false
	}
	if d.minFresh >= 0 && life-age < d.minFresh {
		return false
	}
	if r.Header.Get("Authorization") != "" {
		// RFC 9111 3.5: shared caches answer authorized requests only
		// with responses explicitly made shareable.
		cc := parseResponseCC(e.Header)
		return cc.public || cc.sMaxAge >= 0 || cc.mustRevalidate
	}
	return true
}

// flightResult is a response recorded once and served to every waiter.
type flightResult struct {
	e        *entry
	storable bool
	vary     []string
	reqVary  string // the leader's values of the Vary headers
	streamed bool   // too large to store: already sent to the leader's client
}

// fill runs the handler once per key for concurrent misses, stores the
// response when it may, and serves it to every waiter. A response that
// outgrows MaxBodySize has gone to its own client: the waiters run the
// handler themselves.
func (rc *routeCache) fill(w http.ResponseWriter, r *http.Request, next http.Handler, key string, d requestDirectives, status string) {
	leader := false
	v, err, _ := rc.flight.Do(key, func() (any, error) {
		leader = true
		// A request that missed while another filled the entry, and
		// arrived after that flight ended, finds the entry here.
		if e, _, err := rc.lookup(r.Context(), rc.baseKey(r), r.Header); err == nil && e != nil && rc.usable(e, d, time.Now(), r) {
			return &flightResult{e: e, storable: true, vary: varyHeaders(e.Header), reqVary: variantKey("", varyHeaders(e.Header), r.Header)}, nil
		}
		return rc.record(w, r, next, d, key, status), nil
	})
	if err != nil {
		WriteError(w, r, err)
		return
	}
	res := v.(*flightResult)
	if leader && res.streamed {
		return
	}
	if !leader && (res.streamed || !res.storable || variantKey("", res.vary, r.Header) != res.reqVary) {
		// The leader's response is private to it, too large to share, or
		// varies on headers this request sends differently: run the
		// handler for this one.
		if res = rc.record(w, r, next, d, "", status); res.streamed {
			return
		}
	}
	now := time.Now()
	if !res.storable {
		rc.serveUncached(w, res.e, status)
		return
	}
	rc.serve(w, r, res.e, now, status+"; stored")
}

// record runs the handler into a buffer and stores the result when RFC
// 9111 allows. A response that outgrows MaxBodySize streams to w instead
// (flightKey, when set, is then forgotten, so that later misses do not
// queue behind the stream) and is reported as streamed.
func (rc *routeCache) record(w http.ResponseWriter, r *http.Request, next http.Handler, d requestDirectives, flightKey, status string) *flightResult {
	rec := &recorder{header: http.Header{}, max: rc.cfg.MaxBodySize, client: w, cacheStatus: status}
	if flightKey != "" {
		rec.onStream = func() { rc.flight.Forget(flightKey) }
	}
	next.ServeHTTP(rec, r)
	if rec.streaming {
		return &flightResult{streamed: true}
	}
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	e := &entry{Status: rec.status, Header: rec.header, Body: rec.body.Bytes()}
	res := &flightResult{e: e}
	cc := parseResponseCC(rec.header)
	vary := varyHeaders(rec.header)
	life := rc.cfg.TTL
	if cc.sMaxAge >= 0 {
		life = min(life, cc.sMaxAge)
	} else if cc.maxAge >= 0 {
		life = min(life, cc.maxAge)
	}
	authorized := r.Header.Get("Authorization") != "" && !(cc.public || cc.sMaxAge >= 0 || cc.mustRevalidate)
	if d.noStore || !cacheableStatus(rec.status) || cc.noStore || cc.private || cc.noCache || life <= 0 ||
		slices.Contains(vary, "*") || len(rec.header["Set-Cookie"]) > 0 || authorized {
		return res
	}
	for _, h := range unstoredHeaders {
		delete(e.Header, h)
	}
	if len(e.Header["Etag"]) == 0 {
		sum := fnv.New64a()
		_, _ = sum.Write(e.Body)
		e.Header["Etag"] = []string{`"` + hex.EncodeToString(sum.Sum(nil)) + `"`}
	}
	if len(e.Header["Cache-Control"]) == 0 {
		e.Header["Cache-Control"] = []string{"public, max-age=" + strconv.Itoa(int(life.Seconds()))}
	}
	e.Stored, e.Lifetime = time.Now().UnixNano(), int64(life)
	res.storable, res.vary, res.reqVary = true, vary, variantKey("", vary, r.Header)

	ctx := context.WithoutCancel(r.Context()) // store even if this client went away
	base := rc.baseKey(r)
	key := base
	if len(vary) > 0 {
		key = variantKey(base, vary, r.Header)
		idx, _ := json.Marshal(&entry{Index: true, Vary: vary})
		if err := rc.backend.Set(ctx, base, idx, life); err != nil {
			return res // served, not stored: the backend is down
		}
	}
	if b, err := json.Marshal(e); err == nil {
		_ = rc.backend.Set(ctx, key, b, life)
	}
	return res
}

func varyHeaders(h http.Header) []string {
	var out []string
	for _, v := range h.Values("Vary") {
		for _, name := range strings.Split(v, ",") {
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			if name != "*" {
				name = http.CanonicalHeaderKey(name)
			}
			if !slices.Contains(out, name) {
				out = append(out, name)
			}
		}
	}
	slices.Sort(out)
	return out
}

// serve writes a stored response, or 304 when If-None-Match matches it.
func (rc *routeCache) serve(w http.ResponseWriter, r *http.Request, e *entry, now time.Time, status string) {
	h := w.Header()
	copyStored(h, e.Header)
	h.Set("Age", strconv.Itoa(int(e.age(now).Seconds())))
	h.Set("Cache-Status", status)
	if inm := r.Header.Get("If-None-Match"); inm != "" && e.Status == http.StatusOK && etagMatch(inm, h.Get("Etag")) {
		delete(h, "Content-Length")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(e.Body)))
	w.WriteHeader(e.Status)
	_, _ = w.Write(e.Body)
}

func (rc *routeCache) serveUncached(w http.ResponseWriter, e *entry, status string) {
	h := w.Header()
	copyStored(h, e.Header)
	h.Set("Cache-Status", status)
	w.WriteHeader(e.Status)
	_, _ = w.Write(e.Body)
}

// copyStored puts a recorded response's headers on the response. Vary is
// merged rather than replaced: the route's outer layers (CORS adds
// "Vary: Origin") set it before the cache, and a downstream cache must
// still see it.
func copyStored(h, stored http.Header) {
	for k, v := range stored {
		if k != "Vary" {
			h[k] = slices.Clone(v)
		}
	}
	if len(stored["Vary"]) == 0 {
		return
	}
	have := varyHeaders(h)
	for _, name := range varyHeaders(stored) {
		if !slices.Contains(have, name) {
			h["Vary"] = append(h["Vary"], name)
		}
	}
}

// etagMatch is the weak comparison If-None-Match uses (RFC 9110 13.1.2).
func etagMatch(header, etag string) bool {
	if etag == "" {
		return false
	}
	if strings.TrimSpace(header) == "*" {
		return true
	}
	want := strings.TrimPrefix(etag, "W/")
	for _, t := range strings.Split(header, ",") {
		if strings.TrimPrefix(strings.TrimSpace(t), "W/") == want {
			return true
		}
	}
	return false
}

// recorder buffers a handler's response for the route cache, up to max
// bytes of body; past that it sends what it holds to the client and passes
// the rest straight through (streaming), and the response is not stored.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer

	max         int64
	client      http.ResponseWriter
	cacheStatus string
	onStream    func()
	streaming   bool
}

func (rec *recorder) Header() http.Header { return rec.header }

func (rec *recorder) WriteHeader(code int) {
	if rec.status == 0 && code >= 200 {
		rec.status = code
	}
}

func (rec *recorder) Write(p []byte) (int, error) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	if !rec.streaming && int64(rec.body.Len())+int64(len(p)) > rec.max {
		if err := rec.stream(); err != nil {
			return 0, err
		}
	}
	if rec.streaming {
		return rec.client.Write(p)
	}
	return rec.body.Write(p)
}

// stream gives up on storing: the status, headers and what is buffered go
// to the client now.
func (rec *recorder) stream() error {
	rec.streaming = true
	if rec.onStream != nil {
		rec.onStream()
	}
	h := rec.client.Header()
	copyStored(h, rec.header)
	rec.header = h // later header changes (trailers) reach the client
	h.Set("Cache-Status", rec.cacheStatus+"; detail=too-large")
	rec.client.WriteHeader(rec.status)
	_, err := rec.client.Write(rec.body.Bytes())
	rec.body = bytes.Buffer{}
	return err
}

// Flush is a no-op while the response is buffered whole; once it streams,
// it flushes the client's writer.
func (rec *recorder) Flush() {
	if rec.streaming {
		_ = http.NewResponseController(rec.client).Flush()
	}
}
