package patron

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	patronhttp "github.com/patron-go/patron/component/http"
	"github.com/patron-go/patron/observability/observabilitytest"
)

func do(t *testing.T, method, url, body string, hdr ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Issue 15.7: pprof and PUT /debug/log-level are not served on the service
// port by default, but on a loopback address of their own.
func TestDebugEndpointsDefaultToALoopbackAddress(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	r := start(t, ctx, nil)
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/log-level"} {
		if code, _ := get(t, r.base+path); code != http.StatusNotFound {
			t.Errorf("GET %s on the service port = %d, want 404", path, code)
		}
	}
	if code, _ := do(t, http.MethodPut, r.base+"/debug/log-level", "debug"); code == http.StatusOK {
		t.Error("PUT /debug/log-level answered on the service port")
	}
	addr, err := r.svc.DebugAddr(t.Context())
	if err != nil {
		t.Fatalf("DebugAddr: %v", err)
	}
	if ip := addr.(*net.TCPAddr).IP; !ip.IsLoopback() {
		t.Errorf("debug address %s is not loopback", addr)
	}
	if code, _ := get(t, r.debug+"/debug/pprof/"); code != http.StatusOK {
		t.Errorf("pprof on the debug address = %d", code)
	}
	// The service's endpoints stay on the service port, and only there.
	if code, _ := get(t, r.base+"/ready"); code != http.StatusOK {
		t.Errorf("/ready on the service port = %d", code)
	}
	if code, _ := get(t, r.debug+"/ready"); code != http.StatusNotFound {
		t.Errorf("/ready on the debug address = %d", code)
	}
	cancel()
	if err := r.wait(t); err != nil {
		t.Fatal(err)
	}
}

func TestDefaultDebugAddrFollowsTheServicePort(t *testing.T) {
	for addr, want := range map[string]string{
		":50000":         "127.0.0.1:50099",
		"0.0.0.0:8080":   "127.0.0.1:8179",
		"127.0.0.1:0":    "127.0.0.1:0",
		"[::1]:65500":    "127.0.0.1:0",
		"localhost:9000": "127.0.0.1:9099",
	} {
		s := &Service{cfg: config{httpAddr: addr}}
		if got := s.defaultDebugAddr(); got != want {
			t.Errorf("debug address for %s = %s, want %s", addr, got, want)
		}
	}
}

func TestDebugAPIKey(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	r := start(t, ctx, []Option{WithDebugAPIKey("s3cret")})
	for _, path := range []string{"/debug/pprof/", "/debug/log-level"} {
		code, body := get(t, r.debug+path)
		if code != http.StatusUnauthorized || !strings.Contains(body, `"status":401`) {
			t.Errorf("GET %s without the key = %d %s, want a 401 problem", path, code, body)
		}
		if code, _ := do(t, http.MethodGet, r.debug+path, "", "X-API-Key", "wrong"); code != http.StatusUnauthorized {
			t.Errorf("GET %s with a wrong key = %d", path, code)
		}
		if code, _ := do(t, http.MethodGet, r.debug+path, "", "X-API-Key", "s3cret"); code != http.StatusOK {
			t.Errorf("GET %s with the key = %d", path, code)
		}
	}
	if code, _ := do(t, http.MethodPut, r.debug+"/debug/log-level", "warn"); code != http.StatusUnauthorized {
		t.Errorf("PUT without the key = %d", code)
	}
	if code, _ := do(t, http.MethodPut, r.debug+"/debug/log-level", "warn", "Authorization", "Apikey s3cret"); code != http.StatusOK ||
		r.svc.level.Level() != slog.LevelWarn {
		t.Errorf("PUT with the key = %d, level %s", code, r.svc.level.Level())
	}
	cancel()
	if err := r.wait(t); err != nil {
		t.Fatal(err)
	}
}

