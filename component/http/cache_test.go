package http

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"

	"github.com/patron-go/patron/cache"
	"github.com/patron-go/patron/cache/lru"
	cacheredis "github.com/patron-go/patron/cache/redis"
	"github.com/patron-go/patron/patrontest/testenv"
)

// cachedServer runs one cached route whose handler counts its calls.
type cachedServer struct {
	*testServer
	calls atomic.Int64
	mem   *memCache
}

func startCached(t *testing.T, cfg CacheConfig, h func(n int64, w http.ResponseWriter, r *http.Request)) *cachedServer {
	t.Helper()
	cs := &cachedServer{mem: newMemCache()}
	route := mustRoute(t, "GET /c/{name}", func(w http.ResponseWriter, r *http.Request) {
		h(cs.calls.Add(1), w, r)
	}, WithCache(cs.mem, cfg))
	cs.testServer = start(t, []*Route{route})
	return cs
}

func (cs *cachedServer) expectCalls(t *testing.T, want int64) {
	t.Helper()
	if got := cs.calls.Load(); got != want {
		t.Fatalf("handler ran %d times, want %d", got, want)
	}
}

func (cs *cachedServer) results(t *testing.T, result string) float64 {
	t.Helper()
	return cs.Kit.Sum(t, "http.server.cache.requests", attribute.String("cache.result", result))
}

func TestRouteCacheKeepsStatusHeadersBody(t *testing.T) {
	cs := startCached(t, CacheConfig{TTL: time.Minute}, func(n int64, w http.ResponseWriter, _ *http.Request) {
		w.Header().Add("X-Multi", "a")
		w.Header().Add("X-Multi", "b")
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, "part1,")
		_, _ = fmt.Fprintf(w, "part2 call %d", n)
	})
	for i := range 3 {
		resp, body := cs.get(t, "/c/x?q=1")
		if resp.StatusCode != http.StatusNotFound || string(body) != "part1,part2 call 1" ||
			strings.Join(resp.Header.Values("X-Multi"), ",") != "a,b" {
			t.Fatalf("request %d: %d %q %v", i, resp.StatusCode, body, resp.Header)
		}
		if resp.Header.Get("ETag") == "" || resp.Header.Get("Age") == "" || !strings.Contains(resp.Header.Get("Cache-Control"), "max-age=60") {
			t.Errorf("request %d: missing cache headers %v", i, resp.Header)
		}
		if resp.Header.Get("X-Correlation-Id") == "" {
			t.Error("correlation ID not per request")
		}
	}
	cs.expectCalls(t, 1)
	// The query is part of the key.
	if _, body := cs.get(t, "/c/x?q=2"); string(body) != "part1,part2 call 2" {
		t.Errorf("other query: %q", body)
	}
	if hits := cs.results(t, cacheHit); hits != 2 {
		t.Errorf("hits = %v", hits)
	}
	if misses := cs.results(t, cacheMiss); misses != 2 {
		t.Errorf("misses = %v", misses)
	}
}

func TestRouteCacheVary(t *testing.T) {
	cs := startCached(t, CacheConfig{TTL: time.Minute}, func(n int64, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Vary", "Accept-Language")
		_, _ = fmt.Fprintf(w, "%s #%d", r.Header.Get("Accept-Language"), n)
	})
	for _, tc := range []struct{ lang, want string }{
		{"en", "en #1"}, {"en", "en #1"}, {"fr", "fr #2"}, {"fr", "fr #2"}, {"en", "en #1"}, {"", " #3"},
	} {
		_, body := cs.get(t, "/c/v", "Accept-Language", tc.lang)
		if string(body) != tc.want {
			t.Errorf("Accept-Language %q: %q, want %q", tc.lang, body, tc.want)
		}
	}
	cs.expectCalls(t, 3)
}

