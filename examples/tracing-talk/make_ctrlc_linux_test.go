package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/patron-go/patron/patrontest/testenv"
)

// syncBuffer is a bytes.Buffer that a reading goroutine and the test share.
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

// openPTY opens a pseudo-terminal: the master end for the test, the
// terminal end for make.
func openPTY(t *testing.T) (master, tty *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		testenv.Unavailable(t, "no pseudo-terminal: "+err.Error())
	}
	t.Cleanup(func() { _ = master.Close() })
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("ptsname: %v", err)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return master, tty
}

// TestMakeTalkCtrlC runs make talk on a terminal, as a user does, and types
// Ctrl-C: Tracing Talk stops gracefully and make exits 0, with no error.
// The terminal sends SIGINT to its foreground process group; the launcher
// takes that group for itself (internal/terminal), so make, which would
// otherwise die of the signal (130) after its recipe, never sees it.
func TestMakeTalkCtrlC(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs Tracing Talk; skipped with -short")
	}
	for _, tool := range []string{"make", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Unavailable(t, tool+" not on PATH")
		}
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	master, tty := openPTY(t)
	cmd := exec.Command("make", "-C", root, "talk", "BIN="+t.TempDir(),
		"TALK_FLAGS=-addr 127.0.0.1:0 -images-addr 127.0.0.1:0 -viewer-addr 127.0.0.1:0 -otlp-http-addr 127.0.0.1:0 -otlp-grpc-addr 127.0.0.1:0 -kafka= -redis=")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	// make leads a session whose controlling terminal is the pty, and so
	// starts as its foreground process group, as a shell's job does.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	_ = tty.Close()
	var out syncBuffer
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(&out, master) // ends with EIO once nothing holds the terminal
	}()
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
			t.Fatalf("make talk ended before it was ready: %v\n%s", err, out.String())
		default:
		}
		return strings.Contains(out.String(), "Press Ctrl-C to stop.")
	})
	if _, err := master.Write([]byte{0x03}); err != nil { // Ctrl-C
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		done = true
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			t.Fatalf("make talk after Ctrl-C: %v (%v), want exit status 0; output:\n%s", err, exit.Sys(), out.String())
		} else if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatalf("make talk did not stop within a minute of Ctrl-C; output:\n%s", out.String())
	}
	select {
	case <-copied:
	case <-time.After(10 * time.Second):
	}
	if s := out.String(); strings.Contains(s, "make: ***") || !strings.Contains(s, "service stopped") {
		t.Errorf("output of make talk, want a graceful stop and no make error:\n%s", s)
	}
}
