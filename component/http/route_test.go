package http

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/patron-go/patron/encoding"
	"github.com/patron-go/patron/observability/observabilitytest"
)

func okHandler(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }

func TestRateLimit(t *testing.T) {
	byKey := func(r *http.Request) string { return r.Header.Get("X-Client") }
	ts := start(t, []*Route{
		mustRoute(t, "GET /ip", okHandler, WithRateLimit(0.001, 2, nil)),
		mustRoute(t, "GET /key", okHandler, WithRateLimit(0.001, 1, byKey)),
	})
	for i := range 2 {
		if resp, _ := ts.get(t, "/ip"); resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d within burst: %d", i, resp.StatusCode)
		}
	}
	resp, body := ts.get(t, "/ip")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Content-Type") != ProblemContentType {
		t.Fatalf("over the limit: %d %s", resp.StatusCode, body)
	}
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 {
		t.Errorf("Retry-After = %q", resp.Header.Get("Retry-After"))
	}
	// Each key has its own bucket.
	for _, client := range []string{"a", "b"} {
		if resp, _ := ts.get(t, "/key", "X-Client", client); resp.StatusCode != http.StatusOK {
			t.Errorf("client %s first request: %d", client, resp.StatusCode)
		}
	}
	if resp, _ := ts.get(t, "/key", "X-Client", "a"); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("client a second request: %d", resp.StatusCode)
	}
}

func TestAPIKeyAuth(t *testing.T) {
	ts := start(t, []*Route{mustRoute(t, "GET /secret", okHandler, WithAPIKey("k1", "k2-longer"))})
	for _, tc := range []struct {
		hdr  []string
		want int
	}{
		{[]string{"Authorization", "Apikey k1"}, 200},
		{[]string{"Authorization", "apikey k2-longer"}, 200},
		{[]string{"X-API-Key", "k2-longer"}, 200},
		{[]string{"X-API-Key", "k1x"}, 401},
		{[]string{"Authorization", "Bearer k1"}, 401},
		{[]string{"Authorization", "Apikey"}, 401},
		{nil, 401},
	} {
		resp, body := ts.get(t, "/secret", tc.hdr...)
		if resp.StatusCode != tc.want {
			t.Errorf("%v: %d %s", tc.hdr, resp.StatusCode, body)
		}
		if tc.want == 401 && (resp.Header.Get("WWW-Authenticate") == "" || strings.Contains(string(body), "k1")) {
			t.Errorf("%v: 401 without challenge or leaking the key: %s", tc.hdr, body)
		}
	}
	// The key never reaches logs or spans.
	if strings.Contains(ts.Logs.String(), "k2-longer") {
		t.Error("API key logged")
	}
	for _, s := range ts.Kit.Spans() {
		for _, a := range s.Attributes() {
			if strings.Contains(a.Value.String(), "k2-longer") {
				t.Errorf("API key on span attribute %s", a.Key)
			}
		}
	}
}

func TestCustomAuthenticator(t *testing.T) {
	auth := AuthenticatorFunc(func(r *http.Request) error {
		switch r.Header.Get("X-Role") {
		case "admin":
			return nil
		case "user":
			return fmt.Errorf("role user: %w", ErrForbidden)
		}
		return errors.New("who are you")
	})
	ts := start(t, []*Route{mustRoute(t, "GET /admin", okHandler, WithAuth(auth))})
	for role, want := range map[string]int{"admin": 200, "user": 403, "": 401} {
		resp, body := ts.get(t, "/admin", "X-Role", role)
		if resp.StatusCode != want || strings.Contains(string(body), "who are you") {
			t.Errorf("role %q: %d %s", role, resp.StatusCode, body)
		}
	}
}