func TestDebugOnServicePortAndOff(t *testing.T) {
	for name, opt := range map[string]Option{"service port": WithDebugOnServicePort(), "off": WithoutDebugEndpoints()} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			r := start(t, ctx, []Option{opt})
			want := http.StatusOK
			if name == "off" {
				want = http.StatusNotFound
			}
			if code, _ := get(t, r.base+"/debug/pprof/"); code != want {
				t.Errorf("pprof on the service port = %d, want %d", code, want)
			}
			if _, err := r.svc.DebugAddr(t.Context()); err == nil {
				t.Error("DebugAddr succeeded without a debug server")
			}
			cancel()
			if err := r.wait(t); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestEndpointsOnDebugAddr(t *testing.T) {
	route, err := patronhttp.NewRoute("GET /hello", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "hi") })
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATRON_ENDPOINTS_ON_DEBUG_ADDR", "true")
	t.Setenv("PATRON_DEBUG_ADDR", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(t.Context())
	r := start(t, ctx, []Option{WithRoutes(route)})
	for _, path := range []string{"/alive", "/ready", "/metrics"} {
		if code, _ := get(t, r.base+path); code != http.StatusNotFound {
			t.Errorf("%s on the service port = %d, want 404", path, code)
		}
		if code, _ := get(t, r.debug+path); code != http.StatusOK {
			t.Errorf("%s on the debug address = %d, want 200", path, code)
		}
	}
	if code, body := get(t, r.base+"/hello"); code != http.StatusOK || body != "hi" {
		t.Errorf("route on the service port = %d %q", code, body)
	}
	cancel()
	if err := r.wait(t); err != nil {
		t.Fatal(err)
	}
}

func TestDebugEnvironment(t *testing.T) {
	for env, ok := range map[[2]string]bool{
		{"PATRON_DEBUG_ADDR", "service"}:                true,
		{"PATRON_DEBUG_ADDR", "off"}:                    true,
		{"PATRON_DEBUG_ADDR", "127.0.0.1:0"}:            true,
		{"PATRON_DEBUG_ADDR", "nowhere"}:                false,
		{"PATRON_ENDPOINTS_ON_DEBUG_ADDR", "sometimes"}: false,
	} {
		t.Setenv(env[0], env[1])
		_, err := New("svc", "1", WithLogger(quietLogger()), WithoutSlogDefault())
		if (err == nil) != ok {
			t.Errorf("%s=%s: New = %v", env[0], env[1], err)
		}
		t.Setenv(env[0], "")
	}
	// Moving the endpoints needs a debug server to move them to.
	t.Setenv("PATRON_ENDPOINTS_ON_DEBUG_ADDR", "true")
	for _, opt := range []Option{WithoutDebugEndpoints(), WithDebugOnServicePort()} {
		if _, err := New("svc", "1", WithLogger(quietLogger()), opt); err == nil || !strings.Contains(err.Error(), "PATRON_ENDPOINTS_ON_DEBUG_ADDR") {
			t.Errorf("New = %v, want an error naming the variable", err)
		}
	}
}

// Issue 15.6: under WithLogger, PUT /debug/log-level changes what the
// user's logger writes, and refuses with 409 what it cannot do.
func TestLogLevelAppliesToTheUsersLogger(t *testing.T) {
	logs := &observabilitytest.LogBuffer{}
	user := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, cancel := context.WithCancel(t.Context())
	r := start(t, ctx, []Option{WithLogger(user)})
	if code, body := get(t, r.debug+"/debug/log-level"); code != http.StatusOK || !strings.Contains(body, `"info"`) {
		t.Fatalf("GET level = %d %s, want info (the user's handler's own level)", code, body)
	}
	if code, _ := do(t, http.MethodPut, r.debug+"/debug/log-level", "error"); code != http.StatusOK {
		t.Fatalf("PUT error = %d", code)
	}
	r.svc.Logger().Info("dropped at error level")
	r.svc.Logger().Error("kept at error level")
	for _, rec := range logs.Records(t) {
		if rec["msg"] == "dropped at error level" {
			t.Fatal("an info record went through after PUT error")
		}
	}
	logs.WaitRecord(t, waitTimeout, func(m map[string]any) bool { return m["msg"] == "kept at error level" })

	code, body := do(t, http.MethodPut, r.debug+"/debug/log-level", "debug")
	var p map[string]any
	if err := json.Unmarshal([]byte(body), &p); code != http.StatusConflict || err != nil || !strings.Contains(p["detail"].(string), "WithLogger") {
		t.Fatalf("PUT debug below the user's handler = %d %s, want a 409 problem naming WithLogger", code, body)
	}
	if r.svc.level.Level() != slog.LevelError {
		t.Errorf("level after the refused PUT = %s", r.svc.level.Level())
	}
	cancel()
	if err := r.wait(t); err != nil {
		t.Fatal(err)
	}
}
