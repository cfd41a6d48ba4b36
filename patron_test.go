package patron

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.uber.org/goleak"

	"github.com/patron-go/patron/patrontest/testenv"
)

func TestMain(m *testing.M) {
	if os.Getenv(cleanStopEnv) == "1" {
		os.Exit(cleanStopMain()) // the child of TestCleanStopExitsZeroWhenFlushFails
	}
	goleak.VerifyTestMain(m)
}

// waitTimeout bounds every wait of these tests, so that a regression fails
// the test instead of hanging the suite.
const waitTimeout = 20 * time.Second

// within waits for ch to deliver, or fails the test.
func within[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("timed out after %s waiting for %s", waitTimeout, what)
		var zero T
		return zero
	}
}

// kill sends sig to this process, which Run is listening to.
func kill(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := syscall.Kill(syscall.Getpid(), sig); err != nil {
		t.Fatal(err)
	}
}

// blockingComponent runs until its context ends, then waits for release
// (if set) before returning, to simulate a component draining work.
type blockingComponent struct {
	name    string
	started chan struct{}
	release chan struct{}
	ready   atomic.Bool
	stopped chan struct{}
}

func newBlocking(name string) *blockingComponent {
	return &blockingComponent{name: name, started: make(chan struct{}), release: make(chan struct{}), stopped: make(chan struct{})}
}

func (b *blockingComponent) Name() string { return b.name }

func (b *blockingComponent) Run(ctx context.Context) error {
	close(b.started)
	<-ctx.Done()
	close(b.stopped)
	<-b.release
	return nil
}

func (b *blockingComponent) Ready(context.Context) error {
	if !b.ready.Load() {
		return errors.New("warming up")
	}
	return nil
}

type funcComponent func(ctx context.Context) error

func (f funcComponent) Run(ctx context.Context) error { return f(ctx) }

// quietLogger takes every level, so that the service's level alone decides.
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type running struct {
	svc   *Service
	base  string
	debug string // base URL of the debug server, "" without one
	done  chan error
}

func start(t *testing.T, ctx context.Context, opts []Option, comps ...Component) *running {
	t.Helper()
	opts = append([]Option{WithHTTPAddr("127.0.0.1:0"), WithLogger(quietLogger()), WithObservability()}, opts...)
	svc, err := New("test-svc", "1.0.0", opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	r := &running{svc: svc, done: make(chan error, 1)}
	go func() { r.done <- svc.Run(ctx, comps...) }()
	addr, err := svc.HTTPAddr(t.Context())
	if err != nil {
		t.Fatalf("HTTPAddr: %v", err)
	}
	r.base = "http://" + addr.String()
	if d, err := svc.DebugAddr(t.Context()); err == nil {
		r.debug = "http://" + d.String()
	}
	return r
}

func (r *running) wait(t *testing.T) error {
	t.Helper()
	return within(t, r.done, "Run to return")
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitStatus polls url until it answers want; readiness changes happen on
// another goroutine, so the test waits for the condition, bounded.
func waitStatus(t *testing.T, url string, want int) string {
	t.Helper()
	var body string
	testenv.WaitFor(t, 10*time.Second, fmt.Sprintf("GET %s to answer %d", url, want), func() bool {
		var code int
		code, body = get(t, url)
		return code == want
	})
	return body
}

func TestRunWithoutComponentsServesDefaultEndpoints(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	r := start(t, ctx, nil)
	if code, body := get(t, r.base+"/alive"); code != 200 || !strings.Contains(body, "alive") {
		t.Fatalf("/alive = %d %q", code, body)
	}
	if code, _ := get(t, r.base+"/ready"); code != 200 {
		t.Fatalf("/ready = %d", code)
	}
	if code, _ := get(t, r.debug+"/debug/pprof/"); code != 200 {
		t.Fatalf("/debug/pprof/ on the debug address = %d", code)
	}
	if code, body := get(t, r.base+"/metrics"); code != 200 || !strings.Contains(body, "process_") {
		t.Fatalf("/metrics = %d, body lacks process metrics", code)
	}
	cancel()
	if err := r.wait(t); err != nil {
		t.Fatalf("Run = %v", err)
	}
}

func TestReadinessFollowsComponents(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	c := newBlocking("warmer")
	close(c.release)
	r := start(t, ctx, nil, c)
	within(t, c.started, "the component to start")
	body := waitStatus(t, r.base+"/ready", http.StatusServiceUnavailable)
	var rd readiness
	if err := json.Unmarshal([]byte(body), &rd); err != nil {
		t.Fatal(err)
	}
	if rd.Status != "not_ready" || len(rd.Components) != 1 || rd.Components[0].Name != "warmer" || rd.Components[0].Error != "warming up" {
		t.Fatalf("readiness body = %+v", rd)
	}
	c.ready.Store(true)
	waitStatus(t, r.base+"/ready", http.StatusOK)
	cancel()
	if err := r.wait(t); err != nil {
		t.Fatalf("Run = %v", err)
	}
}

func TestSIGTERMDrainsInFlightRequestWhileNotReady(t *testing.T) {
	inHandler := make(chan struct{})
	releaseHandler := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(inHandler)
		<-releaseHandler
		_, _ = io.WriteString(w, "done")
	})
	comp := newBlocking("drainer")
	comp.ready.Store(true)
	r := start(t, t.Context(), []Option{WithHandler(h)}, comp)
	within(t, comp.started, "the component to start")

	result := make(chan int, 1)
	go func() {
		resp, err := http.Get(r.base + "/work")
		if err != nil {
			result <- -1
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		result <- resp.StatusCode
	}()
	within(t, inHandler, "the request to reach the handler")

	kill(t, syscall.SIGTERM)
	within(t, comp.stopped, "the component to be told to stop")
	if code, body := get(t, r.base+"/ready"); code != http.StatusServiceUnavailable || !strings.Contains(body, "shutting_down") {
		t.Fatalf("/ready during shutdown = %d %s", code, body)
	}
	close(releaseHandler)
	if code := within(t, result, "the in-flight request"); code != http.StatusOK {
		t.Fatalf("in-flight request got %d, want 200", code)
	}
	close(comp.release)
	if err := r.wait(t); err != nil {
		t.Fatalf("Run = %v", err)
	}
}

func TestShutdownDeadlineHonouredWhenComponentHangs(t *testing.T) {
	hang := make(chan struct{})
	defer close(hang)
	stuck := funcComponent(func(context.Context) error { <-hang; return nil })
	ctx, cancel := context.WithCancel(t.Context())
	r := start(t, ctx, []Option{WithShutdownTimeout(100 * time.Millisecond)}, stuck)
	cancel()
	err := r.wait(t)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "still running") {
		t.Fatalf("Run = %v, want a shutdown timeout error", err)
	}
}

