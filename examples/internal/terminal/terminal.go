//go:build unix

// Package terminal lets the examples' launchers, run by make, take Ctrl-C
// for themselves.
//
// A terminal sends SIGINT to every process of its foreground process group:
// for `make demo`, that is make, the shell of its recipe and the launcher.
// The launcher stops everything gracefully and exits 0, but GNU make, having
// received SIGINT itself, re-raises it once its recipe ends, so the shell
// reports 130 after every Ctrl-C. With the launcher's own process group in
// the foreground, Ctrl-C reaches the launcher only, and make ends with the
// launcher's exit status.
package terminal

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// Foreground moves the calling process into a process group of its own and
// makes that group the foreground group of the terminal on stdin, when stdin
// is a terminal whose foreground group is the caller's. restore gives the
// terminal back to the previous group; call it before exiting (the shell
// also takes the terminal back when make ends, should the process die
// first). Otherwise (no terminal, a background job) Foreground changes
// nothing, and restore does nothing.
func Foreground() (restore func(), err error) {
	noop := func() {}
	fd := int(os.Stdin.Fd())
	fg, err := unix.IoctlGetInt(fd, unix.TIOCGPGRP)
	if err != nil || fg != syscall.Getpgrp() {
		return noop, nil // not a terminal, or not in its foreground
	}
	// Once in a group of its own, the process is in the background until
	// the ioctl below, and a background process that sets the foreground
	// group gets SIGTTOU, which would stop it.
	signal.Ignore(syscall.SIGTTOU)
	if err := syscall.Setpgid(0, 0); err != nil {
		return noop, fmt.Errorf("terminal: own process group: %w", err)
	}
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPGRP, syscall.Getpgrp()); err != nil {
		return noop, errors.Join(fmt.Errorf("terminal: taking the foreground: %w", err), syscall.Setpgid(0, fg))
	}
	return func() { _ = unix.IoctlSetPointerInt(fd, unix.TIOCSPGRP, fg) }, nil
}
