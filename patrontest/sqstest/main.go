package sqstest

import (
	"fmt"
	"os"
	"testing"
)

// Main runs the tests of m, stops the emulator that Shared started, then
// runs leaks (nil for none), a goroutine leak check such as goleak.Find,
// and returns the exit code for os.Exit:
//
//	func TestMain(m *testing.M) {
//		os.Exit(sqstest.Main(m, func() error { return goleak.Find() }))
//	}
//
// The emulator is stopped before the leak check, so that the check covers
// the code under test and the SDK clients without ignoring anything:
// closing the emulator's server also ends the clients' keep-alive
// connections. The check is passed in so that this package does not make
// its users depend on a leak checker.
func Main(m *testing.M, leaks func() error) int {
	code := m.Run()
	if err := CloseShared(); err != nil {
		fmt.Fprintln(os.Stderr, "sqstest: closing the emulator:", err)
		code = 1
	}
	if code == 0 && leaks != nil {
		if err := leaks(); err != nil {
			fmt.Fprintln(os.Stderr, "sqstest: leaked goroutines:", err)
			code = 1
		}
	}
	return code
}
