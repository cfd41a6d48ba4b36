package traceview

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func newTestUI(t *testing.T) (http.Handler, *Store) {
	t.Helper()
	s := newTestStore(t, 1000)
	rss, _, _ := demoTraces(time.Now().Add(-time.Minute), 1)
	s.Ingest(rss)
	h, err := newUIHandler(stores{spans: s}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	return h, s
}

func get(h http.Handler, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}

func TestAPIEnvelopeAndErrors(t *testing.T) {
	h, _ := newTestUI(t)
	cases := []struct {
		path string
		code int
	}{
		{"/api/services", 200},
		{"/api/services/payment/operations", 200},
		{"/api/operations?service=payment", 200},
		{"/api/operations", 400},
		{"/api/traces?service=payment&lookback=1h&limit=5", 200},
		{"/api/traces?service=payment&lookback=2d", 200},
		{"/api/traces?service=payment&minDuration=soon", 400},
		{"/api/traces?service=payment&maxDuration=-1s", 400},
		{"/api/traces?service=payment&limit=x", 400},
		{"/api/traces?service=payment&start=yesterday", 400},
		{"/api/traces?service=payment&tags=notjson", 400},
		{"/api/traces?service=payment&tag=nocolon", 400},
		{"/api/traces?service=payment&minDuration=2s&maxDuration=1s", 400},
		{"/api/traces/" + strings.Repeat("0", 31) + "1", 404},
		{"/api/traces/not-hex", 400},
		{"/api/dependencies?endTs=" + "1700000000000" + "&lookback=3600000", 200},
		{"/api/dependencies?lookback=1h", 200},
		{"/api/dependencies?endTs=abc", 400},
		{"/api/nope", 404},
	}
	for _, c := range cases {
		rec := get(h, c.path)
		if rec.Code != c.code {
			t.Errorf("GET %s: status %d, want %d: %s", c.path, rec.Code, c.code, rec.Body)
			continue
		}
		var env map[string]json.RawMessage
		if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
			t.Errorf("GET %s: not JSON: %v", c.path, err)
			continue
		}
		for _, k := range []string{"data", "total", "limit", "offset", "errors"} {
			if _, ok := env[k]; !ok {
				t.Errorf("GET %s: envelope lacks %q: %s", c.path, k, rec.Body)
			}
		}
		if (c.code == 200) != (string(env["errors"]) == "null") {
			t.Errorf("GET %s: errors = %s", c.path, env["errors"])
		}
	}
}

func TestAPITagsAndTraceIDs(t *testing.T) {
	h, s := newTestUI(t)
	var env struct{ Data []Trace }
	rec := get(h, `/api/traces?service=payment&tag=payment.method:card&tags={"error":true}`)
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || len(env.Data) != 1 {
		t.Fatalf("tag search: %v %s", err, rec.Body)
	}
	id := env.Data[0].TraceID
	// Several trace IDs at once, one unknown; a short Jaeger-style ID.
	rec = get(h, "/api/traces?traceID="+id+"&traceID=1234")
	var multi struct {
		Data   []Trace
		Errors []apiError
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &multi); err != nil || len(multi.Data) != 1 || len(multi.Errors) != 1 {
		t.Errorf("traceID search: %s", rec.Body)
	}
	if _, ok := s.Trace(strings.TrimLeft(id, "0")); !ok {
		t.Error("a trace ID without its leading zeros does not resolve")
	}
}

func TestUIRoutes(t *testing.T) {
	h, _ := newTestUI(t)
	if rec := get(h, "/"); rec.Code != http.StatusFound || rec.Header().Get("Location") != "/search" {
		t.Errorf("/: %d to %q", rec.Code, rec.Header().Get("Location"))
	}
	for _, p := range []string{"/search", "/search?service=a", "/trace/abc", "/dependencies"} {
		rec := get(h, p)
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), `<script src="/static/app.js"`) {
			t.Errorf("%s: %d", p, rec.Code)
		}
		if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("%s: CSP %q", p, csp)
		}
	}
	for p, ct := range map[string]string{"/static/app.js": "javascript", "/static/app.css": "text/css", "/static/favicon.svg": "image/svg+xml"} {
		rec := get(h, p)
		if rec.Code != 200 || !strings.Contains(rec.Header().Get("Content-Type"), ct) {
			t.Errorf("%s: %d %q", p, rec.Code, rec.Header().Get("Content-Type"))
		}
	}
	// No file may load from elsewhere: the UI works offline.
	for _, p := range []string{"/static/app.js", "/static/app.css", "/search"} {
		if body := get(h, p).Body.String(); strings.Contains(body, "http://") || strings.Contains(body, "https://") {
			if !strings.Contains(body, "http://www.w3.org/2000/svg") || strings.Count(body, "://") > 1 {
				t.Errorf("%s refers to another origin", p)
			}
		}
	}
}