func TestRouteCacheConditional(t *testing.T) {
	cs := startCached(t, CacheConfig{TTL: time.Minute}, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "content")
	})
	resp, _ := cs.get(t, "/c/e")
	etag := resp.Header.Get("ETag")
	if !strings.HasPrefix(etag, `"`) {
		t.Fatalf("ETag = %q", etag)
	}
	for _, inm := range []string{etag, `"other", ` + etag, "W/" + etag, "*"} {
		resp, body := cs.get(t, "/c/e", "If-None-Match", inm)
		if resp.StatusCode != http.StatusNotModified || len(body) != 0 || resp.Header.Get("ETag") != etag {
			t.Errorf("If-None-Match %s: %d %q", inm, resp.StatusCode, body)
		}
	}
	if resp, body := cs.get(t, "/c/e", "If-None-Match", `"nope"`); resp.StatusCode != http.StatusOK || string(body) != "content" {
		t.Errorf("non-matching If-None-Match: %d %q", resp.StatusCode, body)
	}
	// The same content gives the same ETag: it is a content hash.
	cs.mem.age(t, 2*time.Minute) // expire
	if resp, _ := cs.get(t, "/c/e"); resp.Header.Get("ETag") != etag {
		t.Errorf("ETag changed for the same content: %s", resp.Header.Get("ETag"))
	}
	cs.expectCalls(t, 2)
}

func TestRouteCacheRequestDirectives(t *testing.T) {
	cs := startCached(t, CacheConfig{TTL: time.Minute}, func(n int64, w http.ResponseWriter, _ *http.Request) {
		_, _ = fmt.Fprintf(w, "#%d", n)
	})
	// only-if-cached with nothing stored: 504, handler not called.
	if resp, _ := cs.get(t, "/c/d", "Cache-Control", "only-if-cached"); resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("only-if-cached on empty: %d", resp.StatusCode)
	}
	cs.expectCalls(t, 0)
	// no-store: bypasses, stores nothing.
	if _, body := cs.get(t, "/c/d", "Cache-Control", "no-store"); string(body) != "#1" {
		t.Fatalf("no-store: %q", body)
	}
	if resp, _ := cs.get(t, "/c/d", "Cache-Control", "only-if-cached"); resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatal("no-store response was stored")
	}
	steps := []struct{ cc, want string }{
		{"", "#2"},                    // miss, stored
		{"", "#2"},                    // hit
		{"only-if-cached", "#2"},      // hit
		{"no-cache", "#3"},            // revalidates
		{"max-age=0", "#4"},           // too old for the client
		{"max-age=3600", "#4"},        // fine
		{"min-fresh=30", "#4"},        // 60s lifetime, ~0 age
		{"min-fresh=3600", "#5"},      // clamped to MaxFresh=TTL, still too little left
		{"max-age=abc", "#5"},         // malformed directive ignored
		{"MAX-AGE = 5 , x", "#5"},     // odd spacing and case
		{"max-age=99999999999", "#5"}, // overflow clamps
	}
	for _, s := range steps {
		_, body := cs.get(t, "/c/d", "Cache-Control", s.cc)
		if string(body) != s.want {
			t.Errorf("Cache-Control %q: %q, want %q", s.cc, body, s.want)
		}
	}
	// Age grows with time; a request's max-age below it refreshes.
	cs.mem.age(t, 30*time.Second)
	resp, body := cs.get(t, "/c/d")
	if age, _ := strconv.Atoi(resp.Header.Get("Age")); age < 30 || string(body) != "#5" {
		t.Errorf("aged entry: Age %s body %q", resp.Header.Get("Age"), body)
	}
	if _, body := cs.get(t, "/c/d", "Cache-Control", "max-age=10"); string(body) != "#6" {
		t.Errorf("max-age below age: %q", body)
	}
	if stale := cs.results(t, cacheStale); stale < 4 {
		t.Errorf("stale count = %v", stale)
	}
}

