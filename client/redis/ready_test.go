package redis

import (
	"net"
	"os/exec"
	"testing"
	"time"

	"github.com/patron-go/patron/internal/testenv"
	"github.com/patron-go/patron/observability/observabilitytest"
)

// startRedis runs a redis-server of its own on a free loopback port, so
// that the test may stop it; it returns the address and a stop function.
func startRedis(t *testing.T) (string, func()) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		testenv.Unavailable(t, "redis-server is not on PATH")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}
	t.Cleanup(stop)
	return addr, stop
}

// TestReadyCheck: the check passes while the server answers and fails once
// it is gone; its PINGs start no spans.
func TestReadyCheck(t *testing.T) {
	addr, stop := startRedis(t)
	kit := observabilitytest.New(t)
	rdb, err := New(WithAddr(addr), WithTracerProvider(kit.TracerProvider), WithMeterProvider(kit.MeterProvider))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	check := ReadyCheck(rdb)
	testenv.WaitFor(t, 10*time.Second, "redis-server to answer PING", func() bool { return check(t.Context()) == nil })
	if spans := kit.Spans(); len(spans) != 0 {
		t.Fatalf("the ready check traced its PINGs:\n%s", observabilitytest.Describe(spans))
	}
	// Other commands are still traced.
	if err := rdb.Ping(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	if len(observabilitytest.Named(kit.Spans(), "PING")) != 1 {
		t.Fatalf("a PING outside the check was not traced:\n%s", observabilitytest.Describe(kit.Spans()))
	}
	stop()
	if err := check(t.Context()); err == nil {
		t.Fatal("the check passed with the server stopped")
	} else {
		t.Logf("check with the server stopped: %v", err)
	}
	if err := ReadyCheck(nil)(t.Context()); err == nil {
		t.Fatal("the check of a nil client passed")
	}
}
