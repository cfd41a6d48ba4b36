//go:build unix

package terminal

import (
	"os"
	"syscall"
	"testing"
)

// TestForegroundWithoutTerminal checks that Foreground leaves a process
// whose stdin is no terminal (CI, a pipe, make without a tty) alone. The
// terminal case is TestMakeTalkCtrlC in examples/tracing-talk, on a pty.
func TestForegroundWithoutTerminal(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	stdin := os.Stdin
	os.Stdin = r
	defer func() { os.Stdin = stdin }()

	before := syscall.Getpgrp()
	restore, err := Foreground()
	if err != nil {
		t.Fatal(err)
	}
	restore()
	if after := syscall.Getpgrp(); after != before {
		t.Errorf("process group changed from %d to %d without a terminal", before, after)
	}
}
