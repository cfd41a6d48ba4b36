// Package testenv decides whether integration tests run: they skip with a
// reason when a server is absent on a developer's machine, and fail when
// PATRON_INTEGRATION=1 (CI), where absence is a bug of the CI set-up. It
// also holds the bounded wait that tests use for asynchronous state.
//
// It is public, next to kafkatest and sqstest, so that a service's own
// integration tests (and Tracing Talk's, which must stay copyable out of
// this repository as a template) follow the same rule.
package testenv

import (
	"net"
	"os"
	"testing"
	"time"
)

// Well-known addresses of the servers that CI starts.
const (
	PostgresAddr = "127.0.0.1:5432"
	MySQLAddr    = "127.0.0.1:3306"
	RedisAddr    = "127.0.0.1:6379"
	RabbitMQAddr = "127.0.0.1:5672"
)

// Integration reports whether PATRON_INTEGRATION=1, under which a missing
// server fails the test instead of skipping it.
func Integration() bool { return os.Getenv("PATRON_INTEGRATION") == "1" }

// RequireTCP skips (or, under PATRON_INTEGRATION=1, fails) t when nothing
// accepts TCP connections at addr. name is the server, for the message.
func RequireTCP(t testing.TB, name, addr string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err == nil {
		_ = conn.Close()
		return
	}
	Unavailable(t, name+" at "+addr+": "+err.Error())
}

// Unavailable skips or fails t, per Integration, with reason.
func Unavailable(t testing.TB, reason string) {
	t.Helper()
	if Integration() {
		t.Fatalf("PATRON_INTEGRATION=1 but a required server is unavailable: %s", reason)
	}
	t.Skipf("skipping integration test: %s (set PATRON_INTEGRATION=1 to make this a failure)", reason)
}

// WaitFor polls cond every 10ms until it holds, failing tb with what when
// timeout passes first: a bounded wait on a condition, never a sleep used
// as synchronisation.
func WaitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ClosedAddr returns a loopback address that nothing listens on now, for a
// test of a dead peer (a connection to it is refused at once).
func ClosedAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("testenv: listening on a free port: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		tb.Fatalf("testenv: closing the free port: %v", err)
	}
	return addr
}
