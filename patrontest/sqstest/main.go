package sqstest

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// Main runs the tests of m, stops the emulator that Shared started, then
// looks for leaked goroutines, and returns the exit code for os.Exit:
//
//	func TestMain(m *testing.M) { os.Exit(sqstest.Main(m)) }
//
// The emulator is stopped before the leak check, so that the check covers
// the code under test and the SDK clients without ignoring anything:
// closing the emulator's server also ends the clients' keep-alive
// connections.
func Main(m *testing.M) int {
	code := m.Run()
	if err := CloseShared(); err != nil {
		fmt.Fprintln(os.Stderr, "sqstest: closing the emulator:", err)
		code = 1
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "sqstest: goleak:", err)
			code = 1
		}
	}
	return code
}