// MinAge bounds what clients can force: no-cache and small max-age are
// raised to it.
func TestRouteCacheMinAge(t *testing.T) {
	cs := startCached(t, CacheConfig{TTL: time.Minute, MinAge: 10 * time.Second}, func(n int64, w http.ResponseWriter, _ *http.Request) {
		_, _ = fmt.Fprintf(w, "#%d", n)
	})
	cs.get(t, "/c/m")
	for _, cc := range []string{"no-cache", "max-age=0", "max-age=5"} {
		if _, body := cs.get(t, "/c/m", "Cache-Control", cc); string(body) != "#1" {
			t.Errorf("%s within MinAge: %q", cc, body)
		}
	}
	cs.mem.age(t, 20*time.Second)
	if _, body := cs.get(t, "/c/m", "Cache-Control", "no-cache"); string(body) != "#2" {
		t.Errorf("no-cache past MinAge: %q", body)
	}
}

func TestRouteCacheWhatIsNotStored(t *testing.T) {
	cs := startCached(t, CacheConfig{TTL: time.Minute}, func(n int64, w http.ResponseWriter, r *http.Request) {
		switch r.PathValue("name") {
		case "5xx":
			w.WriteHeader(http.StatusServiceUnavailable)
		case "nostore":
			w.Header().Set("Cache-Control", "no-store")
		case "private":
			w.Header().Set("Cache-Control", "private, max-age=60")
		case "cookie":
			w.Header().Set("Set-Cookie", "session=secret")
		case "varystar":
			w.Header().Set("Vary", "*")
		case "short":
			w.Header().Set("Cache-Control", "max-age=0")
		case "public":
			w.Header().Set("Cache-Control", "public, max-age=30")
		}
		_, _ = fmt.Fprintf(w, "#%d", n)
	})
	for _, name := range []string{"5xx", "nostore", "private", "cookie", "varystar", "short"} {
		before := cs.calls.Load()
		cs.get(t, "/c/"+name)
		resp, _ := cs.get(t, "/c/"+name)
		if cs.calls.Load() != before+2 {
			t.Errorf("%s was served from the cache (status %d)", name, resp.StatusCode)
		}
	}
	// A request with Authorization is stored and served only when the
	// response says it may be shared.
	before := cs.calls.Load()
	cs.get(t, "/c/authz", "Authorization", "Bearer x")
	cs.get(t, "/c/authz", "Authorization", "Bearer x")
	if cs.calls.Load() != before+2 {
		t.Error("an authorized request's response was stored without public")
	}
	before = cs.calls.Load()
	cs.get(t, "/c/public", "Authorization", "Bearer x")
	resp, _ := cs.get(t, "/c/public", "Authorization", "Bearer y")
	if cs.calls.Load() != before+1 || resp.Header.Get("Cache-Control") != "public, max-age=30" {
		t.Errorf("public response not shared: %d calls, %v", cs.calls.Load()-before, resp.Header)
	}
	// Writes bypass the cache.
	resp, _ = cs.do(t, newReq(t, http.MethodPost, cs.URL+"/c/x", nil))
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", resp.StatusCode)
	}
}

// Fifty concurrent misses of one key run the handler once and all get its
// response.
func TestRouteCacheSingleflight(t *testing.T) {
	const n = 50
	var cs *cachedServer
	cs = startCached(t, CacheConfig{TTL: time.Minute}, func(call int64, w http.ResponseWriter, _ *http.Request) {
		// Hold the flight until every request has looked the key up (and
		// missed), so all of them are concurrent misses.
		deadline := time.Now().Add(10 * time.Second)
		for cs.mem.gets.Load() < n+1 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond) // bounded poll on a condition
		}
		_, _ = fmt.Fprintf(w, "call %d", call)
	})
	cs.Client.Transport.(*http.Transport).MaxIdleConnsPerHost = n
	var wg sync.WaitGroup
	bodies := make(chan string, n)
	for range n {
		wg.Go(func() {
			resp, err := cs.Client.Do(newReq(t, http.MethodGet, cs.URL+"/c/sf", nil))
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			bodies <- fmt.Sprintf("%d %s", resp.StatusCode, b)
		})
	}
	wg.Wait()
	close(bodies)
	for b := range bodies {
		if b != "200 call 1" {
			t.Errorf("response %q", b)
		}
	}
	cs.expectCalls(t, 1)
}