func TestTimeout(t *testing.T) {
	ts := start(t, []*Route{
		mustRoute(t, "GET /blocks", func(_ http.ResponseWriter, r *http.Request) {
			if _, ok := r.Context().Deadline(); !ok {
				t.Error("no deadline in the request context")
			}
			<-r.Context().Done()
			if !errors.Is(r.Context().Err(), context.DeadlineExceeded) {
				t.Errorf("ctx.Err = %v", r.Context().Err())
			}
		}, WithTimeout(50*time.Millisecond)),
		mustRoute(t, "GET /answers", func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
			WriteError(w, r, r.Context().Err())
		}, WithTimeout(50*time.Millisecond)),
		// A stream outlives the timeout once it has started.
		mustRoute(t, "GET /stream", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, "data: first\n\n")
			w.(http.Flusher).Flush()
			timer := time.NewTimer(200 * time.Millisecond) // 4x the route timeout
			defer timer.Stop()
			select {
			case <-r.Context().Done():
				_, _ = io.WriteString(w, "data: cut\n\n")
			case <-timer.C:
				_, _ = io.WriteString(w, "data: second\n\n")
			}
		}, WithTimeout(50*time.Millisecond)),
	})
	for _, p := range []string{"/blocks", "/answers"} {
		resp, body := ts.get(t, p)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Content-Type") != ProblemContentType {
			t.Errorf("%s: %d %s", p, resp.StatusCode, body)
		}
	}
	resp, body := ts.get(t, "/stream")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "data: second") {
		t.Errorf("stream: %d %q", resp.StatusCode, body)
	}
}

type payload struct {
	Name string `json:"name"`
}

func TestBodies(t *testing.T) {
	echo := func(w http.ResponseWriter, r *http.Request) {
		var v wrapperspb.StringValue
		if err := Decode(r, &v); err != nil {
			WriteError(w, r, err)
			return
		}
		_ = Respond(w, r, http.StatusOK, &v)
	}
	jsonOnly := func(w http.ResponseWriter, r *http.Request) {
		var v payload
		if err := Decode(r, &v); err != nil {
			WriteError(w, r, err)
			return
		}
		_ = Respond(w, r, http.StatusCreated, v)
	}
	ts := start(t, []*Route{
		mustRoute(t, "POST /echo", echo, WithBodyLimit(64)),
		mustRoute(t, "POST /json", jsonOnly),
	})
	pb, _ := proto.Marshal(wrapperspb.String("hi"))
	for _, tc := range []struct {
		name, path, ct, accept string
		body                   io.Reader
		chunked                bool
		want                   int
		wantCT                 string
	}{
		{"json", "/json", "application/json", "", strings.NewReader(`{"name":"a"}`), false, 201, encoding.JSON},
		{"json no content type", "/json", "", "", strings.NewReader(`{"name":"a"}`), false, 201, encoding.JSON},
		{"malformed json", "/json", "application/json", "", strings.NewReader(`{"name":`), false, 400, ProblemContentType},
		{"empty body", "/json", "application/json", "", strings.NewReader(""), false, 400, ProblemContentType},
		{"xml", "/json", "application/xml", "", strings.NewReader(`<a/>`), false, 415, ProblemContentType},
		{"garbage content type", "/json", ";;;", "", strings.NewReader(`{}`), false, 415, ProblemContentType},
		{"protobuf to json-only", "/json", encoding.Protobuf, "", strings.NewReader(string(pb)), false, 415, ProblemContentType},
		{"protobuf", "/echo", encoding.Protobuf, encoding.Protobuf, strings.NewReader(string(pb)), false, 200, encoding.Protobuf},
		{"protobuf in, json out", "/echo", encoding.Protobuf, "application/json", strings.NewReader(string(pb)), false, 200, encoding.JSON},
		{"malformed protobuf", "/echo", encoding.Protobuf, "", strings.NewReader("\xff\xff\xff"), false, 400, ProblemContentType},
		{"too large", "/echo", "application/json", "", strings.NewReader(`"` + strings.Repeat("x", 100) + `"`), false, 413, ProblemContentType},
		{"too large chunked", "/echo", "application/json", "", strings.NewReader(`"` + strings.Repeat("x", 100) + `"`), true, 413, ProblemContentType},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.body
			if tc.chunked {
				body = io.MultiReader(body) // unknown length: sent chunked
			}
			req := newReq(t, http.MethodPost, ts.URL+tc.path, body)
			if tc.ct != "" {
				req.Header.Set("Content-Type", tc.ct)
			}
			if tc.accept != "" {
				req.Header.Set("Accept", tc.accept)
			}
			resp, b := ts.do(t, req)
			if resp.StatusCode != tc.want || resp.Header.Get("Content-Type") != tc.wantCT {
				t.Fatalf("got %d %s %q", resp.StatusCode, resp.Header.Get("Content-Type"), b)
			}
			if tc.wantCT == ProblemContentType {
				var p map[string]any
				if err := json.Unmarshal(b, &p); err != nil || p["status"] != float64(tc.want) || p["detail"] == "" {
					t.Errorf("problem %s (%v)", b, err)
				}
			}
			if tc.wantCT == encoding.Protobuf {
				var got wrapperspb.StringValue
				if err := proto.Unmarshal(b, &got); err != nil || got.GetValue() != "hi" {
					t.Errorf("protobuf body %q: %v", got.GetValue(), err)
				}
			}
		})
	}
}

