package patron

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/patron-go/patron/observability/observabilitytest"
	"github.com/patron-go/patron/patrontest/testenv"
)

// Issue 15.11: a SIGHUP during the shutdown is logged, and cuts neither the
// shutdown delay nor the drain short.
func TestSIGHUPDuringShutdownIsLogged(t *testing.T) {
	logs := &observabilitytest.LogBuffer{}
	hups := atomic.Int32{}
	comp := newBlocking("slow")
	r := start(t, t.Context(), []Option{
		WithLogger(slog.New(slog.NewJSONHandler(logs, nil))),
		WithSIGHUP(func() { hups.Add(1) }),
		WithShutdownDelay(time.Hour),
	}, comp)
	within(t, comp.started, "the component to start")
	isHUP := func(m map[string]any) bool {
		msg, _ := m["msg"].(string)
		return strings.Contains(msg, "SIGHUP received during shutdown")
	}

	kill(t, syscall.SIGTERM)
	testenv.WaitFor(t, waitTimeout, "/ready to say shutting_down", func() bool {
		_, body := get(t, r.base+"/ready")
		return strings.Contains(body, "shutting_down")
	})
	kill(t, syscall.SIGHUP) // during the delay
	logs.WaitRecord(t, waitTimeout, isHUP)
	select {
	case <-comp.stopped:
		t.Fatal("a SIGHUP during the shutdown delay cut it short")
	default:
	}
	if hups.Load() != 0 {
		t.Error("the SIGHUP function ran during the shutdown")
	}
	kill(t, syscall.SIGINT) // a second signal that means it
	if err := r.wait(t); !errors.Is(err, ErrForcedShutdown) {
		t.Fatalf("Run = %v, want ErrForcedShutdown", err)
	}
	close(comp.release)
	within(t, comp.stopped, "the component to be cancelled")
}

func TestSIGHUPDuringDrainIsLogged(t *testing.T) {
	logs := &observabilitytest.LogBuffer{}
	comp := newBlocking("slow")
	r := start(t, t.Context(), []Option{WithLogger(slog.New(slog.NewJSONHandler(logs, nil)))}, comp)
	within(t, comp.started, "the component to start")
	kill(t, syscall.SIGTERM)
	within(t, comp.stopped, "the component to be told to stop")
	kill(t, syscall.SIGHUP)
	rec := logs.WaitRecord(t, waitTimeout, func(m map[string]any) bool {
		msg, _ := m["msg"].(string)
		return strings.Contains(msg, "SIGHUP received during shutdown")
	})
	if rec["level"] != "WARN" {
		t.Errorf("SIGHUP during the drain logged at %v, want WARN", rec["level"])
	}
	close(comp.release)
	if err := r.wait(t); err != nil {
		t.Fatalf("Run = %v, want a clean stop", err)
	}
}

// An application that wraps Run in signal.NotifyContext cancels ctx on
// Ctrl-C, and the same SIGINT then reaches Patron's own channel: that is
// the first signal, not a second one (make talk exited 2 on one Ctrl-C).
// Only a signal after it forces the exit.
func TestSignalAfterContextCancelIsNotSecond(t *testing.T) {
	logs := &observabilitytest.LogBuffer{}
	comp := newBlocking("slow")
	ctx, cancel := context.WithCancel(t.Context())
	r := start(t, ctx, []Option{WithLogger(slog.New(slog.NewJSONHandler(logs, nil)))}, comp)
	within(t, comp.started, "the component to start")
	cancel()
	within(t, comp.stopped, "the component to be told to stop")
	kill(t, syscall.SIGINT)
	logs.WaitRecord(t, waitTimeout, func(m map[string]any) bool {
		msg, _ := m["msg"].(string)
		return strings.Contains(msg, "shutdown already in progress")
	})
	select {
	case err := <-r.done:
		t.Fatalf("Run returned %v on the first signal after ctx ended, want it still draining", err)
	default:
	}
	kill(t, syscall.SIGINT)
	if err := r.wait(t); !errors.Is(err, ErrForcedShutdown) {
		t.Fatalf("Run = %v, want ErrForcedShutdown on the second signal", err)
	}
	close(comp.release)
}

func TestOneSignalAfterContextCancelStopsCleanly(t *testing.T) {
	comp := newBlocking("slow")
	ctx, cancel := context.WithCancel(t.Context())
	r := start(t, ctx, nil, comp)
	within(t, comp.started, "the component to start")
	cancel()
	within(t, comp.stopped, "the component to be told to stop")
	kill(t, syscall.SIGINT)
	close(comp.release)
	if err := r.wait(t); err != nil {
		t.Fatalf("Run = %v, want a clean stop", err)
	}
}

const cleanStopEnv = "PATRON_TEST_CLEAN_STOP_CHILD"

// cleanStopMain is the program TestCleanStopExitsZeroWhenFlushFails runs
// in a process of its own (this test binary, run again): a service as a
// user's main writes it, exporting to the receiver of OTEL_* variables.
func cleanStopMain() int {
	svc, err := New("clean-stop", "1.0.0", WithHTTPAddr("127.0.0.1:0"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "configuring:", err)
		return 2
	}
	_, span := svc.TracerProvider().Tracer("clean-stop").Start(context.Background(), "work")
	span.End()
	go func() {
		if addr, err := svc.HTTPAddr(context.Background()); err == nil {
			fmt.Println("listening on", addr)
		}
	}()
	if err := svc.Run(context.Background()); err != nil {
		return 1
	}
	return 0
}

// Issues 19 and 21: a service whose telemetry backend refuses the final
// export (here a traces-only receiver that answers 404 on /v1/metrics)
// exits 0 after a graceful stop on SIGTERM, and says once what it refused.
func TestCleanStopExitsZeroWhenFlushFails(t *testing.T) {
	var mu sync.Mutex
	paths := map[string]int{}
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		paths[r.URL.Path]++
		mu.Unlock()
		if r.Method == http.MethodPost && r.URL.Path == "/v1/traces" {
			w.Header().Set("Content-Type", "application/x-protobuf")
			return // an empty ExportTraceServiceResponse
		}
		http.NotFound(w, r)
	}))
	defer recv.Close()

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OTEL_") && !strings.HasPrefix(kv, "PATRON_") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, cleanStopEnv+"=1",
		"OTEL_EXPORTER_OTLP_ENDPOINT="+recv.URL, "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	listening := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		listening <- line
		_, _ = io.Copy(io.Discard, stdout)
	}()
	if line := within(t, listening, "the service to listen"); !strings.HasPrefix(line, "listening on") {
		t.Fatalf("child printed %q; stderr:\n%s", line, stderr.String())
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	err = within(t, exited, "the service to exit")
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM (%v), want 0; stderr:\n%s", code, err, stderr.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if paths["/v1/traces"] == 0 || paths["/v1/metrics"] == 0 {
		t.Errorf("receiver saw %v, want both the traces and the refused metrics export", paths)
	}
	// The refusal is logged once, as the warning that names the variable
	// to set, rather than as a failed flush.
	if n := strings.Count(stderr.String(), "does not take metrics"); n != 1 {
		t.Errorf("the refused metrics are warned about %d times, want once; stderr:\n%s", n, stderr.String())
	}
}
