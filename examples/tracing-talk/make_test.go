package main

import (
	"bytes"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/patron-go/patron/internal/testenv"
)

// syncBuffer is a bytes.Buffer that make's output goroutines and the test
// can share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestMakeTargetsRunBinaries checks that make demo, demo-compose and talk
// run a built launcher, never go run, which exits 1 on Ctrl-C.
func TestMakeTargetsRunBinaries(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make on PATH")
	}
	root := filepath.Join("..", "..")
	for target, bin := range map[string]string{"demo": "/demo", "demo-compose": "/demo", "talk": "/tracing-talk"} {
		out, err := exec.Command("make", "-s", "-n", "-C", root, target, "BIN=/b").CombinedOutput()
		if err != nil {
			t.Fatalf("make -n %s: %v\n%s", target, err, out)
		}
		if strings.Contains(string(out), "go run") {
			t.Errorf("make %s uses go run:\n%s", target, out)
		}
		if !strings.Contains(string(out), "go build -v -o /b"+bin+" ") || !strings.Contains(string(out), "\n/b"+bin) {
			t.Errorf("make %s does not build and run /b%s:\n%s", target, bin, out)
		}
	}
}

// TestMakeTalkCtrlC runs make talk as a terminal does, in a process group
// of its own, and sends the group SIGINT, as Ctrl-C does: everything stops
// gracefully, the launcher exits 0 and make reports no error. (GNU make
// itself, interrupted, re-raises SIGINT once its recipe ended, so a shell
// sees 130 from make whatever the recipe did; what go run added was
// "make: *** [talk] Error 1".)
func TestMakeTalkCtrlC(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs Tracing Talk; skipped with -short")
	}
	for _, tool := range []string{"make", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s on PATH", tool)
		}
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	cmd := exec.Command("make", "-C", root, "talk", "BIN="+t.TempDir(),
		"TALK_FLAGS=-addr 127.0.0.1:0 -images-addr 127.0.0.1:0 -viewer-addr 127.0.0.1:0 -otlp-http-addr 127.0.0.1:0 -otlp-grpc-addr 127.0.0.1:0 -kafka= -redis=")
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	done := false
	t.Cleanup(func() {
		if !done {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})

	testenv.WaitFor(t, 8*time.Minute, "make talk to say Tracing Talk is ready", func() bool {
		select {
		case err := <-exited:
			exited <- err
			return true // reported below
		default:
		}
		return strings.Contains(out.String(), "Press Ctrl-C to stop.")
	})
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		done = true
		var exit *exec.ExitError
		if err != nil && !(errors.As(err, &exit) && exit.Sys().(syscall.WaitStatus).Signal() == syscall.SIGINT) {
			t.Fatalf("make talk after Ctrl-C: %v, want exit status 0 or make's own SIGINT; output:\n%s", err, out.String())
		}
	case <-time.After(time.Minute):
		t.Fatalf("make talk did not stop within a minute of Ctrl-C; output:\n%s", out.String())
	}
	if s := out.String(); strings.Contains(s, "make: ***") || !strings.Contains(s, "packages compiled") && !strings.Contains(s, "building ") {
		t.Errorf("output of make talk:\n%s", s)
	}
}