// A failing backend degrades to the handler, never to a 5xx.
func TestRouteCacheBackendDown(t *testing.T) {
	cs := startCached(t, CacheConfig{TTL: time.Minute}, func(n int64, w http.ResponseWriter, _ *http.Request) {
		_, _ = fmt.Fprintf(w, "#%d", n)
	})
	cs.mem.failing.Store(true)
	for i := range 3 {
		resp, body := cs.get(t, "/c/down")
		if resp.StatusCode != http.StatusOK || string(body) != fmt.Sprintf("#%d", i+1) {
			t.Fatalf("request %d with the backend down: %d %q", i, resp.StatusCode, body)
		}
	}
	if errs := cs.results(t, cacheError); errs != 3 {
		t.Errorf("error count = %v", errs)
	}
	// Back up: caching resumes.
	cs.mem.failing.Store(false)
	cs.get(t, "/c/down")
	if _, body := cs.get(t, "/c/down"); string(body) != "#4" {
		t.Errorf("after recovery: %q", body)
	}
	// A corrupt entry is a miss, not an error.
	cs.mem.mu.Lock()
	for k := range cs.mem.data {
		cs.mem.data[k] = []byte("{not json")
	}
	cs.mem.mu.Unlock()
	if resp, body := cs.get(t, "/c/down"); resp.StatusCode != http.StatusOK || string(body) != "#5" {
		t.Errorf("corrupt entry: %d %q", resp.StatusCode, body)
	}
}

// The route cache on the real backends: cache/lru in memory, cache/redis on
// the Redis server.
func TestRouteCacheBackends(t *testing.T) {
	mem, err := lru.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("lru", func(t *testing.T) { testBackend(t, mem) })
	t.Run("redis", func(t *testing.T) {
		testenv.RequireTCP(t, "redis", testenv.RedisAddr)
		client := goredis.NewClient(&goredis.Options{Addr: testenv.RedisAddr})
		defer client.Close()
		c, err := cacheredis.New(client, "patron-test:"+uuid.NewString()+":")
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = c.Purge(t.Context()) }()
		testBackend(t, c)
	})
}

func testBackend(t *testing.T, c cache.Cache) {
	var calls atomic.Int64
	ts := start(t, []*Route{mustRoute(t, "GET /b/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Vary", "Accept")
		_, _ = fmt.Fprintf(w, "%s %s #%d", r.PathValue("id"), r.Header.Get("Accept"), calls.Add(1))
	}, WithCache(c, CacheConfig{TTL: time.Minute}))})
	for _, tc := range []struct{ accept, want, status string }{
		{"a", "1 a #1", "fwd=miss"}, {"a", "1 a #1", "hit"}, {"b", "1 b #2", "fwd=miss"}, {"b", "1 b #2", "hit"},
	} {
		resp, body := ts.get(t, "/b/1", "Accept", tc.accept)
		if string(body) != tc.want || !strings.Contains(resp.Header.Get("Cache-Status"), tc.status) {
			t.Errorf("Accept %s: %q (%s), want %q (%s)", tc.accept, body, resp.Header.Get("Cache-Status"), tc.want, tc.status)
		}
	}
}