func TestSecondSignalForcesExit(t *testing.T) {
	comp := newBlocking("slow")
	defer close(comp.release)
	r := start(t, t.Context(), nil, comp)
	within(t, comp.started, "the component to start")
	kill(t, syscall.SIGTERM)
	within(t, comp.stopped, "the component to be told to stop")
	kill(t, syscall.SIGINT)
	if err := r.wait(t); !errors.Is(err, ErrForcedShutdown) {
		t.Fatalf("Run = %v, want ErrForcedShutdown", err)
	}
}

func TestSIGHUPRunsHandlerAndKeepsServing(t *testing.T) {
	hup := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(t.Context())
	r := start(t, ctx, []Option{WithSIGHUP(func() { hup <- struct{}{} })})
	kill(t, syscall.SIGHUP)
	within(t, hup, "the SIGHUP handler")
	if code, _ := get(t, r.base+"/alive"); code != 200 {
		t.Fatalf("/alive after SIGHUP = %d", code)
	}
	cancel()
	if err := r.wait(t); err != nil {
		t.Fatalf("Run = %v", err)
	}
}

func TestComponentErrorStopsServiceAndIsReturned(t *testing.T) {
	boom := errors.New("boom")
	other := newBlocking("other")
	close(other.release)
	failing := funcComponent(func(ctx context.Context) error {
		<-other.started
		return boom
	})
	r := start(t, t.Context(), nil, failing, other)
	err := r.wait(t)
	if !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want boom", err)
	}
	select {
	case <-other.stopped:
	default:
		t.Fatal("the other component was not stopped")
	}
}

func TestComponentPanicBecomesError(t *testing.T) {
	r := start(t, t.Context(), nil, funcComponent(func(context.Context) error { panic("kaboom") }))
	if err := r.wait(t); err == nil || !strings.Contains(err.Error(), "kaboom") {
		t.Fatalf("Run = %v, want the panic as an error", err)
	}
}

func TestComponentReturningNilEarlyKeepsOthersRunning(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	other := newBlocking("other")
	other.ready.Store(true)
	close(other.release)
	oneOff := funcComponent(func(context.Context) error { return nil })
	r := start(t, ctx, nil, oneOff, other)
	// /ready can answer 200 before the one-off's goroutine has returned,
	// so wait for it to show as stopped, and for the service to stay ready.
	testenv.WaitFor(t, waitTimeout, "/ready to show the one-off component as stopped", func() bool {
		code, body := get(t, r.base+"/ready")
		return code == http.StatusOK && strings.Contains(body, `"state":"stopped"`)
	})
	select {
	case <-other.stopped:
		t.Fatal("other component stopped")
	default:
	}
	cancel()
	if err := r.wait(t); err != nil {
		t.Fatalf("Run = %v", err)
	}
}

