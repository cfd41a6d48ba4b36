package redis

import (
	"testing"
	"time"

	"github.com/patron-go/patron/observability/observabilitytest"
	"github.com/patron-go/patron/patrontest/testenv"
)

// TestReadyCheck: the check passes while the server answers and fails once
// it is gone; its PINGs start no spans.
func TestReadyCheck(t *testing.T) {
	addr, stop := testenv.StartRedis(t)
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