// Issue 15.4: a cached CORS route keeps Vary: Origin, on misses and hits,
// so that a shared cache downstream never hands one origin's answer to
// another.
func TestRouteCacheKeepsCORSVary(t *testing.T) {
	mem := newMemCache()
	var calls atomic.Int64
	route := mustRoute(t, "GET /cors", func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		w.Header().Set("Vary", "Accept-Language")
		_, _ = io.WriteString(w, "shared body")
	}, WithCORS(CORS{AllowedOrigins: []string{"https://a.example", "https://b.example"}}), WithCache(mem, CacheConfig{TTL: time.Minute}))
	ts := start(t, []*Route{route})
	for i, origin := range []string{"https://a.example", "https://b.example", "https://a.example"} {
		resp, body := ts.get(t, "/cors", "Origin", origin)
		vary := strings.Join(resp.Header.Values("Vary"), ",")
		if string(body) != "shared body" || !strings.Contains(vary, "Origin") || !strings.Contains(vary, "Accept-Language") {
			t.Errorf("request %d (%s, %s): body %q, Vary %q; want Origin and Accept-Language", i, origin, resp.Header.Get("Cache-Status"), body, vary)
		}
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != origin {
			t.Errorf("request %d: Access-Control-Allow-Origin %q, want %q", i, got, origin)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("handler ran %d times, want 1 (the body does not depend on Origin)", n)
	}
}

// The key holds the Host: one route answering several virtual hosts never
// serves one host's response to another.
func TestRouteCacheKeyHasHost(t *testing.T) {
	cs := startCached(t, CacheConfig{TTL: time.Minute}, func(_ int64, w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "host "+r.Host)
	})
	for _, host := range []string{"a.example", "b.example", "A.example", "a.example"} {
		req := newReq(t, http.MethodGet, cs.URL+"/c/h", nil)
		req.Host = host
		_, body := cs.do(t, req)
		if want := "host " + strings.ToLower(host); !strings.EqualFold(string(body), want) {
			t.Errorf("Host %s: %q, want %q", host, body, want)
		}
	}
	cs.expectCalls(t, 2)
}

// A response larger than MaxBodySize is not buffered: it streams to the
// client as the handler writes it, and is not stored.
func TestRouteCacheStreamsLargeResponsesUncached(t *testing.T) {
	release := make(chan struct{})
	chunk := strings.Repeat("x", 2048)
	cs := startCached(t, CacheConfig{TTL: time.Minute, MaxBodySize: 1024}, func(n int64, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, chunk)
		http.NewResponseController(w).Flush()
		if r.URL.Query().Get("wait") != "" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		_, _ = fmt.Fprintf(w, "end %d", n)
	})
	// The first chunk arrives while the handler still runs: a buffered
	// response would only come when it returns, after release.
	type firstChunk struct {
		resp *http.Response
		err  error
	}
	got := make(chan firstChunk, 1)
	go func() {
		resp, err := cs.Client.Do(newReq(t, http.MethodGet, cs.URL+"/c/big?wait=1", nil))
		if err == nil {
			first := make([]byte, len(chunk))
			if _, err = io.ReadFull(resp.Body, first); err == nil && string(first) != chunk {
				err = fmt.Errorf("first chunk %q", first)
			}
		}
		got <- firstChunk{resp, err}
	}()
	var resp *http.Response
	select {
	case fc := <-got:
		if fc.err != nil {
			t.Fatalf("first chunk: %v", fc.err)
		}
		resp = fc.resp
	case <-time.After(10 * time.Second):
		close(release)
		t.Fatal("the large response did not stream: nothing arrived while the handler ran")
	}
	defer resp.Body.Close()
	close(release)
	rest, _ := io.ReadAll(resp.Body)
	if string(rest) != "end 1" || !strings.Contains(resp.Header.Get("Cache-Status"), "detail=too-large") {
		t.Fatalf("rest %q, Cache-Status %q", rest, resp.Header.Get("Cache-Status"))
	}
	for i := int64(2); i <= 3; i++ {
		if _, body := cs.get(t, "/c/big"); string(body) != chunk+fmt.Sprintf("end %d", i) {
			t.Fatalf("request %d: %d bytes, want the handler's whole response", i, len(body))
		}
	}
	cs.expectCalls(t, 3)
	if n := cs.mem.sets.Load(); n != 0 {
		t.Errorf("%d cache writes for responses over the limit", n)
	}
	// Under the limit (and under the default one) responses are stored.
	small := startCached(t, CacheConfig{TTL: time.Minute}, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, chunk)
	})
	small.get(t, "/c/s")
	small.get(t, "/c/s")
	small.expectCalls(t, 1)
}