func TestLogLevelEndpoint(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	r := start(t, ctx, nil)
	put := func(body string) int {
		req, _ := http.NewRequest(http.MethodPut, r.debug+"/debug/log-level", strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	if code := put("debug"); code != 200 {
		t.Fatalf("PUT debug = %d", code)
	}
	if r.svc.level.Level() != slog.LevelDebug {
		t.Fatalf("level = %s", r.svc.level.Level())
	}
	if code := put(`{"level":"error"}`); code != 200 || r.svc.level.Level() != slog.LevelError {
		t.Fatalf("PUT json = %d, level %s", code, r.svc.level.Level())
	}
	for _, bad := range []string{"loud", "{", ""} {
		if code := put(bad); code != http.StatusBadRequest {
			t.Fatalf("PUT %q = %d, want 400", bad, code)
		}
	}
	cancel()
	if err := r.wait(t); err != nil {
		t.Fatal(err)
	}
}

func TestMetricsExemplarsCarryTraceIDs(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	r := start(t, ctx, nil)
	h, err := r.svc.MeterProvider().Meter("test").Float64Histogram("test.duration", metric.WithUnit("s"))
	if err != nil {
		t.Fatal(err)
	}
	spanCtx, span := r.svc.TracerProvider().Tracer("test").Start(t.Context(), "op")
	h.Record(spanCtx, 0.5)
	span.End()

	req, _ := http.NewRequest(http.MethodGet, r.base+"/metrics", nil)
	req.Header.Set("Accept", "application/openmetrics-text; version=1.0.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	want := `trace_id="` + span.SpanContext().TraceID().String() + `"`
	if !strings.Contains(string(body), want) {
		t.Fatalf("OpenMetrics output lacks exemplar %s:\n%s", want, grepLines(string(body), "test_duration"))
	}
	cancel()
	if err := r.wait(t); err != nil {
		t.Fatal(err)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestInvalidEnvironmentFailsNew(t *testing.T) {
	tests := map[string]string{
		"PATRON_LOG_LEVEL":            "loud",
		"PATRON_LOG_FORMAT":           "xml",
		"PATRON_HTTP_DEFAULT_PORT":    "99999",
		"PATRON_HTTP_DEFAULT_ADDR":    "nocolon",
		"PATRON_SHUTDOWN_TIMEOUT":     "soon",
		"PATRON_SHUTDOWN_DELAY":       "-1s",
		"PATRON_DEBUG_ADDR":           "nowhere",
		"OTEL_PROPAGATORS":            "tracecontext,carrier-pigeon",
		"OTEL_TRACES_SAMPLER":         "sometimes",
		"OTEL_TRACES_SAMPLER_ARG":     "1.5",
		"OTEL_TRACES_EXPORTER":        "zipkin",
		"OTEL_EXPORTER_OTLP_PROTOCOL": "carrier-pigeon",
	}
	for key, value := range tests {
		t.Run(key, func(t *testing.T) {
			t.Setenv(key, value)
			if key == "OTEL_TRACES_SAMPLER_ARG" {
				t.Setenv("OTEL_TRACES_SAMPLER", "traceidratio")
			}
			_, err := New("svc", "1", WithLogger(quietLogger()))
			if err == nil {
				t.Fatalf("New with %s=%q succeeded", key, value)
			}
			if !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), value) {
				t.Fatalf("error %q does not name %s and %q", err, key, value)
			}
		})
	}
}

func TestInvalidOptionsFailNew(t *testing.T) {
	for name, opt := range map[string]Option{
		"addr":    WithHTTPAddr("nope"),
		"port":    WithHTTPPort(70000),
		"timeout": WithShutdownTimeout(0),
		"delay":   WithShutdownDelay(-time.Second),
		"logger":  WithLogger(nil),
		"sighup":  WithSIGHUP(nil),
		"handler": WithHandler(nil),
	} {
		if _, err := New("svc", "1", opt); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
	if _, err := New("", "1"); err == nil {
		t.Error("empty name accepted")
	}
	// A nil option is an error naming the package, never a panic.
	if _, err := New("svc", "1", WithLogger(quietLogger()), nil); err == nil || !strings.HasPrefix(err.Error(), "patron: ") {
		t.Errorf("New with a nil option = %v, want a patron: error", err)
	}
}

func TestEnvironmentConfiguresService(t *testing.T) {
	t.Setenv("PATRON_HTTP_DEFAULT_ADDR", "127.0.0.1:0")
	t.Setenv("PATRON_SHUTDOWN_TIMEOUT", "5s")
	t.Setenv("PATRON_SHUTDOWN_DELAY", "10ms")
	t.Setenv("PATRON_LOG_LEVEL", "warn")
	svc, err := New("svc", "1", WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	if svc.cfg.httpAddr != "127.0.0.1:0" || svc.cfg.shutdownTimeout != 5*time.Second ||
		svc.cfg.shutdownDelay != 10*time.Millisecond || svc.level.Level() != slog.LevelWarn {
		t.Fatalf("config from env not applied: %+v level %s", svc.cfg, svc.level.Level())
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := svc.Run(ctx); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if err := svc.Run(t.Context()); err == nil {
		t.Fatal("second Run succeeded")
	}
}
