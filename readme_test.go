package patron_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/patron-go/patron/patrontest/testenv"
	"github.com/patron-go/patron/traceview"
)

// quickStart returns the first Go code block of the README's Quick start.
func quickStart(t *testing.T) (code, section string) {
	t.Helper()
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Quick start\n")
	if !ok {
		t.Fatal("README.md has no Quick start section")
	}
	if i := strings.Index(section, "\n## "); i >= 0 {
		section = section[:i]
	}
	_, code, ok = strings.Cut(section, "\n```go\n")
	if !ok {
		t.Fatal("the Quick start has no ```go block")
	}
	code, _, ok = strings.Cut(code, "\n```\n")
	if !ok {
		t.Fatal("the Quick start's ```go block does not end")
	}
	return code + "\n", section
}

// TestReadmeQuickStart builds the README's Quick start as a user would (a
// module of its own whose go.mod replaces Patron with this checkout), runs
// it against a trace viewer at the address the README gives, requests its
// route and checks the trace of three spans it promises, and that SIGTERM
// ends it with exit status 0.
func TestReadmeQuickStart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module; skipped with -short")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		testenv.Unavailable(t, "the go command not on PATH")
	}
	code, section := quickStart(t)
	for _, s := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 go run .", "run ./cmd/patron traces", "http://localhost:16686/search", "curl http://localhost:50000/greet/ada"} {
		if !strings.Contains(section, s) {
			t.Errorf("the Quick start does not say %q", s)
		}
	}

	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	gomod := "module example.com/orders\n\ngo 1.26.0\n\nrequire github.com/patron-go/patron v0.0.0-00010101000000-000000000000\n\n" +
		"replace github.com/patron-go/patron => " + strconv.Quote(root) + "\n"
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string][]byte{"main.go": []byte(code), "go.mod": []byte(gomod), "go.sum": sum} {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "orders")
	env := append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off", "GOTOOLCHAIN=local")
	for _, args := range [][]string{{"mod", "tidy"}, {"vet", "."}, {"build", "-o", bin, "."}} {
		ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
		cmd := exec.CommandContext(ctx, goTool, args...)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	// The viewer, as patron traces runs it, on free ports.
	viewer, err := traceview.New(traceview.WithUIAddr("127.0.0.1:0"), traceview.WithOTLPHTTPAddr("127.0.0.1:0"), traceview.WithOTLPGRPCAddr(""), traceview.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	vctx, stopViewer := context.WithCancel(t.Context())
	viewerDone := make(chan error, 1)
	go func() { viewerDone <- viewer.Run(vctx) }()
	t.Cleanup(func() {
		stopViewer()
		if err := <-viewerDone; err != nil {
			t.Errorf("viewer: %v", err)
		}
	})
	if err := viewer.Ready(t.Context()); err != nil {
		t.Fatal(err)
	}

	port := freePort(t)
	base := "http://127.0.0.1:" + port
	var logs bytes.Buffer
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		"PATRON_HTTP_DEFAULT_PORT="+port,
		"UPSTREAM_URL="+base,
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://"+viewer.Addrs().OTLPHTTP,
	)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	testenv.WaitFor(t, time.Minute, "the Quick start service to answer /ready", func() bool {
		resp, err := client.Get(base + "/ready")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	resp, err := client.Get(base + "/greet/ada")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || string(body) != "hello, ada\n" {
		t.Fatalf("GET /greet/ada = %d %q (%v), want 200 \"hello, ada\\n\"; logs:\n%s", resp.StatusCode, body, err, logs.String())
	}

	// A clean stop exits 0 and flushes the spans.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Fatalf("after SIGTERM the service exited with %v, want status 0; logs:\n%s", err, logs.String())
		}
	case <-time.After(time.Minute):
		t.Fatalf("the service did not stop within a minute of SIGTERM; logs:\n%s", logs.String())
	}

	var trace traceview.Trace
	testenv.WaitFor(t, 10*time.Second, "the trace of GET /greet/ada in the viewer", func() bool {
		traces, err := viewer.Store().FindTraces(traceview.Query{Service: "orders", Operation: "GET /greet/{name}"})
		if err != nil || len(traces) != 1 {
			return false
		}
		trace = traces[0]
		return len(trace.Spans) == 3
	})
	var ops []string
	for _, s := range trace.Spans {
		ops = append(ops, s.OperationName)
	}
	slices.Sort(ops)
	if want := []string{"GET", "GET /greet/{name}", "GET /hello/{name}"}; !slices.Equal(ops, want) {
		t.Errorf("spans of the trace = %q, want %q", ops, want)
	}
}

// freePort returns a TCP port nothing listens on at the moment.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return port
}
