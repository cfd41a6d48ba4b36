package testenv

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// fatalTB records the Fatalf that WaitFor makes on timeout and stops the
// caller the way testing.T does (here with a panic the test recovers).
type fatalTB struct {
	testing.TB
	msg string
}

type fatal struct{}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic(fatal{})
}

func TestWaitForReturnsOnceTheConditionHolds(t *testing.T) {
	n := 0
	WaitFor(t, 5*time.Second, "three polls", func() bool { n++; return n == 3 })
	if n != 3 {
		t.Fatalf("cond called %d times, want 3", n)
	}
}

func TestWaitForFailsAtTheTimeout(t *testing.T) {
	tb := &fatalTB{TB: t}
	func() {
		defer func() {
			if r := recover(); r != (fatal{}) {
				panic(r)
			}
		}()
		WaitFor(tb, 30*time.Millisecond, "the impossible", func() bool { return false })
		t.Fatal("WaitFor returned although the condition never held")
	}()
	if !strings.Contains(tb.msg, "the impossible") || !strings.Contains(tb.msg, "30ms") {
		t.Fatalf("failure message %q", tb.msg)
	}
}