func TestCORS(t *testing.T) {
	cors := WithCORS(CORS{AllowedOrigins: []string{"https://app.example.com"}, AllowCredentials: true, MaxAge: time.Hour})
	ts := start(t, []*Route{
		mustRoute(t, "GET /api/items", okHandler, cors),
		mustRoute(t, "POST /api/items", okHandler, cors),
		mustRoute(t, "GET /open", okHandler, WithCORS(CORS{AllowedOrigins: []string{"*"}})),
	})
	// Preflight from an allowed origin.
	req := newReq(t, http.MethodOptions, ts.URL+"/api/items", nil,
		"Origin", "https://app.example.com", "Access-Control-Request-Method", "POST")
	resp, _ := ts.do(t, req)
	if resp.StatusCode != http.StatusNoContent ||
		resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		resp.Header.Get("Access-Control-Allow-Credentials") != "true" ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "GET") ||
		resp.Header.Get("Access-Control-Max-Age") != "3600" {
		t.Errorf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	// Preflight from another origin.
	req = newReq(t, http.MethodOptions, ts.URL+"/api/items", nil,
		"Origin", "https://evil.example.com", "Access-Control-Request-Method", "POST")
	if resp, _ := ts.do(t, req); resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("foreign preflight: %d %v", resp.StatusCode, resp.Header)
	}
	// Simple requests.
	resp, _ = ts.get(t, "/api/items", "Origin", "https://app.example.com")
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" || !strings.Contains(resp.Header.Get("Vary"), "Origin") {
		t.Errorf("simple: %v", resp.Header)
	}
	resp, _ = ts.get(t, "/api/items", "Origin", "https://evil.example.com")
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("foreign simple request allowed: %v", resp.Header)
	}
	resp, _ = ts.get(t, "/open", "Origin", "https://anyone.example")
	if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("wildcard: %v", resp.Header)
	}
}

// Route options work together and the body limit applies to handlers
// reading the body themselves.
func TestBodyLimitRawRead(t *testing.T) {
	ts := start(t, []*Route{mustRoute(t, "PUT /raw", func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			WriteError(w, r, err)
			return
		}
		_, _ = io.WriteString(w, "read")
	}, WithBodyLimit(10))}, WithDefaultBodyLimit(1<<10))
	req := newReq(t, http.MethodPut, ts.URL+"/raw", io.MultiReader(strings.NewReader(strings.Repeat("y", 50))))
	if resp, b := ts.do(t, req); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked over the limit: %d %s", resp.StatusCode, b)
	}
	req = newReq(t, http.MethodPut, ts.URL+"/raw", strings.NewReader("small"))
	if resp, b := ts.do(t, req); resp.StatusCode != http.StatusOK {
		t.Errorf("under the limit: %d %s", resp.StatusCode, b)
	}
}

// Streams through a route timeout keep Flusher: a bufio check that events
// are readable one by one is in TestSSEThroughChain; here the writer
// assertion itself.
func TestWriterInterfaces(t *testing.T) {
	ts := start(t, []*Route{mustRoute(t, "GET /ifaces", func(w http.ResponseWriter, _ *http.Request) {
		_, f := w.(http.Flusher)
		_, h := w.(http.Hijacker)
		// Under a route timeout the writer has no Unwrap (a handler past
		// its timeout must not reach the response), but the
		// ResponseController deadlines still work.
		d := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(time.Minute)) == nil
		_, _ = fmt.Fprintf(w, "%v %v %v", f, h, d)
	}, WithTimeout(time.Second), WithRateLimit(100, 10, nil))})
	resp, err := ts.Client.Do(newReq(t, http.MethodGet, ts.URL+"/ifaces", nil))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, _ := bufio.NewReader(resp.Body).ReadString('\n')
	if line != "true true true" {
		t.Errorf("writer interfaces = %q", line)
	}
}

