package http

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	patronlog "github.com/patron-go/patron/observability/log"
	"github.com/patron-go/patron/observability/observabilitytest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testServer is a running component on 127.0.0.1:0.
type testServer struct {
	URL    string
	Kit    *observabilitytest.Kit
	Logs   *observabilitytest.LogBuffer
	Client *http.Client
	cancel context.CancelFunc
	done   chan error
}

// start runs a component with routes and the kit's providers; it stops
// (and checks the drain) when t ends.
func start(t *testing.T, routes []*Route, opts ...Option) *testServer {
	t.Helper()
	kit := observabilitytest.New(t)
	logs := &observabilitytest.LogBuffer{}
	base := []Option{
		WithAddr("127.0.0.1:0"),
		WithRoutes(routes...),
		WithTracerProvider(kit.TracerProvider),
		WithMeterProvider(kit.MeterProvider),
		WithPropagator(kit.Propagator),
		WithLogger(slog.New(newLogHandler(logs))),
		WithShutdownTimeout(5 * time.Second),
	}
	c, err := New(append(base, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{Kit: kit, Logs: logs, cancel: cancel, done: make(chan error, 1)}
	go func() { ts.done <- c.Run(ctx) }()
	addr, err := c.Addr(t.Context())
	if err != nil {
		t.Fatalf("Addr: %v", err)
	}
	ts.URL = "http://" + addr.String()
	tr := &http.Transport{DisableCompression: true}
	ts.Client = &http.Client{Transport: tr}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		ts.stop(t)
	})
	return ts
}

func (ts *testServer) stop(t *testing.T) {
	t.Helper()
	if ts.cancel == nil {
		return
	}
	ts.cancel()
	ts.cancel = nil
	select {
	case err := <-ts.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("Run did not return after cancel")
	}
}

func (ts *testServer) do(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := ts.Client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return resp, b
}

func (ts *testServer) get(t *testing.T, path string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req := newReq(t, http.MethodGet, ts.URL+path, nil, hdr...)
	return ts.do(t, req)
}

func newReq(t *testing.T, method, url string, body io.Reader, hdr ...string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	return req
}

func mustRoute(t testing.TB, pattern string, h http.HandlerFunc, opts ...RouteOption) *Route {
	t.Helper()
	r, err := NewRoute(pattern, h, opts...)
	if err != nil {
		t.Fatalf("NewRoute(%q): %v", pattern, err)
	}
	return r
}

// memCache is a cache.Cache in memory that counts calls and can be made to
// fail, to play a backend that is down.
type memCache struct {
	mu      sync.Mutex
	data    map[string][]byte
	gets    atomic.Int64
	sets    atomic.Int64
	failing atomic.Bool
}

var errBackendDown = errors.New("backend down")

func newMemCache() *memCache { return &memCache{data: map[string][]byte{}} }

func (m *memCache) Get(_ context.Context, key string) ([]byte, bool, error) {
	m.gets.Add(1)
	if m.failing.Load() {
		return nil, false, errBackendDown
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.data[key]
	return v, ok, nil
}

func (m *memCache) Set(_ context.Context, key string, value []byte, _ time.Duration) error {
	m.sets.Add(1)
	if m.failing.Load() {
		return errBackendDown
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.data[key] = append([]byte(nil), value...)
	return nil
}

func (m *memCache) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.data, key)
	return nil
}

func (m *memCache) Purge(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.data = map[string][]byte{}
	return nil
}

// age moves every stored entry back in time by d, to test freshness
// without sleeping.
func (m *memCache) age(t *testing.T, d time.Duration) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, v := range m.data {
		e, err := decodeEntry(v)
		if err != nil {
			t.Fatal(err)
		}
		e.Stored -= int64(d)
		m.data[k] = encodeEntry(t, e)
	}
}

func newLogHandler(w io.Writer) slog.Handler {
	return patronlog.NewHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func decodeEntry(b []byte) (*entry, error) {
	var e entry
	err := json.Unmarshal(b, &e)
	return &e, err
}

func encodeEntry(t *testing.T, e *entry) []byte {
	t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
