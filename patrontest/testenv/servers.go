package testenv

import (
	"net"
	"os/exec"
	"testing"
)

// FreeAddr returns a loopback address that nothing listens on now: for a
// server a test starts, or for a client that must find no server.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		tb.Fatal(err)
	}
	return addr
}

// StartRedis runs a redis-server of the test's own on a free loopback port
// (skipping, or failing under PATRON_INTEGRATION=1, when the binary is not
// installed), so that the test may stop it. It returns the address and a
// stop function, which the test's cleanup also calls; the server may not
// accept connections yet when StartRedis returns.
func StartRedis(tb testing.TB) (addr string, stop func()) {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		Unavailable(tb, "redis-server is not on PATH")
	}
	addr = FreeAddr(tb)
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}
	tb.Cleanup(stop)
	return addr, stop
}