// Issue 15.12: the route timeout answers 503 at the deadline even when the
// handler ignores its context and goes on; what it writes afterwards is
// dropped, and a panic it has then is logged, not lost.
func TestTimeoutAnswersWhileTheHandlerGoesOn(t *testing.T) {
	release := make(chan struct{})
	finished := make(chan error, 1)
	ts := start(t, []*Route{
		mustRoute(t, "POST /ignores", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "partial, unsent")
			<-release // ignores r.Context()
			_, err := io.WriteString(w, "too late")
			_, rerr := io.ReadAll(r.Body)
			finished <- errors.Join(err, rerr)
			panic("after the timeout")
		}, WithTimeout(50*time.Millisecond)),
	})
	type answer struct {
		code int
		body string
		err  error
	}
	got := make(chan answer, 1)
	go func() {
		resp, err := ts.Client.Do(newReq(t, http.MethodPost, ts.URL+"/ignores", strings.NewReader("body")))
		if err != nil {
			got <- answer{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		got <- answer{resp.StatusCode, string(b), err}
	}()
	var a answer
	select {
	case a = <-got:
	case <-time.After(10 * time.Second):
		close(release)
		t.Fatal("no answer at the route timeout while the handler ran on")
	}
	if a.err != nil || a.code != http.StatusServiceUnavailable || !strings.Contains(a.body, "timed out") {
		t.Fatalf("answer = %d %q %v, want a 503 problem", a.code, a.body, a.err)
	}
	close(release)
	select {
	case err := <-finished:
		if !errors.Is(err, http.ErrHandlerTimeout) {
			t.Errorf("late write and body read = %v, want http.ErrHandlerTimeout", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("handler did not finish")
	}
	ts.Logs.WaitRecord(t, 10*time.Second, func(m map[string]any) bool {
		return m["msg"] == "panic in HTTP handler after its route timeout"
	})
	// The server span and metrics record the 503.
	spans := ts.Kit.WaitForSpanCount(t, 5*time.Second, "POST /ignores", 1)
	if v, _ := observabilitytest.Attr(spans[0], "http.response.status_code"); v.AsInt64() != http.StatusServiceUnavailable {
		t.Errorf("span status code = %v", v)
	}
}

// A response that started (over the buffer, or flushed) keeps going past
// the deadline; a handler that panics in time still gets the chain's 500.
func TestTimeoutLetsStartedResponsesFinish(t *testing.T) {
	big := strings.Repeat("b", timeoutCommitSize+1)
	lifted := make(chan bool, 1)
	ts := start(t, []*Route{
		mustRoute(t, "GET /big", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, big)
			_, has := r.Context().Deadline()
			lifted <- !has
			_, _ = io.WriteString(w, "end")
		}, WithTimeout(time.Minute)),
		mustRoute(t, "GET /panics", func(http.ResponseWriter, *http.Request) {
			panic("in time")
		}, WithTimeout(time.Minute)),
	})
	resp, b := ts.get(t, "/big")
	if resp.StatusCode != http.StatusOK || string(b) != big+"end" {
		t.Errorf("big response = %d, %d bytes", resp.StatusCode, len(b))
	}
	if !<-lifted {
		t.Error("the deadline still holds once the response started")
	}
	resp2, body := ts.get(t, "/panics")
	if resp2.StatusCode != http.StatusInternalServerError {
		t.Errorf("panic in time = %d %s", resp2.StatusCode, body)
	}
	rec := ts.Logs.WaitRecord(t, 5*time.Second, func(m map[string]any) bool { return m["msg"] == "panic in HTTP handler" })
	if stack, _ := rec["stack"].(string); !strings.Contains(stack, "TestTimeoutLetsStartedResponsesFinish") {
		t.Errorf("logged stack is not the handler's:\n%s", stack)
	}
}
